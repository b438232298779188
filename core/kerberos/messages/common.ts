/**
 * The types every Kerberos message is built from (RFC 4120 §5.2):
 * PrincipalName, EncryptedData, EncryptionKey, Checksum, HostAddress(es),
 * AuthorizationData, with their DER codecs, and {@link peekMessageType}.
 *
 * @module
 */
import {
  type DerLimits,
  type DerPart,
  type DerReader,
  encInt32,
  encKerberosString,
  encKvno,
  encOctets,
  encSequenceOf,
  explicit,
  seq,
  toDer,
} from "../der.ts";
import { INT32, KSTRING, OCTETS, top, UINT32_L } from "./codec.ts";

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

/** Reads a PrincipalName. */
export function readPrincipalName(r: DerReader): PrincipalName {
  const s = r.sequence();
  const nameType = s.field(0, "name-type", INT32);
  const components = s.field(1, "name-string", (f) => f.sequenceOf("", KSTRING, 64));
  s.finishSequence(1);
  return { nameType, components };
}

/** Reads EncryptedData. */
export function readEncryptedData(r: DerReader): EncryptedData {
  const s = r.sequence();
  const etype = s.field(0, "etype", INT32);
  const kvno = s.optional(1, "kvno", UINT32_L);
  const cipher = s.field(2, "cipher", OCTETS);
  s.finishSequence(2);
  return kvno === undefined ? { etype, cipher } : { etype, kvno, cipher };
}

/** Reads an EncryptionKey. */
export function readEncryptionKey(r: DerReader): EncryptionKey {
  const s = r.sequence();
  const keytype = s.field(0, "keytype", INT32);
  const keyvalue = s.field(1, "keyvalue", OCTETS);
  s.finishSequence(1);
  return { keytype, keyvalue };
}

/** Reads a Checksum. */
export function readChecksum(r: DerReader): Checksum {
  const s = r.sequence();
  const cksumtype = s.field(0, "cksumtype", INT32);
  const checksum = s.field(1, "checksum", OCTETS);
  s.finishSequence(1);
  return { cksumtype, checksum };
}

/** Reads one HostAddress. */
export function readHostAddress(r: DerReader): HostAddress {
  const s = r.sequence();
  const addrType = s.field(0, "addr-type", INT32);
  const address = s.field(1, "address", OCTETS);
  s.finishSequence(1);
  return { addrType, address };
}

/** Reads HostAddresses (SEQUENCE OF HostAddress). */
export function readHostAddresses(r: DerReader): HostAddress[] {
  return r.sequenceOf("", readHostAddress);
}

/** Reads AuthorizationData. */
export function readAuthorizationData(r: DerReader): AuthorizationDataEntry[] {
  return r.sequenceOf("", (e) => {
    const s = e.sequence();
    const adType = s.field(0, "ad-type", INT32);
    const adData = s.field(1, "ad-data", OCTETS);
    s.finishSequence(1);
    return { adType, adData };
  });
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

/** Encodes a PrincipalName. */
export function nPrincipalName(p: PrincipalName): DerPart {
  return seq(
    explicit(0, encInt32(p.nameType, "name-type")),
    explicit(1, encSequenceOf(p.components.map(encKerberosString))),
  );
}

/** Encodes EncryptedData (kvno written as signed 32-bit, as MIT does). */
export function nEncryptedData(e: EncryptedData): DerPart {
  return seq(
    explicit(0, encInt32(e.etype, "etype")),
    e.kvno === undefined ? undefined : explicit(1, encKvno(e.kvno)),
    explicit(2, encOctets(e.cipher)),
  );
}

/** Encodes an EncryptionKey. */
export function nEncryptionKey(k: EncryptionKey): DerPart {
  return seq(explicit(0, encInt32(k.keytype, "keytype")), explicit(1, encOctets(k.keyvalue)));
}

/** Encodes a Checksum. */
export function nChecksum(c: Checksum): DerPart {
  return seq(explicit(0, encInt32(c.cksumtype, "cksumtype")), explicit(1, encOctets(c.checksum)));
}

/** Encodes one HostAddress. */
export function nHostAddress(h: HostAddress): DerPart {
  return seq(explicit(0, encInt32(h.addrType, "addr-type")), explicit(1, encOctets(h.address)));
}

/** Encodes HostAddresses. */
export function nHostAddresses(a: readonly HostAddress[]): DerPart {
  return encSequenceOf(a.map(nHostAddress));
}

/** Encodes AuthorizationData. */
export function nAuthorizationData(a: readonly AuthorizationDataEntry[]): DerPart {
  return encSequenceOf(
    a.map((e) => seq(explicit(0, encInt32(e.adType, "ad-type")), explicit(1, encOctets(e.adData)))),
  );
}

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
