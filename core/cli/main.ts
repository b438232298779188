/**
 * The `kink` command-line interface. Run it through `deno task kink …`, which
 * starts this file with exactly the permissions the chosen subcommand needs
 * (see `launch.ts`).
 *
 * Exit codes: 0 success, 1 the operation failed, 2 bad command line; a
 * subcommand may define more (`kink decode`: 3 failed verification, 4 could
 * not verify — see `decode/verdict.ts`).
 *
 * @module
 */
import { type CommandIO, parseCommandArgs, renderHelp, UsageError } from "./command.ts";
import { COMMANDS, findCommand } from "./commands/mod.ts";
import { isKinkError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { escapeControl, escapeControlKeepLayout } from "../util/text.ts";

/** Renders the top-level help. */
export function topHelp(): string {
  const lines = [
    `kink ${VERSION} — KINK (RFC 4430) for Linux IPsec gateways`,
    "",
    "Usage: deno task kink <subcommand> [options]",
    "",
    "Subcommands:",
  ];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(16)} ${c.summary}`);
  lines.push("", "Run `kink <subcommand> --help` for its options and Deno permissions.");
  return lines.join("\n");
}

/** Runs the CLI with `argv`; resolves to the exit code. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    io.out(topHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === "--version") argv = ["version"];
  const found = findCommand(argv);
  if (!found) {
    const what = argv[0]!.startsWith("-") ? "option" : "subcommand";
    io.err(`kink: unknown ${what} '${escapeControl(argv[0]!)}' (see kink --help)`);
    return 2;
  }
  try {
    const parsed = parseCommandArgs(found.cmd, found.rest);
    if (parsed.help) {
      io.out(renderHelp(found.cmd));
      return 0;
    }
    return await found.cmd.run(parsed, io);
  } catch (e) {
    // Error texts may carry names and e-texts from the wire: one inert line each.
    if (e instanceof UsageError) {
      io.err(escapeControl(e.detail));
      return 2;
    }
    if (isKinkError(e)) {
      io.err(`kink ${found.cmd.name}: ${escapeControl(e.message)}`);
      return 1;
    }
    if (e instanceof Deno.errors.NotCapable) {
      io.err(`kink ${found.cmd.name}: missing Deno permission: ${escapeControl(e.message)}`);
      return 1;
    }
    throw e;
  }
}

/**
 * Writes to the process's standard streams. Last guard against terminal
 * injection: every control character other than TAB and LF (which commands
 * use for their own layout) is escaped here, whatever a command forgot.
 */
export const processIO: CommandIO = {
  out: (l) => console.log(escapeControlKeepLayout(l)),
  err: (l) => console.error(escapeControlKeepLayout(l)),
};

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args, processIO);
}
