/**
 * KRB_AP_REQ (RFC 4120 §5.5.1).
 *
 * @module
 */
import { type DerLimits, encFlags, explicit, toDer } from "../der.ts";
import { MsgType } from "../iana.ts";
import { encMessage, FLAGS, readMessage, top } from "./codec.ts";
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

/** Decodes a KRB_AP_REQ. */
export function decodeApReq(b: Uint8Array, limits?: DerLimits): ApReq {
  return top(b, "AP-REQ", (r) =>
    readMessage(r, MsgType.AP_REQ, 4, (s, { pvno, msgType }) => {
      const apOptions = s.field(2, "ap-options", FLAGS);
      const ticket = s.field(3, "ticket", readTicket);
      const authenticator = s.field(4, "authenticator", readEncryptedData);
      return { pvno, msgType, apOptions, ticket, authenticator };
    }), limits);
}

/** Encodes a KRB_AP_REQ; a ticket with `raw` is written byte for byte. */
export function encodeApReq(m: ApReq): Uint8Array {
  return toDer(encMessage(
    MsgType.AP_REQ,
    m,
    explicit(2, encFlags(m.apOptions)),
    explicit(3, nTicket(m.ticket)),
    explicit(4, nEncryptedData(m.authenticator)),
  ));
}
