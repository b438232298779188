/**
 * A RandomSource that yields one given confounder, so a test can reproduce a
 * published ciphertext through the real `encrypt` (which draws its
 * 16-octet confounder from the source it is given).
 */
import type { RandomSource } from "../../../core/util/random.ts";

/** A source whose next `fill` writes `confounder` (its length must match the request). */
export function fixedConfounder(confounder: Uint8Array): RandomSource {
  return {
    fill(out: Uint8Array): Uint8Array {
      if (out.length !== confounder.length) {
        throw new Error(
          `asked for ${out.length} octets, holding a ${confounder.length}-octet confounder`,
        );
      }
      out.set(confounder);
      return out;
    },
  };
}
