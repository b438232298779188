/**
 * What the daemon's log sink costs per line: a child process logs `--n`
 * `sa-up`-like lines through the daemon's Logger, one line per event-loop turn
 * (as the daemon logs one `sa-up` per datagram it handles), with stderr a pipe
 * read by this process — quickly, or slowly (4 KiB per millisecond). Sinks in
 * the same run, alternated: the synchronous `stderrSink` (the daemon's sink
 * before) and the batched asynchronous `StderrLogWriter` (now). Figures: the
 * child's CPU (utime+stime, `process.cpuUsage`) per line, the largest gap
 * between two turns (how long the event loop was held), and the lines the
 * reader received.
 *
 *     deno run --allow-run --allow-read bench/log_sink.ts [--n 20000] [--reps 3]
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { Logger, StderrLogWriter, stderrSink } from "../core/daemon/log.ts";

async function child(sink: string, n: number): Promise<void> {
  const writer = sink.startsWith("batched")
    ? new StderrLogWriter({ delayMs: Number(sink.split(":")[1] ?? 0) })
    : undefined;
  const log = new Logger(writer ? writer.sink : stderrSink, {}, { peer: "p17" });
  const turn = () => new Promise((r) => setTimeout(r, 0));
  await turn();
  const c0 = process.cpuUsage();
  let last = performance.now(), gap = 0;
  for (let i = 0; i < n; i++) {
    log.info("sa-up", {
      initiator: true,
      rekey: false,
      inbound: "esp/0x0000abcd",
      outbound: "esp/0x0000dcba",
      xid: i,
    });
    await turn();
    const t = performance.now();
    gap = Math.max(gap, t - last);
    last = t;
  }
  await writer?.flush();
  const c1 = process.cpuUsage(c0);
  console.log(JSON.stringify({ cpuUs: c1.user + c1.system, gapMs: gap }));
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "string" },
    n: { type: "string", default: "20000" },
    reps: { type: "string", default: "3" },
    sinks: { type: "string", default: "sync,batched:0,batched:5" },
  },
});
const n = Number(values.n);
const sinks = values.sinks.split(",");
if (values.child) {
  await child(values.child, n);
} else {
  console.log("| reader | sink | CPU µs/line | longest turn ms | lines received |");
  console.log("|---|---|---|---|---|");
  for (const slow of [false, true]) {
    for (let r = 0; r < Number(values.reps); r++) {
      for (const sink of sinks) {
        const p = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--quiet",
            "--allow-read",
            import.meta.filename!,
            "--child",
            sink,
            "--n",
            `${n}`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const stdout = new Response(p.stdout).text();
        let lines = 0;
        const rd = p.stderr.getReader();
        for (;;) {
          const { value, done } = await rd.read();
          if (done) break;
          for (let i = 0; i < value.length; i++) if (value[i] === 10) lines++;
          if (slow) await new Promise((res) => setTimeout(res, 1));
        }
        await p.status;
        const m = JSON.parse(await stdout) as {
          cpuUs: number;
          gapMs: number;
        };
        console.log(
          `| ${slow ? "slow" : "fast"} | ${sink} | ${(m.cpuUs / n).toFixed(2)} | ${
            m.gapMs.toFixed(1)
          } | ${lines} |`,
        );
      }
    }
  }
}
