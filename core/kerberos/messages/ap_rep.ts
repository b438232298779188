/**
 * KRB_AP_REP and its EncAPRepPart (RFC 4120 §5.5.2).
 *
 * @module
 */
import {
  application,
  type DerLimits,
  encMicroseconds,
  encTime,
  encUInt32,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { AppTag, MsgType } from "../iana.ts";
import { encMessage, readAppSequence, readMessage, TIME, top, UINT32_L, USEC } from "./codec.ts";
import {
  type EncryptedData,
  type EncryptionKey,
  nEncryptedData,
  nEncryptionKey,
  readEncryptedData,
  readEncryptionKey,
} from "./common.ts";

/** KRB_AP_REP (RFC 4120 §5.5.2). */
export interface ApRep {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 15. */
  msgType: number;
  /** Encrypted EncAPRepPart (key usage 12). */
  encPart: EncryptedData;
}

/** EncAPRepPart (RFC 4120 §5.5.2). */
export interface EncApRepPart {
  /** The authenticator's ctime. */
  ctime: Date;
  /** The authenticator's cusec. */
  cusec: number;
  /** Sub-session key. */
  subkey?: EncryptionKey;
  /** Sequence number. */
  seqNumber?: number;
}

/** Decodes a KRB_AP_REP. */
export function decodeApRep(b: Uint8Array, limits?: DerLimits): ApRep {
  return top(b, "AP-REP", (r) =>
    readMessage(r, MsgType.AP_REP, 2, (s, { pvno, msgType }) => {
      const encPart = s.field(2, "enc-part", readEncryptedData);
      return { pvno, msgType, encPart };
    }), limits);
}

/** Encodes a KRB_AP_REP. */
export function encodeApRep(m: ApRep): Uint8Array {
  return toDer(encMessage(MsgType.AP_REP, m, explicit(2, nEncryptedData(m.encPart))));
}

/** Decodes an EncAPRepPart (the plaintext of AP-REP.enc-part). */
export function decodeEncApRepPart(b: Uint8Array, limits?: DerLimits): EncApRepPart {
  return top(b, "EncAPRepPart", (r) =>
    readAppSequence(r, AppTag.ENC_AP_REP_PART, 3, (s) => {
      const ctime = s.field(0, "ctime", TIME);
      const cusec = s.field(1, "cusec", USEC);
      const subkey = s.optional(2, "subkey", readEncryptionKey);
      const seqNumber = s.optional(3, "seq-number", UINT32_L);
      const m: EncApRepPart = { ctime, cusec };
      if (subkey) m.subkey = subkey;
      if (seqNumber !== undefined) m.seqNumber = seqNumber;
      return m;
    }), limits);
}

/** Encodes an EncAPRepPart. */
export function encodeEncApRepPart(m: EncApRepPart): Uint8Array {
  return toDer(application(
    AppTag.ENC_AP_REP_PART,
    seq(
      explicit(0, encTime(m.ctime)),
      explicit(1, encMicroseconds(m.cusec)),
      explicitOpt(2, m.subkey && nEncryptionKey(m.subkey)),
      m.seqNumber === undefined ? undefined : explicit(3, encUInt32(m.seqNumber, "seq-number")),
    ),
  ));
}
