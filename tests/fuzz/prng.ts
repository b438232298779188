/**
 * The seeded PRNG every fuzzer uses (mulberry32), so that a failing input is
 * reproduced exactly from its seed and iteration number.
 *
 * @module
 */

/** Returns a deterministic generator of floats in [0, 1) for `seed`. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
