/**
 * KDC-REQ: AS-REQ and TGS-REQ with their KDC-REQ-BODY (RFC 4120 §5.4.1).
 * A decoded KDC-REQ keeps the original KDC-REQ-BODY octets in
 * `reqBodyRaw` (the TGS-REQ authenticator checksum covers them).
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
  encKerberosString,
  encKvno,
  encSequenceOf,
  encTime,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { MsgType } from "../iana.ts";
import {
  checkMsgType,
  FLAGS,
  INT32,
  KSTRING,
  optTime,
  readAppSequence,
  readMsgHeader,
  TIME,
  top,
  UINT32_L,
} from "./codec.ts";
import {
  type EncryptedData,
  type HostAddress,
  nEncryptedData,
  nHostAddresses,
  nPrincipalName,
  type PrincipalName,
  readEncryptedData,
  readHostAddresses,
  readPrincipalName,
} from "./common.ts";
import { nMethodData, type PaData, readMethodData } from "./padata.ts";
import { nTicket, readTicket, type Ticket } from "./ticket.ts";

/** KDC-REQ-BODY (RFC 4120 §5.4.1). */
export interface KdcReqBody {
  /** KDCOptions. */
  kdcOptions: number;
  /** Client name (AS-REQ). */
  cname?: PrincipalName;
  /** Server realm (client realm in an AS-REQ). */
  realm: string;
  /** Server name. */
  sname?: PrincipalName;
  /** Requested start time (postdating). */
  from?: Date;
  /** Requested expiry. */
  till: Date;
  /** Requested renewal limit. */
  rtime?: Date;
  /** Nonce (a UInt32; keep it below 2^31 for interoperability). */
  nonce: number;
  /** Encryption types in order of preference. */
  etype: number[];
  /** Client addresses. */
  addresses?: HostAddress[];
  /** Encrypted AuthorizationData. */
  encAuthorizationData?: EncryptedData;
  /** Additional tickets (the TGT of the target for ENC-TKT-IN-SKEY). */
  additionalTickets?: Ticket[];
}

/** KDC-REQ: AS-REQ (msg-type 10) or TGS-REQ (msg-type 12) (RFC 4120 §5.4.1). */
export interface KdcReq {
  /** pvno, always 5. */
  pvno: number;
  /** 10 (AS-REQ) or 12 (TGS-REQ). */
  msgType: number;
  /** Pre-authentication data. */
  padata?: PaData[];
  /** Request body. */
  reqBody: KdcReqBody;
  /** The original KDC-REQ-BODY octets (set by the decoder). */
  reqBodyRaw?: Uint8Array;
}

function readKdcReqBody(r: DerReader): KdcReqBody {
  const s = r.sequence();
  const kdcOptions = s.field(0, "kdc-options", FLAGS);
  const cname = s.optional(1, "cname", readPrincipalName);
  const realm = s.field(2, "realm", KSTRING);
  const sname = s.optional(3, "sname", readPrincipalName);
  const from = s.optional(4, "from", TIME);
  const till = s.field(5, "till", TIME);
  const rtime = s.optional(6, "rtime", TIME);
  const nonce = s.field(7, "nonce", UINT32_L);
  const etype = s.field(8, "etype", (f) => f.sequenceOf("", INT32, 256));
  const addresses = s.optional(9, "addresses", readHostAddresses);
  const encAuthorizationData = s.optional(10, "enc-authorization-data", readEncryptedData);
  const additionalTickets = s.optional(
    11,
    "additional-tickets",
    (f) => f.sequenceOf("", readTicket, 16),
  );
  s.finishSequence(11);
  const body: KdcReqBody = { kdcOptions, realm, till, nonce, etype };
  if (cname) body.cname = cname;
  if (sname) body.sname = sname;
  if (from) body.from = from;
  if (rtime) body.rtime = rtime;
  if (addresses) body.addresses = addresses;
  if (encAuthorizationData) body.encAuthorizationData = encAuthorizationData;
  if (additionalTickets) body.additionalTickets = additionalTickets;
  return body;
}

/** Decodes a KDC-REQ-BODY. */
export function decodeKdcReqBody(b: Uint8Array, limits?: DerLimits): KdcReqBody {
  return top(b, "KDC-REQ-BODY", readKdcReqBody, limits);
}

function decodeKdcReqWith(b: Uint8Array, name: string, types: number[], limits?: DerLimits) {
  return top(b, name, (r) =>
    readAppSequence(r, types, 4, (s, tag) => {
      const { pvno, msgType } = readMsgHeader(s, 1, types, tag);
      const padata = s.optional(3, "padata", readMethodData);
      let reqBodyRaw: Uint8Array | undefined;
      const reqBody = s.field(4, "req-body", (f) => {
        const st = f.pos;
        const body = readKdcReqBody(f);
        reqBodyRaw = f.bytes.slice(st, f.pos);
        return body;
      });
      const m: KdcReq = { pvno, msgType, reqBody };
      if (padata) m.padata = padata;
      if (reqBodyRaw) m.reqBodyRaw = reqBodyRaw;
      return m;
    }), limits);
}

/** Decodes an AS-REQ or a TGS-REQ. */
export function decodeKdcReq(b: Uint8Array, limits?: DerLimits): KdcReq {
  return decodeKdcReqWith(b, "KDC-REQ", [MsgType.AS_REQ, MsgType.TGS_REQ], limits);
}

/** Decodes an AS-REQ (rejects other messages). */
export function decodeAsReq(b: Uint8Array, limits?: DerLimits): KdcReq {
  return decodeKdcReqWith(b, "AS-REQ", [MsgType.AS_REQ], limits);
}

/** Decodes a TGS-REQ (rejects other messages). */
export function decodeTgsReq(b: Uint8Array, limits?: DerLimits): KdcReq {
  return decodeKdcReqWith(b, "TGS-REQ", [MsgType.TGS_REQ], limits);
}

/** Encodes a KDC-REQ-BODY (the octets a TGS-REQ authenticator checksum covers). */
function nKdcReqBody(b: KdcReqBody): DerPart {
  return seq(
    explicit(0, encFlags(b.kdcOptions)),
    explicitOpt(1, b.cname && nPrincipalName(b.cname)),
    explicit(2, encKerberosString(b.realm)),
    explicitOpt(3, b.sname && nPrincipalName(b.sname)),
    optTime(4, b.from),
    explicit(5, encTime(b.till)),
    optTime(6, b.rtime),
    explicit(7, encKvno(b.nonce)),
    explicit(8, encSequenceOf(b.etype.map((e) => encInt32(e, "etype")))),
    explicitOpt(9, b.addresses && nHostAddresses(b.addresses)),
    explicitOpt(10, b.encAuthorizationData && nEncryptedData(b.encAuthorizationData)),
    explicitOpt(11, b.additionalTickets && encSequenceOf(b.additionalTickets.map(nTicket))),
  );
}

/** Encodes a KDC-REQ-BODY (the octets a TGS-REQ authenticator checksum covers). */
export function encodeKdcReqBody(b: KdcReqBody): Uint8Array {
  return toDer(nKdcReqBody(b));
}

/**
 * Encodes an AS-REQ or TGS-REQ (per `msgType`). When `reqBodyRaw` is set it
 * is written instead of re-encoding `reqBody`.
 */
export function encodeKdcReq(m: KdcReq): Uint8Array {
  checkMsgType(m, [MsgType.AS_REQ, MsgType.TGS_REQ], "KDC-REQ");
  return toDer(application(
    m.msgType,
    seq(
      explicit(1, encInt32(m.pvno, "pvno")),
      explicit(2, encInt32(m.msgType, "msg-type")),
      explicitOpt(3, m.padata && nMethodData(m.padata)),
      explicit(4, m.reqBodyRaw ?? nKdcReqBody(m.reqBody)),
    ),
  ));
}
