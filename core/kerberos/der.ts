/**
 * A strict DER reader and a DER writer for the Kerberos ASN.1 module
 * (RFC 4120 §5 and Appendix A; X.690 DER).
 *
 * The reader accepts only what DER allows and Kerberos uses:
 * - low-tag-number identifiers (tag numbers 0..30), definite lengths in the
 *   minimal form (no indefinite length, no leading zero length octets, long
 *   form only for lengths ≥ 128, at most 4 length octets);
 * - every length must fit inside its parent; an input-size limit and a
 *   nesting-depth limit bound the work done on hostile input;
 * - INTEGER in minimal two's complement, range-checked per use (Int32,
 *   UInt32, Microseconds); KerberosTime as GeneralizedTime `YYYYMMDDHHMMSSZ`
 *   with calendar checks; KerberosString as GeneralString holding UTF-8;
 *   KerberosFlags as a BIT STRING (fewer than 32 bits are zero-extended,
 *   bits past 32 ignored, as RFC 4120 §5.2.8 asks).
 *
 * Every failure is a {@link KerberosError} with category `"decode"`, whose
 * context is the path of the field being read (e.g.
 * `"AP-REQ.ticket.enc-part"`) and whose detail ends with the absolute
 * offset: `"expected [2] got [3] at offset 71"`.
 *
 * The writer builds a tree of {@link DerNode}s (constructed elements) and
 * {@link DerLeaf}s (primitives) whose lengths are known as they are built;
 * {@link toDer} then writes the whole encoding into one buffer, so encoding
 * allocates one array per message rather than one per field.
 *
 * @module
 */
import { describeDerLengthProblem, readDerLength } from "../util/der_length.ts";
import { KerberosError } from "./errors.ts";

export {
  DER_MAX_LENGTH_OCTETS,
  type DerLength,
  type DerLengthProblem,
  type DerLengthRule,
  describeDerLengthProblem,
  readDerLength,
} from "../util/der_length.ts";

/** Default upper bound on the size of a DER input (octets). */
export const DER_MAX_INPUT = 1 << 20;
/** Default upper bound on constructed nesting depth. */
export const DER_MAX_DEPTH = 32;

/** Universal tags used by Kerberos. */
export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  IA5_STRING: 0x16,
  GENERALIZED_TIME: 0x18,
  GENERAL_STRING: 0x1b,
} as const;

const UNIVERSAL_NAMES: Record<number, string> = {
  0x01: "BOOLEAN",
  0x02: "INTEGER",
  0x03: "BIT STRING",
  0x04: "OCTET STRING",
  0x05: "NULL",
  0x06: "OBJECT IDENTIFIER",
  0x0c: "UTF8String",
  0x16: "IA5String",
  0x17: "UTCTime",
  0x18: "GeneralizedTime",
  0x1b: "GeneralString",
  0x23: "constructed BIT STRING",
  0x24: "constructed OCTET STRING",
  0x30: "SEQUENCE",
  0x31: "SET",
};

/** Human-readable form of an identifier octet: `[2]`, `[APPLICATION 14]`, `INTEGER`. */
export function describeTag(tag: number): string {
  if (tag < 0) return "end of data";
  const cls = tag & 0xc0;
  const num = tag & 0x1f;
  if (cls === 0x80) return (tag & 0x20) ? `[${num}]` : `[${num}] primitive`;
  if (cls === 0x40) return (tag & 0x20) ? `[APPLICATION ${num}]` : `[APPLICATION ${num}] primitive`;
  if (cls === 0xc0) return `[PRIVATE ${num}]`;
  return UNIVERSAL_NAMES[tag] ?? `universal tag 0x${tag.toString(16).padStart(2, "0")}`;
}

/** Identifier octet of an explicit context tag `[n]` (constructed). */
export function ctxTag(n: number): number {
  return 0xa0 | n;
}

/** Identifier octet of `[APPLICATION n]` (constructed). */
export function appTag(n: number): number {
  return 0x60 | n;
}

/** Limits for a top-level decode. */
export interface DerLimits {
  /** Maximum input size in octets (default {@link DER_MAX_INPUT}). */
  maxInput?: number;
  /** Maximum constructed nesting depth (default {@link DER_MAX_DEPTH}). */
  maxDepth?: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

/**
 * A cursor over the contents of one DER element (or the whole input at top
 * level). Child readers share the input, so offsets in errors are absolute.
 */
export class DerReader {
  /** The whole input. */
  readonly bytes: Uint8Array;
  /** Current offset (absolute). */
  pos: number;
  /** End of this reader's window (absolute, exclusive). */
  readonly end: number;
  /** Nesting depth of this window. */
  readonly depth: number;
  readonly #name: string;
  readonly #parent: DerReader | undefined;
  readonly #maxDepth: number;
  // Header of the element most recently parsed by #header().
  #hTag = 0;
  #hStart = 0;
  #hContent = 0;
  #hEnd = 0;

  private constructor(
    bytes: Uint8Array,
    name: string,
    parent: DerReader | undefined,
    start: number,
    end: number,
    depth: number,
    maxDepth: number,
  ) {
    this.bytes = bytes;
    this.#name = name;
    this.#parent = parent;
    this.pos = start;
    this.end = end;
    this.depth = depth;
    this.#maxDepth = maxDepth;
  }

  /** A top-level reader over `bytes`, named `name` (the root of error paths). */
  static top(bytes: Uint8Array, name: string, limits: DerLimits = {}): DerReader {
    const maxInput = limits.maxInput ?? DER_MAX_INPUT;
    if (bytes.length > maxInput) {
      throw new KerberosError(
        "decode",
        name,
        `input of ${bytes.length} octets exceeds the limit of ${maxInput} at offset 0`,
        { offset: 0 },
      );
    }
    return new DerReader(
      bytes,
      name,
      undefined,
      0,
      bytes.length,
      0,
      limits.maxDepth ?? DER_MAX_DEPTH,
    );
  }

  /** The dotted path of this window, e.g. `"AP-REQ.ticket.enc-part"`. */
  path(): string {
    const parts: string[] = [];
    // deno-lint-ignore no-this-alias
    let r: DerReader | undefined = this;
    while (r) {
      if (r.#name) parts.push(r.#name);
      r = r.#parent;
    }
    return parts.reverse().join(".");
  }

  /** Throws a positioned decode error for this window. */
  fail(detail: string, offset: number = this.pos): never {
    throw new KerberosError("decode", this.path(), `${detail} at offset ${offset}`, { offset });
  }

  /** True when no octets remain in this window. */
  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The identifier octet of the next element, or -1 at the end of the window. */
  peekTag(): number {
    if (this.pos >= this.end) return -1;
    const t = this.bytes[this.pos]!;
    if ((t & 0x1f) === 0x1f) this.fail("high-tag-number form is not used by Kerberos");
    return t;
  }

  /** Parses the header at `pos` into the #h* fields (does not advance). */
  #header(): void {
    const b = this.bytes;
    const start = this.pos;
    const end = this.end;
    if (start >= end) this.fail("unexpected end of data");
    const tag = b[start]!;
    if ((tag & 0x1f) === 0x1f) this.fail("high-tag-number form is not used by Kerberos", start);
    const l = readDerLength(b, start + 1, end);
    if (!l.ok) this.fail(describeDerLengthProblem(l.problem, describeTag(tag)), start + 1);
    const len = l.length;
    const p = l.next;
    if (len > end - p) {
      this.fail(
        `length ${len} of ${describeTag(tag)} exceeds the ${end - p} octets available`,
        start,
      );
    }
    this.#hTag = tag;
    this.#hStart = start;
    this.#hContent = p;
    this.#hEnd = p + len;
  }

  #child(name: string, start: number, end: number): DerReader {
    const d = this.depth + 1;
    if (d > this.#maxDepth) this.fail(`nesting deeper than ${this.#maxDepth}`, start);
    return new DerReader(this.bytes, name, this, start, end, d, this.#maxDepth);
  }

  /** Reads the next element, which must have identifier `tag`; returns a reader over its contents. */
  element(tag: number, name = ""): DerReader {
    this.#header();
    if (this.#hTag !== tag) {
      this.fail(`expected ${describeTag(tag)} got ${describeTag(this.#hTag)}`, this.#hStart);
    }
    this.pos = this.#hEnd;
    return this.#child(name, this.#hContent, this.#hEnd);
  }

  /**
   * Like {@link element} but also returns the element's complete encoding
   * (a view of the input), e.g. to keep a Ticket's original DER.
   */
  elementWithRaw(tag: number, name = ""): { r: DerReader; raw: Uint8Array } {
    const start = this.pos;
    const r = this.element(tag, name);
    return { r, raw: this.bytes.subarray(start, this.pos) };
  }

  /** Reads a SEQUENCE and returns a reader over its contents. */
  sequence(name = ""): DerReader {
    return this.element(Tag.SEQUENCE, name);
  }

  /** Reads a required explicit `[n]` field; `fn` decodes its single inner element. */
  field<T>(n: number, name: string, fn: (r: DerReader) => T): T {
    const r = this.element(0xa0 | n, name);
    const v = fn(r);
    r.finish();
    return v;
  }

  /** Reads an optional explicit `[n]` field, or returns `undefined` when the next tag differs. */
  optional<T>(n: number, name: string, fn: (r: DerReader) => T): T | undefined {
    if (this.pos >= this.end || this.bytes[this.pos] !== (0xa0 | n)) return undefined;
    return this.field(n, name, fn);
  }

  /** Requires the window to be fully consumed. */
  finish(): void {
    if (this.pos < this.end) {
      this.fail(`unexpected ${describeTag(this.bytes[this.pos]!)} after the last field`);
    }
  }

  /**
   * Ends a SEQUENCE body whose last defined field is `[maxTag]`: trailing
   * explicit context fields with higher tag numbers (later extensions) are
   * skipped, in increasing order; anything else is an error.
   */
  finishSequence(maxTag: number): void {
    let last = maxTag;
    while (this.pos < this.end) {
      const t = this.peekTag();
      const n = t & 0x1f;
      if ((t & 0xe0) !== 0xa0 || n <= last) {
        this.fail(`unexpected ${describeTag(t)} after the last field`);
      }
      this.#header();
      this.#child("", this.#hContent, this.#hEnd); // depth check
      this.pos = this.#hEnd;
      last = n;
    }
  }

  /** Reads a SEQUENCE OF: calls `fn` once per element with a reader positioned at it. */
  sequenceOf<T>(name: string, fn: (r: DerReader, index: number) => T, max = 4096): T[] {
    const r = this.element(Tag.SEQUENCE, name);
    const out: T[] = [];
    while (r.pos < r.end) {
      if (out.length >= max) r.fail(`more than ${max} elements`);
      out.push(fn(r, out.length));
    }
    return out;
  }

  #primitive(tag: number): void {
    this.#header();
    if (this.#hTag !== tag) {
      this.fail(`expected ${describeTag(tag)} got ${describeTag(this.#hTag)}`, this.#hStart);
    }
    this.pos = this.#hEnd;
  }

  /** Reads an INTEGER in [-2^31, 2^31-1] (Int32). */
  int32(): number {
    return this.#integer(4);
  }

  #integer(maxOctets: number): number {
    this.#primitive(Tag.INTEGER);
    const b = this.bytes;
    const s = this.#hContent;
    const n = this.#hEnd - s;
    if (n === 0) this.fail("empty INTEGER", this.#hStart);
    if (n > 1) {
      const b0 = b[s]!;
      const b1 = b[s + 1]!;
      if ((b0 === 0 && (b1 & 0x80) === 0) || (b0 === 0xff && (b1 & 0x80) !== 0)) {
        this.fail("non-minimal INTEGER encoding", this.#hStart);
      }
    }
    if (n > maxOctets) this.fail(`INTEGER of ${n} octets out of range`, this.#hStart);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + b[s + i]!;
    if (b[s]! & 0x80) v -= 2 ** (8 * n);
    return v;
  }

  /** Reads an INTEGER in [0, 2^32-1] (UInt32, RFC form). */
  uint32(): number {
    const start = this.pos;
    const v = this.#integer(5);
    if (v < 0 || v > 0xffffffff) this.fail(`INTEGER ${v} outside UInt32`, start);
    return v;
  }

  /**
   * Reads a UInt32 that peers may send in either form: the RFC's unsigned
   * encoding, or as a signed 32-bit value (MIT encodes kvno that way, and
   * some implementations send negative nonces). Negative values map to
   * `v + 2^32`.
   */
  uint32Lenient(): number {
    const start = this.pos;
    const v = this.#integer(5);
    if (v < -0x80000000 || v > 0xffffffff) this.fail(`INTEGER ${v} outside UInt32`, start);
    return v < 0 ? v + 0x100000000 : v;
  }

  /** Reads Microseconds: an INTEGER in [0, 999999]. */
  microseconds(): number {
    const start = this.pos;
    const v = this.#integer(4);
    if (v < 0 || v > 999999) this.fail(`microseconds ${v} outside 0..999999`, start);
    return v;
  }

  /** Reads an OCTET STRING (a copy). */
  octets(): Uint8Array {
    this.#primitive(Tag.OCTET_STRING);
    return this.bytes.slice(this.#hContent, this.#hEnd);
  }

  /** Reads a KerberosString (GeneralString holding UTF-8 text). */
  kerberosString(): string {
    this.#primitive(Tag.GENERAL_STRING);
    return this.#text();
  }

  /** Reads a string of the given universal tag (UTF-8). */
  string(tag: number): string {
    this.#primitive(tag);
    return this.#text();
  }

  #text(): string {
    const s = this.#hContent;
    const e = this.#hEnd;
    const b = this.bytes;
    let ascii = true;
    for (let i = s; i < e; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // Fast path: most Kerberos strings are short ASCII.
      let out = "";
      for (let i = s; i < e; i++) out += String.fromCharCode(b[i]!);
      return out;
    }
    try {
      return utf8.decode(b.subarray(s, e));
    } catch {
      return this.fail("string is not valid UTF-8", this.#hStart);
    }
  }

  /** Reads a KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ`. */
  time(): Date {
    this.#primitive(Tag.GENERALIZED_TIME);
    const b = this.bytes;
    const s = this.#hContent;
    const at = this.#hStart;
    if (this.#hEnd - s !== 15 || b[s + 14] !== 0x5a) {
      this.fail("KerberosTime must be YYYYMMDDHHMMSSZ", at);
    }
    const d = (i: number, n: number): number => {
      let v = 0;
      for (let k = 0; k < n; k++) {
        const c = b[s + i + k]! - 0x30;
        if (c < 0 || c > 9) this.fail("KerberosTime has a non-digit", at);
        v = v * 10 + c;
      }
      return v;
    };
    const year = d(0, 4);
    const month = d(4, 2);
    const day = d(6, 2);
    const hour = d(8, 2);
    const min = d(10, 2);
    const sec = d(12, 2);
    if (month < 1 || month > 12) this.fail(`KerberosTime month ${month}`, at);
    const dim = new Date(Date.UTC(2000, month, 0)).getUTCDate() +
      (month === 2 && !isLeap(year) ? -1 : 0);
    if (day < 1 || day > dim) this.fail(`KerberosTime day ${day}`, at);
    if (hour > 23 || min > 59 || sec > 59) this.fail("KerberosTime time of day out of range", at);
    const t = new Date(0);
    t.setUTCFullYear(year, month - 1, day);
    t.setUTCHours(hour, min, sec, 0);
    return t;
  }

  /** Reads KerberosFlags (BIT STRING) as a 32-bit unsigned number, bit 0 = MSB. */
  flags(): number {
    this.#primitive(Tag.BIT_STRING);
    const b = this.bytes;
    const s = this.#hContent;
    const n = this.#hEnd - s;
    if (n === 0) this.fail("empty BIT STRING", this.#hStart);
    const unused = b[s]!;
    if (unused > 7) this.fail(`BIT STRING with ${unused} unused bits`, this.#hStart);
    if (n === 1 && unused !== 0) this.fail("empty BIT STRING with unused bits", this.#hStart);
    if (unused !== 0 && (b[s + n - 1]! & ((1 << unused) - 1)) !== 0) {
      this.fail("BIT STRING unused bits are not zero", this.#hStart);
    }
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + (i + 1 < n ? b[s + 1 + i]! : 0);
    return v >>> 0;
  }

  /** Skips the next element whatever it is; returns its complete encoding. */
  any(): Uint8Array {
    this.#header();
    const raw = this.bytes.subarray(this.#hStart, this.#hEnd);
    if (this.#hTag & 0x20) this.#child("", this.#hContent, this.#hEnd);
    this.pos = this.#hEnd;
    return raw;
  }
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

// ---------------------------------------------------------------------------
// Writer

function encError(context: string, detail: string): never {
  throw new KerberosError("encode", context, detail);
}

function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

function writeHeader(out: Uint8Array, o: number, tag: number, len: number): number {
  out[o++] = tag;
  if (len < 0x80) {
    out[o++] = len;
    return o;
  }
  const n = headerLength(len) - 2;
  out[o++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) out[o++] = Math.floor(len / 2 ** (8 * i)) & 0xff;
  return o;
}

/** Encodes a TLV with the given identifier octet and contents. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const len = content.length;
  const out = new Uint8Array(headerLength(len) + len);
  out.set(content, writeHeader(out, 0, tag, len));
  return out;
}

/**
 * A constructed element whose encoding is not flattened yet: nested
 * encoders build a tree of these and {@link toDer} writes it into one
 * buffer, so no octet is copied more than once.
 */
export class DerNode {
  /** Identifier octet. */
  readonly tag: number;
  /** Contents, in order. */
  readonly parts: readonly DerPart[];
  /** Length of the contents. */
  readonly contentLength: number;
  /** Length of the complete encoding (header + contents). */
  readonly length: number;

  /**
   * @param tag identifier octet
   * @param parts contents (undefined entries are skipped)
   */
  constructor(tag: number, parts: readonly (DerPart | undefined)[]) {
    const ps: DerPart[] = [];
    let n = 0;
    for (const p of parts) {
      if (p !== undefined) {
        ps.push(p);
        n += p.length;
      }
    }
    this.tag = tag;
    this.parts = ps;
    this.contentLength = n;
    this.length = headerLength(n) + n;
  }
}

const K_BYTES = 0;
const K_INT = 1;
const K_ASCII = 2;
const K_TIME = 3;
const K_FLAGS = 4;

/**
 * A primitive element not yet written (INTEGER, OCTET STRING, string,
 * KerberosTime, KerberosFlags). Encoders build these instead of small
 * arrays; {@link toDer} writes them in place.
 */
export class DerLeaf {
  /** Identifier octet. */
  readonly tag: number;
  /** What `value` holds (internal). */
  readonly kind: number;
  /** Integer or flags value. */
  readonly num: number;
  /** Octets, ASCII text or date. */
  readonly data: Uint8Array | string | Date | undefined;
  /** Length of the contents. */
  readonly contentLength: number;
  /** Length of the complete encoding. */
  readonly length: number;

  private constructor(
    tag: number,
    kind: number,
    num: number,
    data: Uint8Array | string | Date | undefined,
    contentLength: number,
  ) {
    this.tag = tag;
    this.kind = kind;
    this.num = num;
    this.data = data;
    this.contentLength = contentLength;
    this.length = headerLength(contentLength) + contentLength;
  }

  /** @internal */
  static make(
    tag: number,
    kind: number,
    num: number,
    data: Uint8Array | string | Date | undefined,
    contentLength: number,
  ): DerLeaf {
    return new DerLeaf(tag, kind, num, data, contentLength);
  }
}

/** An encoded element: octets, or a {@link DerNode}/{@link DerLeaf} still to be written. */
export type DerPart = Uint8Array | DerNode | DerLeaf;

function putDigits(out: Uint8Array, o: number, v: number, digits: number): void {
  for (let i = digits - 1; i >= 0; i--) {
    out[o + i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
}

function writeLeaf(out: Uint8Array, o: number, l: DerLeaf): number {
  o = writeHeader(out, o, l.tag, l.contentLength);
  const n = l.contentLength;
  switch (l.kind) {
    case K_BYTES:
      out.set(l.data as Uint8Array, o);
      break;
    case K_INT: {
      let x = l.num < 0 ? l.num + 2 ** (8 * n) : l.num;
      for (let i = n - 1; i >= 0; i--) {
        out[o + i] = x % 256;
        x = Math.floor(x / 256);
      }
      break;
    }
    case K_ASCII: {
      const str = l.data as string;
      for (let i = 0; i < n; i++) out[o + i] = str.charCodeAt(i);
      break;
    }
    case K_TIME: {
      const d = l.data as Date;
      putDigits(out, o, d.getUTCFullYear(), 4);
      putDigits(out, o + 4, d.getUTCMonth() + 1, 2);
      putDigits(out, o + 6, d.getUTCDate(), 2);
      putDigits(out, o + 8, d.getUTCHours(), 2);
      putDigits(out, o + 10, d.getUTCMinutes(), 2);
      putDigits(out, o + 12, d.getUTCSeconds(), 2);
      out[o + 14] = 0x5a;
      break;
    }
    default: { // K_FLAGS
      const u = l.num;
      out[o] = 0;
      out[o + 1] = u >>> 24;
      out[o + 2] = (u >>> 16) & 0xff;
      out[o + 3] = (u >>> 8) & 0xff;
      out[o + 4] = u & 0xff;
    }
  }
  return o + n;
}

function writeNode(out: Uint8Array, o: number, node: DerNode): number {
  o = writeHeader(out, o, node.tag, node.contentLength);
  for (const p of node.parts) {
    if (p instanceof Uint8Array) {
      out.set(p, o);
      o += p.length;
    } else if (p instanceof DerNode) {
      o = writeNode(out, o, p);
    } else {
      o = writeLeaf(out, o, p);
    }
  }
  return o;
}

/** Writes an encoded element into a new buffer (a copy when it already is octets). */
export function toDer(part: DerPart): Uint8Array {
  if (part instanceof Uint8Array) return part.slice();
  const out = new Uint8Array(part.length);
  if (part instanceof DerNode) writeNode(out, 0, part);
  else writeLeaf(out, 0, part);
  return out;
}

/** A constructed element whose contents are `parts` in order (undefined skipped). */
export function constructed(tag: number, parts: readonly (DerPart | undefined)[]): DerNode {
  return new DerNode(tag, parts);
}

/** A SEQUENCE of the given parts. */
export function seq(...parts: (DerPart | undefined)[]): DerNode {
  return new DerNode(Tag.SEQUENCE, parts);
}

/** An explicit context tag `[n]` around one element. */
export function explicit(n: number, inner: DerPart): DerNode {
  return new DerNode(0xa0 | n, [inner]);
}

/** Like {@link explicit} but returns undefined when `inner` is undefined. */
export function explicitOpt(n: number, inner: DerPart | undefined): DerNode | undefined {
  return inner === undefined ? undefined : new DerNode(0xa0 | n, [inner]);
}

/** `[APPLICATION n]` around one element. */
export function application(n: number, inner: DerPart): DerNode {
  return new DerNode(0x60 | n, [inner]);
}

/** An INTEGER in [-2^31, 2^32-1] in minimal two's complement. */
export function encInteger(v: number, what = "INTEGER"): DerLeaf {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    encError("encode " + what, `value ${v} is not an integer in -2^31..2^32-1`);
  }
  // Octets needed: the smallest n with -2^(8n-1) <= v < 2^(8n-1).
  let n = 1;
  while (n < 5 && (v >= 2 ** (8 * n - 1) || v < -(2 ** (8 * n - 1)))) n++;
  return DerLeaf.make(Tag.INTEGER, K_INT, v, undefined, n);
}

/** An Int32. */
export function encInt32(v: number, what = "Int32"): DerLeaf {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    encError("encode " + what, `value ${v} outside Int32`);
  }
  return encInteger(v, what);
}

/** A UInt32 as the RFC specifies (unsigned; 0x80000000.. take 5 octets). */
export function encUInt32(v: number, what = "UInt32"): DerLeaf {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    encError("encode " + what, `value ${v} outside UInt32`);
  }
  return encInteger(v, what);
}

/**
 * A key version number (or nonce) the way MIT does: as a signed 32-bit
 * value (for Windows RODC interoperability): 0xFF000000 → `02 04 FF 00 00 00`.
 */
export function encKvno(v: number): DerLeaf {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    encError("encode kvno", `value ${v} outside UInt32`);
  }
  return encInteger(v > 0x7fffffff ? v - 0x100000000 : v, "kvno");
}

/** Microseconds (0..999999). */
export function encMicroseconds(v: number): DerLeaf {
  if (!Number.isInteger(v) || v < 0 || v > 999999) {
    encError("encode Microseconds", `value ${v} outside 0..999999`);
  }
  return encInteger(v);
}

/** An OCTET STRING (the octets are read when the encoding is written). */
export function encOctets(b: Uint8Array): DerLeaf {
  return DerLeaf.make(Tag.OCTET_STRING, K_BYTES, 0, b, b.length);
}

/** A KerberosString (GeneralString, UTF-8 contents). */
export function encKerberosString(s: string): DerLeaf {
  return encString(Tag.GENERAL_STRING, s);
}

/** A string under any universal string tag (UTF-8 contents). */
export function encString(tag: number, s: string): DerLeaf {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return DerLeaf.make(tag, K_ASCII, 0, s, s.length);
  const b = utf8enc.encode(s);
  return DerLeaf.make(tag, K_BYTES, 0, b, b.length);
}

/** A KerberosTime (`YYYYMMDDHHMMSSZ`); fractional seconds are truncated. */
export function encTime(d: Date): DerLeaf {
  const t = d.getTime();
  if (!Number.isFinite(t)) encError("encode KerberosTime", "invalid date");
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) encError("encode KerberosTime", `year ${y} outside 0..9999`);
  return DerLeaf.make(Tag.GENERALIZED_TIME, K_TIME, 0, new Date(t), 15);
}

/** KerberosFlags: always 32 bits, `03 05 00 b0 b1 b2 b3`. */
export function encFlags(v: number): DerLeaf {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    encError("encode KerberosFlags", `value ${v} is not a 32-bit number`);
  }
  return DerLeaf.make(Tag.BIT_STRING, K_FLAGS, v >>> 0, undefined, 5);
}

/** A SEQUENCE OF the given elements. */
export function encSequenceOf(items: readonly DerPart[]): DerNode {
  return new DerNode(Tag.SEQUENCE, items);
}
