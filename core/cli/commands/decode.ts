import {
  allowPaths,
  type Command,
  flagOpt,
  listOpt,
  type ParsedArgs,
  stringOpt,
  UsageError,
} from "../command.ts";
import { analyzePackets, orderedReport } from "../decode/analyze.ts";
import { renderMessage, renderSummary } from "../decode/render.ts";
import { DecodeExit, DecodeVerdict } from "../decode/verdict.ts";
import { KEYTAB_MAX_SIZE, readKeytab } from "../../kerberos/keytab.ts";
import type { KeytabEntry } from "../../kerberos/keytab.ts";
import { KerberosError } from "../../kerberos/errors.ts";
import { DEFAULT_PRF_MODE, type PrfMode } from "../../crypto/mod.ts";
import { CaptureReader } from "../../wire/pcap.ts";
import { openRegularFile, readRegularFile } from "../../util/file.ts";
import { escapeControl, safeJson } from "../../util/text.ts";

/** Reads and parses one keytab (bounded, regular file only); the raw octets are wiped. */
function loadKeytab(path: string): KeytabEntry[] {
  const raw = readRegularFile(path, "keytab", KEYTAB_MAX_SIZE);
  try {
    return readKeytab(raw);
  } catch (e) {
    if (e instanceof KerberosError) {
      throw new KerberosError(e.category, `keytab ${path}`, e.detail, { cause: e });
    }
    throw e;
  } finally {
    raw.fill(0);
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
    "The capture is read as a stream; a capture cut inside its last record is decoded up",
    "to the cut, with a warning.",
    "Exit status: 0 every message decoded and, when it carries a Cksum, verified;",
    "1 the capture or a keytab is unreadable or malformed; 2 bad command line;",
    "3 something failed verification (bad Cksum, keyed message without Cksum, KINK_ENCRYPT",
    "that does not open); 4 something could not be verified (no key: no keytab given or",
    "none fits; truncated or undecodable datagram; truncated capture). 3 wins over 4.",
  ].join("\n"),
  options: {
    keytab: {
      type: "string",
      multiple: true,
      arg: "K1[,K2…]",
      description: "Keytab file(s) with the service (and optionally client) keys",
      path: "list",
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
  positionals: { min: 1, max: 1, name: "FILE.pcap", path: true },
  permissions(args: ParsedArgs): string[] {
    const files = [args.positionals[0]!, ...listOpt(args, "keytab")];
    return [allowPaths("read", files, "kink decode")];
  },
  permissionNotes: [
    "--allow-read=<the capture>,<each keytab>: reads exactly those files",
    "(regular files only; a path with a comma is refused: Deno's flags cannot express it)",
  ],
  run(args, io) {
    const prf = stringOpt(args, "prf") ?? DEFAULT_PRF_MODE;
    if (prf !== "racoon2" && prf !== "mit") {
      throw new UsageError(`kink decode: --prf must be racoon2 or mit, got '${prf}'`);
    }
    const json = flagOpt(args, "json");
    const keytab: KeytabEntry[] = [];
    try {
      for (const k of listOpt(args, "keytab")) keytab.push(...loadKeytab(k));
      // Streamed: one record and one message report in memory at a time.
      const { file } = openRegularFile(args.positionals[0]!, "capture", Number.MAX_SAFE_INTEGER);
      const verdict = new DecodeVerdict();
      try {
        const reader = new CaptureReader(file);
        const sum = analyzePackets(
          reader,
          { keytab, prf: prf as PrfMode, showKeys: flagOpt(args, "show-keys") },
          (m) => {
            verdict.add(m);
            if (json) io.out(safeJson(orderedReport(m)));
            else for (const l of [...renderMessage(m), ""]) io.out(l);
          },
        );
        const warnings: string[] = [];
        if (reader.truncatedTail !== undefined) {
          verdict.truncatedCapture();
          warnings.push(reader.truncatedTail);
        }
        if (json) {
          // stdout stays one JSON object per line; the rest goes to stderr.
          for (const w of warnings) io.err(escapeControl(`kink decode: warning: ${w}`));
          for (const l of verdict.lines()) io.err(`kink decode: ${l}`);
        } else {
          for (const l of [...renderSummary(sum, warnings), ...verdict.lines()]) io.out(l);
        }
      } finally {
        file.close();
      }
      return Promise.resolve(verdict.code);
    } finally {
      for (const e of keytab) e.key.fill(0);
    }
  },
};

/** Exit codes of `kink decode`, re-exported for its documentation and tests. */
export { DecodeExit };
