/**
 * ISAKMP (RFC 2408 §3) and IPsec DOI (RFC 2407 §4) numbers used by the Quick
 * Mode payloads that KINK carries (RFC 4430 §5), with name lookups for display.
 *
 * @module
 */

/** ISAKMP payload types (RFC 2408 §3.1). KINK uses SA, P, T, KE, ID, NONCE, N, D. */
export const IsakmpPayloadType = {
  NONE: 0,
  SA: 1,
  PROPOSAL: 2,
  TRANSFORM: 3,
  KE: 4,
  ID: 5,
  CERT: 6,
  CR: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  NOTIFY: 11,
  DELETE: 12,
  VENDOR_ID: 13,
} as const;

/** IPsec DOI situation bit SIT_IDENTITY_ONLY (RFC 2407 §4.2), the only one KINK allows. */
export const SIT_IDENTITY_ONLY = 1;

/** IPsec Security Protocol Identifiers (RFC 2407 §4.4.1). */
export const ProtocolId = {
  ISAKMP: 1,
  AH: 2,
  ESP: 3,
  IPCOMP: 4,
} as const;

/** IPsec AH transform identifiers (RFC 2407 §4.4.3). */
export const AhTransformId = {
  AH_MD5: 2,
  AH_SHA: 3,
  AH_DES: 4,
  /** RFC 4868 */
  AH_SHA2_256: 5,
  AH_SHA2_384: 6,
  AH_SHA2_512: 7,
} as const;

/** IPsec ESP transform identifiers (RFC 2407 §4.4.4, RFC 3602, RFC 4106, IANA). */
export const EspTransformId = {
  ESP_DES_IV64: 1,
  ESP_DES: 2,
  ESP_3DES: 3,
  ESP_RC5: 4,
  ESP_IDEA: 5,
  ESP_CAST: 6,
  ESP_BLOWFISH: 7,
  ESP_3IDEA: 8,
  ESP_DES_IV32: 9,
  ESP_RC4: 10,
  ESP_NULL: 11,
  /** AES-CBC (RFC 3602); needs a Key Length attribute. */
  ESP_AES: 12,
  ESP_AES_CTR: 13,
  /** AES-GCM with an 8-octet ICV (RFC 4106). */
  ESP_AES_GCM_8: 18,
  /** AES-GCM with a 12-octet ICV (RFC 4106). */
  ESP_AES_GCM_12: 19,
  /** AES-GCM with a 16-octet ICV (RFC 4106). */
  ESP_AES_GCM_16: 20,
} as const;

/** IPCOMP transform identifiers (RFC 2407 §4.4.5). */
export const IpcompTransformId = {
  IPCOMP_OUI: 1,
  IPCOMP_DEFLATE: 2,
  IPCOMP_LZS: 3,
} as const;

/** IPsec SA attribute classes (RFC 2407 §4.5; ESN from RFC 4304). */
export const SaAttributeType = {
  LIFE_TYPE: 1,
  LIFE_DURATION: 2,
  GROUP_DESCRIPTION: 3,
  ENCAPSULATION_MODE: 4,
  AUTH_ALGORITHM: 5,
  KEY_LENGTH: 6,
  KEY_ROUNDS: 7,
  COMPRESS_DICTIONARY_SIZE: 8,
  COMPRESS_PRIVATE_ALGORITHM: 9,
  /** Extended (64-bit) Sequence Number, RFC 4304. */
  EXTENDED_SEQUENCE_NUMBER: 11,
} as const;

/** Values of the SA Life Type attribute. */
export const LifeType = { SECONDS: 1, KILOBYTES: 2 } as const;

/** Values of the Encapsulation Mode attribute. */
export const EncapsulationMode = { TUNNEL: 1, TRANSPORT: 2 } as const;

/** Values of the Authentication Algorithm attribute (RFC 2407 §4.5, RFC 4868 §2.4). */
export const AuthAlgorithm = {
  HMAC_MD5: 1,
  HMAC_SHA: 2,
  DES_MAC: 3,
  KPDK: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
} as const;

/** Default SA lifetime when no Life attributes are present (RFC 2407 §4.5). */
export const DEFAULT_LIFETIME_SECONDS = 28800;

/** IPsec DOI identification types (RFC 2407 §4.6.2.1); KINK allows 1, 4, 5, 6, 7, 8 (RFC 4430 §5.3). */
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  USER_FQDN: 3,
  IPV4_ADDR_SUBNET: 4,
  IPV6_ADDR: 5,
  IPV6_ADDR_SUBNET: 6,
  IPV4_ADDR_RANGE: 7,
  IPV6_ADDR_RANGE: 8,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
} as const;

/** The ID types KINK permits (RFC 4430 §5.3). */
export const KINK_ID_TYPES: readonly number[] = [1, 4, 5, 6, 7, 8];

/** Length of the identification data for the address ID types. */
export const ID_DATA_LENGTH: Readonly<Record<number, number>> = {
  1: 4,
  4: 8,
  5: 16,
  6: 32,
  7: 8,
  8: 32,
};

/** ISAKMP Notify message types (RFC 2408 §3.14.1, RFC 2407 §4.6.3). */
export const NotifyType = {
  INVALID_PAYLOAD_TYPE: 1,
  DOI_NOT_SUPPORTED: 2,
  SITUATION_NOT_SUPPORTED: 3,
  INVALID_COOKIE: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_MINOR_VERSION: 6,
  INVALID_EXCHANGE_TYPE: 7,
  INVALID_FLAGS: 8,
  INVALID_MESSAGE_ID: 9,
  INVALID_PROTOCOL_ID: 10,
  INVALID_SPI: 11,
  INVALID_TRANSFORM_ID: 12,
  ATTRIBUTES_NOT_SUPPORTED: 13,
  NO_PROPOSAL_CHOSEN: 14,
  BAD_PROPOSAL_SYNTAX: 15,
  PAYLOAD_MALFORMED: 16,
  INVALID_KEY_INFORMATION: 17,
  INVALID_ID_INFORMATION: 18,
  INVALID_CERT_ENCODING: 19,
  INVALID_CERTIFICATE: 20,
  CERT_TYPE_UNSUPPORTED: 21,
  INVALID_CERT_AUTHORITY: 22,
  INVALID_HASH_INFORMATION: 23,
  AUTHENTICATION_FAILED: 24,
  INVALID_SIGNATURE: 25,
  ADDRESS_NOTIFICATION: 26,
  NOTIFY_SA_LIFETIME: 27,
  CERTIFICATE_UNAVAILABLE: 28,
  UNSUPPORTED_EXCHANGE_TYPE: 29,
  UNEQUAL_PAYLOAD_LENGTHS: 30,
  CONNECTED: 16384,
  RESPONDER_LIFETIME: 24576,
  REPLAY_STATUS: 24577,
  INITIAL_CONTACT: 24578,
} as const;

function invert(o: Record<string, number>): Record<number, string> {
  const r: Record<number, string> = {};
  for (const [k, v] of Object.entries(o)) r[v] = k;
  return r;
}

const ISAKMP_NAMES = invert(IsakmpPayloadType);
const PROTO_NAMES = invert(ProtocolId);
const ESP_NAMES = invert(EspTransformId);
const AH_NAMES = invert(AhTransformId);
const IPCOMP_NAMES = invert(IpcompTransformId);
const ATTR_NAMES = invert(SaAttributeType);
const AUTH_NAMES = invert(AuthAlgorithm);
const ID_NAMES = invert(IdType);
const NOTIFY_NAMES = invert(NotifyType);

/** Name of an ISAKMP payload type. */
export function isakmpPayloadName(t: number): string {
  return ISAKMP_NAMES[t] ?? `PAYLOAD(${t})`;
}

/** Name of an IPsec protocol id. */
export function protocolName(p: number): string {
  return PROTO_NAMES[p] ?? `PROTO(${p})`;
}

/** Name of a transform id within a protocol. */
export function transformName(protocol: number, id: number): string {
  const table = protocol === ProtocolId.ESP
    ? ESP_NAMES
    : protocol === ProtocolId.AH
    ? AH_NAMES
    : protocol === ProtocolId.IPCOMP
    ? IPCOMP_NAMES
    : {};
  return table[id] ?? `TRANSFORM(${id})`;
}

/** Name of an SA attribute class. */
export function attributeName(t: number): string {
  return ATTR_NAMES[t] ?? `ATTR(${t})`;
}

/** Human-readable value of an SA attribute for display (`"seconds"`, `"HMAC_SHA"`, …). */
export function attributeValueName(type: number, value: number | bigint): string {
  const n = Number(value);
  switch (type) {
    case SaAttributeType.LIFE_TYPE:
      return n === 1 ? "seconds" : n === 2 ? "kilobytes" : String(value);
    case SaAttributeType.ENCAPSULATION_MODE:
      return n === 1 ? "tunnel" : n === 2 ? "transport" : String(value);
    case SaAttributeType.AUTH_ALGORITHM:
      return AUTH_NAMES[n] ?? String(value);
    case SaAttributeType.EXTENDED_SEQUENCE_NUMBER:
      return n === 1 ? "esn" : String(value);
    default:
      return String(value);
  }
}

/** Name of an identification type. */
export function idTypeName(t: number): string {
  return ID_NAMES[t] ?? `ID(${t})`;
}

/** Name of a Notify message type. */
export function notifyTypeName(t: number): string {
  return NOTIFY_NAMES[t] ?? (t < 16384 ? `ERROR(${t})` : `STATUS(${t})`);
}

/** True for Notify error types (0–16383, RFC 2408 §3.14.1). */
export function isNotifyError(t: number): boolean {
  return t < 16384;
}
