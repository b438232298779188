/**
 * KRB-ERROR (RFC 4120 §5.9.1) and TYPED-DATA, one of its e-data forms.
 *
 * @module
 */
import {
  type DerLimits,
  encInt32,
  encKerberosString,
  encMicroseconds,
  encOctets,
  encSequenceOf,
  encTime,
  explicit,
  explicitOpt,
  seq,
  toDer,
} from "../der.ts";
import { MsgType } from "../iana.ts";
import {
  encMessage,
  INT32,
  KSTRING,
  OCTETS,
  optTime,
  readMessage,
  TIME,
  top,
  USEC,
} from "./codec.ts";
import { nPrincipalName, type PrincipalName, readPrincipalName } from "./common.ts";

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

/** One TYPED-DATA element (RFC 4120 §5.9.1). */
export interface TypedDataEntry {
  /** data-type. */
  dataType: number;
  /** data-value. */
  dataValue?: Uint8Array;
}

/** Decodes a KRB-ERROR. */
export function decodeKrbError(b: Uint8Array, limits?: DerLimits): KrbError {
  return top(
    b,
    "KRB-ERROR",
    (r) =>
      readMessage(r, MsgType.KRB_ERROR, 12, (s, { pvno, msgType }) => {
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
        const m: KrbError = { pvno, msgType, stime, susec, errorCode, realm, sname };
        if (ctime) m.ctime = ctime;
        if (cusec !== undefined) m.cusec = cusec;
        if (crealm !== undefined) m.crealm = crealm;
        if (cname) m.cname = cname;
        if (eText !== undefined) m.eText = eText;
        if (eData) m.eData = eData;
        return m;
      }),
    limits,
  );
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

/** Encodes KrbError as DER. */
export function encodeKrbError(m: KrbError): Uint8Array {
  return toDer(encMessage(
    MsgType.KRB_ERROR,
    m,
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
  ));
}

/** Encodes TypedData as DER. */
export function encodeTypedData(m: readonly TypedDataEntry[]): Uint8Array {
  return toDer(encSequenceOf(
    m.map((e) =>
      seq(
        explicit(0, encInt32(e.dataType, "data-type")),
        explicitOpt(1, e.dataValue && encOctets(e.dataValue)),
      )
    ),
  ));
}
