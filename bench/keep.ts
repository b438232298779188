/**
 * Keeps benchmark results alive: every timed call hands its result to
 * {@link keep}, which folds it into a module-level value read after the run,
 * so no call can be dropped as dead code.
 *
 * @module
 */

let sink = 0;

/** Folds a result (octets, a number, or anything else by identity) into the sink. */
export function keep(x: unknown): void {
  if (x instanceof Uint8Array) sink = (sink + x.length + (x[0] ?? 0)) | 0;
  else if (typeof x === "number") sink = (sink + x) | 0;
  else if (typeof x === "boolean") sink = (sink + (x ? 1 : 2)) | 0;
  else sink = (sink + (x === undefined || x === null ? 3 : 5)) | 0;
}

/** The folded value (read once after the benchmarks, see the unload listener below). */
export function sinkValue(): number {
  return sink;
}

globalThis.addEventListener("unload", () => {
  // Reading the sink after every benchmark ran makes it observable; it is never this value.
  if (sinkValue() === 0x7fffffff) console.log("benchmark sink", sinkValue());
});
