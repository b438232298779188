/**
 * The pieces every Kerberos message codec in this folder shares: the scalar
 * field readers, the top-level decode wrapper, the pvno/msg-type header
 * checks and the encoder-side helpers. Internal to the Kerberos layer.
 *
 * @module
 */
import {
  application,
  type DerLimits,
  type DerNode,
  type DerPart,
  DerReader,
  encInt32,
  encTime,
  explicit,
  seq,
} from "../der.ts";
import { KerberosError } from "../errors.ts";
import { ErrorCode, KRB5_PVNO } from "../iana.ts";

/** Reads an Int32. */
export const INT32 = (r: DerReader): number => r.int32();
/** Reads a UInt32, accepting the negative forms some implementations write. */
export const UINT32_L = (r: DerReader): number => r.uint32Lenient();
/** Reads a Microseconds value. */
export const USEC = (r: DerReader): number => r.microseconds();
/** Reads an OCTET STRING. */
export const OCTETS = (r: DerReader): Uint8Array => r.octets();
/** Reads a KerberosString. */
export const KSTRING = (r: DerReader): string => r.kerberosString();
/** Reads a KerberosTime. */
export const TIME = (r: DerReader): Date => r.time();
/** Reads KerberosFlags as a 32-bit number. */
export const FLAGS = (r: DerReader): number => r.flags();

/**
 * Reads the version number field `[tag] what` (pvno, tkt-vno,
 * authenticator-vno), which must be 5 (else KRB_AP_ERR_BADVERSION).
 */
export function readVno(s: DerReader, tag: number, what: string): number {
  const at = s.pos;
  const v = s.field(tag, what, INT32);
  if (v !== KRB5_PVNO) {
    throw new KerberosError("decode", s.path(), `${what} ${v} is not 5 at offset ${at}`, {
      offset: at,
      errorCode: ErrorCode.KRB_AP_ERR_BADVERSION,
    });
  }
  return v;
}

/**
 * Reads pvno and msg-type (context tags `pvnoTag` and `pvnoTag + 1`) and
 * checks that msg-type is one of `expectedTypes` and equals the APPLICATION
 * tag the message came in.
 */
export function readMsgHeader(
  s: DerReader,
  pvnoTag: number,
  expectedTypes: readonly number[],
  appTagSeen: number,
): { pvno: number; msgType: number } {
  const pvno = readVno(s, pvnoTag, "pvno");
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

/**
 * Reads `[APPLICATION tag] SEQUENCE { … }`, where `tag` may be one of a list
 * (`fields` is told which came): `fields` reads the fields, the last of which
 * has context tag `last` (unknown later fields are skipped, as MIT does),
 * and nothing may follow the SEQUENCE.
 */
export function readAppSequence<T>(
  r: DerReader,
  tag: number | readonly number[],
  last: number,
  fields: (s: DerReader, tag: number) => T,
): T {
  const { a, tag: seen } = typeof tag === "number"
    ? { a: r.element(0x60 | tag), tag }
    : readAppOneOf(r, tag);
  const s = a.sequence();
  const v = fields(s, seen);
  s.finishSequence(last);
  a.finish();
  return v;
}

/**
 * Reads a message `[APPLICATION msgType] SEQUENCE { pvno [0], msg-type [1],
 * … }`, checking both; `fields` reads the rest, up to context tag `last`.
 */
export function readMessage<T>(
  r: DerReader,
  msgType: number,
  last: number,
  fields: (s: DerReader, header: { pvno: number; msgType: number }) => T,
): T {
  return readAppSequence(
    r,
    msgType,
    last,
    (s) => fields(s, readMsgHeader(s, 0, [msgType], msgType)),
  );
}

/** Builds `[APPLICATION msgType] SEQUENCE { pvno [0], msg-type [1], ...fields }`. */
export function encMessage(
  msgType: number,
  m: { pvno: number; msgType: number },
  ...fields: (DerPart | undefined)[]
): DerNode {
  return application(
    msgType,
    seq(
      explicit(0, encInt32(m.pvno, "pvno")),
      explicit(1, encInt32(m.msgType, "msg-type")),
      ...fields,
    ),
  );
}

/** Reads an APPLICATION-tagged element whose tag is one of `tags`; returns the tag too. */
function readAppOneOf(r: DerReader, tags: readonly number[]): { a: DerReader; tag: number } {
  const t = r.peekTag();
  const n = t & 0x1f;
  const tag = (t & 0xe0) === 0x60 && tags.includes(n) ? n : tags[0]!;
  return { a: r.element(0x60 | tag), tag };
}

/** Decodes the whole of `bytes` with `fn`; trailing octets are an error. */
export function top<T>(
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

/** `[n] KerberosTime` when `d` is present, nothing otherwise. */
export const optTime = (n: number, d: Date | undefined): ReturnType<typeof explicit> | undefined =>
  d === undefined ? undefined : explicit(n, encTime(d));

/** Throws an encode error unless `m.msgType` is one of `allowed`. */
export function checkMsgType(m: { msgType: number }, allowed: number[], what: string): void {
  if (!allowed.includes(m.msgType)) {
    throw new KerberosError(
      "encode",
      `encode ${what}`,
      `msg-type ${m.msgType} is not ${allowed.join(" or ")}`,
    );
  }
}
