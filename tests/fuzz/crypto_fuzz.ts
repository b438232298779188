/**
 * Fuzzer of the crypto core's input handling: mutated ciphertexts (bit
 * flips, truncation, extension, splices of two messages) for decrypt,
 * mutated checksums for verifyMic, and random argument values (usage
 * numbers, enctypes, key lengths, KEYMAT seeds and lengths).
 *
 * Asserts for every input: the call returns or throws a `CryptoError`
 * (nothing untyped); a mutated ciphertext or checksum never verifies; the
 * number of live keys in wasm memory returns to where it started.
 *
 * Run: `deno run --allow-read=. tests/fuzz/crypto_fuzz.ts --iterations N [--seed S]`
 *
 * @module
 */
import {
  CryptoError,
  decrypt,
  encrypt,
  getMic,
  Key,
  keymat,
  verifyMic,
} from "../../core/crypto/mod.ts";
import { key_count } from "../../core/crypto/wasm.ts";
import { bytesEqual } from "../../core/util/bytes.ts";

function arg(name: string, dflt: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
}

/** Runs `iterations` rounds from `seed`; returns counts per outcome. */
export function fuzzCrypto(iterations: number, seed: number): Record<string, number> {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(0, 255);
    return b;
  };
  const counts: Record<string, number> = {};
  const count = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
  const expectTyped = (f: () => unknown): unknown => {
    try {
      const r = f();
      count("ok");
      return r;
    } catch (e) {
      if (!(e instanceof CryptoError)) throw new Error(`untyped error: ${String(e)}`);
      count(e.category);
      return undefined;
    }
  };
  const before = key_count();
  const keys = [17, 18, 19, 20].map((et) => Key.random(et));
  for (let i = 0; i < iterations; i++) {
    const k = keys[i & 3]!;
    const usage = int(0, 1) ? 39 : int(0, 0xffffffff);
    const pt = bytes(int(0, 300));
    const ct = encrypt(k, usage, pt);
    const mut = ct.slice();
    let genuine: Uint8Array | undefined; // a second real encryption spliced in, if any
    switch (int(0, 4)) {
      case 0:
        mut[int(0, mut.length - 1)]! ^= 1 << int(0, 7);
        break;
      case 1: {
        const cut = mut.subarray(0, int(0, mut.length - 1));
        if (expectTyped(() => decrypt(k, usage, cut)) !== undefined) {
          throw new Error("truncated ciphertext decrypted");
        }
        continue;
      }
      case 2: {
        const ext = new Uint8Array([...mut, ...bytes(int(1, 32))]);
        if (expectTyped(() => decrypt(k, usage, ext)) !== undefined) {
          throw new Error("extended ciphertext decrypted");
        }
        continue;
      }
      case 3: {
        const other = encrypt(k, usage, pt);
        const cut = int(1, mut.length - 1);
        mut.set(other.subarray(cut), cut);
        genuine = other;
        break;
      }
      default:
        mut.set(bytes(16), 0);
    }
    // A splice can reproduce a genuine ciphertext by chance (1 in 256): the
    // original when the copied tail octet equals ct's, or the other encryption
    // when the kept head octet equals its own. That input is no mutant.
    if (bytesEqual(mut, ct) || (genuine && bytesEqual(mut, genuine))) continue;
    if (expectTyped(() => decrypt(k, usage, mut)) !== undefined) {
      throw new Error("mutated ciphertext decrypted");
    }
    const mic = getMic(k, usage, pt);
    const bad = mic.slice();
    bad[int(0, bad.length - 1)]! ^= 1 << int(0, 7);
    if (verifyMic(k, usage, pt, bad)) throw new Error("mutated checksum verified");
    if (verifyMic(k, usage, pt, mic.subarray(0, int(0, mic.length - 1)))) {
      throw new Error("short checksum verified");
    }
    // Random argument values.
    const weird = [-1, 0.5, 2 ** 32, NaN, int(0, 0xffffffff), 0, 0xffffffff][int(0, 6)]!;
    expectTyped(() => getMic(k, weird, pt));
    expectTyped(() => Key.fromBytes(int(0, 30), bytes(int(0, 40))).dispose());
    expectTyped(() =>
      keymat(
        k,
        { protocol: int(-1, 256), spi: [weird, int(0, 0xffffffff)][int(0, 1)]!, ni: bytes(16) },
        int(-2, 300),
      )
    );
  }
  for (const k of keys) k.dispose();
  if (key_count() !== before) throw new Error(`key leak: ${key_count()} live, ${before} before`);
  return counts;
}

if (import.meta.main) {
  const n = arg("--iterations", 10000), seed = arg("--seed", Date.now() & 0xffffffff);
  const t = performance.now();
  const counts = fuzzCrypto(n, seed);
  console.log(
    `crypto fuzz: ${n} rounds, seed ${seed}, ${((performance.now() - t) / 1000).toFixed(1)} s`,
    counts,
  );
}
