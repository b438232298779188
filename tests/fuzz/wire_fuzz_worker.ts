/**
 * Runs {@link runWireFuzz} in a worker for the hang watchdog of
 * tests/unit/wire/fuzz_short_test.ts. Receives `{ iterations, seed, progress }`
 * where `progress` is a SharedArrayBuffer of three Int32s that it updates
 * before each input is decoded: [0] inputs started so far, [1] the input's
 * number within its decoder. Posts `{ type: "decoder", name }` when a decoder
 * starts, then `{ type: "done", stats }` or `{ type: "error", message }`.
 *
 * @module
 */
import { runWireFuzz } from "./wire_fuzz.ts";

/** A message from this worker. */
export type FuzzWorkerMessage =
  | { type: "decoder"; name: string }
  | { type: "done"; stats: ReturnType<typeof runWireFuzz> }
  | { type: "error"; message: string };

/** The worker's global scope (the `deno.worker` lib is not in this project's type check). */
const scope = self as unknown as {
  postMessage(m: FuzzWorkerMessage): void;
  onmessage:
    | ((e: MessageEvent<{ iterations: number; seed: number; progress: SharedArrayBuffer }>) => void)
    | null;
};
const post = (m: FuzzWorkerMessage) => scope.postMessage(m);

scope.onmessage = (e) => {
  const progress = new Int32Array(e.data.progress);
  let decoder = "";
  try {
    const stats = runWireFuzz(e.data.iterations, e.data.seed, (name, i) => {
      if (name !== decoder) {
        decoder = name;
        post({ type: "decoder", name });
      }
      Atomics.store(progress, 1, i);
      Atomics.add(progress, 0, 1);
    });
    post({ type: "done", stats });
  } catch (err) {
    post({ type: "error", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
};
