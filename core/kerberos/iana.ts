/**
 * Kerberos V5 protocol numbers (RFC 4120 §5, §7.5; RFC 3961; RFC 4430 §8).
 *
 * Flag constants are *bit numbers* as RFC 4120 writes them (bit 0 is the
 * most significant bit of the 32-bit KerberosFlags value). Use
 * {@link flagMask}, {@link hasFlag} and {@link makeFlags} to turn them into
 * the 32-bit unsigned numbers the message codecs use.
 *
 * @module
 */

/** Protocol version number (pvno, tkt-vno, authenticator-vno). */
export const KRB5_PVNO = 5;

/** Message types (RFC 4120 §7.5.7); also the APPLICATION tag of each message. */
export const MsgType = {
  AS_REQ: 10,
  AS_REP: 11,
  TGS_REQ: 12,
  TGS_REP: 13,
  AP_REQ: 14,
  AP_REP: 15,
  KRB_SAFE: 20,
  KRB_PRIV: 21,
  KRB_CRED: 22,
  KRB_ERROR: 30,
} as const;

/** APPLICATION tags of the ASN.1 types that are not messages (RFC 4120 §5). */
export const AppTag = {
  TICKET: 1,
  AUTHENTICATOR: 2,
  ENC_TICKET_PART: 3,
  ENC_AS_REP_PART: 25,
  ENC_TGS_REP_PART: 26,
  ENC_AP_REP_PART: 27,
  ENC_KRB_PRIV_PART: 28,
  ENC_KRB_CRED_PART: 29,
} as const;

/** Principal name types (RFC 4120 §6.2, RFC 6111). */
export const NameType = {
  UNKNOWN: 0,
  PRINCIPAL: 1,
  SRV_INST: 2,
  SRV_HST: 3,
  SRV_XHST: 4,
  UID: 5,
  X500_PRINCIPAL: 6,
  SMTP_NAME: 7,
  ENTERPRISE: 10,
  WELLKNOWN: 11,
} as const;

/** Pre-authentication data types (RFC 4120 §7.5.2, RFC 6113). */
export const PaType = {
  TGS_REQ: 1,
  ENC_TIMESTAMP: 2,
  PW_SALT: 3,
  ENC_UNIX_TIME: 5,
  SANDIA_SECUREID: 6,
  SESAME: 7,
  OSF_DCE: 8,
  CYBERSAFE_SECUREID: 9,
  AFS3_SALT: 10,
  ETYPE_INFO: 11,
  SAM_CHALLENGE: 12,
  SAM_RESPONSE: 13,
  PK_AS_REQ_OLD: 14,
  PK_AS_REP_OLD: 15,
  PK_AS_REQ: 16,
  PK_AS_REP: 17,
  ETYPE_INFO2: 19,
  USE_SPECIFIED_KVNO: 20,
  SAM_REDIRECT: 21,
  GET_FROM_TYPED_DATA: 22,
  SAM_ETYPE_INFO: 23,
  ALT_PRINC: 24,
  SAM_CHALLENGE_2: 30,
  SAM_RESPONSE_2: 31,
  PAC_REQUEST: 128,
  FOR_USER: 129,
  FX_COOKIE: 133,
  FX_FAST: 136,
  FX_ERROR: 137,
  ENCRYPTED_CHALLENGE: 138,
  REQ_ENC_PA_REP: 149,
} as const;

/** Error codes (RFC 4120 §7.5.9). */
export const ErrorCode = {
  KDC_ERR_NONE: 0,
  KDC_ERR_NAME_EXP: 1,
  KDC_ERR_SERVICE_EXP: 2,
  KDC_ERR_BAD_PVNO: 3,
  KDC_ERR_C_OLD_MAST_KVNO: 4,
  KDC_ERR_S_OLD_MAST_KVNO: 5,
  KDC_ERR_C_PRINCIPAL_UNKNOWN: 6,
  KDC_ERR_S_PRINCIPAL_UNKNOWN: 7,
  KDC_ERR_PRINCIPAL_NOT_UNIQUE: 8,
  KDC_ERR_NULL_KEY: 9,
  KDC_ERR_CANNOT_POSTDATE: 10,
  KDC_ERR_NEVER_VALID: 11,
  KDC_ERR_POLICY: 12,
  KDC_ERR_BADOPTION: 13,
  KDC_ERR_ETYPE_NOSUPP: 14,
  KDC_ERR_SUMTYPE_NOSUPP: 15,
  KDC_ERR_PADATA_TYPE_NOSUPP: 16,
  KDC_ERR_TRTYPE_NOSUPP: 17,
  KDC_ERR_CLIENT_REVOKED: 18,
  KDC_ERR_SERVICE_REVOKED: 19,
  KDC_ERR_TGT_REVOKED: 20,
  KDC_ERR_CLIENT_NOTYET: 21,
  KDC_ERR_SERVICE_NOTYET: 22,
  KDC_ERR_KEY_EXPIRED: 23,
  KDC_ERR_PREAUTH_FAILED: 24,
  KDC_ERR_PREAUTH_REQUIRED: 25,
  KDC_ERR_SERVER_NOMATCH: 26,
  KDC_ERR_MUST_USE_USER2USER: 27,
  KDC_ERR_PATH_NOT_ACCEPTED: 28,
  KDC_ERR_SVC_UNAVAILABLE: 29,
  KRB_AP_ERR_BAD_INTEGRITY: 31,
  KRB_AP_ERR_TKT_EXPIRED: 32,
  KRB_AP_ERR_TKT_NYV: 33,
  KRB_AP_ERR_REPEAT: 34,
  KRB_AP_ERR_NOT_US: 35,
  KRB_AP_ERR_BADMATCH: 36,
  KRB_AP_ERR_SKEW: 37,
  KRB_AP_ERR_BADADDR: 38,
  KRB_AP_ERR_BADVERSION: 39,
  KRB_AP_ERR_MSG_TYPE: 40,
  KRB_AP_ERR_MODIFIED: 41,
  KRB_AP_ERR_BADORDER: 42,
  KRB_AP_ERR_BADKEYVER: 44,
  KRB_AP_ERR_NOKEY: 45,
  KRB_AP_ERR_MUT_FAIL: 46,
  KRB_AP_ERR_BADDIRECTION: 47,
  KRB_AP_ERR_METHOD: 48,
  KRB_AP_ERR_BADSEQ: 49,
  KRB_AP_ERR_INAPP_CKSUM: 50,
  KRB_AP_PATH_NOT_ACCEPTED: 51,
  KRB_ERR_RESPONSE_TOO_BIG: 52,
  KRB_ERR_GENERIC: 60,
  KRB_ERR_FIELD_TOOLONG: 61,
  KDC_ERROR_CLIENT_NOT_TRUSTED: 62,
  KDC_ERROR_KDC_NOT_TRUSTED: 63,
  KDC_ERROR_INVALID_SIG: 64,
  KDC_ERR_KEY_TOO_WEAK: 65,
  KDC_ERR_CERTIFICATE_MISMATCH: 66,
  KRB_AP_ERR_NO_TGT: 67,
  KDC_ERR_WRONG_REALM: 68,
  KRB_AP_ERR_USER_TO_USER_REQUIRED: 69,
  KDC_ERR_CANT_VERIFY_CERTIFICATE: 70,
  KDC_ERR_INVALID_CERTIFICATE: 71,
  KDC_ERR_REVOKED_CERTIFICATE: 72,
  KDC_ERR_REVOCATION_STATUS_UNKNOWN: 73,
  KDC_ERR_REVOCATION_STATUS_UNAVAILABLE: 74,
  KDC_ERR_CLIENT_NAME_MISMATCH: 75,
  KDC_ERR_KDC_NAME_MISMATCH: 76,
  KDC_ERR_PREAUTH_EXPIRED: 90,
  KDC_ERR_MORE_PREAUTH_DATA_REQUIRED: 91,
} as const;

const ERROR_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ErrorCode).map(([k, v]) => [v, k]),
);

/** The symbolic name of a Kerberos error code, e.g. 37 → "KRB_AP_ERR_SKEW". */
export function errorCodeName(code: number): string {
  return ERROR_NAMES.get(code) ?? `error ${code}`;
}

/** Key usage numbers (RFC 4120 §7.5.1; RFC 4430 §8 for KINK). */
export const KeyUsage = {
  AS_REQ_PA_ENC_TIMESTAMP: 1,
  KDC_REP_TICKET: 2,
  AS_REP_ENC_PART: 3,
  TGS_REQ_AUTH_DATA_SESSKEY: 4,
  TGS_REQ_AUTH_DATA_SUBKEY: 5,
  TGS_REQ_PA_AUTHENTICATOR_CKSUM: 6,
  TGS_REQ_PA_AUTHENTICATOR: 7,
  TGS_REP_ENC_PART_SESSKEY: 8,
  TGS_REP_ENC_PART_SUBKEY: 9,
  AP_REQ_AUTHENTICATOR_CKSUM: 10,
  AP_REQ_AUTHENTICATOR: 11,
  AP_REP_ENC_PART: 12,
  KRB_PRIV_ENC_PART: 13,
  KRB_CRED_ENC_PART: 14,
  KRB_SAFE_CKSUM: 15,
  /** RFC 4430 §8: KINK_ENCRYPT payload. */
  KINK_ENCRYPT: 39,
  /** RFC 4430 §8: KINK message checksum. */
  KINK_CKSUM: 40,
} as const;

/** Encryption types (RFC 3961 §8, RFC 3962, RFC 8009). */
export const EncType = {
  DES_CBC_CRC: 1,
  DES_CBC_MD4: 2,
  DES_CBC_MD5: 3,
  DES3_CBC_SHA1: 16,
  AES128_CTS_HMAC_SHA1_96: 17,
  AES256_CTS_HMAC_SHA1_96: 18,
  AES128_CTS_HMAC_SHA256_128: 19,
  AES256_CTS_HMAC_SHA384_192: 20,
  ARCFOUR_HMAC: 23,
  ARCFOUR_HMAC_EXP: 24,
  CAMELLIA128_CTS_CMAC: 25,
  CAMELLIA256_CTS_CMAC: 26,
} as const;

/** MIT-style names of encryption types (as `klist -e` and krb5.conf spell them). */
export const ENCTYPE_NAMES: Readonly<Record<number, string>> = {
  1: "des-cbc-crc",
  2: "des-cbc-md4",
  3: "des-cbc-md5",
  16: "des3-cbc-sha1",
  17: "aes128-cts-hmac-sha1-96",
  18: "aes256-cts-hmac-sha1-96",
  19: "aes128-cts-hmac-sha256-128",
  20: "aes256-cts-hmac-sha384-192",
  23: "arcfour-hmac",
  24: "arcfour-hmac-exp",
  25: "camellia128-cts-cmac",
  26: "camellia256-cts-cmac",
};

/** Name of an enctype number ("aes256-cts-hmac-sha1-96"), or "enctype N". */
export function enctypeName(etype: number): string {
  return ENCTYPE_NAMES[etype] ?? `enctype ${etype}`;
}

/** Checksum types (RFC 3961 §8, RFC 3962, RFC 8009). */
export const CksumType = {
  CRC32: 1,
  RSA_MD4: 2,
  RSA_MD4_DES: 3,
  DES_MAC: 4,
  RSA_MD5: 7,
  RSA_MD5_DES: 8,
  HMAC_SHA1_DES3_KD: 12,
  HMAC_SHA1_96_AES128: 15,
  HMAC_SHA1_96_AES256: 16,
  HMAC_SHA256_128_AES128: 19,
  HMAC_SHA384_192_AES256: 20,
  HMAC_MD5_ARCFOUR: -138,
} as const;

/** Host address types (RFC 4120 §7.5.3). */
export const AddrType = {
  IPV4: 2,
  DIRECTIONAL: 3,
  CHAOSNET: 5,
  XNS: 6,
  ISO: 7,
  DECNET_PHASE_IV: 12,
  APPLETALK_DDP: 16,
  NETBIOS: 20,
  IPV6: 24,
} as const;

/** Authorization data types (RFC 4120 §7.5.4). */
export const AdType = {
  IF_RELEVANT: 1,
  INTENDED_FOR_SERVER: 2,
  INTENDED_FOR_APPLICATION_CLASS: 3,
  KDC_ISSUED: 4,
  AND_OR: 5,
  MANDATORY_TICKET_EXTENSIONS: 6,
  IN_TICKET_EXTENSIONS: 7,
  MANDATORY_FOR_KDC: 8,
  OSF_DCE: 64,
  SESAME: 65,
  OSF_DCE_PKI_CERTID: 66,
  WIN2K_PAC: 128,
  ETYPE_NEGOTIATION: 129,
  SIGNTICKET: 512,
} as const;

/** Transited encoding types (RFC 4120 §7.5.5). */
export const TrType = { DOMAIN_X500_COMPRESS: 1 } as const;

/** Last-request types (RFC 4120 §5.4.2; negative values are per-principal). */
export const LrType = {
  NONE: 0,
  INITIAL_TGT: 1,
  INITIAL: 2,
  ISSUE_USE_TGT: 3,
  RENEWAL: 4,
  REQUEST: 5,
  PW_EXPTIME: 6,
  ACCT_EXPTIME: 7,
} as const;

/** AP options bit numbers (RFC 4120 §5.5.1). */
export const ApOption = {
  RESERVED: 0,
  USE_SESSION_KEY: 1,
  MUTUAL_REQUIRED: 2,
} as const;

/** Ticket flag bit numbers (RFC 4120 §5.3). */
export const TicketFlag = {
  RESERVED: 0,
  FORWARDABLE: 1,
  FORWARDED: 2,
  PROXIABLE: 3,
  PROXY: 4,
  MAY_POSTDATE: 5,
  POSTDATED: 6,
  INVALID: 7,
  RENEWABLE: 8,
  INITIAL: 9,
  PRE_AUTHENT: 10,
  HW_AUTHENT: 11,
  TRANSITED_POLICY_CHECKED: 12,
  OK_AS_DELEGATE: 13,
  ENC_PA_REP: 15,
  ANONYMOUS: 16,
} as const;

/** KDC option bit numbers (RFC 4120 §5.4.1, RFC 6113, RFC 6806). */
export const KdcOption = {
  RESERVED: 0,
  FORWARDABLE: 1,
  FORWARDED: 2,
  PROXIABLE: 3,
  PROXY: 4,
  ALLOW_POSTDATE: 5,
  POSTDATED: 6,
  UNUSED7: 7,
  RENEWABLE: 8,
  UNUSED9: 9,
  OPT_HARDWARE_AUTH: 11,
  REQUEST_ANONYMOUS: 14,
  CANONICALIZE: 15,
  DISABLE_TRANSITED_CHECK: 26,
  RENEWABLE_OK: 27,
  ENC_TKT_IN_SKEY: 28,
  RENEW: 30,
  VALIDATE: 31,
} as const;

/** The 32-bit mask of RFC 4120 flag bit `bit` (0 = most significant). */
export function flagMask(bit: number): number {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new RangeError(`flag bit ${bit} outside 0..31`);
  }
  return (0x80000000 >>> bit) >>> 0;
}

/** True when bit `bit` (RFC 4120 numbering) is set in the 32-bit `flags`. */
export function hasFlag(flags: number, bit: number): boolean {
  return ((flags >>> 0) & flagMask(bit)) !== 0;
}

/** A 32-bit KerberosFlags value with the given RFC 4120 bit numbers set. */
export function makeFlags(...bits: number[]): number {
  let f = 0;
  for (const b of bits) f = (f | flagMask(b)) >>> 0;
  return f;
}

/** The RFC 4120 bit numbers set in `flags`, ascending. */
export function flagBits(flags: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 32; b++) if (hasFlag(flags, b)) out.push(b);
  return out;
}
