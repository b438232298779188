/**
 * The crypto layer's error family.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/**
 * Categories of {@link CryptoError}:
 * - `"unsupported-enctype"`: an enctype other than 17, 18, 19, 20;
 * - `"integrity"`: a decrypt or checksum verification failed;
 * - `"invalid-input"`: wrong key length, short ciphertext, bad key usage,
 *   bad KEYMAT seed or length, bad string-to-key parameters;
 * - `"disposed"`: the key (or Diffie-Hellman private value) was disposed;
 * - `"unsupported-group"`: a Diffie-Hellman group other than 14 and 19;
 * - `"invalid-public-value"`: a peer's Diffie-Hellman public value of the
 *   wrong length, out of range or not on the curve.
 */
export type CryptoErrorCategory =
  | "unsupported-enctype"
  | "integrity"
  | "invalid-input"
  | "disposed"
  | "unsupported-group"
  | "invalid-public-value";

/** Errors raised by the crypto core. Messages never contain key material. */
export class CryptoError extends KinkError {
  /** Always `"crypto"`. */
  readonly layer = "crypto" as const;
  /** The category (see {@link CryptoErrorCategory}). */
  declare readonly category: CryptoErrorCategory;

  /**
   * @param category what kind of failure
   * @param context what was being done (e.g. `"decrypt"`)
   * @param detail what went wrong, without secret material
   */
  constructor(
    category: CryptoErrorCategory,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
  ) {
    super(category, context, detail, options);
  }
}
