/**
 * Byte-level writers and readers for XFRM structs and netlink attributes:
 * fixed-size fields at {@link OFFSETOF} offsets, host-order and
 * network-order integers, raw address bytes and NUL-terminated names. No
 * typed model here: `core/kernel/xfrm/` maps kink's SA/policy records onto
 * these primitives (as vishvananda/netlink keeps its `nl` wire structs apart
 * from the typed API).
 *
 * Readers reject short input with `KernelError("malformed")`; no length is
 * trusted beyond the bytes present.
 *
 * @module
 */
import { KernelError } from "../../core/kernel/errors.ts";

/** Writes fields of one fixed-size struct (little-endian unless `be*`). */
export class StructWriter {
  /** The struct's bytes. */
  readonly b: Uint8Array;
  readonly #dv: DataView;
  /** A writer over `n` new zero octets, or over an existing view. */
  constructor(n: number | Uint8Array) {
    this.b = typeof n === "number" ? new Uint8Array(n) : n;
    this.#dv = new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
  }
  /** Copies address (or any) bytes to `off`. */
  bytes(off: number, v: Uint8Array): void {
    this.b.set(v, off);
  }
  /** `u8`. */
  u8(off: number, v: number): void {
    this.#dv.setUint8(off, v);
  }
  /** Host-order `u16`. */
  u16(off: number, v: number): void {
    this.#dv.setUint16(off, v, true);
  }
  /** Network-order `__be16`. */
  be16(off: number, v: number): void {
    this.#dv.setUint16(off, v, false);
  }
  /** Host-order `u32`. */
  u32(off: number, v: number): void {
    this.#dv.setUint32(off, v >>> 0, true);
  }
  /** Network-order `__be32`. */
  be32(off: number, v: number): void {
    this.#dv.setUint32(off, v >>> 0, false);
  }
  /** Host-order `u64`. */
  u64(off: number, v: bigint): void {
    this.#dv.setBigUint64(off, v, true);
  }
  /** A NUL-terminated name in a `char[64]` at offset 0 (at most 63 octets). */
  cName(name: Uint8Array): void {
    this.b.set(name.subarray(0, 63), 0);
  }
}

/** Size of a netlink attribute with a value of `len` octets, padding included. */
export function attrSize(len: number): number {
  return (4 + len + 3) & ~3;
}

/**
 * One message payload built in a single allocation: a fixed struct, then
 * attributes, each handed out as a {@link StructWriter} over its bytes.
 */
export class PayloadBuilder {
  /** The whole payload (size fixed at construction). */
  readonly b: Uint8Array;
  #o = 0;
  /** A builder of exactly `size` octets (sum of struct and {@link attrSize}s). */
  constructor(size: number) {
    this.b = new Uint8Array(size);
  }
  /** The next `n` octets as a struct (padded to 4). */
  struct(n: number): StructWriter {
    const v = new StructWriter(this.b.subarray(this.#o, this.#o + n));
    this.#o += (n + 3) & ~3;
    return v;
  }
  /** The next attribute of `type` with a `len`-octet value. */
  attr(type: number, len: number): StructWriter {
    const dv = new DataView(this.b.buffer, this.b.byteOffset + this.#o, 4);
    dv.setUint16(0, 4 + len, true);
    dv.setUint16(2, type, true);
    const v = new StructWriter(this.b.subarray(this.#o + 4, this.#o + 4 + len));
    this.#o += attrSize(len);
    return v;
  }
}

/** Concatenates a struct and already-encoded attributes. */
export function joinPayload(head: Uint8Array, attrs: Uint8Array[]): Uint8Array {
  let n = head.length;
  for (const a of attrs) n += a.length;
  const out = new Uint8Array(n);
  out.set(head, 0);
  let o = head.length;
  for (const a of attrs) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

/** Reads fields of one struct; the constructor rejects fewer than `need` octets. */
export class StructReader {
  /** The struct's bytes. */
  readonly b: Uint8Array;
  /** What is being decoded (for errors). */
  readonly ctx: string;
  readonly #dv: DataView;
  /** A reader over `b`; `KernelError("malformed")` when `b` is shorter than `need`. */
  constructor(b: Uint8Array, ctx: string, need: number) {
    if (b.length < need) malformed(ctx, `${b.length} octets < ${need}`);
    this.b = b;
    this.ctx = ctx;
    this.#dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  /** `u8`. */
  u8(o: number): number {
    return this.#dv.getUint8(o);
  }
  /** Host-order `u16`. */
  u16(o: number): number {
    return this.#dv.getUint16(o, true);
  }
  /** Network-order `__be16`. */
  be16(o: number): number {
    return this.#dv.getUint16(o, false);
  }
  /** Host-order `u32`. */
  u32(o: number): number {
    return this.#dv.getUint32(o, true);
  }
  /** Network-order `__be32`. */
  be32(o: number): number {
    return this.#dv.getUint32(o, false);
  }
  /** Host-order `u64`. */
  u64(o: number): bigint {
    return this.#dv.getBigUint64(o, true);
  }
  /** A view of `n` octets at `o`. */
  view(o: number, n: number): Uint8Array {
    return this.b.subarray(o, o + n);
  }
  /** The text of a NUL-terminated `char[64]` at offset 0 (UTF-8, lenient). */
  cName(): string {
    const n = this.b.subarray(0, 64);
    const z = n.indexOf(0);
    return new TextDecoder("utf-8", { fatal: false }).decode(z < 0 ? n : n.subarray(0, z));
  }
}

/** Throws `KernelError("malformed")`. */
export function malformed(context: string, detail: string): never {
  throw new KernelError("malformed", context, detail);
}
