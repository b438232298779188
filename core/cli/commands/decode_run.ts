/**
 * The body of `kink decode` (see `decode.ts` for the command's declaration):
 * loaded only when the command runs, so that the CLI's other subcommands and
 * the launcher do not load the capture reader, the analyser and the crypto
 * core.
 *
 * @module
 */
import {
  type CommandIO,
  flagOpt,
  listOpt,
  type ParsedArgs,
  stringOpt,
  UsageError,
} from "../command.ts";
import { analyzePackets, orderedReport } from "../decode/analyze.ts";
import { renderMessage, renderSummary } from "../decode/render.ts";
import { DecodeVerdict } from "../decode/verdict.ts";
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

/** Runs `kink decode` with parsed arguments; resolves to its exit code. */
export function runDecode(args: ParsedArgs, io: CommandIO): Promise<number> {
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
}
