/**
 * Splitting KINK KEYMAT into the ESP keys (RFC 4301 §4.5.2: encryption key
 * from the leftmost octets, then the integrity key), with the key sizes of
 * the IPsec DOI transforms and authentication algorithms KINK negotiates.
 *
 * @module
 */
import { CryptoError } from "./errors.ts";

/** ESP transform ID 3DES (RFC 2407 §4.4.4): 24-octet key. */
export const ESP_TRANSFORM_3DES = 3;
/** ESP transform ID NULL (RFC 2410): no key. */
export const ESP_TRANSFORM_NULL = 11;
/** ESP transform ID AES-CBC (RFC 3602): Key Length attribute 128/192/256. */
export const ESP_TRANSFORM_AES_CBC = 12;
/** ESP transform ID AES-GCM with an 8-octet ICV (RFC 4106): key + 4-octet salt. */
export const ESP_TRANSFORM_AES_GCM_8 = 18;
/** ESP transform ID AES-GCM with a 12-octet ICV (RFC 4106). */
export const ESP_TRANSFORM_AES_GCM_12 = 19;
/** ESP transform ID AES-GCM with a 16-octet ICV (RFC 4106). */
export const ESP_TRANSFORM_AES_GCM_16 = 20;

/** IPsec DOI Authentication Algorithm HMAC-MD5 (RFC 2407 §4.5): 16-octet key. */
export const ESP_AUTH_HMAC_MD5 = 1;
/** IPsec DOI Authentication Algorithm HMAC-SHA1: 20-octet key. */
export const ESP_AUTH_HMAC_SHA1 = 2;
/** HMAC-SHA2-256-128 (RFC 4868): 32-octet key. */
export const ESP_AUTH_HMAC_SHA2_256 = 5;
/** HMAC-SHA2-384-192 (RFC 4868): 48-octet key. */
export const ESP_AUTH_HMAC_SHA2_384 = 6;
/** HMAC-SHA2-512-256 (RFC 4868): 64-octet key. */
export const ESP_AUTH_HMAC_SHA2_512 = 7;

/** The negotiated ESP transform, as carried in the Quick-Mode SA payload. */
export interface EspKeySpec {
  /** ESP transform ID (3 3DES, 11 NULL, 12 AES-CBC, 18/19/20 AES-GCM). */
  transform: number;
  /** Key Length attribute in bits (AES-CBC, AES-GCM; default 128 when absent). */
  keyBits?: number;
  /** Authentication Algorithm attribute (1, 2, 5, 6, 7); absent/0 = none (required for GCM). */
  authAlgorithm?: number;
}

/** The ESP keys taken from KEYMAT. */
export interface EspKeys {
  /** Encryption key (without the GCM salt); empty for NULL. */
  encKey: Uint8Array;
  /** AES-GCM 4-octet salt (RFC 4106 §8.1), present only for GCM. */
  salt?: Uint8Array;
  /** Integrity key; empty when there is no authentication algorithm. */
  authKey: Uint8Array;
}

function fail(detail: string): never {
  throw new CryptoError("invalid-input", "split KEYMAT", detail);
}

function encLength(spec: EspKeySpec): { key: number; salt: number } {
  const bits = spec.keyBits ?? 128;
  switch (spec.transform) {
    case ESP_TRANSFORM_3DES:
      if (spec.keyBits !== undefined && spec.keyBits !== 192) {
        fail(`3DES key length must be 192 bits, got ${spec.keyBits}`);
      }
      return { key: 24, salt: 0 };
    case ESP_TRANSFORM_NULL:
      return { key: 0, salt: 0 };
    case ESP_TRANSFORM_AES_CBC:
    case ESP_TRANSFORM_AES_GCM_8:
    case ESP_TRANSFORM_AES_GCM_12:
    case ESP_TRANSFORM_AES_GCM_16:
      if (bits !== 128 && bits !== 192 && bits !== 256) {
        fail(`AES key length must be 128, 192 or 256 bits, got ${bits}`);
      }
      return {
        key: bits / 8,
        salt: spec.transform === ESP_TRANSFORM_AES_CBC ? 0 : 4,
      };
    default:
      return fail(`unsupported ESP transform ${spec.transform}`);
  }
}

function authLength(spec: EspKeySpec): number {
  const a = spec.authAlgorithm ?? 0;
  const isGcm = spec.transform >= ESP_TRANSFORM_AES_GCM_8 &&
    spec.transform <= ESP_TRANSFORM_AES_GCM_16;
  if (isGcm && a !== 0) fail(`AES-GCM takes no authentication algorithm, got ${a}`);
  if (a === 0) {
    if (!isGcm && spec.transform === ESP_TRANSFORM_NULL) {
      fail("NULL encryption needs an authentication algorithm");
    }
    return 0;
  }
  return authKeyLength(a);
}

/**
 * Octets of the integrity key of an IPsec DOI authentication algorithm (ESP
 * attribute 5, also AH's): HMAC-MD5 16, HMAC-SHA1 20, HMAC-SHA2-256/384/512
 * 32/48/64 (RFC 2404, RFC 4868).
 */
export function authKeyLength(authAlgorithm: number): number {
  switch (authAlgorithm) {
    case ESP_AUTH_HMAC_MD5:
      return 16;
    case ESP_AUTH_HMAC_SHA1:
      return 20;
    case ESP_AUTH_HMAC_SHA2_256:
      return 32;
    case ESP_AUTH_HMAC_SHA2_384:
      return 48;
    case ESP_AUTH_HMAC_SHA2_512:
      return 64;
    default:
      return fail(`unsupported authentication algorithm ${authAlgorithm}`);
  }
}

/**
 * KEYMAT octets one ESP SA needs: encryption key (+ GCM salt) + integrity key
 * (e.g. AES-128-CBC + HMAC-SHA1 = 36, 3DES + HMAC-SHA1 = 44,
 * AES-256-GCM = 36).
 */
export function keymatLength(spec: EspKeySpec): number {
  const e = encLength(spec);
  return e.key + e.salt + authLength(spec);
}

/**
 * Splits KEYMAT (at least {@link keymatLength} octets; extra octets are
 * ignored) into the encryption key, the GCM salt and the integrity key. The
 * results are copies.
 */
export function splitKeymat(keymat: Uint8Array, spec: EspKeySpec): EspKeys {
  if (!(keymat instanceof Uint8Array)) fail("KEYMAT must be a Uint8Array");
  const e = encLength(spec);
  const a = authLength(spec);
  const need = e.key + e.salt + a;
  if (keymat.length < need) fail(`KEYMAT length ${keymat.length} < ${need} needed`);
  const out: EspKeys = {
    encKey: keymat.slice(0, e.key),
    authKey: keymat.slice(e.key + e.salt, need),
  };
  if (e.salt > 0) out.salt = keymat.slice(e.key, e.key + e.salt);
  return out;
}
