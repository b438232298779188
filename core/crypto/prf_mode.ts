/**
 * The PRF readings for enctypes 17/18 and the default one, apart from the
 * crypto core so that the CLI can name the default in its help without
 * loading the WebAssembly module (re-exported by `core/crypto/mod.ts`).
 *
 * @module
 */

/**
 * Which reading of the RFC 3961 §5.3 PRF to use for enctypes 17 and 18 (for
 * 19 and 20 both modes are the RFC 8009 PRF):
 * - `"racoon2"`: SHA-1 of the input, *not* truncated (RFC 3962 sets the
 *   message block size m = 1), encrypted with AES-CTS under DK(key, "prf"):
 *   20 octets. The literal RFC text; what racoon2's kinkd computes.
 * - `"mit"`: SHA-1 truncated to one AES block and encrypted: 16 octets, as
 *   MIT's and Heimdal's `krb5_c_prf` return.
 */
export type PrfMode = "racoon2" | "mit";

/**
 * KINK's default PRF reading for enctypes 17/18: `"racoon2"`, the 20-octet
 * output. Reasons: (1) it is what RFC 3961 §5.3 says when RFC 3962's
 * parameters (m = 1) are plugged in — nothing in either RFC truncates the
 * hash to the cipher block size; (2) racoon2's kinkd, the only deployed KINK
 * implementation, computes exactly this (verified against its traffic and SA
 * keys), so it is the only reading that interoperates with an existing KINK
 * peer. The 16-octet MIT/Heimdal `krb5_c_prf` value remains available per
 * call (`"mit"`) and is meant to become a per-peer daemon setting for peers
 * built on those libraries.
 */
export const DEFAULT_PRF_MODE: PrfMode = "racoon2";
