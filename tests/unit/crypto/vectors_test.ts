/**
 * The crypto core against every published vector in tests/fixtures/vectors
 * (RFC 3961 n-fold, RFC 3962 AES-CTS and PBKDF2 string-to-key, RFC 8009
 * key derivation / encryption / checksum / PRF / string-to-key, RFC 2202 and
 * RFC 4231 HMAC) plus the computed KINK usage-39/40 cross-checks.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import { fixedConfounder } from "./fixed_confounder.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import {
  CryptoError,
  decrypt,
  encrypt,
  getMic,
  Key,
  prf,
  stringToKey,
  verifyMic,
} from "../../../core/crypto/mod.ts";
import {
  ctsDecrypt,
  ctsEncrypt,
  deriveKey,
  hmac,
  nfold,
  pbkdf2,
  usageConstant,
} from "../../../core/crypto/primitives.ts";

// deno-lint-ignore no-explicit-any
type Json = any;
function load(name: string): Json {
  return JSON.parse(
    Deno.readTextFileSync(new URL(`../../fixtures/vectors/${name}`, import.meta.url)),
  );
}
const hex = (h: string) => fromHex(h);
const be32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

Deno.test("RFC 3961 A.1 n-fold: every vector", () => {
  const v = load("rfc3961-nfold.json").vectors;
  assertEquals(v.length, 11);
  for (const c of v) {
    assertEquals(toHex(nfold(hex(c.input_hex), c.n_bits / 8)), c.output_hex, c.input_hex);
  }
});

Deno.test("RFC 2202 HMAC-SHA1: every vector", () => {
  const v = load("rfc2202-hmac-sha1.json").vectors;
  assertEquals(v.length, 7);
  for (const c of v) {
    const out = toHex(hmac("sha1", hex(c.key_hex), hex(c.data_hex)));
    assertEquals(out.slice(0, c.digest_hex.length), c.digest_hex, `case ${c.test_case}`);
  }
});

Deno.test("RFC 4231 HMAC-SHA256/384: every vector", () => {
  const v = load("rfc4231-hmac-sha256-sha384.json").vectors;
  assertEquals(v.length, 7);
  for (const c of v) {
    const k = hex(c.key_hex), d = hex(c.data_hex);
    const h256 = toHex(hmac("sha256", k, d)), h384 = toHex(hmac("sha384", k, d));
    if (c.hmac_sha_256_hex) {
      assertEquals(h256, c.hmac_sha_256_hex);
      assertEquals(h384, c.hmac_sha_384_hex);
    } else {
      assertEquals(h256.slice(0, 32), c.hmac_sha_256_truncated_128_hex);
      assertEquals(h384.slice(0, 32), c.hmac_sha_384_truncated_128_hex);
    }
  }
});

Deno.test("RFC 3962 B AES-CTS: every vector, both directions, next IV", () => {
  const v = load("rfc3962-aes-cts.json").vectors;
  assertEquals(v.length, 6);
  for (const c of v) {
    const e = ctsEncrypt(hex(c.key_hex), hex(c.iv_hex), hex(c.input_hex));
    assertEquals(toHex(e.output), c.output_hex);
    assertEquals(toHex(e.nextIv), c.next_iv_hex);
    const d = ctsDecrypt(hex(c.key_hex), hex(c.iv_hex), hex(c.output_hex));
    assertEquals(toHex(d.output), c.input_hex);
  }
});

Deno.test("RFC 3962 B PBKDF2 string-to-key: every vector (17 and 18)", () => {
  const v = load("rfc3962-pbkdf2-string-to-key.json").vectors;
  assertEquals(v.length, 7);
  for (const c of v) {
    const pw = hex(c.passphrase_hex), salt = hex(c.salt_hex);
    assertEquals(toHex(pbkdf2("sha1", pw, salt, c.iterations, 32)), c.pbkdf2_output_256_hex);
    assertEquals(toHex(pbkdf2("sha1", pw, salt, c.iterations, 16)), c.pbkdf2_output_128_hex);
    const params = be32(c.iterations);
    if (c.iterations <= 1 << 24) {
      const k17 = stringToKey(17, pw, salt, params), k18 = stringToKey(18, pw, salt, params);
      assertEquals(toHex(k17.exportBytes()), c.aes_key_128_hex);
      assertEquals(toHex(k18.exportBytes()), c.aes_key_256_hex);
      k17.dispose();
      k18.dispose();
    }
  }
});

Deno.test("RFC 8009 string-to-key: both vectors", () => {
  const v = load("rfc8009-string-to-key.json").vectors;
  assertEquals(v.length, 2);
  for (const c of v) {
    const k = stringToKey(c.enctype, c.passphrase, hex(c.salt_hex), be32(c.iterations));
    assertEquals(toHex(k.exportBytes()), c.base_key_hex);
    k.dispose();
    // The default iteration count for 19/20 is 32768, the vectors' count.
    const d = stringToKey(c.enctype, hex(c.passphrase_hex), hex(c.salt_hex));
    assertEquals(toHex(d.exportBytes()), c.base_key_hex);
    d.dispose();
  }
});

Deno.test("RFC 8009 key derivation: Kc, Ke, Ki", () => {
  const v = load("rfc8009-key-derivation.json").vectors;
  assertEquals(v.length, 2);
  for (const c of v) {
    const base = hex(c.base_key_hex);
    for (const role of ["Kc", "Ke", "Ki"] as const) {
      assertEquals(toHex(usageConstant(c.usage, role)), c.labels_hex[role]);
      assertEquals(
        toHex(deriveKey(c.enctype, base, usageConstant(c.usage, role), role)),
        c[`${role}_hex`],
      );
    }
  }
});

Deno.test("RFC 8009 encryption: every vector (fixed confounder), decrypt, tamper", () => {
  const v = load("rfc8009-encryption.json").vectors;
  assertEquals(v.length, 8);
  for (const c of v) {
    const k = Key.fromBytes(c.enctype, hex(c.base_key_hex));
    const ct = encrypt(k, c.usage, hex(c.plaintext_hex), fixedConfounder(hex(c.confounder_hex)));
    assertEquals(toHex(ct), c.ciphertext_hex);
    assertEquals(toHex(decrypt(k, c.usage, ct)), c.plaintext_hex);
    for (const pos of [0, ct.length - 1, ct.length >> 1]) {
      const bad = ct.slice();
      bad[pos]! ^= 1;
      const e = assertThrows(() => decrypt(k, c.usage, bad), CryptoError);
      assertEquals(e.category, "integrity");
    }
    assertThrows(() => decrypt(k, c.usage + 1, ct), CryptoError);
    k.dispose();
  }
});

Deno.test("RFC 8009 checksums: both vectors, verifyMic", () => {
  const v = load("rfc8009-checksum.json").vectors;
  assertEquals(v.length, 2);
  for (const c of v) {
    const k = Key.fromBytes(c.enctype, hex(c.base_key_hex));
    assertEquals(
      toHex(deriveKey(c.enctype, hex(c.base_key_hex), usageConstant(c.usage, "Kc"), "Kc")),
      c.Kc_hex,
    );
    const m = getMic(k, c.usage, hex(c.plaintext_hex));
    assertEquals(toHex(m), c.checksum_hex);
    assertEquals(verifyMic(k, c.usage, hex(c.plaintext_hex), m), true);
    const bad = m.slice();
    bad[0]! ^= 0x80;
    assertEquals(verifyMic(k, c.usage, hex(c.plaintext_hex), bad), false);
    assertEquals(verifyMic(k, c.usage, hex(c.plaintext_hex), m.subarray(1)), false);
    k.dispose();
  }
});

Deno.test("RFC 8009 PRF: both vectors, both modes identical", () => {
  const v = load("rfc8009-prf.json").vectors;
  assertEquals(v.length, 2);
  for (const c of v) {
    const k = Key.fromBytes(c.enctype, hex(c.key_hex));
    assertEquals(toHex(prf(k, hex(c.input_hex))), c.output_hex);
    assertEquals(toHex(prf(k, hex(c.input_hex), "mit")), c.output_hex);
    k.dispose();
  }
});

Deno.test("computed KINK usage-39/40 keys and get_mic cross-checks", () => {
  const j = load("computed/kink-computed-examples.json");
  const v = j.key_usage_vectors;
  assertEquals(v.length, 4);
  for (const c of v) {
    const base = hex(c.session_key_hex);
    assertEquals(
      toHex(deriveKey(c.enctype, base, usageConstant(39, "Ke"), "Ke")),
      c.usage39_Ke_hex,
    );
    assertEquals(
      toHex(deriveKey(c.enctype, base, usageConstant(39, "Ki"), "Ki")),
      c.usage39_Ki_hex,
    );
    assertEquals(
      toHex(deriveKey(c.enctype, base, usageConstant(40, "Kc"), "Kc")),
      c.usage40_Kc_hex,
    );
    const k = Key.fromBytes(c.enctype, base);
    assertEquals(toHex(getMic(k, 40, hex(c.sample_message_hex))), c.get_mic_usage40_of_sample_hex);
    k.dispose();
  }
});
