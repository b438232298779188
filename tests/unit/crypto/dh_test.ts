/**
 * Diffie-Hellman groups 14 and 19 for the KE payload (core/crypto/dh.ts):
 * - RFC 5903 §8.1's ECP-256 test vectors, both sides: public values x ‖ y
 *   and the shared secret (x of the shared point);
 * - RFC 3526 §3's group 14 prime recomputed from its formula
 *   p = 2^2048 − 2^1984 − 1 + 2^64·(⌊2^1918·π⌋ + 124476) with π from
 *   Machin's formula, and the generator 2;
 * - differential runs against independent implementations: @noble/curves
 *   p256 for ECP-256, a BigInt modular exponentiation for MODP-2048;
 * - typed errors for bad peer values; determinism under a seeded source.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import nodeAssert from "node:assert/strict";

const assert = (cond: unknown, msg?: string): void => nodeAssert.ok(cond, msg);
import {
  CryptoError,
  dhGroup,
  ECP256_N,
  generateDh,
  MODP_2048_GENERATOR,
  MODP_2048_PRIME,
  validateDhPublic,
} from "../../../core/crypto/mod.ts";
import { type RandomSource, SeededRandom } from "../../../core/util/random.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import { p256 } from "@noble/curves/nist.js";

/** A source that returns the given octets (then fails): injects a known private value. */
function fixed(...chunks: Uint8Array[]): RandomSource {
  const queue = [...chunks];
  return {
    fill(out: Uint8Array) {
      const c = queue.shift();
      if (!c || c.length !== out.length) throw new Error("unexpected draw");
      out.set(c);
      return out;
    },
  };
}

const big = (b: Uint8Array) => BigInt("0x" + (toHex(b) || "0"));
const bytes = (v: bigint, n: number) => fromHex(v.toString(16).padStart(n * 2, "0"));

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

// RFC 5903 §8.1 (256-bit Random ECP Group)
const I = fromHex("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433");
const GI = fromHex(
  "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180" +
    "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
);
const R = fromHex("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53");
const GR = fromHex(
  "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63" +
    "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
);
const GIR = fromHex("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");

Deno.test("ECP-256 (group 19): RFC 5903 §8.1 vectors, initiator and responder: KE values x‖y and the shared secret", () => {
  const i = generateDh(19, fixed(I));
  const r = generateDh(19, fixed(R));
  assertEquals(toHex(i.publicValue), toHex(GI));
  assertEquals(toHex(r.publicValue), toHex(GR));
  assertEquals(toHex(i.computeSecret(GR)), toHex(GIR));
  assertEquals(toHex(r.computeSecret(GI)), toHex(GIR));
  assertEquals(dhGroup(19).secretLength, 32);
  i.dispose();
  r.dispose();
});

/** ⌊2^bits · π⌋ by Machin's formula π = 16·atan(1/5) − 4·atan(1/239), with guard bits. */
function piScaled(bits: bigint): bigint {
  const guard = 64n;
  const one = 1n << (bits + guard);
  const atanInv = (x: bigint) => {
    let sum = 0n;
    let term = one / x;
    const x2 = x * x;
    for (let k = 1n; term !== 0n; k += 2n) {
      sum += (k % 4n === 1n ? term : -term) / k;
      term /= x2;
    }
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) >> guard;
}

Deno.test("MODP-2048 (group 14): the prime is RFC 3526 §3's formula with π, the generator is 2", () => {
  const p = (1n << 2048n) - (1n << 1984n) - 1n + (1n << 64n) * (piScaled(1918n) + 124476n);
  assertEquals(MODP_2048_PRIME, p);
  assertEquals(MODP_2048_GENERATOR, 2n);
  assertEquals(MODP_2048_PRIME.toString(16).length, 512);
  assertEquals(dhGroup(14).publicLength, 256);
});

Deno.test("MODP-2048 differential: public values and secrets equal a BigInt modPow, both sides, zero-padded to 256", () => {
  const rnd = new SeededRandom(14);
  for (let n = 0; n < 6; n++) {
    const xa = rnd.fill(new Uint8Array(40));
    const xb = rnd.fill(new Uint8Array(40));
    if (n === 0) xa.fill(0, 0, 39); // a tiny exponent: a public value with leading zero octets
    if (n === 0) xa[39] = 3;
    const a = generateDh(14, fixed(xa));
    const b = generateDh(14, fixed(xb));
    const ya = modPow(2n, big(xa), MODP_2048_PRIME);
    assertEquals(toHex(a.publicValue), toHex(bytes(ya, 256)));
    assertEquals(toHex(b.publicValue), toHex(bytes(modPow(2n, big(xb), MODP_2048_PRIME), 256)));
    const s = bytes(modPow(ya, big(xb), MODP_2048_PRIME), 256);
    assertEquals(toHex(a.computeSecret(b.publicValue)), toHex(s));
    assertEquals(toHex(b.computeSecret(a.publicValue)), toHex(s));
    a.dispose();
    b.dispose();
  }
});

Deno.test("ECP-256 differential against @noble/curves p256: public values and shared secrets", () => {
  const rnd = new SeededRandom(19);
  for (let n = 0; n < 20; n++) {
    const a = generateDh(19, rnd);
    const skB = p256.utils.randomSecretKey(rnd.fill(new Uint8Array(48)));
    const pubB = p256.getPublicKey(skB, false).subarray(1);
    const nobleShared = p256.getSharedSecret(skB, new Uint8Array([4, ...a.publicValue]));
    assertEquals(toHex(a.computeSecret(pubB)), toHex(nobleShared.subarray(1, 33)));
    assert(p256.utils.isValidPublicKey(new Uint8Array([4, ...a.publicValue]), false));
    a.dispose();
  }
});

Deno.test("private values come from the injected source: the same seed gives the same KE values", () => {
  for (const g of [14, 19]) {
    const a = generateDh(g, new SeededRandom(7));
    const b = generateDh(g, new SeededRandom(7));
    const c = generateDh(g, new SeededRandom(8));
    assertEquals(toHex(a.publicValue), toHex(b.publicValue));
    assert(toHex(a.publicValue) !== toHex(c.publicValue));
  }
  // ECP: a draw ≥ n is redrawn (uniform scalar in [1, n-1]).
  const tooBig = bytes(ECP256_N, 32);
  const d = generateDh(19, fixed(tooBig, new Uint8Array(32), I));
  assertEquals(toHex(d.publicValue), toHex(GI));
});

Deno.test("peer public values are validated with typed errors (range for MODP, on-curve for ECP)", () => {
  const p = MODP_2048_PRIME;
  const bad14: [Uint8Array, string][] = [
    [bytes(0n, 256), "1 < y < p-1"],
    [bytes(1n, 256), "1 < y < p-1"],
    [bytes(p - 1n, 256), "1 < y < p-1"],
    [bytes(p, 256), "1 < y < p-1"],
    [new Uint8Array(255).fill(7), "255 octets"],
  ];
  const a = generateDh(14, new SeededRandom(1));
  for (const [v, text] of bad14) {
    const e = assertThrows(() => a.computeSecret(v), CryptoError, text);
    assertEquals(e.category, "invalid-public-value");
  }
  validateDhPublic(14, bytes(2n, 256));
  validateDhPublic(14, bytes(p - 2n, 256));

  const offCurve = GR.slice();
  offCurve[63] = offCurve[63]! ^ 1;
  const pBytes = bytes(
    BigInt("0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
    32,
  );
  const bad19: [Uint8Array, string][] = [
    [offCurve, "not on the curve"],
    [new Uint8Array(64), "not on the curve"], // (0, 0): also how "infinity" would be spelt
    [new Uint8Array([...pBytes, ...GR.subarray(32)]), "below the field prime"],
    [new Uint8Array([4, ...GR]), "65 octets"],
    [GR.subarray(0, 32), "32 octets"],
  ];
  const b = generateDh(19, new SeededRandom(1));
  for (const [v, text] of bad19) {
    const e = assertThrows(() => b.computeSecret(v), CryptoError, text);
    assertEquals(e.category, "invalid-public-value");
  }
  assertEquals(
    assertThrows(() => generateDh(2, new SeededRandom(1)), CryptoError, "group 2").category,
    "unsupported-group",
  );
  b.dispose();
  assertEquals(assertThrows(() => b.computeSecret(GR), CryptoError).category, "disposed");
  assertEquals(Deno.inspect(a), "DhPrivate(group 14, private value redacted)");
  a.dispose();
});
