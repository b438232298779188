/**
 * Ticket and EncTicketPart (RFC 4120 §5.3). A decoded Ticket keeps its
 * original DER in `raw`, and {@link encodeTicket} writes `raw` verbatim
 * when present, so a ticket from a KDC is forwarded byte for byte.
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
  encOctets,
  encTime,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { AppTag } from "../iana.ts";
import {
  FLAGS,
  INT32,
  KSTRING,
  OCTETS,
  optTime,
  readAppSequence,
  readVno,
  TIME,
  top,
} from "./codec.ts";
import {
  type AuthorizationDataEntry,
  type EncryptedData,
  type EncryptionKey,
  type HostAddress,
  nAuthorizationData,
  nEncryptedData,
  nEncryptionKey,
  nHostAddresses,
  nPrincipalName,
  type PrincipalName,
  readAuthorizationData,
  readEncryptedData,
  readEncryptionKey,
  readHostAddresses,
  readPrincipalName,
} from "./common.ts";

/** TransitedEncoding (RFC 4120 §5.3). */
export interface TransitedEncoding {
  /** tr-type (1 = DOMAIN-X500-COMPRESS). */
  trType: number;
  /** Encoded realm list. */
  contents: Uint8Array;
}

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

function readTransited(r: DerReader): TransitedEncoding {
  const s = r.sequence();
  const trType = s.field(0, "tr-type", INT32);
  const contents = s.field(1, "contents", OCTETS);
  s.finishSequence(1);
  return { trType, contents };
}

/** Reads a Ticket, keeping its original DER in `raw`. */
export function readTicket(r: DerReader): Ticket {
  const { r: a, raw } = r.elementWithRaw(0x60 | AppTag.TICKET);
  const s = a.sequence();
  const tktVno = readVno(s, 0, "tkt-vno");
  const realm = s.field(1, "realm", KSTRING);
  const sname = s.field(2, "sname", readPrincipalName);
  const encPart = s.field(3, "enc-part", readEncryptedData);
  s.finishSequence(3);
  a.finish();
  return { tktVno, realm, sname, encPart, raw: raw.slice() };
}

/** Decodes a Ticket; the result keeps the original DER in `raw`. */
export function decodeTicket(b: Uint8Array, limits?: DerLimits): Ticket {
  return top(b, "Ticket", readTicket, limits);
}

/** Decodes an EncTicketPart (the plaintext of Ticket.enc-part). */
export function decodeEncTicketPart(b: Uint8Array, limits?: DerLimits): EncTicketPart {
  return top(b, "EncTicketPart", (r) =>
    readAppSequence(r, AppTag.ENC_TICKET_PART, 10, (s) => {
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
      const m: EncTicketPart = { flags, key, crealm, cname, transited, authtime, endtime };
      if (starttime) m.starttime = starttime;
      if (renewTill) m.renewTill = renewTill;
      if (caddr) m.caddr = caddr;
      if (authorizationData) m.authorizationData = authorizationData;
      return m;
    }), limits);
}

function nTransited(t: TransitedEncoding): DerPart {
  return seq(explicit(0, encInt32(t.trType, "tr-type")), explicit(1, encOctets(t.contents)));
}

/** Encodes a Ticket; when `raw` is present it is written unchanged. */
export function nTicket(t: Ticket): DerPart {
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

/** Encodes a Ticket; when `raw` is present a copy of it is returned unchanged, so a ticket from a KDC is forwarded byte for byte. */
export function encodeTicket(t: Ticket): Uint8Array {
  return toDer(nTicket(t));
}

/** Encodes EncTicketPart as DER. */
export function encodeEncTicketPart(m: EncTicketPart): Uint8Array {
  return toDer(application(
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
  ));
}
