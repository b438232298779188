import { assert } from "./assert.ts";
import type { FuzzStats } from "../../fuzz/wire_fuzz.ts";
import type { FuzzWorkerMessage } from "../../fuzz/wire_fuzz_worker.ts";

/**
 * How long one input may keep a decoder busy before the watchdog calls it a hang. Not a speed
 * check: the slowest input of a run takes about 10 ms on this machine (the `max … ms/input` of
 * `deno task fuzz:wire`), so only a decoder that does not finish (a loop that makes no
 * progress) ever reaches it, even on a loaded machine.
 */
const HANG_MS = 30_000;
const SEED = 7;
const ITERATIONS = 20_000;

/**
 * Runs the wire fuzzer in a worker. Before decoding each input the worker bumps a counter in
 * shared memory; a watchdog that looks at it every second terminates the worker and fails,
 * naming the input, when the counter has not moved for {@link HANG_MS}.
 */
function fuzzWithWatchdog(iterations: number, seed: number): Promise<FuzzStats[]> {
  const progress = new SharedArrayBuffer(8);
  const p = new Int32Array(progress);
  const worker = new Worker(new URL("../../fuzz/wire_fuzz_worker.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<FuzzStats[]>((resolve, reject) => {
    let decoder = "(none yet)";
    let seen = -1;
    let since = performance.now();
    const finish = (f: () => void) => {
      clearInterval(watchdog);
      worker.terminate();
      f();
    };
    const watchdog = setInterval(() => {
      const now = Atomics.load(p, 0);
      if (now !== seen) {
        seen = now;
        since = performance.now();
      } else if (performance.now() - since > HANG_MS) {
        finish(() =>
          reject(
            new Error(
              `hang: decoder ${decoder} input ${Atomics.load(p, 1)} (seed ${seed}) did not ` +
                `finish within ${HANG_MS} ms; reproduce with deno run --allow-read=. ` +
                `tests/fuzz/wire_fuzz.ts --iterations ${iterations} --seed ${seed}`,
            ),
          )
        );
      }
    }, 1000);
    worker.onmessage = (e: MessageEvent<FuzzWorkerMessage>) => {
      const m = e.data;
      if (m.type === "decoder") decoder = m.name;
      else if (m.type === "done") {
        finish(() => {
          // Every input of every decoder went past the watchdog's counter.
          const expected = m.stats.reduce((a, s) => a + s.iterations, 0);
          const counted = Atomics.load(p, 0);
          if (counted !== expected) {
            reject(new Error(`watchdog counted ${counted} inputs, the run made ${expected}`));
          } else resolve(m.stats);
        });
      } else finish(() => reject(new Error(`${m.message} (seed ${seed})`)));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      finish(() => reject(new Error(`fuzz worker failed: ${e.message} (seed ${seed})`)));
    };
    worker.postMessage({ iterations, seed, progress });
  });
}

Deno.test("fuzz (short run): 20,000 mutated racoon2 inputs per decoder, only WireErrors, no hang, bounded heap", async () => {
  // A non-WireError (or a stopped decode analysis) rejects the run; so does an input that
  // outlives the watchdog.
  const stats = await fuzzWithWatchdog(ITERATIONS, SEED);
  for (const s of stats) {
    assert(s.iterations > 0, s.decoder);
    assert(s.maxHeapMiB < 512, `${s.decoder} heap ${s.maxHeapMiB} MiB`);
  }
  // The mutations reach both outcomes of the decoders, so the run exercised the reject paths
  // as well as full decoding (not only one early check).
  for (const name of ["kink", "kink-deferred", "kink-encrypt-inner", "isakmp", "receive", "pcap"]) {
    const s = stats.find((x) => x.decoder === name)!;
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    assert(s.accepted > 0 && rejected > 0, `${name}: ${s.accepted} accepted, ${rejected} rejected`);
  }
  const kink = stats.find((s) => s.decoder === "kink")!;
  assert(Object.keys(kink.rejected).length >= 3, JSON.stringify(kink.rejected));
});
