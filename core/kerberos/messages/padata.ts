/**
 * Pre-authentication data (RFC 4120 §5.2.7): PA-DATA, METHOD-DATA,
 * PA-ENC-TS-ENC, ETYPE-INFO2 and ETYPE-INFO.
 *
 * @module
 */
import {
  type DerLimits,
  type DerPart,
  type DerReader,
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
import { INT32, KSTRING, OCTETS, TIME, top, USEC } from "./codec.ts";

/** PA-DATA (RFC 4120 §5.2.7). */
export interface PaData {
  /** padata-type (see `PaType`). */
  padataType: number;
  /** padata-value: the (usually DER) value. */
  padataValue: Uint8Array;
}

/** METHOD-DATA: a sequence of PA-DATA (the e-data of KDC_ERR_PREAUTH_REQUIRED). */
export type MethodData = PaData[];

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

function readPaData(r: DerReader): PaData {
  const s = r.sequence();
  const padataType = s.field(1, "padata-type", INT32);
  const padataValue = s.field(2, "padata-value", OCTETS);
  s.finishSequence(2);
  return { padataType, padataValue };
}

/** Reads METHOD-DATA. */
export function readMethodData(r: DerReader): PaData[] {
  return r.sequenceOf("", readPaData);
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

/** Encodes a PA-DATA. */
function nPaData(p: PaData): DerPart {
  return seq(
    explicit(1, encInt32(p.padataType, "padata-type")),
    explicit(2, encOctets(p.padataValue)),
  );
}

/** Encodes METHOD-DATA. */
export function nMethodData(m: readonly PaData[]): DerPart {
  return encSequenceOf(m.map(nPaData));
}

/** Encodes PaData as DER. */
export function encodePaData(p: PaData): Uint8Array {
  return toDer(nPaData(p));
}

/** Encodes MethodData as DER. */
export function encodeMethodData(m: readonly PaData[]): Uint8Array {
  return toDer(nMethodData(m));
}

/** Encodes PaEncTsEnc as DER. */
export function encodePaEncTsEnc(m: PaEncTsEnc): Uint8Array {
  return toDer(seq(
    explicit(0, encTime(m.patimestamp)),
    m.pausec === undefined ? undefined : explicit(1, encMicroseconds(m.pausec)),
  ));
}

/** Encodes EtypeInfo2 as DER. */
export function encodeEtypeInfo2(m: readonly EtypeInfo2Entry[]): Uint8Array {
  return toDer(encSequenceOf(
    m.map((e) =>
      seq(
        explicit(0, encInt32(e.etype, "etype")),
        e.salt === undefined ? undefined : explicit(1, encKerberosString(e.salt)),
        explicitOpt(2, e.s2kparams && encOctets(e.s2kparams)),
      )
    ),
  ));
}

/** Encodes EtypeInfo as DER. */
export function encodeEtypeInfo(m: readonly EtypeInfoEntry[]): Uint8Array {
  return toDer(encSequenceOf(
    m.map((e) =>
      seq(explicit(0, encInt32(e.etype, "etype")), explicitOpt(1, e.salt && encOctets(e.salt)))
    ),
  ));
}
