/**
 * Kerberos V5 messages and types (RFC 4120 §5, Appendix A): typed
 * interfaces plus strict DER `decodeX(bytes)` / `encodeX(value)` pairs.
 *
 * Conventions:
 * - Times are JS `Date`s holding whole seconds; where the ASN.1 has a
 *   microseconds field it is a separate number (`cusec`, `susec`, …).
 * - Flags (TicketFlags, KDCOptions, APOptions) are 32-bit unsigned numbers
 *   with RFC 4120 bit 0 as the most significant bit (see `iana.ts`).
 * - Optional fields are `undefined` when absent; the encoders leave out
 *   exactly the fields that are `undefined`.
 * - The encoders produce the same octets as MIT krb5 for the same values
 *   (kvno and nonce are written as signed 32-bit values like MIT and Heimdal
 *   do; seq-number unsigned; flags always 32 bits).
 * - A decoded {@link Ticket} keeps its original encoding in `raw`, and
 *   {@link encodeTicket} writes `raw` verbatim when it is present, so a
 *   ticket obtained from a KDC is forwarded byte for byte.
 * - A decoded {@link KdcReq} keeps the original KDC-REQ-BODY octets in
 *   `reqBodyRaw` (the TGS-REQ authenticator checksum covers them).
 *
 * Decoders accept the [APPLICATION 25] and [APPLICATION 26] forms of
 * EncKDCRepPart for either reply type (RFC 4120 §5.4.2), and skip unknown
 * trailing context-tagged fields of a SEQUENCE (as MIT does).
 *
 * @module
 */
import {
  application,
  type DerLimits,
  type DerPart,
  DerReader,
  encFlags,
  encInt32,
  encKerberosString,
  encKvno,
  encMicroseconds,
  encOctets,
  encSequenceOf,
  encTime,
  encUInt32,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "./der.ts";
import { KerberosError } from "./errors.ts";
import { AppTag, ErrorCode, KRB5_PVNO, MsgType } from "./iana.ts";

// ---------------------------------------------------------------------------
// Types

/** PrincipalName: name type and components (no realm). */
export interface PrincipalName {
  /** Name type (RFC 4120 §6.2). */
  nameType: number;
  /** name-string: the components. */
  components: string[];
}

/** EncryptedData (RFC 4120 §5.2.9). */
export interface EncryptedData {
  /** Encryption type. */
  etype: number;
  /** Key version number, when present. */
  kvno?: number;
  /** Ciphertext. */
  cipher: Uint8Array;
}

/** EncryptionKey (RFC 4120 §5.2.9). Holds key material: never log it. */
export interface EncryptionKey {
  /** Encryption type of the key. */
  keytype: number;
  /** Key octets. */
  keyvalue: Uint8Array;
}

/** Checksum (RFC 4120 §5.2.9). */
export interface Checksum {
  /** Checksum type. */
  cksumtype: number;
  /** Checksum octets. */
  checksum: Uint8Array;
}

/** HostAddress (RFC 4120 §5.2.5). */
export interface HostAddress {
  /** Address type (2 = IPv4, 24 = IPv6). */
  addrType: number;
  /** Address octets. */
  address: Uint8Array;
}

/** One AuthorizationData element (RFC 4120 §5.2.6). */
export interface AuthorizationDataEntry {
  /** ad-type. */
  adType: number;
  /** ad-data. */
  adData: Uint8Array;
}

/** TransitedEncoding (RFC 4120 §5.3). */
export interface TransitedEncoding {
  /** tr-type (1 = DOMAIN-X500-COMPRESS). */
  trType: number;
  /** Encoded realm list. */
  contents: Uint8Array;
}

/** One LastReq element (RFC 4120 §5.4.2). */
export interface LastReqEntry {
  /** lr-type. */
  lrType: number;
  /** lr-value. */
  lrValue: Date;
}

/** PA-DATA (RFC 4120 §5.2.7). */
export interface PaData {
  /** padata-type (see `PaType`). */
  padataType: number;
  /** padata-value: the (usually DER) value. */
  padataValue: Uint8Array;
}

/** METHOD-DATA: a sequence of PA-DATA (the e-data of KDC_ERR_PREAUTH_REQUIRED). */
export type MethodData = PaData[];

/** Ticket (RFC 4120 §5.3). */
export interface Ticket {
  /** tkt-vno, always 5. */
  tktVno: number;
  /** Realm of the server. */
  realm: string;
  /** Server name. */
  sname: PrincipalName;
  /** Encrypted EncTicketPart (key usage 2). */
  encPart: EncryptedData;
  /** The original DER when decoded; written verbatim by {@link encodeTicket} when present. */
  raw?: Uint8Array;
}

/** EncTicketPart (RFC 4120 §5.3). */
export interface EncTicketPart {
  /** TicketFlags. */
  flags: number;
  /** Session key. */
  key: EncryptionKey;
  /** Client realm. */
  crealm: string;
  /** Client name. */
  cname: PrincipalName;
  /** Transited realms. */
  transited: TransitedEncoding;
  /** Time of initial authentication. */
  authtime: Date;
  /** Start time, when different from authtime. */
  starttime?: Date;
  /** Expiry. */
  endtime: Date;
  /** Renewal limit. */
  renewTill?: Date;
  /** Client addresses. */
  caddr?: HostAddress[];
  /** Authorization data. */
  authorizationData?: AuthorizationDataEntry[];
}

/** Authenticator (RFC 4120 §5.5.1). */
export interface Authenticator {
  /** authenticator-vno, always 5. */
  authenticatorVno: number;
  /** Client realm. */
  crealm: string;
  /** Client name. */
  cname: PrincipalName;
  /** Application checksum. */
  cksum?: Checksum;
  /** Microseconds part of the client time. */
  cusec: number;
  /** Client time (whole seconds). */
  ctime: Date;
  /** Sub-session key (KINK ignores it, RFC 4430 §7). */
  subkey?: EncryptionKey;
  /** Initial sequence number. */
  seqNumber?: number;
  /** Authorization data. */
  authorizationData?: AuthorizationDataEntry[];
}

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

/** KRB-ERROR (RFC 4120 §5.9.1). */
export interface KrbError {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 30. */
  msgType: number;
  /** Client time echoed from the request. */
  ctime?: Date;
  /** Client microseconds echoed from the request. */
  cusec?: number;
  /** Server time. */
  stime: Date;
  /** Server microseconds. */
  susec: number;
  /** Error code (see `ErrorCode`). */
  errorCode: number;
  /** Client realm. */
  crealm?: string;
  /** Client name. */
  cname?: PrincipalName;
  /** Server realm. */
  realm: string;
  /** Server name. */
  sname: PrincipalName;
  /** Human-readable text. */
  eText?: string;
  /** Additional data (METHOD-DATA for KDC_ERR_PREAUTH_REQUIRED, TYPED-DATA, …). */
  eData?: Uint8Array;
}

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

/** PA-ENC-TS-ENC (RFC 4120 §5.2.7.2). */
export interface PaEncTsEnc {
  /** Client time (whole seconds). */
  patimestamp: Date;
  /** Microseconds. */
  pausec?: number;
}

/** One ETYPE-INFO2-ENTRY (RFC 4120 §5.2.7.5). */
export interface EtypeInfo2Entry {
  /** Encryption type. */
  etype: number;
  /** Salt (KerberosString). */
  salt?: string;
  /** String-to-key parameters. */
  s2kparams?: Uint8Array;
}

/** ETYPE-INFO2 (PA-ETYPE-INFO2 value). */
export type EtypeInfo2 = EtypeInfo2Entry[];

/** One ETYPE-INFO-ENTRY (RFC 4120 §5.2.7.4), salt as octets. */
export interface EtypeInfoEntry {
  /** Encryption type. */
  etype: number;
  /** Salt (OCTET STRING). */
  salt?: Uint8Array;
}

/** One TYPED-DATA element (RFC 4120 §5.9.1). */
export interface TypedDataEntry {
  /** data-type. */
  dataType: number;
  /** data-value. */
  dataValue?: Uint8Array;
}

// ---------------------------------------------------------------------------
// Readers (one element each)

const INT32 = (r: DerReader) => r.int32();
const UINT32_L = (r: DerReader) => r.uint32Lenient();
const USEC = (r: DerReader) => r.microseconds();
const OCTETS = (r: DerReader) => r.octets();
const KSTRING = (r: DerReader) => r.kerberosString();
const TIME = (r: DerReader) => r.time();
const FLAGS = (r: DerReader) => r.flags();

function readPrincipalName(r: DerReader): PrincipalName {
  const s = r.sequence();
  const nameType = s.field(0, "name-type", INT32);
  const components = s.field(1, "name-string", (f) => f.sequenceOf("", KSTRING, 64));
  s.finishSequence(1);
  return { nameType, components };
}

function readEncryptedData(r: DerReader): EncryptedData {
  const s = r.sequence();
  const etype = s.field(0, "etype", INT32);
  const kvno = s.optional(1, "kvno", UINT32_L);
  const cipher = s.field(2, "cipher", OCTETS);
  s.finishSequence(2);
  return kvno === undefined ? { etype, cipher } : { etype, kvno, cipher };
}

function readEncryptionKey(r: DerReader): EncryptionKey {
  const s = r.sequence();
  const keytype = s.field(0, "keytype", INT32);
  const keyvalue = s.field(1, "keyvalue", OCTETS);
  s.finishSequence(1);
  return { keytype, keyvalue };
}

function readChecksum(r: DerReader): Checksum {
  const s = r.sequence();
  const cksumtype = s.field(0, "cksumtype", INT32);
  const checksum = s.field(1, "checksum", OCTETS);
  s.finishSequence(1);
  return { cksumtype, checksum };
}

function readHostAddresses(r: DerReader): HostAddress[] {
  return r.sequenceOf("", (e) => {
    const s = e.sequence();
    const addrType = s.field(0, "addr-type", INT32);
    const address = s.field(1, "address", OCTETS);
    s.finishSequence(1);
    return { addrType, address };
  });
}

function readAuthorizationData(r: DerReader): AuthorizationDataEntry[] {
  return r.sequenceOf("", (e) => {
    const s = e.sequence();
    const adType = s.field(0, "ad-type", INT32);
    const adData = s.field(1, "ad-data", OCTETS);
    s.finishSequence(1);
    return { adType, adData };
  });
}

function readTransited(r: DerReader): TransitedEncoding {
  const s = r.sequence();
  const trType = s.field(0, "tr-type", INT32);
  const contents = s.field(1, "contents", OCTETS);
  s.finishSequence(1);
  return { trType, contents };
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

function readPaData(r: DerReader): PaData {
  const s = r.sequence();
  const padataType = s.field(1, "padata-type", INT32);
  const padataValue = s.field(2, "padata-value", OCTETS);
  s.finishSequence(2);
  return { padataType, padataValue };
}

function readMethodData(r: DerReader): PaData[] {
  return r.sequenceOf("", readPaData);
}

function checkVno(r: DerReader, at: number, what: string, v: number, code: number): void {
  if (v !== KRB5_PVNO) {
    throw new KerberosError("decode", r.path(), `${what} ${v} is not 5 at offset ${at}`, {
      offset: at,
      errorCode: code,
    });
  }
}

function readTicket(r: DerReader): Ticket {
  const { r: a, raw } = r.elementWithRaw(0x60 | AppTag.TICKET);
  const s = a.sequence();
  const vAt = s.pos;
  const tktVno = s.field(0, "tkt-vno", INT32);
  checkVno(s, vAt, "tkt-vno", tktVno, ErrorCode.KRB_AP_ERR_BADVERSION);
  const realm = s.field(1, "realm", KSTRING);
  const sname = s.field(2, "sname", readPrincipalName);
  const encPart = s.field(3, "enc-part", readEncryptedData);
  s.finishSequence(3);
  a.finish();
  return { tktVno, realm, sname, encPart, raw: raw.slice() };
}

function readMsgHeader(
  s: DerReader,
  pvnoTag: number,
  expectedTypes: readonly number[],
  appTagSeen: number,
): { pvno: number; msgType: number } {
  const pAt = s.pos;
  const pvno = s.field(pvnoTag, "pvno", INT32);
  checkVno(s, pAt, "pvno", pvno, ErrorCode.KRB_AP_ERR_BADVERSION);
  const mAt = s.pos;
  const msgType = s.field(pvnoTag + 1, "msg-type", INT32);
  if (!expectedTypes.includes(msgType) || msgType !== appTagSeen) {
    throw new KerberosError(
      "decode",
      s.path(),
      `msg-type ${msgType} does not match [APPLICATION ${appTagSeen}] at offset ${mAt}`,
      { offset: mAt, errorCode: ErrorCode.KRB_AP_ERR_MSG_TYPE },
    );
  }
  return { pvno, msgType };
}

/** Reads an APPLICATION-tagged element whose tag is one of `tags`; returns the tag too. */
function readAppOneOf(r: DerReader, tags: readonly number[]): { a: DerReader; tag: number } {
  const t = r.peekTag();
  const n = t & 0x1f;
  const tag = (t & 0xe0) === 0x60 && tags.includes(n) ? n : tags[0]!;
  return { a: r.element(0x60 | tag), tag };
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

// ---------------------------------------------------------------------------
// Top-level decoding

function top<T>(
  bytes: Uint8Array,
  name: string,
  fn: (r: DerReader) => T,
  limits?: DerLimits,
): T {
  const r = DerReader.top(bytes, name, limits);
  const v = fn(r);
  r.finish();
  return v;
}

/** Decodes a PrincipalName. */
export function decodePrincipalName(b: Uint8Array, limits?: DerLimits): PrincipalName {
  return top(b, "PrincipalName", readPrincipalName, limits);
}

/** Decodes EncryptedData. */
export function decodeEncryptedData(b: Uint8Array, limits?: DerLimits): EncryptedData {
  return top(b, "EncryptedData", readEncryptedData, limits);
}

/** Decodes an EncryptionKey. */
export function decodeEncryptionKey(b: Uint8Array, limits?: DerLimits): EncryptionKey {
  return top(b, "EncryptionKey", readEncryptionKey, limits);
}

/** Decodes a Checksum. */
export function decodeChecksum(b: Uint8Array, limits?: DerLimits): Checksum {
  return top(b, "Checksum", readChecksum, limits);
}

/** Decodes HostAddresses. */
export function decodeHostAddresses(b: Uint8Array, limits?: DerLimits): HostAddress[] {
  return top(b, "HostAddresses", readHostAddresses, limits);
}

/** Decodes AuthorizationData. */
export function decodeAuthorizationData(
  b: Uint8Array,
  limits?: DerLimits,
): AuthorizationDataEntry[] {
  return top(b, "AuthorizationData", readAuthorizationData, limits);
}

/** Decodes a Ticket; the result keeps the original DER in `raw`. */
export function decodeTicket(b: Uint8Array, limits?: DerLimits): Ticket {
  return top(b, "Ticket", readTicket, limits);
}

/** Decodes an EncTicketPart (the plaintext of Ticket.enc-part). */
export function decodeEncTicketPart(b: Uint8Array, limits?: DerLimits): EncTicketPart {
  return top(b, "EncTicketPart", (r) => {
    const a = r.element(0x60 | AppTag.ENC_TICKET_PART);
    const s = a.sequence();
    const flags = s.field(0, "flags", FLAGS);
    const key = s.field(1, "key", readEncryptionKey);
    const crealm = s.field(2, "crealm", KSTRING);
    const cname = s.field(3, "cname", readPrincipalName);
    const transited = s.field(4, "transited", readTransited);
    const authtime = s.field(5, "authtime", TIME);
    const starttime = s.optional(6, "starttime", TIME);
    const endtime = s.field(7, "endtime", TIME);
    const renewTill = s.optional(8, "renew-till", TIME);
    const caddr = s.optional(9, "caddr", readHostAddresses);
    const authorizationData = s.optional(10, "authorization-data", readAuthorizationData);
    s.finishSequence(10);
    a.finish();
    const m: EncTicketPart = { flags, key, crealm, cname, transited, authtime, endtime };
    if (starttime) m.starttime = starttime;
    if (renewTill) m.renewTill = renewTill;
    if (caddr) m.caddr = caddr;
    if (authorizationData) m.authorizationData = authorizationData;
    return m;
  }, limits);
}

/** Decodes an Authenticator (the plaintext of AP-REQ.authenticator). */
export function decodeAuthenticator(b: Uint8Array, limits?: DerLimits): Authenticator {
  return top(b, "Authenticator", (r) => {
    const a = r.element(0x60 | AppTag.AUTHENTICATOR);
    const s = a.sequence();
    const vAt = s.pos;
    const authenticatorVno = s.field(0, "authenticator-vno", INT32);
    checkVno(s, vAt, "authenticator-vno", authenticatorVno, ErrorCode.KRB_AP_ERR_BADVERSION);
    const crealm = s.field(1, "crealm", KSTRING);
    const cname = s.field(2, "cname", readPrincipalName);
    const cksum = s.optional(3, "cksum", readChecksum);
    const cusec = s.field(4, "cusec", USEC);
    const ctime = s.field(5, "ctime", TIME);
    const subkey = s.optional(6, "subkey", readEncryptionKey);
    const seqNumber = s.optional(7, "seq-number", UINT32_L);
    const authorizationData = s.optional(8, "authorization-data", readAuthorizationData);
    s.finishSequence(8);
    a.finish();
    const m: Authenticator = { authenticatorVno, crealm, cname, cusec, ctime };
    if (cksum) m.cksum = cksum;
    if (subkey) m.subkey = subkey;
    if (seqNumber !== undefined) m.seqNumber = seqNumber;
    if (authorizationData) m.authorizationData = authorizationData;
    return m;
  }, limits);
}

/** Decodes a KRB_AP_REQ. */
export function decodeApReq(b: Uint8Array, limits?: DerLimits): ApReq {
  return top(b, "AP-REQ", readApReq, limits);
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

/** Decodes a KRB-ERROR. */
export function decodeKrbError(b: Uint8Array, limits?: DerLimits): KrbError {
  return top(b, "KRB-ERROR", (r) => {
    const a = r.element(0x60 | MsgType.KRB_ERROR);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.KRB_ERROR], MsgType.KRB_ERROR);
    const ctime = s.optional(2, "ctime", TIME);
    const cusec = s.optional(3, "cusec", USEC);
    const stime = s.field(4, "stime", TIME);
    const susec = s.field(5, "susec", USEC);
    const errorCode = s.field(6, "error-code", INT32);
    const crealm = s.optional(7, "crealm", KSTRING);
    const cname = s.optional(8, "cname", readPrincipalName);
    const realm = s.field(9, "realm", KSTRING);
    const sname = s.field(10, "sname", readPrincipalName);
    const eText = s.optional(11, "e-text", KSTRING);
    const eData = s.optional(12, "e-data", OCTETS);
    s.finishSequence(12);
    a.finish();
    const m: KrbError = { pvno, msgType, stime, susec, errorCode, realm, sname };
    if (ctime) m.ctime = ctime;
    if (cusec !== undefined) m.cusec = cusec;
    if (crealm !== undefined) m.crealm = crealm;
    if (cname) m.cname = cname;
    if (eText !== undefined) m.eText = eText;
    if (eData) m.eData = eData;
    return m;
  }, limits);
}

/** Decodes a KDC-REQ-BODY. */
export function decodeKdcReqBody(b: Uint8Array, limits?: DerLimits): KdcReqBody {
  return top(b, "KDC-REQ-BODY", readKdcReqBody, limits);
}

function decodeKdcReqWith(b: Uint8Array, name: string, types: number[], limits?: DerLimits) {
  return top(b, name, (r) => {
    const { a, tag } = readAppOneOf(r, types);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 1, types, tag);
    const padata = s.optional(3, "padata", readMethodData);
    let reqBodyRaw: Uint8Array | undefined;
    const reqBody = s.field(4, "req-body", (f) => {
      const st = f.pos;
      const body = readKdcReqBody(f);
      reqBodyRaw = f.bytes.slice(st, f.pos);
      return body;
    });
    s.finishSequence(4);
    a.finish();
    const m: KdcReq = { pvno, msgType, reqBody };
    if (padata) m.padata = padata;
    if (reqBodyRaw) m.reqBodyRaw = reqBodyRaw;
    return m;
  }, limits);
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

function decodeKdcRepWith(b: Uint8Array, name: string, types: number[], limits?: DerLimits) {
  return top(b, name, (r) => {
    const { a, tag } = readAppOneOf(r, types);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, types, tag);
    const padata = s.optional(2, "padata", readMethodData);
    const crealm = s.field(3, "crealm", KSTRING);
    const cname = s.field(4, "cname", readPrincipalName);
    const ticket = s.field(5, "ticket", readTicket);
    const encPart = s.field(6, "enc-part", readEncryptedData);
    s.finishSequence(6);
    a.finish();
    const m: KdcRep = { pvno, msgType, crealm, cname, ticket, encPart };
    if (padata) m.padata = padata;
    return m;
  }, limits);
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
  return top(b, "EncKDCRepPart", (r) => {
    const { a, tag } = readAppOneOf(r, [AppTag.ENC_TGS_REP_PART, AppTag.ENC_AS_REP_PART]);
    const s = a.sequence();
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
    s.finishSequence(12);
    a.finish();
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
  }, limits);
}

/** Decodes one PA-DATA. */
export function decodePaData(b: Uint8Array, limits?: DerLimits): PaData {
  return top(b, "PA-DATA", readPaData, limits);
}

/** Decodes METHOD-DATA (SEQUENCE OF PA-DATA), e.g. KRB-ERROR e-data. */
export function decodeMethodData(b: Uint8Array, limits?: DerLimits): MethodData {
  return top(b, "METHOD-DATA", readMethodData, limits);
}

/** Decodes PA-ENC-TS-ENC (the plaintext of PA-ENC-TIMESTAMP). */
export function decodePaEncTsEnc(b: Uint8Array, limits?: DerLimits): PaEncTsEnc {
  return top(b, "PA-ENC-TS-ENC", (r) => {
    const s = r.sequence();
    const patimestamp = s.field(0, "patimestamp", TIME);
    const pausec = s.optional(1, "pausec", USEC);
    s.finishSequence(1);
    return pausec === undefined ? { patimestamp } : { patimestamp, pausec };
  }, limits);
}

/** Decodes ETYPE-INFO2 (the PA-ETYPE-INFO2 value). */
export function decodeEtypeInfo2(b: Uint8Array, limits?: DerLimits): EtypeInfo2 {
  return top(b, "ETYPE-INFO2", (r) =>
    r.sequenceOf("", (e) => {
      const s = e.sequence();
      const etype = s.field(0, "etype", INT32);
      const salt = s.optional(1, "salt", KSTRING);
      const s2kparams = s.optional(2, "s2kparams", OCTETS);
      s.finishSequence(2);
      const m: EtypeInfo2Entry = { etype };
      if (salt !== undefined) m.salt = salt;
      if (s2kparams) m.s2kparams = s2kparams;
      return m;
    }, 256), limits);
}

/** Decodes ETYPE-INFO (the older PA-ETYPE-INFO value; salt is an OCTET STRING). */
export function decodeEtypeInfo(b: Uint8Array, limits?: DerLimits): EtypeInfoEntry[] {
  return top(b, "ETYPE-INFO", (r) =>
    r.sequenceOf("", (e) => {
      const s = e.sequence();
      const etype = s.field(0, "etype", INT32);
      const salt = s.optional(1, "salt", OCTETS);
      s.finishSequence(1);
      return salt ? { etype, salt } : { etype };
    }, 256), limits);
}

/** Decodes TYPED-DATA (a KRB-ERROR e-data form). */
export function decodeTypedData(b: Uint8Array, limits?: DerLimits): TypedDataEntry[] {
  return top(b, "TYPED-DATA", (r) =>
    r.sequenceOf("", (e) => {
      const s = e.sequence();
      const dataType = s.field(0, "data-type", INT32);
      const dataValue = s.optional(1, "data-value", OCTETS);
      s.finishSequence(1);
      return dataValue ? { dataType, dataValue } : { dataType };
    }), limits);
}

/**
 * The message type of an encoded Kerberos message, from its APPLICATION
 * tag (e.g. 30 for KRB-ERROR), or undefined when the first octet is not an
 * APPLICATION tag. Useful to tell a KDC reply from a KRB-ERROR.
 */
export function peekMessageType(b: Uint8Array): number | undefined {
  const t = b[0];
  if (t === undefined || (t & 0xe0) !== 0x60 || (t & 0x1f) === 0x1f) return undefined;
  return t & 0x1f;
}

// ---------------------------------------------------------------------------
// Encoders

/** Encodes a PrincipalName. */
function nPrincipalName(p: PrincipalName): DerPart {
  return seq(
    explicit(0, encInt32(p.nameType, "name-type")),
    explicit(1, encSequenceOf(p.components.map(encKerberosString))),
  );
}

/** Encodes EncryptedData (kvno written as signed 32-bit, as MIT does). */
function nEncryptedData(e: EncryptedData): DerPart {
  return seq(
    explicit(0, encInt32(e.etype, "etype")),
    e.kvno === undefined ? undefined : explicit(1, encKvno(e.kvno)),
    explicit(2, encOctets(e.cipher)),
  );
}

/** Encodes an EncryptionKey. */
function nEncryptionKey(k: EncryptionKey): DerPart {
  return seq(explicit(0, encInt32(k.keytype, "keytype")), explicit(1, encOctets(k.keyvalue)));
}

/** Encodes a Checksum. */
function nChecksum(c: Checksum): DerPart {
  return seq(explicit(0, encInt32(c.cksumtype, "cksumtype")), explicit(1, encOctets(c.checksum)));
}

/** Encodes HostAddresses. */
function nHostAddresses(a: readonly HostAddress[]): DerPart {
  return encSequenceOf(
    a.map((h) =>
      seq(explicit(0, encInt32(h.addrType, "addr-type")), explicit(1, encOctets(h.address)))
    ),
  );
}

/** Encodes AuthorizationData. */
function nAuthorizationData(a: readonly AuthorizationDataEntry[]): DerPart {
  return encSequenceOf(
    a.map((e) => seq(explicit(0, encInt32(e.adType, "ad-type")), explicit(1, encOctets(e.adData)))),
  );
}

function nTransited(t: TransitedEncoding): DerPart {
  return seq(explicit(0, encInt32(t.trType, "tr-type")), explicit(1, encOctets(t.contents)));
}

function nLastReq(l: readonly LastReqEntry[]): DerPart {
  return encSequenceOf(
    l.map((e) => seq(explicit(0, encInt32(e.lrType, "lr-type")), explicit(1, encTime(e.lrValue)))),
  );
}

/** Encodes a PA-DATA. */
function nPaData(p: PaData): DerPart {
  return seq(
    explicit(1, encInt32(p.padataType, "padata-type")),
    explicit(2, encOctets(p.padataValue)),
  );
}

/** Encodes METHOD-DATA. */
function nMethodData(m: readonly PaData[]): DerPart {
  return encSequenceOf(m.map(nPaData));
}

/** Encodes a Ticket; when `raw` is present it is written unchanged. */
function nTicket(t: Ticket): DerPart {
  if (t.raw) return t.raw;
  return application(
    AppTag.TICKET,
    seq(
      explicit(0, encInt32(t.tktVno, "tkt-vno")),
      explicit(1, encKerberosString(t.realm)),
      explicit(2, nPrincipalName(t.sname)),
      explicit(3, nEncryptedData(t.encPart)),
    ),
  );
}

const optTime = (n: number, d: Date | undefined) =>
  d === undefined ? undefined : explicit(n, encTime(d));

/** Encodes an EncTicketPart. */
function nEncTicketPart(m: EncTicketPart): DerPart {
  return application(
    AppTag.ENC_TICKET_PART,
    seq(
      explicit(0, encFlags(m.flags)),
      explicit(1, nEncryptionKey(m.key)),
      explicit(2, encKerberosString(m.crealm)),
      explicit(3, nPrincipalName(m.cname)),
      explicit(4, nTransited(m.transited)),
      explicit(5, encTime(m.authtime)),
      optTime(6, m.starttime),
      explicit(7, encTime(m.endtime)),
      optTime(8, m.renewTill),
      explicitOpt(9, m.caddr && nHostAddresses(m.caddr)),
      explicitOpt(10, m.authorizationData && nAuthorizationData(m.authorizationData)),
    ),
  );
}

/** Encodes an Authenticator. */
function nAuthenticator(m: Authenticator): DerPart {
  return application(
    AppTag.AUTHENTICATOR,
    seq(
      explicit(0, encInt32(m.authenticatorVno, "authenticator-vno")),
      explicit(1, encKerberosString(m.crealm)),
      explicit(2, nPrincipalName(m.cname)),
      explicitOpt(3, m.cksum && nChecksum(m.cksum)),
      explicit(4, encMicroseconds(m.cusec)),
      explicit(5, encTime(m.ctime)),
      explicitOpt(6, m.subkey && nEncryptionKey(m.subkey)),
      m.seqNumber === undefined ? undefined : explicit(7, encUInt32(m.seqNumber, "seq-number")),
      explicitOpt(8, m.authorizationData && nAuthorizationData(m.authorizationData)),
    ),
  );
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

/** Encodes a KRB-ERROR. */
function nKrbError(m: KrbError): DerPart {
  return application(
    MsgType.KRB_ERROR,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      optTime(2, m.ctime),
      m.cusec === undefined ? undefined : explicit(3, encMicroseconds(m.cusec)),
      explicit(4, encTime(m.stime)),
      explicit(5, encMicroseconds(m.susec)),
      explicit(6, encInt32(m.errorCode, "error-code")),
      m.crealm === undefined ? undefined : explicit(7, encKerberosString(m.crealm)),
      explicitOpt(8, m.cname && nPrincipalName(m.cname)),
      explicit(9, encKerberosString(m.realm)),
      explicit(10, nPrincipalName(m.sname)),
      m.eText === undefined ? undefined : explicit(11, encKerberosString(m.eText)),
      explicitOpt(12, m.eData && encOctets(m.eData)),
    ),
  );
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

function checkMsgType(m: { msgType: number }, allowed: number[], what: string): void {
  if (!allowed.includes(m.msgType)) {
    throw new KerberosError(
      "encode",
      `encode ${what}`,
      `msg-type ${m.msgType} is not ${allowed.join(" or ")}`,
    );
  }
}

/**
 * Encodes an AS-REQ or TGS-REQ (per `msgType`). When `reqBodyRaw` is set it
 * is written instead of re-encoding `reqBody`.
 */
function nKdcReq(m: KdcReq): DerPart {
  checkMsgType(m, [MsgType.AS_REQ, MsgType.TGS_REQ], "KDC-REQ");
  return application(
    m.msgType,
    seq(
      explicit(1, encInt32(m.pvno, "pvno")),
      explicit(2, encInt32(m.msgType, "msg-type")),
      explicitOpt(3, m.padata && nMethodData(m.padata)),
      explicit(4, m.reqBodyRaw ?? nKdcReqBody(m.reqBody)),
    ),
  );
}

/** Encodes an AS-REP or TGS-REP (per `msgType`). */
function nKdcRep(m: KdcRep): DerPart {
  checkMsgType(m, [MsgType.AS_REP, MsgType.TGS_REP], "KDC-REP");
  return application(
    m.msgType,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicitOpt(2, m.padata && nMethodData(m.padata)),
      explicit(3, encKerberosString(m.crealm)),
      explicit(4, nPrincipalName(m.cname)),
      explicit(5, nTicket(m.ticket)),
      explicit(6, nEncryptedData(m.encPart)),
    ),
  );
}

/** Encodes an EncKDCRepPart under [APPLICATION `appTag`] (default 26, as MIT). */
function nEncKdcRepPart(m: EncKdcRepPart): DerPart {
  const tag = m.appTag ?? AppTag.ENC_TGS_REP_PART;
  if (tag !== 25 && tag !== 26) {
    throw new KerberosError(
      "encode",
      "encode EncKDCRepPart",
      `APPLICATION tag ${tag} is not 25 or 26`,
    );
  }
  return application(
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
  );
}

/** Encodes PA-ENC-TS-ENC. */
function nPaEncTsEnc(m: PaEncTsEnc): DerPart {
  return seq(
    explicit(0, encTime(m.patimestamp)),
    m.pausec === undefined ? undefined : explicit(1, encMicroseconds(m.pausec)),
  );
}

/** Encodes ETYPE-INFO2. */
function nEtypeInfo2(m: readonly EtypeInfo2Entry[]): DerPart {
  return encSequenceOf(
    m.map((e) =>
      seq(
        explicit(0, encInt32(e.etype, "etype")),
        e.salt === undefined ? undefined : explicit(1, encKerberosString(e.salt)),
        explicitOpt(2, e.s2kparams && encOctets(e.s2kparams)),
      )
    ),
  );
}

/** Encodes ETYPE-INFO (salt as OCTET STRING). */
function nEtypeInfo(m: readonly EtypeInfoEntry[]): DerPart {
  return encSequenceOf(
    m.map((e) =>
      seq(explicit(0, encInt32(e.etype, "etype")), explicitOpt(1, e.salt && encOctets(e.salt)))
    ),
  );
}

/** Encodes TYPED-DATA. */
function nTypedData(m: readonly TypedDataEntry[]): DerPart {
  return encSequenceOf(
    m.map((e) =>
      seq(
        explicit(0, encInt32(e.dataType, "data-type")),
        explicitOpt(1, e.dataValue && encOctets(e.dataValue)),
      )
    ),
  );
}

// Public encoders: each flattens the tree built above into one buffer.

/** Encodes PrincipalName as DER. */
export function encodePrincipalName(p: PrincipalName): Uint8Array {
  return toDer(nPrincipalName(p));
}

/** Encodes EncryptedData (kvno written as a signed 32-bit value, as MIT does). */
export function encodeEncryptedData(e: EncryptedData): Uint8Array {
  return toDer(nEncryptedData(e));
}

/** Encodes EncryptionKey as DER. */
export function encodeEncryptionKey(k: EncryptionKey): Uint8Array {
  return toDer(nEncryptionKey(k));
}

/** Encodes Checksum as DER. */
export function encodeChecksum(c: Checksum): Uint8Array {
  return toDer(nChecksum(c));
}

/** Encodes HostAddresses as DER. */
export function encodeHostAddresses(a: readonly HostAddress[]): Uint8Array {
  return toDer(nHostAddresses(a));
}

/** Encodes AuthorizationData as DER. */
export function encodeAuthorizationData(a: readonly AuthorizationDataEntry[]): Uint8Array {
  return toDer(nAuthorizationData(a));
}

/** Encodes PaData as DER. */
export function encodePaData(p: PaData): Uint8Array {
  return toDer(nPaData(p));
}

/** Encodes MethodData as DER. */
export function encodeMethodData(m: readonly PaData[]): Uint8Array {
  return toDer(nMethodData(m));
}

/** Encodes a Ticket; when `raw` is present a copy of it is returned unchanged, so a ticket from a KDC is forwarded byte for byte. */
export function encodeTicket(t: Ticket): Uint8Array {
  return toDer(nTicket(t));
}

/** Encodes EncTicketPart as DER. */
export function encodeEncTicketPart(m: EncTicketPart): Uint8Array {
  return toDer(nEncTicketPart(m));
}

/** Encodes Authenticator as DER. */
export function encodeAuthenticator(m: Authenticator): Uint8Array {
  return toDer(nAuthenticator(m));
}

/** Encodes ApReq as DER. */
export function encodeApReq(m: ApReq): Uint8Array {
  return toDer(nApReq(m));
}

/** Encodes ApRep as DER. */
export function encodeApRep(m: ApRep): Uint8Array {
  return toDer(nApRep(m));
}

/** Encodes EncApRepPart as DER. */
export function encodeEncApRepPart(m: EncApRepPart): Uint8Array {
  return toDer(nEncApRepPart(m));
}

/** Encodes KrbError as DER. */
export function encodeKrbError(m: KrbError): Uint8Array {
  return toDer(nKrbError(m));
}

/** Encodes a KDC-REQ-BODY (the octets a TGS-REQ authenticator checksum covers). */
export function encodeKdcReqBody(b: KdcReqBody): Uint8Array {
  return toDer(nKdcReqBody(b));
}

/** Encodes an AS-REQ or TGS-REQ (per `msgType`). When `reqBodyRaw` is set it is written instead of re-encoding `reqBody`. */
export function encodeKdcReq(m: KdcReq): Uint8Array {
  return toDer(nKdcReq(m));
}

/** Encodes an AS-REP or TGS-REP (per `msgType`). */
export function encodeKdcRep(m: KdcRep): Uint8Array {
  return toDer(nKdcRep(m));
}

/** Encodes an EncKDCRepPart under [APPLICATION `appTag`] (default 26, as MIT does for both replies). */
export function encodeEncKdcRepPart(m: EncKdcRepPart): Uint8Array {
  return toDer(nEncKdcRepPart(m));
}

/** Encodes PaEncTsEnc as DER. */
export function encodePaEncTsEnc(m: PaEncTsEnc): Uint8Array {
  return toDer(nPaEncTsEnc(m));
}

/** Encodes EtypeInfo2 as DER. */
export function encodeEtypeInfo2(m: readonly EtypeInfo2Entry[]): Uint8Array {
  return toDer(nEtypeInfo2(m));
}

/** Encodes EtypeInfo as DER. */
export function encodeEtypeInfo(m: readonly EtypeInfoEntry[]): Uint8Array {
  return toDer(nEtypeInfo(m));
}

/** Encodes TypedData as DER. */
export function encodeTypedData(m: readonly TypedDataEntry[]): Uint8Array {
  return toDer(nTypedData(m));
}

// ---------------------------------------------------------------------------
// KRB-SAFE, KRB-PRIV, KRB-CRED (RFC 4120 §5.6–§5.8). KINK does not use them;
// they complete the RFC 4120 message set.

/** KRB-SAFE-BODY / EncKrbPrivPart content (RFC 4120 §5.6.1, §5.7.1). */
export interface KrbSafeBody {
  /** Application data. */
  userData: Uint8Array;
  /** Sender's time. */
  timestamp?: Date;
  /** Microseconds of the sender's time. */
  usec?: number;
  /** Sequence number. */
  seqNumber?: number;
  /** Sender's address. */
  sAddress: HostAddress;
  /** Recipient's address. */
  rAddress?: HostAddress;
}

/** KRB-SAFE (RFC 4120 §5.6.1). */
export interface KrbSafe {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 20. */
  msgType: number;
  /** The protected body. */
  safeBody: KrbSafeBody;
  /** Checksum over the body. */
  cksum: Checksum;
}

/** KRB-PRIV (RFC 4120 §5.7.1). */
export interface KrbPriv {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 21. */
  msgType: number;
  /** Encrypted EncKrbPrivPart (key usage 13). */
  encPart: EncryptedData;
}

/** EncKrbPrivPart (RFC 4120 §5.7.1): the same fields as KRB-SAFE-BODY. */
export type EncKrbPrivPart = KrbSafeBody;

/** KRB-CRED (RFC 4120 §5.8.1). */
export interface KrbCred {
  /** pvno, always 5. */
  pvno: number;
  /** msg-type, always 22. */
  msgType: number;
  /** Forwarded tickets. */
  tickets: Ticket[];
  /** Encrypted EncKrbCredPart (key usage 14). */
  encPart: EncryptedData;
}

/** KrbCredInfo (RFC 4120 §5.8.1). */
export interface KrbCredInfo {
  /** Session key of the ticket. */
  key: EncryptionKey;
  /** Client realm. */
  prealm?: string;
  /** Client name. */
  pname?: PrincipalName;
  /** TicketFlags. */
  flags?: number;
  /** Authentication time. */
  authtime?: Date;
  /** Start time. */
  starttime?: Date;
  /** Expiry. */
  endtime?: Date;
  /** Renewal limit. */
  renewTill?: Date;
  /** Server realm. */
  srealm?: string;
  /** Server name. */
  sname?: PrincipalName;
  /** Client addresses. */
  caddr?: HostAddress[];
}

/** EncKrbCredPart (RFC 4120 §5.8.1). */
export interface EncKrbCredPart {
  /** One entry per ticket. */
  ticketInfo: KrbCredInfo[];
  /** Nonce. */
  nonce?: number;
  /** Sender's time. */
  timestamp?: Date;
  /** Microseconds. */
  usec?: number;
  /** Sender's address. */
  sAddress?: HostAddress;
  /** Recipient's address. */
  rAddress?: HostAddress;
}

function readHostAddress(r: DerReader): HostAddress {
  const s = r.sequence();
  const addrType = s.field(0, "addr-type", INT32);
  const address = s.field(1, "address", OCTETS);
  s.finishSequence(1);
  return { addrType, address };
}

function readSafeBody(s: DerReader): KrbSafeBody {
  const userData = s.field(0, "user-data", OCTETS);
  const timestamp = s.optional(1, "timestamp", TIME);
  const usec = s.optional(2, "usec", USEC);
  const seqNumber = s.optional(3, "seq-number", UINT32_L);
  const sAddress = s.field(4, "s-address", readHostAddress);
  const rAddress = s.optional(5, "r-address", readHostAddress);
  s.finishSequence(5);
  const m: KrbSafeBody = { userData, sAddress };
  if (timestamp) m.timestamp = timestamp;
  if (usec !== undefined) m.usec = usec;
  if (seqNumber !== undefined) m.seqNumber = seqNumber;
  if (rAddress) m.rAddress = rAddress;
  return m;
}

/** Decodes a KRB-SAFE. */
export function decodeKrbSafe(b: Uint8Array, limits?: DerLimits): KrbSafe {
  return top(b, "KRB-SAFE", (r) => {
    const a = r.element(0x60 | MsgType.KRB_SAFE);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.KRB_SAFE], MsgType.KRB_SAFE);
    const safeBody = s.field(2, "safe-body", (f) => readSafeBody(f.sequence()));
    const cksum = s.field(3, "cksum", readChecksum);
    s.finishSequence(3);
    a.finish();
    return { pvno, msgType, safeBody, cksum };
  }, limits);
}

/** Decodes a KRB-PRIV. */
export function decodeKrbPriv(b: Uint8Array, limits?: DerLimits): KrbPriv {
  return top(b, "KRB-PRIV", (r) => {
    const a = r.element(0x60 | MsgType.KRB_PRIV);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.KRB_PRIV], MsgType.KRB_PRIV);
    const encPart = s.field(3, "enc-part", readEncryptedData);
    s.finishSequence(3);
    a.finish();
    return { pvno, msgType, encPart };
  }, limits);
}

/** Decodes an EncKrbPrivPart. */
export function decodeEncKrbPrivPart(b: Uint8Array, limits?: DerLimits): EncKrbPrivPart {
  return top(b, "EncKrbPrivPart", (r) => {
    const a = r.element(0x60 | AppTag.ENC_KRB_PRIV_PART);
    const m = readSafeBody(a.sequence());
    a.finish();
    return m;
  }, limits);
}

/** Decodes a KRB-CRED. */
export function decodeKrbCred(b: Uint8Array, limits?: DerLimits): KrbCred {
  return top(b, "KRB-CRED", (r) => {
    const a = r.element(0x60 | MsgType.KRB_CRED);
    const s = a.sequence();
    const { pvno, msgType } = readMsgHeader(s, 0, [MsgType.KRB_CRED], MsgType.KRB_CRED);
    const tickets = s.field(2, "tickets", (f) => f.sequenceOf("", readTicket, 256));
    const encPart = s.field(3, "enc-part", readEncryptedData);
    s.finishSequence(3);
    a.finish();
    return { pvno, msgType, tickets, encPart };
  }, limits);
}

function readKrbCredInfo(r: DerReader): KrbCredInfo {
  const s = r.sequence();
  const m: KrbCredInfo = { key: s.field(0, "key", readEncryptionKey) };
  const prealm = s.optional(1, "prealm", KSTRING);
  const pname = s.optional(2, "pname", readPrincipalName);
  const flags = s.optional(3, "flags", FLAGS);
  const authtime = s.optional(4, "authtime", TIME);
  const starttime = s.optional(5, "starttime", TIME);
  const endtime = s.optional(6, "endtime", TIME);
  const renewTill = s.optional(7, "renew-till", TIME);
  const srealm = s.optional(8, "srealm", KSTRING);
  const sname = s.optional(9, "sname", readPrincipalName);
  const caddr = s.optional(10, "caddr", readHostAddresses);
  s.finishSequence(10);
  if (prealm !== undefined) m.prealm = prealm;
  if (pname) m.pname = pname;
  if (flags !== undefined) m.flags = flags;
  if (authtime) m.authtime = authtime;
  if (starttime) m.starttime = starttime;
  if (endtime) m.endtime = endtime;
  if (renewTill) m.renewTill = renewTill;
  if (srealm !== undefined) m.srealm = srealm;
  if (sname) m.sname = sname;
  if (caddr) m.caddr = caddr;
  return m;
}

/** Decodes an EncKrbCredPart. */
export function decodeEncKrbCredPart(b: Uint8Array, limits?: DerLimits): EncKrbCredPart {
  return top(b, "EncKrbCredPart", (r) => {
    const a = r.element(0x60 | AppTag.ENC_KRB_CRED_PART);
    const s = a.sequence();
    const ticketInfo = s.field(0, "ticket-info", (f) => f.sequenceOf("", readKrbCredInfo, 256));
    const nonce = s.optional(1, "nonce", UINT32_L);
    const timestamp = s.optional(2, "timestamp", TIME);
    const usec = s.optional(3, "usec", USEC);
    const sAddress = s.optional(4, "s-address", readHostAddress);
    const rAddress = s.optional(5, "r-address", readHostAddress);
    s.finishSequence(5);
    a.finish();
    const m: EncKrbCredPart = { ticketInfo };
    if (nonce !== undefined) m.nonce = nonce;
    if (timestamp) m.timestamp = timestamp;
    if (usec !== undefined) m.usec = usec;
    if (sAddress) m.sAddress = sAddress;
    if (rAddress) m.rAddress = rAddress;
    return m;
  }, limits);
}

function nHostAddress(h: HostAddress): DerPart {
  return seq(explicit(0, encInt32(h.addrType, "addr-type")), explicit(1, encOctets(h.address)));
}

function nSafeBody(m: KrbSafeBody): DerPart {
  return seq(
    explicit(0, encOctets(m.userData)),
    optTime(1, m.timestamp),
    m.usec === undefined ? undefined : explicit(2, encMicroseconds(m.usec)),
    m.seqNumber === undefined ? undefined : explicit(3, encUInt32(m.seqNumber, "seq-number")),
    explicit(4, nHostAddress(m.sAddress)),
    explicitOpt(5, m.rAddress && nHostAddress(m.rAddress)),
  );
}

/** Encodes a KRB-SAFE. */
export function encodeKrbSafe(m: KrbSafe): Uint8Array {
  return toDer(application(
    MsgType.KRB_SAFE,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicit(2, nSafeBody(m.safeBody)),
      explicit(3, nChecksum(m.cksum)),
    ),
  ));
}

/** Encodes a KRB-PRIV. */
export function encodeKrbPriv(m: KrbPriv): Uint8Array {
  return toDer(application(
    MsgType.KRB_PRIV,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicit(3, nEncryptedData(m.encPart)),
    ),
  ));
}

/** Encodes an EncKrbPrivPart. */
export function encodeEncKrbPrivPart(m: EncKrbPrivPart): Uint8Array {
  return toDer(application(AppTag.ENC_KRB_PRIV_PART, nSafeBody(m)));
}

/** Encodes a KRB-CRED. */
export function encodeKrbCred(m: KrbCred): Uint8Array {
  return toDer(application(
    MsgType.KRB_CRED,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      explicit(2, encSequenceOf(m.tickets.map(nTicket))),
      explicit(3, nEncryptedData(m.encPart)),
    ),
  ));
}

function nKrbCredInfo(m: KrbCredInfo): DerPart {
  return seq(
    explicit(0, nEncryptionKey(m.key)),
    m.prealm === undefined ? undefined : explicit(1, encKerberosString(m.prealm)),
    explicitOpt(2, m.pname && nPrincipalName(m.pname)),
    m.flags === undefined ? undefined : explicit(3, encFlags(m.flags)),
    optTime(4, m.authtime),
    optTime(5, m.starttime),
    optTime(6, m.endtime),
    optTime(7, m.renewTill),
    m.srealm === undefined ? undefined : explicit(8, encKerberosString(m.srealm)),
    explicitOpt(9, m.sname && nPrincipalName(m.sname)),
    explicitOpt(10, m.caddr && nHostAddresses(m.caddr)),
  );
}

/** Encodes an EncKrbCredPart (nonce written as a signed 32-bit value, as MIT does). */
export function encodeEncKrbCredPart(m: EncKrbCredPart): Uint8Array {
  return toDer(application(
    AppTag.ENC_KRB_CRED_PART,
    seq(
      explicit(0, encSequenceOf(m.ticketInfo.map(nKrbCredInfo))),
      m.nonce === undefined ? undefined : explicit(1, encKvno(m.nonce)),
      optTime(2, m.timestamp),
      m.usec === undefined ? undefined : explicit(3, encMicroseconds(m.usec)),
      explicitOpt(4, m.sAddress && nHostAddress(m.sAddress)),
      explicitOpt(5, m.rAddress && nHostAddress(m.rAddress)),
    ),
  ));
}
