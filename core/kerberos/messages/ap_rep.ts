/**
 * KRB_AP_REP and its EncAPRepPart (RFC 4120 §5.5.2).
 *
 * @module
 */
import {
  application,
  type DerLimits,
  type DerPart,
  encInt32,
  encMicroseconds,
  encTime,
  encUInt32,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";

import { AppTag, MsgType } from "../iana.ts";
import { readMsgHeader, TIME, top, UINT32_L, USEC } from "./codec.ts";
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
  return top(b, "AP-REP", (r) => {
    const a = r.element(0x60 | MsgType.AP_REP);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.AP_REP], MsgType.AP_REP);
    const encPart = s.field(2, "enc-part", readEncryptedData);
    s.finishSequence(2);
    a.finish();
    return { pvno, msgType, encPart };
  }, limits);
}

/** Decodes an EncAPRepPart (the plaintext of AP-REP.enc-part). */
export function decodeEncApRepPart(b: Uint8Array, limits?: DerLimits): EncApRepPart {
  return top(b, "EncAPRepPart", (r) => {
    const a = r.element(0x60 | AppTag.ENC_AP_REP_PART);
    const s = a.sequence();
    const ctime = s.field(0, "ctime", TIME);
    const cusec = s.field(1, "cusec", USEC);
    const subkey = s.optional(2, "subkey", readEncryptionKey);
    const seqNumber = s.optional(3, "seq-number", UINT32_L);
    s.finishSequence(3);
    a.finish();
    const m: EncApRepPart = { ctime, cusec };
    if (subkey) m.subkey = subkey;
    if (seqNumber !== undefined) m.seqNumber = seqNumber;
    return m;
  }, limits);
}

/** Encodes a KRB_AP_REP. */
function nApRep(m: ApRep): DerPart {
  return application(
    MsgType.AP_REP,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicit(2, nEncryptedData(m.encPart)),
    ),
  );
}

/** Encodes an EncAPRepPart. */
function nEncApRepPart(m: EncApRepPart): DerPart {
  return application(
    AppTag.ENC_AP_REP_PART,
    seq(
      explicit(0, encTime(m.ctime)),
      explicit(1, encMicroseconds(m.cusec)),
      explicitOpt(2, m.subkey && nEncryptionKey(m.subkey)),
      m.seqNumber === undefined ? undefined : explicit(3, encUInt32(m.seqNumber, "seq-number")),
    ),
  );
}

/** Encodes ApRep as DER. */
export function encodeApRep(m: ApRep): Uint8Array {
  return toDer(nApRep(m));
}

/** Encodes EncApRepPart as DER. */
export function encodeEncApRepPart(m: EncApRepPart): Uint8Array {
  return toDer(nEncApRepPart(m));
}
