/**
 * KINK protocol numbers (RFC 4430 §4, §4.2, §8, §9; IANA "KINK Parameters").
 *
 * @module
 */

/** UDP port of KINK (RFC 4430 §9). */
export const KINK_PORT = 910;

/** The only KINK major version (header octet 1, high nibble). */
export const KINK_MAJOR_VERSION = 1;

/** The IPsec DOI (RFC 2407), the only DOI KINK defines. */
export const DOI_IPSEC = 1;

/** Size of the KINK header in octets. */
export const KINK_HEADER_SIZE = 16;

/** Kerberos key usage of KINK_ENCRYPT (RFC 4430 §8); public as `KeyUsage.KINK_ENCRYPT` of the Kerberos layer. */
export const KEY_USAGE_KINK_ENCRYPT = 39;

/** Kerberos key usage of the KINK Cksum (RFC 4430 §8); public as `KeyUsage.KINK_CKSUM` of the Kerberos layer. */
export const KEY_USAGE_KINK_CKSUM = 40;

/** KINK message types (RFC 4430 §4). */
export const MessageType = {
  CREATE: 1,
  DELETE: 2,
  REPLY: 3,
  GETTGT: 4,
  ACK: 5,
  STATUS: 6,
} as const;

/** KINK payload types ("Next Payload" values, RFC 4430 §4.2). */
export const PayloadType = {
  DONE: 0,
  AP_REQ: 1,
  AP_REP: 2,
  KRB_ERROR: 3,
  TGT_REQ: 4,
  TGT_REP: 5,
  ISAKMP: 6,
  ENCRYPT: 7,
  ERROR: 8,
} as const;

const MESSAGE_NAMES: Record<number, string> = {
  0: "RESERVED",
  1: "CREATE",
  2: "DELETE",
  3: "REPLY",
  4: "GETTGT",
  5: "ACK",
  6: "STATUS",
};

const PAYLOAD_NAMES: Record<number, string> = {
  0: "KINK_DONE",
  1: "KINK_AP_REQ",
  2: "KINK_AP_REP",
  3: "KINK_KRB_ERROR",
  4: "KINK_TGT_REQ",
  5: "KINK_TGT_REP",
  6: "KINK_ISAKMP",
  7: "KINK_ENCRYPT",
  8: "KINK_ERROR",
};

const ERROR_NAMES: Record<number, string> = {
  0: "KINK_OK",
  1: "KINK_PROTOERR",
  2: "KINK_INVDOI",
  3: "KINK_INVMAJ",
  4: "RESERVED(4)",
  5: "KINK_INTERR",
  6: "KINK_BADQMVERS",
  7: "KINK_U2UDENIED",
};

/** Name of a KINK message type (`"CREATE"`, or `"TYPE(n)"` for unassigned values). */
export function messageTypeName(t: number): string {
  return MESSAGE_NAMES[t] ?? (t >= 128 ? `PRIVATE(${t})` : `TYPE(${t})`);
}

/** Name of a KINK payload type (`"KINK_AP_REQ"`, or `"PAYLOAD(n)"`). */
export function payloadTypeName(t: number): string {
  return PAYLOAD_NAMES[t] ?? (t >= 128 ? `PRIVATE_PAYLOAD(${t})` : `PAYLOAD(${t})`);
}

/** Name of a KINK_ERROR code (`"KINK_PROTOERR"`, or a range description). */
export function kinkErrorName(code: number): string {
  const n = ERROR_NAMES[code];
  if (n) return n;
  if (code < 8192) return `RESERVED_TO_IANA(${code})`;
  if (code < 16384) return `PRIVATE_USE(${code})`;
  return `RESERVED(${code})`;
}
