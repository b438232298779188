import {
  type Command,
  flagOpt,
  listOpt,
  type ParsedArgs,
  stringOpt,
  UsageError,
} from "../command.ts";
import { analyzeCapture, orderedReport } from "../decode/analyze.ts";
import { renderReport } from "../decode/render.ts";
import { readKeytab } from "../../kerberos/keytab.ts";
import type { KeytabEntry } from "../../kerberos/keytab.ts";
import { DEFAULT_PRF_MODE, type PrfMode } from "../../crypto/mod.ts";
import { ConfigError } from "../../errors.ts";

function readFile(path: string, what: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new ConfigError("io", `read ${what}`, `${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * `kink decode FILE.pcap --keytab K1[,K2…] [--json] [--show-keys] [--prf racoon2|mit]`:
 * decodes every KINK datagram of a capture, verifies checksums, opens
 * KINK_ENCRYPT and derives the SAs' keys (see `core/cli/decode/analyze.ts`
 * for the JSON schema).
 */
export const decodeCommand: Command = {
  name: "decode",
  summary: "Decode, verify and decrypt the KINK messages of a pcap/pcapng capture",
  usage: "decode FILE.pcap --keytab K1[,K2…] [--json] [--show-keys] [--prf racoon2|mit]",
  description: [
    "For each KINK datagram (udp/910): header, payload tree and Quick Mode contents.",
    "Tickets are decrypted with the keytabs to get the session key (or the session key is",
    "taken from a KDC reply on udp/88 decrypted with a client keytab); the Cksum is verified,",
    "KINK_ENCRYPT opened, CREATE/REPLY/ACK paired by XID and peers, and the KEYMAT of every",
    "SA derived both ways. Keys are printed only with --show-keys. --json prints one JSON",
    "object per message (schema in core/cli/decode/analyze.ts and the README).",
  ].join("\n"),
  options: {
    keytab: {
      type: "string",
      multiple: true,
      arg: "K1[,K2…]",
      description: "Keytab file(s) with the service (and optionally client) keys",
    },
    json: { type: "boolean", description: "One JSON object per message, one per line" },
    "show-keys": {
      type: "boolean",
      description: "Print session keys, nonces and the derived SA keys",
    },
    prf: {
      type: "string",
      arg: "racoon2|mit",
      description: `PRF reading for enctypes 17/18 (default ${DEFAULT_PRF_MODE})`,
    },
  },
  positionals: { min: 1, max: 1, name: "FILE.pcap" },
  permissions(args: ParsedArgs): string[] {
    const files = [args.positionals[0]!, ...listOpt(args, "keytab")];
    return [`--allow-read=${files.join(",")}`];
  },
  permissionNotes: ["--allow-read=<the capture>,<each keytab>: reads exactly those files"],
  run(args, io) {
    const prf = stringOpt(args, "prf") ?? DEFAULT_PRF_MODE;
    if (prf !== "racoon2" && prf !== "mit") {
      throw new UsageError(`kink decode: --prf must be racoon2 or mit, got '${prf}'`);
    }
    const keytab: KeytabEntry[] = [];
    for (const k of listOpt(args, "keytab")) keytab.push(...readKeytab(readFile(k, "keytab")));
    const file = readFile(args.positionals[0]!, "capture");
    const report = analyzeCapture(file, {
      keytab,
      prf: prf as PrfMode,
      showKeys: flagOpt(args, "show-keys"),
    });
    for (const e of keytab) e.key.fill(0);
    if (flagOpt(args, "json")) {
      for (const m of report.messages) io.out(JSON.stringify(orderedReport(m)));
    } else {
      for (const l of renderReport(report)) io.out(l);
    }
    return Promise.resolve(0);
  },
};
