/**
 * Binds the KINK wire codec to the crypto core: {@link keyOps} turns a ticket
 * session key into the {@link KinkKeyOps} the Cksum and KINK_ENCRYPT steps
 * call (RFC 3961 get_mic/verify_mic and encrypt/decrypt of the key's
 * enctype).
 *
 * @module
 */
import { checksumSize, decrypt, encrypt, getMic, type Key, verifyMic } from "../crypto/mod.ts";
import type { KinkKeyOps } from "./kink.ts";
import type { RandomSource } from "../util/random.ts";

/**
 * The KINK session-key operations of a crypto {@link Key}. The key is not
 * copied. KINK_ENCRYPT confounders come from `random` (default: the system
 * CSPRNG; a deterministic engine passes its own).
 */
export function keyOps(key: Key, random?: RandomSource): KinkKeyOps {
  return {
    checksumSize: checksumSize(key.enctype),
    getMic: (usage, data) => getMic(key, usage, data),
    verifyMic: (usage, data, mic) => verifyMic(key, usage, data, mic),
    encrypt: (usage, pt) => encrypt(key, usage, pt, random),
    decrypt: (usage, ct) => decrypt(key, usage, ct),
  };
}
