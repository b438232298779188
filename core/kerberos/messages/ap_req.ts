/**
 * KRB_AP_REQ (RFC 4120 §5.5.1).
 *
 * @module
 */
import {
  application,
  type DerLimits,
  type DerPart,
  type DerReader,
  encFlags,
  encInt32,
  explicit,
  seq,
  toDer,
} from "../der.ts";

import { MsgType } from "../iana.ts";
import { FLAGS, readMsgHeader, top } from "./codec.ts";
import { type EncryptedData, nEncryptedData, readEncryptedData } from "./common.ts";

import { nTicket, readTicket, type Ticket } from "./ticket.ts";

/** KRB_AP_REQ (RFC 4120 §5.5.1). */
export interface ApReq {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 14. */
  msgType: number;
  /** APOptions (bit 1 use-session-key, bit 2 mutual-required). */
  apOptions: number;
  /** The service ticket. */
  ticket: Ticket;
  /** Encrypted Authenticator (key usage 11, or 7 in a TGS-REQ). */
  authenticator: EncryptedData;
}

function readApReq(r: DerReader): ApReq {
  const a = r.element(0x60 | MsgType.AP_REQ);
  const s = a.sequence();
  const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.AP_REQ], MsgType.AP_REQ);
  const apOptions = s.field(2, "ap-options", FLAGS);
  const ticket = s.field(3, "ticket", readTicket);
  const authenticator = s.field(4, "authenticator", readEncryptedData);
  s.finishSequence(4);
  a.finish();
  return { pvno, msgType, apOptions, ticket, authenticator };
}

/** Decodes a KRB_AP_REQ. */
export function decodeApReq(b: Uint8Array, limits?: DerLimits): ApReq {
  return top(b, "AP-REQ", readApReq, limits);
}

/** Encodes a KRB_AP_REQ. */
function nApReq(m: ApReq): DerPart {
  return application(
    MsgType.AP_REQ,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicit(2, encFlags(m.apOptions)),
      explicit(3, nTicket(m.ticket)),
      explicit(4, nEncryptedData(m.authenticator)),
    ),
  );
}

/** Encodes ApReq as DER. */
export function encodeApReq(m: ApReq): Uint8Array {
  return toDer(nApReq(m));
}
