/**
 * Byte helpers shared by every binary codec in kink (KINK, ISAKMP, DER,
 * keytab, ccache, netlink, pcap): hex, concatenation, constant-time compare,
 * and a bounds-checked big/little-endian reader and writer.
 *
 * The reader never throws anything untyped: every bounds failure goes
 * through the `fail` callback the caller supplies, so each layer raises its
 * own error family with its own context.
 *
 * @module
 */

const HEX = "0123456789abcdef";

/** Lower-case hex of `b`. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    const v = b[i]!;
    s += HEX[v >> 4]! + HEX[v & 15]!;
  }
  return s;
}

/**
 * Parses hex (upper or lower case; spaces and colons ignored).
 * Throws a `TypeError` on odd length or a non-hex digit: use it on trusted
 * literals (tests, vectors), not on untrusted input.
 */
export function fromHex(hex: string): Uint8Array {
  const h = hex.replace(/[\s:]/g, "");
  if (h.length % 2 !== 0) throw new TypeError(`hex string has odd length ${h.length}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) {
    const v = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
    if (Number.isNaN(v)) throw new TypeError(`invalid hex digit near offset ${2 * i}`);
    out[i] = v;
  }
  return out;
}

/** Concatenates byte arrays into a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Compares two arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Plain (not constant-time) equality, for non-secret data. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Overwrites `b` with zeros (best effort: JS may have copied it elsewhere). */
export function wipe(b: Uint8Array | undefined): void {
  if (b) b.fill(0);
}

/** Called by {@link ByteReader} on any bounds failure; must throw. */
export type FailFn = (detail: string, offset: number) => never;

/**
 * A bounds-checked cursor over a byte array. Every read that would run past
 * the end calls `fail` with a description such as
 * `"need 4 octets at offset 12, have 2"`.
 */
export class ByteReader {
  /** Current offset into `bytes`. */
  offset: number;
  /** The underlying bytes. */
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  readonly #fail: FailFn;
  readonly #end: number;

  /**
   * @param bytes data to read
   * @param fail called (and must throw) on any out-of-bounds read
   * @param start first offset to read
   * @param end offset one past the last readable octet (default: `bytes.length`)
   */
  constructor(bytes: Uint8Array, fail: FailFn, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#fail = fail;
    this.offset = start;
    this.#end = end;
  }

  /** Octets left before the end bound. */
  get remaining(): number {
    return this.#end - this.offset;
  }

  /** The end bound. */
  get end(): number {
    return this.#end;
  }

  /** Fails unless `n` octets remain. */
  need(n: number): void {
    if (n < 0 || this.offset + n > this.#end) {
      this.#fail(
        `need ${n} octets at offset ${this.offset}, have ${this.remaining}`,
        this.offset,
      );
    }
  }

  /** Reads one octet. */
  u8(): number {
    this.need(1);
    return this.#view.getUint8(this.offset++);
  }

  /** Reads a 16-bit unsigned integer (big-endian unless `le`). */
  u16(le = false): number {
    this.need(2);
    const v = this.#view.getUint16(this.offset, le);
    this.offset += 2;
    return v;
  }

  /** Reads a 32-bit unsigned integer (big-endian unless `le`). */
  u32(le = false): number {
    this.need(4);
    const v = this.#view.getUint32(this.offset, le);
    this.offset += 4;
    return v;
  }

  /** Reads a 32-bit signed integer (big-endian unless `le`). */
  i32(le = false): number {
    this.need(4);
    const v = this.#view.getInt32(this.offset, le);
    this.offset += 4;
    return v;
  }

  /** Reads a 64-bit unsigned integer (big-endian unless `le`). */
  u64(le = false): bigint {
    this.need(8);
    const v = this.#view.getBigUint64(this.offset, le);
    this.offset += 8;
    return v;
  }

  /** Returns a view (not a copy) of the next `n` octets. */
  bytesView(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** Returns a copy of the next `n` octets. */
  take(n: number): Uint8Array {
    return this.bytesView(n).slice();
  }

  /** Skips `n` octets. */
  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }
}

/** A growable byte buffer with big/little-endian writers. */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  /** Number of octets written so far. */
  length = 0;

  /**
   * @param initial initial capacity in octets, or a buffer to write into
   *   from offset 0 (reused rather than allocated; see {@link ByteWriter.buffer})
   */
  constructor(initial: number | Uint8Array = 256) {
    this.#buf = typeof initial === "number" ? new Uint8Array(Math.max(16, initial)) : initial;
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /**
   * The buffer written into: the one given to the constructor, or a larger
   * one once the data outgrew it. For a caller that reuses buffers.
   */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** A view (not a copy) of the octets written in `start .. end` (default: all). */
  view(start = 0, end = this.length): Uint8Array {
    return this.#buf.subarray(start, Math.min(end, this.length));
  }

  #grow(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.#buf.subarray(0, this.length));
    this.#buf = nb;
    this.#view = new DataView(nb.buffer);
  }

  /** Appends one octet. */
  u8(v: number): this {
    this.#grow(1);
    this.#view.setUint8(this.length++, v);
    return this;
  }

  /** Appends a 16-bit unsigned integer (big-endian unless `le`). */
  u16(v: number, le = false): this {
    this.#grow(2);
    this.#view.setUint16(this.length, v, le);
    this.length += 2;
    return this;
  }

  /** Appends a 32-bit unsigned integer (big-endian unless `le`). */
  u32(v: number, le = false): this {
    this.#grow(4);
    this.#view.setUint32(this.length, v >>> 0, le);
    this.length += 4;
    return this;
  }

  /** Appends a 32-bit signed integer (big-endian unless `le`). */
  i32(v: number, le = false): this {
    this.#grow(4);
    this.#view.setInt32(this.length, v, le);
    this.length += 4;
    return this;
  }

  /** Appends a 64-bit unsigned integer (big-endian unless `le`). */
  u64(v: bigint, le = false): this {
    this.#grow(8);
    this.#view.setBigUint64(this.length, v, le);
    this.length += 8;
    return this;
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): this {
    this.#grow(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  /** Appends `n` zero octets. */
  zeros(n: number): this {
    this.#grow(n);
    this.#buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }

  /** Pads with zeros to a multiple of `align`. */
  align(align: number): this {
    const r = this.length % align;
    return r === 0 ? this : this.zeros(align - r);
  }

  /** Overwrites a 16-bit big-endian value at `offset` (already written). */
  setU16At(offset: number, v: number): this {
    this.#view.setUint16(offset, v);
    return this;
  }

  /** Overwrites a 32-bit big-endian value at `offset` (already written). */
  setU32At(offset: number, v: number): this {
    this.#view.setUint32(offset, v >>> 0);
    return this;
  }

  /** Returns a copy of the bytes written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}
