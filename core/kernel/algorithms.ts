/**
 * The IPsec algorithms kink installs, with the key and ICV lengths the
 * kernel accepts for each (Linux crypto API names).
 *
 * @module
 */

/** Key lengths (octets) and, for integrity/AEAD, ICV lengths (bits) of one algorithm. */
export interface AlgInfo {
  /** Allowed key lengths in octets (AEAD: key plus 4-octet salt). */
  keyLens: number[];
  /** Allowed ICV (truncation) lengths in bits, for authentication and AEAD. */
  truncBits?: number[];
}

/** Encryption algorithms kink installs: name → allowed key lengths (octets). */
export const CRYPT_ALGS: Record<string, AlgInfo> = {
  "cbc(aes)": { keyLens: [16, 24, 32] },
  "cbc(des3_ede)": { keyLens: [24] },
  "ecb(cipher_null)": { keyLens: [0] },
};

/** Authentication algorithms: name → key length and allowed ICV lengths (bits). */
export const AUTH_ALGS: Record<string, AlgInfo> = {
  "hmac(sha1)": { keyLens: [20], truncBits: [96, 160] },
  "hmac(sha256)": { keyLens: [32], truncBits: [96, 128, 256] },
  "hmac(sha384)": { keyLens: [48], truncBits: [192, 384] },
  "hmac(sha512)": { keyLens: [64], truncBits: [256, 512] },
};

/** AEAD algorithms: name → key+salt lengths and ICV lengths (bits). */
export const AEAD_ALGS: Record<string, AlgInfo> = {
  "rfc4106(gcm(aes))": { keyLens: [20, 28, 36], truncBits: [64, 96, 128] },
};
