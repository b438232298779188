/**
 * Starts `main.ts` for one subcommand with exactly the Deno permissions that
 * subcommand declares for the given arguments (`Command.permissions`). This
 * launcher itself only needs `--allow-run=deno`; it reads no file, opens no
 * socket and loads no library.
 *
 * @module
 */
import { parseCommandArgs } from "./command.ts";
import { findCommand } from "./commands/mod.ts";

/** Computes the `deno run` arguments that execute `argv` with narrow permissions. */
export function launchArgs(argv: string[]): string[] {
  let flags: string[] = [];
  const found = findCommand(argv);
  if (found) {
    try {
      const parsed = parseCommandArgs(found.cmd, found.rest);
      if (!parsed.help) flags = found.cmd.permissions(parsed);
    } catch {
      flags = []; // main.ts reports the usage error itself
    }
  }
  const main = new URL("./main.ts", import.meta.url).href;
  return ["run", "--quiet", "--no-prompt", ...flags, main, ...argv];
}

if (import.meta.main) {
  const child = new Deno.Command("deno", {
    args: launchArgs(Deno.args),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => child.kill(sig));
  }
  const status = await child.status;
  Deno.exit(status.code);
}
