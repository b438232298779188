/**
 * The crypto API's contract: typed errors for every bad input, key hygiene
 * (dispose zeroes wasm memory, no key bytes in toString/inspect/JSON or
 * error messages), and a short fuzz run of decrypt /
 * verifyMic on random garbage (only typed errors, never anything else).
 *
 * Every random input (keys, plaintexts, garbage, confounders) comes from a
 * SeededRandom: each run draws a fresh seed (or takes KINK_TEST_SEED), and a
 * failing test names it so the run can be repeated exactly.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import { toHex } from "../../../core/util/bytes.ts";
import {
  checksumSize,
  checksumType,
  ciphertextOverhead,
  cryptoBuildId,
  CryptoError,
  decrypt,
  DEFAULT_PRF_MODE,
  encrypt,
  getMic,
  Key,
  keyLength,
  keymat,
  prf,
  prfLength,
  randomToKey,
  stringToKey,
  verifyMic,
} from "../../../core/crypto/mod.ts";
import { isKinkError } from "../../../core/errors.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import * as raw from "../../../crypto-wasm/pkg/kink_crypto_bg.wasm";
import { key_count } from "../../../core/crypto/wasm.ts";

/** This run's seed: KINK_TEST_SEED when set (and readable), else a fresh one. */
function runSeed(): number {
  try {
    const v = Deno.env.get("KINK_TEST_SEED");
    if (v !== undefined && /^\d+$/.test(v)) return Number(v) >>> 0;
  } catch {
    // no --allow-env for it: a fresh seed
  }
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
const SEED = runSeed();

/** A test whose randomness comes from `r` (seeded from {@link SEED} and its name). */
function seededTest(name: string, fn: (r: SeededRandom) => void): void {
  Deno.test(name, () => {
    let h = SEED;
    for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    try {
      fn(new SeededRandom(h));
    } catch (e) {
      const how = `random seed ${SEED}: repeat with KINK_TEST_SEED=${SEED} deno test ` +
        `--allow-read=. --allow-write=/tmp --allow-env=TMPDIR,KINK_TEST_SEED ${
          new URL(import.meta.url).pathname
        }`;
      if (e instanceof Error) e.message = `${e.message}\n(${how})`;
      throw e;
    }
  });
}

const wasmMemory = () => new Uint8Array((raw.memory as WebAssembly.Memory).buffer);

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("enctype tables and unsupported enctypes", () => {
  assertEquals([17, 18, 19, 20].map(checksumType), [15, 16, 19, 20]);
  assertEquals([17, 18, 19, 20].map(checksumSize), [12, 12, 16, 24]);
  assertEquals([17, 18, 19, 20].map(keyLength), [16, 32, 16, 32]);
  assertEquals([17, 18, 19, 20].map(ciphertextOverhead), [28, 28, 32, 40]);
  assertEquals([17, 18, 19, 20].map((e) => prfLength(e)), [20, 20, 32, 48]);
  assertEquals([17, 18, 19, 20].map((e) => prfLength(e, "mit")), [16, 16, 32, 48]);
  assertEquals(DEFAULT_PRF_MODE, "racoon2");
  const rk = randomToKey(19, new Uint8Array(16).fill(5));
  assertEquals(toHex(rk.exportBytes()), "05".repeat(16));
  rk.dispose();
  for (const et of [0, 1, 3, 16, 23, 24, 25, 26, -1, 17.5, NaN]) {
    for (
      const f of [
        () => Key.fromBytes(et, new Uint8Array(16)),
        () => Key.random(et),
        () => stringToKey(et, "pw", "salt"),
        () => checksumType(et),
        () => checksumSize(et),
      ]
    ) {
      const e = assertThrows(f, CryptoError, `unsupported enctype ${String(et)}`);
      assertEquals(e.category, "unsupported-enctype");
      assertEquals(e.layer, "crypto");
      assertEquals(isKinkError(e), true);
    }
  }
});

seededTest("wrong key length, short ciphertext, bad usage, bad mode are typed errors", (r) => {
  for (const [et, n] of [[17, 32], [18, 16], [19, 0], [20, 33]] as const) {
    const e = assertThrows(
      () => Key.fromBytes(et, new Uint8Array(n)),
      CryptoError,
      `key length ${n}`,
    );
    assertEquals(e.category, "invalid-input");
  }
  for (const et of [17, 18, 19, 20]) {
    const k = Key.random(et, r);
    const min = ciphertextOverhead(et);
    for (const n of [0, 1, 15, 16, min - 1]) {
      const e = assertThrows(() => decrypt(k, 39, new Uint8Array(n)), CryptoError, "ciphertext");
      assertEquals(e.category, "invalid-input");
    }
    // The minimum length (empty plaintext) is accepted and fails integrity.
    assertEquals(
      assertThrows(() => decrypt(k, 39, new Uint8Array(min)), CryptoError).category,
      "integrity",
    );
    for (const u of [-1, 2 ** 32, 1.5, NaN, Infinity]) {
      for (
        const f of [
          () => encrypt(k, u, new Uint8Array(1), r),
          () => decrypt(k, u, new Uint8Array(64)),
          () => getMic(k, u, new Uint8Array(1)),
          () => verifyMic(k, u, new Uint8Array(1), new Uint8Array(12)),
        ]
      ) {
        assertEquals(assertThrows(f, CryptoError, "key usage").category, "invalid-input");
      }
    }
    // Usage limits are inclusive.
    assertEquals(decrypt(k, 0xffffffff, encrypt(k, 0xffffffff, new Uint8Array(3), r)).length, 3);
    assertEquals(decrypt(k, 0, encrypt(k, 0, new Uint8Array(0), r)).length, 0);
    assertThrows(() => prf(k, new Uint8Array(1), "heimdal" as "mit"), CryptoError, "PRF mode");
    assertThrows(() => encrypt(k, 1, "text" as unknown as Uint8Array, r), CryptoError);
    k.dispose();
  }
});

Deno.test("stringToKey parameter checks", () => {
  assertThrows(() => stringToKey(18, "p", "s", new Uint8Array(3)), CryptoError, "params length");
  assertThrows(() => stringToKey(18, "p", "s", new Uint8Array(4)), CryptoError, "4294967296");
  assertThrows(() => stringToKey(18, "p", "s", new Uint8Array([2, 0, 0, 0])), CryptoError, "limit");
  // String and UTF-8 byte forms agree.
  const a = stringToKey(17, "pässword", "REALMuser", new Uint8Array([0, 0, 0, 2]));
  const b = stringToKey(
    17,
    new TextEncoder().encode("pässword"),
    new TextEncoder().encode("REALMuser"),
    new Uint8Array([0, 0, 0, 2]),
  );
  assertEquals(toHex(a.exportBytes()), toHex(b.exportBytes()));
  a.dispose();
  b.dispose();
});

seededTest("keymat argument checks", (r) => {
  const k = Key.random(18, r);
  const ni = new Uint8Array(16);
  for (const len of [0, -1, 1.5, 4097]) {
    assertThrows(() => keymat(k, { protocol: 3, spi: 1, ni }, len), CryptoError, "length");
  }
  assertThrows(() => keymat(k, { protocol: 256, spi: 1, ni }, 36), CryptoError, "protocol");
  assertThrows(() => keymat(k, { protocol: 3, spi: 2 ** 32, ni }, 36), CryptoError, "SPI");
  assertEquals(keymat(k, { protocol: 3, spi: 0xffffffff, ni }, 4096).length, 4096);
  k.dispose();
});

seededTest(
  "Key hygiene: no key bytes in toString, inspect, JSON, errors; export is a copy",
  (r) => {
    const bytes = r.fill(new Uint8Array(32));
    const k = Key.fromBytes(18, bytes);
    const hex = toHex(bytes);
    const shown = [
      String(k),
      Deno.inspect(k),
      Deno.inspect({ nested: [k] }, { depth: 5 }),
      JSON.stringify(k),
      `${k}`,
    ];
    for (const s of shown) {
      assertEquals(s.includes(hex.slice(0, 8)), false, s);
      assertEquals(/\b(18|aes256)/.test(s), true, s);
    }
    assertEquals(String(k), "Key(enctype 18 aes256-cts-hmac-sha1-96, 32 octets)");
    const ex = k.exportBytes();
    assertEquals(toHex(ex), hex);
    ex.fill(0);
    assertEquals(toHex(k.exportBytes()), hex);
    try {
      decrypt(k, 39, new Uint8Array(40));
    } catch (e) {
      assertEquals(String((e as Error).message).includes(hex.slice(0, 8)), false);
    }
    k.dispose();
  },
);

seededTest("dispose zeroes the key in wasm memory, is idempotent, and blocks further use", (r) => {
  const before = key_count();
  const bytes = r.fill(new Uint8Array(32));
  const k = Key.fromBytes(20, bytes);
  // Exercise every cache (Kc, Ke/Ki, PRF) so derived state exists too.
  getMic(k, 40, new Uint8Array(10));
  const ct = encrypt(k, 39, new Uint8Array(100), r);
  prf(k, new Uint8Array(5));
  assertEquals(key_count(), before + 1);
  assertEquals(contains(wasmMemory(), bytes), true); // the key is in wasm memory ...
  k.dispose();
  assertEquals(contains(wasmMemory(), bytes), false); // ... and gone after dispose
  assertEquals(key_count(), before);
  k.dispose();
  assertEquals(k.disposed, true);
  assertEquals(String(k).includes("disposed"), true);
  for (
    const f of [
      () => encrypt(k, 39, new Uint8Array(1), r),
      () => decrypt(k, 39, ct),
      () => getMic(k, 40, new Uint8Array(1)),
      () => verifyMic(k, 40, new Uint8Array(1), new Uint8Array(24)),
      () => prf(k, new Uint8Array(1)),
      () => keymat(k, { protocol: 3, spi: 1, ni: new Uint8Array(16) }, 36),
      () => k.exportBytes(),
    ]
  ) {
    assertEquals(assertThrows(f, CryptoError, "disposed").category, "disposed");
  }
  // `using` disposes as well.
  {
    using k2 = Key.random(17, r);
    assertEquals(k2.disposed, false);
  }
  assertEquals(key_count(), before);
});

seededTest(
  "a clone is the same key: results agree, each copy is disposed on its own, no bytes in inspect",
  (r) => {
    const before = key_count();
    const bytes = r.fill(new Uint8Array(32));
    const a = Key.fromBytes(18, bytes);
    const ct = encrypt(a, 39, new Uint8Array(70), r); // derives usage 39 before the clone
    const b = a.clone();
    assertEquals(key_count(), before + 2);
    assertEquals([b.enctype, b.length], [18, 32]);
    assertEquals(String(b).includes(toHex(bytes).slice(0, 8)), false);
    assertEquals(Deno.inspect(b).includes(toHex(bytes).slice(0, 8)), false);
    // The same key: each decrypts and checks what the other made, KEYMAT agrees.
    assertEquals(decrypt(b, 39, ct).length, 70);
    const mic = getMic(b, 40, new Uint8Array(9));
    assertEquals(verifyMic(a, 40, new Uint8Array(9), mic), true);
    const seed = { protocol: 3, spi: 0x1234, ni: r.fill(new Uint8Array(16)) };
    assertEquals(toHex(keymat(a, seed, 36)), toHex(keymat(b, seed, 36)));
    assertEquals(toHex(b.exportBytes()), toHex(bytes));
    // Disposing the clone leaves the original whole, and the other way round.
    b.dispose();
    assertEquals(key_count(), before + 1);
    assertEquals(decrypt(a, 39, ct).length, 70);
    const c = a.clone();
    a.dispose();
    assertEquals(verifyMic(c, 40, new Uint8Array(9), mic), true);
    assertEquals(contains(wasmMemory(), bytes), true);
    c.dispose();
    assertEquals(contains(wasmMemory(), bytes), false); // gone with the last copy
    assertEquals(key_count(), before);
    assertEquals(assertThrows(() => c.clone(), CryptoError, "disposed").category, "disposed");
  },
);

seededTest("plaintexts and key bytes passed through wasm do not linger in freed memory", (r) => {
  const secret = r.fill(new Uint8Array(48));
  const k = Key.random(18, r);
  const ct = encrypt(k, 39, secret, r);
  assertEquals(toHex(decrypt(k, 39, ct)), toHex(secret));
  getMic(k, 40, secret);
  assertEquals(contains(wasmMemory(), secret), false);
  const kb = r.fill(new Uint8Array(16));
  Key.fromBytes(17, kb).dispose();
  assertEquals(contains(wasmMemory(), kb), false);
  k.dispose();
});

Deno.test("cryptoBuildId names the build", () => {
  assertEquals(
    /^kink-crypto \S+ \(rustc \S+, wasm-bindgen \S+, wasm sha256:[0-9a-f]{16}\)$/.test(
      cryptoBuildId,
    ),
    true,
  );
});

seededTest("fuzz: 20,000 random ciphertexts and checksums give only typed errors", (r) => {
  const keys = [17, 18, 19, 20].map((et) => Key.random(et, r));
  let integrity = 0;
  for (let i = 0; i < 20000; i++) {
    const k = keys[i & 3]!;
    const n = (i * 7919) % 300;
    const junk = r.fill(new Uint8Array(n));
    try {
      decrypt(k, i, junk);
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      if (e.category === "integrity") integrity++;
      else assertEquals(e.category, "invalid-input");
    }
    assertEquals(verifyMic(k, i, junk, junk.subarray(0, checksumSize(k.enctype))), false);
  }
  assertEquals(integrity > 15000, true);
  for (const k of keys) k.dispose();
});
