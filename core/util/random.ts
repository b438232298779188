/**
 * The randomness seam. Everything in kink that needs random octets
 * (confounders, session keys, nonces, SPIs, XIDs, jitter) takes a
 * {@link RandomSource}, so a simulated run can be reproduced bit for bit from
 * a seed while the daemon uses the operating system's CSPRNG.
 *
 * @module
 */

/** A source of random octets. */
export interface RandomSource {
  /** Fills `out` with random octets and returns it. */
  fill(out: Uint8Array): Uint8Array;
}

const MAX_GET_RANDOM = 65536;

/** The operating system's CSPRNG (`crypto.getRandomValues`): the only source for real keys. */
export const systemRandom: RandomSource = {
  fill(out: Uint8Array): Uint8Array {
    for (let off = 0; off < out.length; off += MAX_GET_RANDOM) {
      crypto.getRandomValues(out.subarray(off, Math.min(out.length, off + MAX_GET_RANDOM)));
    }
    return out;
  },
};

/**
 * A deterministic generator (xoshiro128** seeded through splitmix32) for
 * simulation, fuzzing and reproducible tests. **Not** cryptographically
 * secure: never use it for keys outside a simulation.
 */
export class SeededRandom implements RandomSource {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** A generator whose whole output is determined by `seed` (any 32-bit integer). */
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.#s1 << 9) >>> 0;
    this.#s2 = (this.#s2 ^ this.#s0) >>> 0;
    this.#s3 = (this.#s3 ^ this.#s1) >>> 0;
    this.#s1 = (this.#s1 ^ this.#s2) >>> 0;
    this.#s0 = (this.#s0 ^ this.#s3) >>> 0;
    this.#s2 = (this.#s2 ^ t) >>> 0;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Fills `out` from the generator. */
  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    while (i < out.length) {
      let v = this.nextUint32();
      for (let k = 0; k < 4 && i < out.length; k++, i++) {
        out[i] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }

  /** A derived, independent generator (e.g. one per simulated gateway). */
  fork(): SeededRandom {
    return new SeededRandom(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A uniformly distributed 32-bit unsigned integer from `r`. */
export function randomUint32(r: RandomSource): number {
  const b = r.fill(new Uint8Array(4));
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

/** A uniformly distributed integer in [0, n) from `r` (n ≤ 2^32), without modulo bias. */
export function randomBelow(r: RandomSource, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) {
    throw new RangeError(`randomBelow: n must be an integer in 1..2^32, got ${n}`);
  }
  const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
  for (;;) {
    const v = randomUint32(r);
    if (v < limit) return v % n;
  }
}
