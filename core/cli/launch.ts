/**
 * Starts `main.ts` for one subcommand with exactly the Deno permissions that
 * subcommand declares for the given arguments (`Command.permissions`).
 *
 * The launcher itself runs with `--allow-run=deno,setpriv` and
 * `--allow-env` of the variables in {@link PASSED_ENV} plus `INIT_CWD`; it
 * reads no file, opens no socket and loads no library. Being allowed to run
 * `deno` it could run anything: the narrowing applies to the child.
 *
 * - **Paths.** `deno task` runs this in the repository root and passes the
 *   caller's directory as `INIT_CWD`; relative file arguments are resolved
 *   against it before the permission flags are computed, so `kink decode
 *   x.pcap` reads the caller's `x.pcap`. A path Deno's flag syntax cannot
 *   express (empty, or with a comma) is refused here with exit code 2.
 * - **Environment.** The child gets only {@link PASSED_ENV} (what deno and
 *   kink use), never `LD_*`/`DYLD_*`: deno refuses to spawn a child under
 *   `LD_LIBRARY_PATH` without full `--allow-run`, and neither deno nor kink
 *   needs them (libc is loaded by absolute path).
 * - **Parent death.** When util-linux's `setpriv` is on PATH the child is
 *   started as `setpriv --pdeathsig KILL -- deno run …`, so the kernel kills it
 *   when the launcher dies, even by SIGKILL. Without setpriv the child is
 *   started directly and would outlive a SIGKILLed launcher (SIGINT, SIGTERM
 *   and SIGHUP are forwarded either way). A launcher killed in the instant
 *   between spawning setpriv and setpriv's prctl leaves the child running.
 *
 * @module
 */
import { parseCommandArgs, resolvePathArgs, UsageError } from "./command.ts";
import { findCommand } from "./commands/mod.ts";
import { childEnv } from "./env.ts";
import { escapeControl } from "../util/text.ts";

export { PASSED_ENV } from "./env.ts";

/**
 * Computes the `deno run` arguments that execute `argv` with narrow
 * permissions. With `cwd` (the caller's directory, `INIT_CWD`), relative file
 * arguments are made absolute against it first. Throws {@link UsageError}
 * when a file argument cannot be expressed in a permission flag; any other
 * bad command line gets no permission (main.ts reports it).
 */
export function launchArgs(argv: string[], cwd?: string): string[] {
  let flags: string[] = [];
  const found = findCommand(argv);
  let childArgv = argv;
  if (found) {
    const rest = cwd ? resolvePathArgs(found.cmd, found.rest, cwd) : found.rest;
    childArgv = [...argv.slice(0, argv.length - found.rest.length), ...rest];
    let parsed;
    try {
      parsed = parseCommandArgs(found.cmd, rest);
    } catch {
      parsed = undefined; // main.ts reports the usage error itself
    }
    if (parsed && !parsed.help) flags = found.cmd.permissions(parsed);
  }
  const main = new URL("./main.ts", import.meta.url).href;
  return ["run", "--quiet", "--no-prompt", ...flags, main, ...childArgv];
}

/** Spawns `deno args…` under a parent-death signal when setpriv is available. */
function spawnChild(args: string[]): Deno.ChildProcess {
  const opts = {
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
    clearEnv: true,
    env: childEnv(),
  } as const;
  try {
    return new Deno.Command("setpriv", {
      args: ["--pdeathsig", "KILL", "--", "deno", ...args],
      ...opts,
    }).spawn();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable)) throw e;
    return new Deno.Command("deno", { args, ...opts }).spawn();
  }
}

function initCwd(): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "INIT_CWD" }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get("INIT_CWD");
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  let args: string[];
  try {
    args = launchArgs(Deno.args, initCwd());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(escapeControl(e.detail));
    Deno.exit(2);
  }
  const child = spawnChild(args);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(sig, () => child.kill(sig));
  }
  const status = await child.status;
  Deno.exit(status.code);
}
