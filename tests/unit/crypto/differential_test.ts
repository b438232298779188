/**
 * Differential tests: ≥ 1,000 random cases per operation, the wasm core
 * against the independent RFC composition over @noble/* in reference.ts
 * (and node:crypto for the raw primitives). Inputs come from a seeded
 * generator; set CRYPTO_DIFF_SEED to replay a run.
 */
import { assertEquals } from "./assert.ts";
import { fixedConfounder } from "./fixed_confounder.ts";
import { toHex } from "../../../core/util/bytes.ts";
import {
  CryptoError,
  decrypt,
  encrypt,
  getMic,
  Key,
  keymat,
  keymatSeed,
  prf,
  sha256,
  stringToKey,
  verifyMic,
} from "../../../core/crypto/mod.ts";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { createHash } from "node:crypto";
import {
  ctsDecrypt,
  ctsEncrypt,
  deriveKey,
  hmac,
  nfold,
  pbkdf2,
  usageConstant,
} from "../../../core/crypto/primitives.ts";
import { be32, native, nfoldRef, noble, RefKerberos } from "./reference.ts";

const N = 1000;
const SEED = Number(
  Deno.permissions.querySync({ name: "env", variable: "CRYPTO_DIFF_SEED" }).state === "granted"
    ? Deno.env.get("CRYPTO_DIFF_SEED") ?? 0x4b494e4b
    : 0x4b494e4b,
);
const ref = new RefKerberos(noble);

/** mulberry32: a small seeded generator (test inputs only). */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    bytes(n: number) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
    pick<T>(a: readonly T[]): T {
      return a[Math.floor(next() * a.length)]!;
    },
  };
}

const ETS = [17, 18, 19, 20] as const;
const klen = (et: number) => (et === 17 || et === 19 ? 16 : 32);
/** Lengths biased to the block edges where CTS breaks first. */
function len(r: ReturnType<typeof rng>, max = 1600): number {
  return r.pick([0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, r.int(0, 200), r.int(0, max)]);
}

Deno.test(`differential: n-fold vs big-integer reference (${N} cases)`, () => {
  const r = rng(SEED + 1);
  for (let i = 0; i < N; i++) {
    const input = r.bytes(r.int(1, 40));
    const out = r.int(1, 32);
    assertEquals(toHex(nfold(input, out)), toHex(nfoldRef(input, out)), `case ${i}`);
  }
});

Deno.test(`differential: HMAC-SHA1/256/384 vs noble and node:crypto (${N} cases)`, () => {
  const r = rng(SEED + 2);
  for (let i = 0; i < N; i++) {
    const h = r.pick(["sha1", "sha256", "sha384"] as const);
    const k = r.bytes(r.int(0, 200)), d = r.bytes(len(r));
    const ours = toHex(hmac(h, k, d));
    assertEquals(ours, toHex(noble.hmac(h, k, d)));
    assertEquals(ours, toHex(noble.hmacKeyed!(h, k)(d))); // the benchmarks' cached-pad form
    assertEquals(ours, toHex(native.hmac(h, k, d)));
  }
});

Deno.test(`differential: SHA-256 vs noble and node:crypto (${N} cases)`, () => {
  const r = rng(SEED ^ 0x5a256);
  for (let i = 0; i < N; i++) {
    const data = r.bytes(r.int(0, i < 10 ? 0 : 300));
    const got = toHex(sha256(data));
    assertEquals(got, toHex(nobleSha256(data)), `case ${i}`);
    assertEquals(got, createHash("sha256").update(data).digest("hex"), `case ${i}`);
  }
});

Deno.test(`differential: PBKDF2 vs node:crypto (${N} cases)`, () => {
  const r = rng(SEED + 3);
  for (let i = 0; i < N; i++) {
    const h = r.pick(["sha1", "sha256", "sha384"] as const);
    const pw = r.bytes(r.int(0, 64)), s = r.bytes(r.int(0, 64));
    const c = r.int(1, 3), l = r.int(1, 80);
    assertEquals(toHex(pbkdf2(h, pw, s, c, l)), toHex(native.pbkdf2(h, pw, s, c, l)));
  }
});

Deno.test(`differential: AES-CTS both directions vs noble CBC + swap (${N} cases)`, () => {
  const r = rng(SEED + 4);
  for (let i = 0; i < N; i++) {
    const k = r.bytes(r.pick([16, 32]));
    const d = r.bytes(Math.max(16, len(r)));
    const c = ctsEncrypt(k, new Uint8Array(16), d).output;
    assertEquals(toHex(c), toHex(ref.ctsEnc(k, d)), `case ${i} len ${d.length}`);
    assertEquals(toHex(ctsDecrypt(k, new Uint8Array(16), c).output), toHex(d));
    assertEquals(toHex(ref.ctsDec(k, c)), toHex(d));
  }
});

Deno.test(`differential: Kc/Ke/Ki derivation (${N} cases)`, () => {
  const r = rng(SEED + 5);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS), base = r.bytes(klen(et));
    const usage = r.pick([0, 1, 39, 40, r.int(0, 0xffffffff)]);
    const role = r.pick(["Kc", "Ke", "Ki"] as const);
    assertEquals(
      toHex(deriveKey(et, base, usageConstant(usage, role), role)),
      toHex(ref.usageKey(et, base, usage, role)),
    );
  }
});

Deno.test(`differential: encrypt (fixed and random confounder) / decrypt (${N} cases each)`, () => {
  const r = rng(SEED + 6);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS), base = r.bytes(klen(et));
    const usage = r.pick([39, r.int(0, 0xffffffff)]);
    const pt = r.bytes(len(r)), conf = r.bytes(16);
    const k = Key.fromBytes(et, base);
    const ct = encrypt(k, usage, pt, fixedConfounder(conf));
    assertEquals(toHex(ct), toHex(ref.encrypt(et, base, usage, conf, pt)), `case ${i}`);
    // Random confounder: the reference decrypts ours, ours decrypts the reference's.
    const ct2 = encrypt(k, usage, pt);
    assertEquals(toHex(ref.decrypt(et, base, usage, ct2) ?? new Uint8Array([1])), toHex(pt));
    assertEquals(
      toHex(decrypt(k, usage, ref.encrypt(et, base, usage, r.bytes(16), pt))),
      toHex(pt),
    );
    // One flipped bit anywhere fails integrity in both.
    const bad = ct.slice();
    bad[r.int(0, bad.length - 1)]! ^= 1 << r.int(0, 7);
    let category = "";
    try {
      decrypt(k, usage, bad);
    } catch (e) {
      if (e instanceof CryptoError) category = e.category;
    }
    assertEquals(category, "integrity");
    assertEquals(ref.decrypt(et, base, usage, bad), null);
    k.dispose();
  }
});

Deno.test(`differential: getMic / verifyMic (${N} cases)`, () => {
  const r = rng(SEED + 7);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS), base = r.bytes(klen(et));
    const usage = r.pick([40, r.int(0, 0xffffffff)]);
    const d = r.bytes(len(r));
    const k = Key.fromBytes(et, base);
    const m = getMic(k, usage, d);
    assertEquals(toHex(m), toHex(ref.getMic(et, base, usage, d)));
    assertEquals(verifyMic(k, usage, d, m), true);
    const bad = m.slice();
    bad[r.int(0, bad.length - 1)]! ^= 1 << r.int(0, 7);
    assertEquals(verifyMic(k, usage, d, bad), false);
    k.dispose();
  }
});

Deno.test(`differential: PRF, both modes (${N} cases)`, () => {
  const r = rng(SEED + 8);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS), base = r.bytes(klen(et));
    const input = r.bytes(len(r, 300));
    const k = Key.fromBytes(et, base);
    for (const mode of ["racoon2", "mit"] as const) {
      assertEquals(toHex(prf(k, input, mode)), toHex(ref.prf(et, base, input, mode)));
    }
    k.dispose();
  }
});

Deno.test(`differential: KEYMAT, both modes, with and without Nr / DH (${N} cases)`, () => {
  const r = rng(SEED + 9);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS), base = r.bytes(klen(et));
    const seed = {
      protocol: r.pick([2, 3, 4]),
      spi: r.int(0, 0xffffffff),
      ni: r.bytes(r.int(8, 256)),
      ...(r.int(0, 1) ? { nr: r.bytes(r.int(8, 256)) } : {}),
      ...(r.int(0, 3) === 0 ? { dhSecret: r.bytes(r.pick([128, 256])) } : {}),
    };
    const s = new Uint8Array([
      ...(seed.dhSecret ?? []),
      seed.protocol,
      ...be32(seed.spi),
      ...seed.ni,
      ...(seed.nr ?? []),
    ]);
    assertEquals(toHex(keymatSeed(seed)), toHex(s));
    const mode = r.pick(["racoon2", "mit"] as const);
    const length = r.int(1, 200);
    const k = Key.fromBytes(et, base);
    assertEquals(
      toHex(keymat(k, seed, length, mode)),
      toHex(ref.keymat(et, base, s, length, mode)),
    );
    k.dispose();
  }
});

Deno.test(`differential: string-to-key (${N} cases)`, () => {
  const r = rng(SEED + 10);
  for (let i = 0; i < N; i++) {
    const et = r.pick(ETS);
    const pw = r.bytes(r.int(0, 40)), salt = r.bytes(r.int(0, 40)), iter = r.int(1, 3);
    const k = stringToKey(et, pw, salt, be32(iter));
    assertEquals(toHex(k.exportBytes()), toHex(ref.stringToKey(et, pw, salt, iter)));
    k.dispose();
  }
});
