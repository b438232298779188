/**
 * KDC-REP: AS-REP and TGS-REP with their EncKDCRepPart and LastReq
 * (RFC 4120 §5.4.2). The decoder accepts the [APPLICATION 25] and
 * [APPLICATION 26] forms of EncKDCRepPart for either reply type.
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
import { KerberosError } from "../errors.ts";
import { AppTag, MsgType } from "../iana.ts";
import {
  checkMsgType,
  encMessage,
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
  type EncryptionKey,
  type HostAddress,
  nEncryptedData,
  nEncryptionKey,
  nHostAddresses,
  nPrincipalName,
  type PrincipalName,
  readEncryptedData,
  readEncryptionKey,
  readHostAddresses,
  readPrincipalName,
} from "./common.ts";
import { nMethodData, type PaData, readMethodData } from "./padata.ts";
import { nTicket, readTicket, type Ticket } from "./ticket.ts";

/** One LastReq element (RFC 4120 §5.4.2). */
export interface LastReqEntry {
  /** lr-type. */
  lrType: number;
  /** lr-value. */
  lrValue: Date;
}

/** KDC-REP: AS-REP (msg-type 11) or TGS-REP (msg-type 13) (RFC 4120 §5.4.2). */
export interface KdcRep {
  /** pvno, always 5. */
  pvno: number;
  /** 11 (AS-REP) or 13 (TGS-REP). */
  msgType: number;
  /** Pre-authentication data (e.g. PA-ETYPE-INFO2). */
  padata?: PaData[];
  /** Client realm. */
  crealm: string;
  /** Client name. */
  cname: PrincipalName;
  /** The new ticket. */
  ticket: Ticket;
  /** Encrypted EncKDCRepPart (usage 3 for AS, 8 or 9 for TGS). */
  encPart: EncryptedData;
}

/** EncKDCRepPart (EncASRepPart / EncTGSRepPart, RFC 4120 §5.4.2). */
export interface EncKdcRepPart {
  /** Session key. */
  key: EncryptionKey;
  /** Last-request information. */
  lastReq: LastReqEntry[];
  /** Nonce echoed from the request. */
  nonce: number;
  /** Client key expiry. */
  keyExpiration?: Date;
  /** TicketFlags. */
  flags: number;
  /** Time of initial authentication. */
  authtime: Date;
  /** Start time. */
  starttime?: Date;
  /** Expiry. */
  endtime: Date;
  /** Renewal limit. */
  renewTill?: Date;
  /** Server realm. */
  srealm: string;
  /** Server name. */
  sname: PrincipalName;
  /** Client addresses. */
  caddr?: HostAddress[];
  /** encrypted-pa-data [12] (RFC 6806). */
  encryptedPaData?: PaData[];
  /**
   * The APPLICATION tag: 25 (EncASRepPart) or 26 (EncTGSRepPart). Set by the
   * decoder; the encoder uses 26 when absent, as MIT does for both replies.
   */
  appTag?: 25 | 26;
}

function readLastReq(r: DerReader): LastReqEntry[] {
  return r.sequenceOf("", (e) => {
    const s = e.sequence();
    const lrType = s.field(0, "lr-type", INT32);
    const lrValue = s.field(1, "lr-value", TIME);
    s.finishSequence(1);
    return { lrType, lrValue };
  });
}

function decodeKdcRepWith(b: Uint8Array, name: string, types: number[], limits?: DerLimits) {
  return top(b, name, (r) =>
    readAppSequence(r, types, 6, (s, tag) => {
      const { pvno, msgType } = readMsgHeader(s, 0, types, tag);
      const padata = s.optional(2, "padata", readMethodData);
      const crealm = s.field(3, "crealm", KSTRING);
      const cname = s.field(4, "cname", readPrincipalName);
      const ticket = s.field(5, "ticket", readTicket);
      const encPart = s.field(6, "enc-part", readEncryptedData);
      const m: KdcRep = { pvno, msgType, crealm, cname, ticket, encPart };
      if (padata) m.padata = padata;
      return m;
    }), limits);
}

/** Decodes an AS-REP or a TGS-REP. */
export function decodeKdcRep(b: Uint8Array, limits?: DerLimits): KdcRep {
  return decodeKdcRepWith(b, "KDC-REP", [MsgType.AS_REP, MsgType.TGS_REP], limits);
}

/** Decodes an AS-REP (rejects other messages). */
export function decodeAsRep(b: Uint8Array, limits?: DerLimits): KdcRep {
  return decodeKdcRepWith(b, "AS-REP", [MsgType.AS_REP], limits);
}

/** Decodes a TGS-REP (rejects other messages). */
export function decodeTgsRep(b: Uint8Array, limits?: DerLimits): KdcRep {
  return decodeKdcRepWith(b, "TGS-REP", [MsgType.TGS_REP], limits);
}

/**
 * Decodes an EncKDCRepPart. Either [APPLICATION 25] (EncASRepPart) or
 * [APPLICATION 26] (EncTGSRepPart) is accepted, whichever reply it came in,
 * as RFC 4120 §5.4.2 recommends; `appTag` tells which one was seen.
 */
export function decodeEncKdcRepPart(b: Uint8Array, limits?: DerLimits): EncKdcRepPart {
  return top(
    b,
    "EncKDCRepPart",
    (r) =>
      readAppSequence(r, [AppTag.ENC_TGS_REP_PART, AppTag.ENC_AS_REP_PART], 12, (s, tag) => {
        const key = s.field(0, "key", readEncryptionKey);
        const lastReq = s.field(1, "last-req", readLastReq);
        const nonce = s.field(2, "nonce", UINT32_L);
        const keyExpiration = s.optional(3, "key-expiration", TIME);
        const flags = s.field(4, "flags", FLAGS);
        const authtime = s.field(5, "authtime", TIME);
        const starttime = s.optional(6, "starttime", TIME);
        const endtime = s.field(7, "endtime", TIME);
        const renewTill = s.optional(8, "renew-till", TIME);
        const srealm = s.field(9, "srealm", KSTRING);
        const sname = s.field(10, "sname", readPrincipalName);
        const caddr = s.optional(11, "caddr", readHostAddresses);
        const encryptedPaData = s.optional(12, "encrypted-pa-data", readMethodData);
        const m: EncKdcRepPart = {
          key,
          lastReq,
          nonce,
          flags,
          authtime,
          endtime,
          srealm,
          sname,
          appTag: tag as 25 | 26,
        };
        if (keyExpiration) m.keyExpiration = keyExpiration;
        if (starttime) m.starttime = starttime;
        if (renewTill) m.renewTill = renewTill;
        if (caddr) m.caddr = caddr;
        if (encryptedPaData) m.encryptedPaData = encryptedPaData;
        return m;
      }),
    limits,
  );
}

function nLastReq(l: readonly LastReqEntry[]): DerPart {
  return encSequenceOf(
    l.map((e) => seq(explicit(0, encInt32(e.lrType, "lr-type")), explicit(1, encTime(e.lrValue)))),
  );
}

/** Encodes an EncKDCRepPart under [APPLICATION `appTag`] (default 26, as MIT does for both replies). */
export function encodeEncKdcRepPart(m: EncKdcRepPart): Uint8Array {
  const tag = m.appTag ?? AppTag.ENC_TGS_REP_PART;
  if (tag !== 25 && tag !== 26) {
    throw new KerberosError(
      "encode",
      "encode EncKDCRepPart",
      `APPLICATION tag ${tag} is not 25 or 26`,
    );
  }
  return toDer(application(
    tag,
    seq(
      explicit(0, nEncryptionKey(m.key)),
      explicit(1, nLastReq(m.lastReq)),
      explicit(2, encKvno(m.nonce)),
      optTime(3, m.keyExpiration),
      explicit(4, encFlags(m.flags)),
      explicit(5, encTime(m.authtime)),
      optTime(6, m.starttime),
      explicit(7, encTime(m.endtime)),
      optTime(8, m.renewTill),
      explicit(9, encKerberosString(m.srealm)),
      explicit(10, nPrincipalName(m.sname)),
      explicitOpt(11, m.caddr && nHostAddresses(m.caddr)),
      explicitOpt(12, m.encryptedPaData && nMethodData(m.encryptedPaData)),
    ),
  ));
}

/** Encodes an AS-REP or TGS-REP (per `msgType`). */
export function encodeKdcRep(m: KdcRep): Uint8Array {
  checkMsgType(m, [MsgType.AS_REP, MsgType.TGS_REP], "KDC-REP");
  return toDer(encMessage(
    m.msgType,
    m,
    explicitOpt(2, m.padata && nMethodData(m.padata)),
    explicit(3, encKerberosString(m.crealm)),
    explicit(4, nPrincipalName(m.cname)),
    explicit(5, nTicket(m.ticket)),
    explicit(6, nEncryptedData(m.encPart)),
  ));
}
