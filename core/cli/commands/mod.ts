/**
 * The registry of `kink` subcommands. Add a subcommand by importing its
 * {@link Command} object and appending it to {@link COMMANDS}.
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
