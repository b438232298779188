/**
 * The pieces every Kerberos message codec in this folder shares: the scalar
 * field readers, the top-level decode wrapper, the pvno/msg-type header
 * checks and the encoder-side helpers. Internal to the Kerberos layer.
 *
 * @module
 */
import { type DerLimits, DerReader, encTime, explicit } from "../der.ts";
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

/** Throws a decode error unless the version number `v` read at `at` is 5. */
export function checkVno(r: DerReader, at: number, what: string, v: number, code: number): void {
  if (v !== KRB5_PVNO) {
    throw new KerberosError("decode", r.path(), `${what} ${v} is not 5 at offset ${at}`, {
      offset: at,
      errorCode: code,
    });
  }
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
  const pAt = s.pos;
  const pvno = s.field(pvnoTag, "pvno", INT32);
  checkVno(s, pAt, "pvno", pvno, ErrorCode.KRB_AP_ERR_BADVERSION);
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

/** Reads an APPLICATION-tagged element whose tag is one of `tags`; returns the tag too. */
export function readAppOneOf(r: DerReader, tags: readonly number[]): { a: DerReader; tag: number } {
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
