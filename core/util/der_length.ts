/**
 * The one DER length reader (X.690 §8.1.3, DER §10.1). The Kerberos DER
 * codec, the KDC transport's reply framing checks and the KINK codec's
 * framing of the Kerberos messages it carries all read lengths with it, so
 * they accept and refuse exactly the same length octets. It lives here,
 * a leaf every layer may use, and `core/kerberos/der.ts` exports it.
 *
 * @module
 */

/** Why a DER length could not be read (see {@link readDerLength}). */
export type DerLengthProblem =
  /** The length octets run past the end of the input. */
  | { kind: "truncated" }
  /** 0x80: the indefinite form, which DER forbids. */
  | { kind: "indefinite" }
  /** More length octets than the 4 a Kerberos or KINK message can need. */
  | { kind: "too-long"; octets: number }
  /** A long form whose first length octet is zero. */
  | { kind: "leading-zero" }
  /** The long form for a length below 128. */
  | { kind: "non-minimal"; length: number };

/**
 * The result of {@link readDerLength}: the length and the offset of the first
 * content octet, or the problem found at the first length octet.
 */
export type DerLength =
  | { ok: true; length: number; next: number }
  | { ok: false; problem: DerLengthProblem };

/** The most length octets accepted (lengths up to 2^32 - 1). */
export const DER_MAX_LENGTH_OCTETS = 4;

/**
 * How strictly {@link readDerLength} reads: `"der"` refuses the long form
 * for lengths below 128 and leading zero octets (X.690 §10.1); `"ber"`
 * accepts any definite form, for framing checks that only need to find the
 * end of an element before a strict decode looks inside.
 */
export type DerLengthRule = "der" | "ber";

/**
 * Reads the length octets that start at `bytes[at]` (the octet after the
 * identifier): definite, at most {@link DER_MAX_LENGTH_OCTETS} octets, all
 * before `end`, and minimal unless `rule` is `"ber"`. It does not check that
 * the contents fit; the caller knows its window. Never throws.
 */
export function readDerLength(
  bytes: Uint8Array,
  at: number,
  end: number = bytes.length,
  rule: DerLengthRule = "der",
): DerLength {
  if (at >= end) return { ok: false, problem: { kind: "truncated" } };
  const l0 = bytes[at]!;
  if (l0 < 0x80) return { ok: true, length: l0, next: at + 1 };
  const n = l0 & 0x7f;
  if (n === 0) return { ok: false, problem: { kind: "indefinite" } };
  if (n > DER_MAX_LENGTH_OCTETS) return { ok: false, problem: { kind: "too-long", octets: n } };
  if (at + 1 + n > end) return { ok: false, problem: { kind: "truncated" } };
  const der = rule === "der";
  if (der && bytes[at + 1] === 0) return { ok: false, problem: { kind: "leading-zero" } };
  let length = 0;
  for (let i = 1; i <= n; i++) length = length * 256 + bytes[at + i]!;
  if (der && length < 0x80) return { ok: false, problem: { kind: "non-minimal", length } };
  return { ok: true, length, next: at + 1 + n };
}

/**
 * Text for a length problem of the element named `what` (e.g.
 * `"indefinite length of SEQUENCE is not DER"`).
 */
export function describeDerLengthProblem(p: DerLengthProblem, what: string): string {
  switch (p.kind) {
    case "truncated":
      return `truncated length of ${what}`;
    case "indefinite":
      return `indefinite length of ${what} is not DER`;
    case "too-long":
      return `length of ${what} uses ${p.octets} octets`;
    case "leading-zero":
      return `non-minimal length of ${what} (leading zero)`;
    case "non-minimal":
      return `non-minimal length ${p.length} of ${what} in long form`;
  }
}
