/**
 * The registry of `kink` subcommands. Add a subcommand by importing its
 * {@link Command} object and appending it to {@link COMMANDS}.
 *
 * Each subcommand is split in two modules so that a start-up loads only what
 * it runs: `<name>.ts` declares the command — name, help, options and
 * `permissions()` — importing nothing heavier than what the launcher needs to
 * compute its flags, and its `run()` imports `<name>_run.ts` (the daemon, the
 * Kerberos client, the capture decoder, the netlink kernel, the TOML parser)
 * dynamically. So `kink --help`, the launcher and each subcommand load these
 * declarations plus one implementation; `deno check` and `deno compile` still
 * see every module (the imports are string literals).
 *
 * @module
 */
import type { Command } from "../command.ts";
import { versionCommand } from "./version.ts";
import { decodeCommand } from "./decode.ts";
import { saListCommand } from "./sa.ts";
import { policyListCommand } from "./policy.ts";
import { ticketCommand } from "./ticket.ts";
import { configCheckCommand } from "./config.ts";
import { daemonCommand } from "./daemon.ts";
import { controlCommands } from "./control.ts";

/** Every subcommand, in the order `kink --help` lists them. */
export const COMMANDS: Command[] = [
  versionCommand,
  decodeCommand,
  saListCommand,
  policyListCommand,
  ticketCommand,
  configCheckCommand,
  daemonCommand,
  ...controlCommands,
];

/**
 * Finds the subcommand named by the start of `argv` (longest match, so that
 * `sa list` wins over `sa`). Returns the command and the remaining arguments.
 */
export function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[] } | undefined;
  for (const cmd of COMMANDS) {
    const words = cmd.name.split(" ");
    if (words.every((w, i) => argv[i] === w)) {
      if (!best || words.length > best.cmd.name.split(" ").length) {
        best = { cmd, rest: argv.slice(words.length) };
      }
    }
  }
  return best;
}
