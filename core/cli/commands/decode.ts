/**
 * `kink decode`: the declaration and its permissions; the decoder (capture
 * reader, analyser, crypto core) is in `decode_run.ts`, loaded when the
 * command runs.
 *
 * @module
 */
import { allowPaths, type Command, listOpt, type ParsedArgs } from "../command.ts";
import { DecodeExit } from "../decode/verdict.ts";
import { DEFAULT_PRF_MODE } from "../../crypto/prf_mode.ts";

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
  async run(args, io) {
    const { runDecode } = await import("./decode_run.ts");
    return await runDecode(args, io);
  },
};

/** Exit codes of `kink decode`, re-exported for its documentation and tests. */
export { DecodeExit };
