/**
 * A running `ip -n NS -batch -` for benchmarks against `ip -batch`: commands
 * are written to its stdin and {@link IpBatch.run} waits until ip has
 * executed them (it answers an `xfrm policy count` written after them, stdout
 * line-buffered through `stdbuf -oL`), so neither ip's start-up nor its exit
 * is inside a timed region.
 *
 * @module
 */
import type { SaConfig } from "../core/kernel/mod.ts";
import { toHex } from "../core/util/bytes.ts";

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

/**
 * `n` tunnel-mode ESP SAs with AES-GCM keys derived from their index (192.0.2.1 → 192.0.2.2,
 * SPI 0x10000 + i, reqid i + 1): the same SAs for kink's netlink path and for `ip -batch`.
 */
export function benchSas(n: number): SaConfig[] {
  const out: SaConfig[] = [];
  for (let i = 0; i < n; i++) {
    const k = new Uint8Array(20);
    new DataView(k.buffer).setUint32(0, i + 1);
    out.push({
      src: "192.0.2.1",
      dst: "192.0.2.2",
      proto: "esp",
      spi: 0x10000 + i,
      mode: "tunnel",
      reqid: i + 1,
      replayWindow: 32,
      aead: { name: "rfc4106(gcm(aes))", key: k, icvBits: 128 },
    });
  }
  return out;
}

/** The `ip -batch` line adding `sa` (one of {@link benchSas}). */
export function saLine(sa: SaConfig): string {
  return `xfrm state add src ${sa.src} dst ${sa.dst} proto esp spi 0x${
    sa.spi.toString(16)
  } reqid ${sa.reqid} mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' 0x${
    toHex(sa.aead!.key)
  } 128`;
}
