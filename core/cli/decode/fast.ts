/**
 * Just enough of Kerberos FAST (RFC 6113) for `kink decode` to recover the
 * session key of a service ticket from an armored TGS exchange (MIT clients
 * armor TGS requests with their TGT): the armor key, the KrbFastResponse's
 * strengthen-key, and the strengthened reply key, all through KRB-FX-CF2
 * over the crypto core's PRF.
 *
 * @module
 */
import { DerReader } from "../../kerberos/der.ts";
import {
  decodeEncryptedData,
  decodeEncryptionKey,
  type EncryptedData,
  type EncryptionKey,
} from "../../kerberos/messages.ts";
import { Key, keyLength, prf, type PrfMode } from "../../crypto/mod.ts";

/** KEY_USAGE_FAST_REP (RFC 6113 §5.4.3). */
export const KEY_USAGE_FAST_REP = 52;

/** The PRF Kerberos libraries use for FAST: 16-octet for enctypes 17/18 (MIT/Heimdal). */
const FAST_PRF: PrfMode = "mit";

/** PRF+ (RFC 6113 §5.1): prf(key, 1 ‖ info) ‖ prf(key, 2 ‖ info) ‖ … truncated to `len`. */
function prfPlus(key: Key, info: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (let i = 1; o < len; i++) {
    const input = new Uint8Array(1 + info.length);
    input[0] = i;
    input.set(info, 1);
    const block = prf(key, input, FAST_PRF);
    out.set(block.subarray(0, Math.min(block.length, len - o)), o);
    o += block.length;
    block.fill(0);
  }
  return out;
}

/**
 * KRB-FX-CF2(key1, key2, pepper1, pepper2) (RFC 6113 §5.1): random-to-key of
 * PRF+(key1, pepper1) XOR PRF+(key2, pepper2), in key1's enctype (random-to-key
 * is the identity for the AES enctypes).
 */
export function krbFxCf2(key1: Key, key2: Key, pepper1: string, pepper2: string): Key {
  const len = keyLength(key1.enctype);
  const enc = new TextEncoder();
  const a = prfPlus(key1, enc.encode(pepper1), len);
  const b = prfPlus(key2, enc.encode(pepper2), len);
  for (let i = 0; i < len; i++) a[i] = a[i]! ^ b[i]!;
  b.fill(0);
  try {
    return Key.fromBytes(key1.enctype, a);
  } finally {
    a.fill(0);
  }
}

/** The enc-fast-rep of a PA-FX-FAST reply value (`[0] KrbFastArmoredRep`). */
export function decodeFastArmoredRep(b: Uint8Array): EncryptedData {
  const r = DerReader.top(b, "PA-FX-FAST-REPLY");
  const v = r.field(
    0,
    "armored-data",
    (x) =>
      x.sequence("KrbFastArmoredRep").field(
        0,
        "enc-fast-rep",
        (y) => decodeEncryptedData(y.any()),
      ),
  );
  r.finish();
  return v;
}

/** The strengthen-key of a KrbFastResponse, if any. */
export function decodeFastResponseStrengthenKey(b: Uint8Array): EncryptionKey | undefined {
  const s = DerReader.top(b, "KrbFastResponse").sequence("KrbFastResponse");
  s.field(0, "padata", (x) => x.any());
  return s.optional(1, "strengthen-key", (x) => decodeEncryptionKey(x.any()));
}
