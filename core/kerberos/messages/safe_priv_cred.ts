/**
 * KRB-SAFE, KRB-PRIV and KRB-CRED (RFC 4120 §5.6–§5.8). KINK does not use
 * them; they complete the RFC 4120 message set. This module is not part of
 * the Kerberos layer's entry point: import it by path.
 *
 * @module
 */
import {
  application,
  type DerLimits,
  type DerPart,
  type DerReader,
  encFlags,
  encKerberosString,
  encKvno,
  encMicroseconds,
  encOctets,
  encSequenceOf,
  encUInt32,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { AppTag, MsgType } from "../iana.ts";
import {
  encMessage,
  FLAGS,
  KSTRING,
  OCTETS,
  optTime,
  readAppSequence,
  readMessage,
  TIME,
  top,
  UINT32_L,
  USEC,
} from "./codec.ts";
import {
  type Checksum,
  type EncryptedData,
  type EncryptionKey,
  type HostAddress,
  nChecksum,
  nEncryptedData,
  nEncryptionKey,
  nHostAddress,
  nHostAddresses,
  nPrincipalName,
  type PrincipalName,
  readChecksum,
  readEncryptedData,
  readEncryptionKey,
  readHostAddress,
  readHostAddresses,
  readPrincipalName,
} from "./common.ts";
import { nTicket, readTicket, type Ticket } from "./ticket.ts";

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
  return top(b, "KRB-SAFE", (r) =>
    readMessage(r, MsgType.KRB_SAFE, 3, (s, { pvno, msgType }) => {
      const safeBody = s.field(2, "safe-body", (f) => readSafeBody(f.sequence()));
      const cksum = s.field(3, "cksum", readChecksum);
      return { pvno, msgType, safeBody, cksum };
    }), limits);
}

/** Decodes a KRB-PRIV. */
export function decodeKrbPriv(b: Uint8Array, limits?: DerLimits): KrbPriv {
  return top(b, "KRB-PRIV", (r) =>
    readMessage(r, MsgType.KRB_PRIV, 3, (s, { pvno, msgType }) => {
      const encPart = s.field(3, "enc-part", readEncryptedData);
      return { pvno, msgType, encPart };
    }), limits);
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
  return top(b, "KRB-CRED", (r) =>
    readMessage(r, MsgType.KRB_CRED, 3, (s, { pvno, msgType }) => {
      const tickets = s.field(2, "tickets", (f) => f.sequenceOf("", readTicket, 256));
      const encPart = s.field(3, "enc-part", readEncryptedData);
      return { pvno, msgType, tickets, encPart };
    }), limits);
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
  return top(b, "EncKrbCredPart", (r) =>
    readAppSequence(r, AppTag.ENC_KRB_CRED_PART, 5, (s) => {
      const ticketInfo = s.field(0, "ticket-info", (f) => f.sequenceOf("", readKrbCredInfo, 256));
      const nonce = s.optional(1, "nonce", UINT32_L);
      const timestamp = s.optional(2, "timestamp", TIME);
      const usec = s.optional(3, "usec", USEC);
      const sAddress = s.optional(4, "s-address", readHostAddress);
      const rAddress = s.optional(5, "r-address", readHostAddress);
      const m: EncKrbCredPart = { ticketInfo };
      if (nonce !== undefined) m.nonce = nonce;
      if (timestamp) m.timestamp = timestamp;
      if (usec !== undefined) m.usec = usec;
      if (sAddress) m.sAddress = sAddress;
      if (rAddress) m.rAddress = rAddress;
      return m;
    }), limits);
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
  return toDer(encMessage(
    MsgType.KRB_SAFE,
    m,
    explicit(2, nSafeBody(m.safeBody)),
    explicit(3, nChecksum(m.cksum)),
  ));
}

/** Encodes a KRB-PRIV. */
export function encodeKrbPriv(m: KrbPriv): Uint8Array {
  return toDer(encMessage(
    MsgType.KRB_PRIV,
    m,
    explicit(3, nEncryptedData(m.encPart)),
  ));
}

/** Encodes an EncKrbPrivPart. */
export function encodeEncKrbPrivPart(m: EncKrbPrivPart): Uint8Array {
  return toDer(application(AppTag.ENC_KRB_PRIV_PART, nSafeBody(m)));
}

/** Encodes a KRB-CRED. */
export function encodeKrbCred(m: KrbCred): Uint8Array {
  return toDer(encMessage(
    MsgType.KRB_CRED,
    m,
    explicit(2, encSequenceOf(m.tickets.map(nTicket))),
    explicit(3, nEncryptedData(m.encPart)),
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
