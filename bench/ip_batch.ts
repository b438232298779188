/**
 * A running `ip -n NS -batch -` for benchmarks against `ip -batch`: commands
 * are written to its stdin and {@link IpBatch.run} waits until ip has
 * executed them (it answers an `xfrm policy count` written after them, stdout
 * line-buffered through `stdbuf -oL`), so neither ip's start-up nor its exit
 * is inside a timed region.
 *
 * @module
 */

/**
 * A running `ip -n NS -batch -` (stdout line-buffered): {@link IpBatch.run}
 * writes commands and waits until ip has executed them, so that neither ip's
 * start-up nor its exit is inside a timed region.
 */
export class IpBatch {
  readonly #child: Deno.ChildProcess;
  readonly #in: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  private constructor(ns: string) {
    this.#child = new Deno.Command("stdbuf", {
      args: ["-oL", "ip", "-n", ns, "-batch", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#in = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout)[Symbol.asyncIterator]();
  }

  /** Starts ip and waits until it has answered a first command. */
  static async start(ns: string): Promise<IpBatch> {
    const b = new IpBatch(ns);
    await b.run("");
    return b;
  }

  /** Writes `commands` (lines) and waits for ip to answer the `xfrm policy count` after them. */
  async run(commands: string): Promise<void> {
    await this.#in.write(new TextEncoder().encode(commands + "xfrm policy count\n"));
    const r = await this.#lines.next();
    if (r.done || !r.value.trim().startsWith("SPD ")) {
      const err = await this.close();
      throw new Error(`ip -batch stopped (${r.done ? "exited" : r.value}): ${err.slice(0, 300)}`);
    }
  }

  /** Stops ip at once (for the unload handler, which cannot wait). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Ends ip (stdin closed) and returns what it wrote to stderr. */
  async close(): Promise<string> {
    await this.#in.close().catch(() => {});
    const out = await this.#child.output().catch(() => undefined);
    return out ? new TextDecoder().decode(out.stderr) : "";
  }
}

async function* lines(s: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}
