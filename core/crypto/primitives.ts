/**
 * Building blocks of the crypto core, exposed for the published-vector and
 * differential tests (n-fold, HMAC, PBKDF2, raw AES-CTS, key derivation).
 * Protocol code uses `mod.ts`; these take raw key octets and do not wipe them.
 *
 * @module
 */
import * as w from "./wasm.ts";
import { CryptoError } from "./errors.ts";
import { assertEnctype } from "./mod.ts";

/** Hash functions of {@link hmac} and {@link pbkdf2}. */
export type HashName = "sha1" | "sha256" | "sha384";

const HASH_CODE: Readonly<Record<HashName, number>> = { sha1: 1, sha256: 256, sha384: 384 };

function code(h: HashName, context: string): number {
  const c = HASH_CODE[h];
  if (c === undefined) throw new CryptoError("invalid-input", context, `unknown hash ${h}`);
  return c;
}

/** RFC 3961 §5.1 n-fold of `input` to `outLen` octets. */
export function nfold(input: Uint8Array, outLen: number): Uint8Array {
  return w.prim_nfold(input, outLen);
}

/** HMAC (RFC 2104) with SHA-1, SHA-256 or SHA-384. */
export function hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return w.prim_hmac(code(hash, "hmac"), key, data);
}

/** PBKDF2 (RFC 8018) with HMAC-SHA-1/256/384; 1..2^24 iterations. */
export function pbkdf2(
  hash: HashName,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Uint8Array {
  const out = w.prim_pbkdf2(code(hash, "pbkdf2"), password, salt, iterations, length);
  if (out.length === 0) throw new CryptoError("invalid-input", "pbkdf2", "bad parameters");
  return out;
}

/** Result of {@link ctsEncrypt} / {@link ctsDecrypt}. */
export interface CtsResult {
  /** The output octets (same length as the input). */
  output: Uint8Array;
  /** The next cipher state. */
  nextIv: Uint8Array;
}

function cts(key: Uint8Array, iv: Uint8Array, data: Uint8Array, dec: boolean): CtsResult {
  const r = w.prim_cts(key, iv, data, dec);
  if (r.length === 0) {
    throw new CryptoError(
      "invalid-input",
      dec ? "AES-CTS decrypt" : "AES-CTS encrypt",
      "key must be 16 or 32 octets, IV 16, data at least 16",
    );
  }
  return { output: r.slice(0, data.length), nextIv: r.slice(data.length) };
}

/** Raw AES-CBC-CTS encryption as in RFC 3962 §5 (no confounder, no MAC). */
export function ctsEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): CtsResult {
  return cts(key, iv, data, false);
}

/** Raw AES-CBC-CTS decryption (inverse of {@link ctsEncrypt}). */
export function ctsDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): CtsResult {
  return cts(key, iv, data, true);
}

/** Role of a derived key: checksum (0x99), encryption (0xAA), integrity (0x55). */
export type KeyRole = "Kc" | "Ke" | "Ki";

/**
 * DK(base, constant) for 17/18 (RFC 3961 §5.1) or KDF-HMAC-SHA2(base,
 * constant, k) for 19/20 (RFC 8009 §3, with the k of `role`).
 */
export function deriveKey(
  enctype: number,
  base: Uint8Array,
  constant: Uint8Array,
  role: KeyRole = "Ke",
): Uint8Array {
  const et = assertEnctype(enctype, "derive key");
  const r = role === "Kc" ? 0x99 : role === "Ki" ? 0x55 : 0xaa;
  const out = w.prim_derive(et, base, constant, r);
  if (out.length === 0) throw new CryptoError("invalid-input", "derive key", "wrong key length");
  return out;
}

/** The usage constant `usage (4 octets BE) ‖ 0x99|0xAA|0x55`. */
export function usageConstant(usage: number, role: KeyRole): Uint8Array {
  const c = new Uint8Array(5);
  new DataView(c.buffer).setUint32(0, usage >>> 0);
  c[4] = role === "Kc" ? 0x99 : role === "Ki" ? 0x55 : 0xaa;
  return c;
}
