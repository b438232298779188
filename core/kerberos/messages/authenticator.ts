/**
 * Authenticator (RFC 4120 §5.5.1): the plaintext of an AP-REQ's
 * authenticator field.
 *
 * @module
 */
import {
  application,
  type DerLimits,
  encInt32,
  encKerberosString,
  encMicroseconds,
  encTime,
  encUInt32,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { AppTag } from "../iana.ts";
import { KSTRING, readAppSequence, readVno, TIME, top, UINT32_L, USEC } from "./codec.ts";
import {
  type AuthorizationDataEntry,
  type Checksum,
  type EncryptionKey,
  nAuthorizationData,
  nChecksum,
  nEncryptionKey,
  nPrincipalName,
  type PrincipalName,
  readAuthorizationData,
  readChecksum,
  readEncryptionKey,
  readPrincipalName,
} from "./common.ts";

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

/** Decodes an Authenticator (the plaintext of AP-REQ.authenticator). */
export function decodeAuthenticator(b: Uint8Array, limits?: DerLimits): Authenticator {
  return top(b, "Authenticator", (r) =>
    readAppSequence(r, AppTag.AUTHENTICATOR, 8, (s) => {
      const authenticatorVno = readVno(s, 0, "authenticator-vno");
      const crealm = s.field(1, "crealm", KSTRING);
      const cname = s.field(2, "cname", readPrincipalName);
      const cksum = s.optional(3, "cksum", readChecksum);
      const cusec = s.field(4, "cusec", USEC);
      const ctime = s.field(5, "ctime", TIME);
      const subkey = s.optional(6, "subkey", readEncryptionKey);
      const seqNumber = s.optional(7, "seq-number", UINT32_L);
      const authorizationData = s.optional(8, "authorization-data", readAuthorizationData);
      const m: Authenticator = { authenticatorVno, crealm, cname, cusec, ctime };
      if (cksum) m.cksum = cksum;
      if (subkey) m.subkey = subkey;
      if (seqNumber !== undefined) m.seqNumber = seqNumber;
      if (authorizationData) m.authorizationData = authorizationData;
      return m;
    }), limits);
}

/** Encodes Authenticator as DER. */
export function encodeAuthenticator(m: Authenticator): Uint8Array {
  return toDer(application(
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
  ));
}
