/**
 * Running subprocesses from tests: collect output, fail with a readable
 * message that names the command and quotes its stderr.
 *
 * @module
 */

/** Error raised by the test harness itself (set-up or tear-down failed). */
export class HarnessError extends Error {
  /** @param message what failed, with the command's stderr when there is one */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HarnessError";
  }
}

/** Outcome of {@link run}. */
export interface RunResult {
  /** Exit code (128+signal when killed by a signal). */
  code: number;
  /** `code === 0`. */
  success: boolean;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Extra environment variables (added to the inherited environment). */
  env?: Record<string, string>;
  /** Bytes or text written to the command's standard input (otherwise stdin is null). */
  stdin?: string | Uint8Array;
  /** Working directory. */
  cwd?: string;
}

/** Runs `cmd` to completion and returns its exit code and output. Never throws for a non-zero exit. */
export async function run(cmd: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [program, ...args] = cmd;
  if (program === undefined) throw new HarnessError("run: empty command");
  const options: Deno.CommandOptions = {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  };
  if (opts.env) options.env = opts.env;
  if (opts.cwd) options.cwd = opts.cwd;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, options).spawn();
  } catch (e) {
    throw new HarnessError(`run ${program}: cannot start: ${e}`, { cause: e });
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    success: out.code === 0,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs `cmd` and returns its stdout; throws {@link HarnessError} (with stderr) on a non-zero exit. */
export async function runOk(cmd: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, opts);
  if (!r.success) {
    const msg = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-8).join("\n  ");
    throw new HarnessError(`${cmd.join(" ")}: exit ${r.code}${msg ? `:\n  ${msg}` : ""}`);
  }
  return r.stdout;
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
