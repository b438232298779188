/**
 * Codec of the ISAKMP Quick Mode payloads carried in a KINK_ISAKMP payload
 * (RFC 4430 §4.2.6, §5; RFC 2408 §3; RFC 2407 §4.6): SA → Proposal →
 * Transform (TV/TLV attributes), KE, Identification, Nonce, Notification and
 * Delete. KINK has no ISAKMP header: the payloads chain through their own
 * Next Payload fields, packed without padding.
 *
 * Decoding is strict about what KINK allows (DOI equal to the KINK header's,
 * SIT_IDENTITY_ONLY, KINK's ID types, no phase-1 payloads); every problem is
 * a {@link WireError} whose reaction is the ISAKMP Notify the RFC names
 * (PAYLOAD-MALFORMED, or INVALID-PAYLOAD-TYPE with the offending type).
 *
 * @module
 */
import { ByteReader, ByteWriter, toHex } from "../util/bytes.ts";
import { isakmpError } from "./errors.ts";
import {
  ID_DATA_LENGTH,
  IsakmpPayloadType as T,
  KINK_ID_TYPES,
  NotifyType,
  SIT_IDENTITY_ONLY,
} from "./ipsec_doi.ts";

/**
 * One SA attribute (RFC 2408 §3.3). A number `value` is a basic (TV, AF=1)
 * attribute of 16 bits; a byte-array `value` is a variable (TLV, AF=0) one.
 */
export type SaAttribute =
  | { type: number; value: number }
  | { type: number; value: Uint8Array };

/** A Transform payload (RFC 2408 §3.6). */
export interface Transform {
  /** Transform # */
  number: number;
  /** Transform-ID within the proposal's protocol (e.g. ESP_AES 12). */
  id: number;
  /** SA attributes in wire order. */
  attributes: SaAttribute[];
}

/** A Proposal payload (RFC 2408 §3.5) with its transforms. */
export interface Proposal {
  /** Proposal # (equal numbers form an SA bundle). */
  number: number;
  /** Protocol-ID (2 AH, 3 ESP, 4 IPCOMP). */
  protocol: number;
  /** SPI as sent (its length is the SPI size; 4 octets for AH/ESP). */
  spi: Uint8Array;
  /** Transforms in preference order. */
  transforms: Transform[];
}

/** Security Association payload (RFC 2407 §4.6.1) with SIT_IDENTITY_ONLY. */
export interface SaPayload {
  /** Discriminant. */
  kind: "sa";
  /** DOI (1). */
  doi: number;
  /** Situation bitmap (1 = SIT_IDENTITY_ONLY). */
  situation: number;
  /** Proposals. */
  proposals: Proposal[];
}

/** Key Exchange payload (RFC 2408 §3.7): a Diffie-Hellman public value. */
export interface KePayload {
  /** Discriminant. */
  kind: "ke";
  /** Key exchange data. */
  data: Uint8Array;
}

/** Identification payload for the IPsec DOI (RFC 2407 §4.6.2). */
export interface IdPayload {
  /** Discriminant. */
  kind: "id";
  /** ID type (1, 4, 5, 6, 7, 8 in KINK). */
  idType: number;
  /** IP protocol (0 = any). */
  protocol: number;
  /** Port (0 = any). */
  port: number;
  /** Identification data (address, address+mask or range). */
  data: Uint8Array;
}

/** Nonce payload (RFC 2408 §3.13). */
export interface NoncePayload {
  /** Discriminant. */
  kind: "nonce";
  /** Nonce data (Ni_b / Nr_b). */
  nonce: Uint8Array;
}

/** Notification payload (RFC 2408 §3.14). */
export interface NotifyPayload {
  /** Discriminant. */
  kind: "notify";
  /** DOI (equal to the KINK header's). */
  doi: number;
  /** Protocol-ID. */
  protocol: number;
  /** Notify message type. */
  notifyType: number;
  /** SPI (may be empty). */
  spi: Uint8Array;
  /** Notification data. */
  data: Uint8Array;
}

/** Delete payload (RFC 2408 §3.15). */
export interface DeletePayload {
  /** Discriminant. */
  kind: "delete";
  /** DOI (equal to the KINK header's). */
  doi: number;
  /** Protocol-ID of every SPI in this payload. */
  protocol: number;
  /** SPI size in octets. */
  spiSize: number;
  /** SPIs, each `spiSize` octets. */
  spis: Uint8Array[];
}

/** Any Quick Mode payload KINK carries. */
export type IsakmpPayload =
  | SaPayload
  | KePayload
  | IdPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload;

/** ISAKMP payload type number of a payload. */
export function isakmpPayloadType(p: IsakmpPayload): number {
  switch (p.kind) {
    case "sa":
      return T.SA;
    case "ke":
      return T.KE;
    case "id":
      return T.ID;
    case "nonce":
      return T.NONCE;
    case "notify":
      return T.NOTIFY;
    case "delete":
      return T.DELETE;
  }
}

/**
 * Returns the integer value of an attribute (TV, or TLV read as big-endian
 * unsigned). Linear in the value's length, which the 16-bit TLV length
 * bounds to 65535 octets: up to 6 significant octets are summed as a
 * number, longer values are parsed once from hex (shifting a BigInt octet by
 * octet would copy it each time, quadratic in the length).
 */
export function attributeValue(a: SaAttribute): number | bigint {
  if (typeof a.value === "number") return a.value;
  const b = a.value;
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (b.length - i <= 6) {
    let n = 0;
    for (; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const v = BigInt(`0x${toHex(b.subarray(i))}`);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const CTX = "decode ISAKMP";

function reader(bytes: Uint8Array, ctx: string, start = 0, end = bytes.length): ByteReader {
  return new ByteReader(
    bytes,
    (detail) => {
      throw isakmpError(ctx, detail);
    },
    start,
    end,
  );
}

/** A generic ISAKMP payload header as read from the wire. */
interface GenericHeader {
  next: number;
  length: number;
  bodyStart: number;
  end: number;
}

function readGeneric(r: ByteReader, ctx: string, limit: number): GenericHeader {
  const start = r.offset;
  if (limit - start < 4) {
    throw isakmpError(ctx, `${limit - start} octets left, need a 4-octet payload header`);
  }
  const next = r.u8();
  r.u8(); // RESERVED: ignored on receipt
  const length = r.u16();
  if (length < 4) throw isakmpError(ctx, `payload length ${length} < 4`);
  if (start + length > limit) {
    throw isakmpError(ctx, `payload length ${length} at offset ${start} exceeds its container`);
  }
  return { next, length, bodyStart: start + 4, end: start + length };
}

/** Options of {@link decodeIsakmpPayloads}. */
export interface IsakmpDecodeOptions {
  /** The KINK header's DOI; every inner DOI field must equal it (RFC 4430 §4). Default 1. */
  doi?: number;
}

/**
 * Decodes the Quick Mode payload chain of a KINK_ISAKMP payload: the region
 * `bytes` must hold exactly the chain that starts with type `first`.
 */
export function decodeIsakmpPayloads(
  bytes: Uint8Array,
  first: number,
  options: IsakmpDecodeOptions = {},
): IsakmpPayload[] {
  const doi = options.doi ?? 1;
  const out: IsakmpPayload[] = [];
  const r = reader(bytes, CTX);
  let type = first;
  while (type !== T.NONE) {
    const ctx = `${CTX} payload ${type} at offset ${r.offset}`;
    if (type === T.PROPOSAL || type === T.TRANSFORM) {
      throw isakmpError(ctx, `payload type ${type} outside an SA payload`);
    }
    if (
      type !== T.SA && type !== T.KE && type !== T.ID && type !== T.NONCE &&
      type !== T.NOTIFY && type !== T.DELETE
    ) {
      throw isakmpError(
        ctx,
        `payload type ${type} is not a Quick Mode payload KINK allows`,
        NotifyType.INVALID_PAYLOAD_TYPE,
        Uint8Array.of(type & 0xff),
      );
    }
    const h = readGeneric(r, ctx, bytes.length);
    const body = reader(bytes, ctx, h.bodyStart, h.end);
    out.push(decodeBody(type, body, ctx, doi));
    r.offset = h.end;
    type = h.next;
  }
  if (r.offset !== bytes.length) {
    throw isakmpError(CTX, `${bytes.length - r.offset} octets after the last payload`);
  }
  return out;
}

function decodeBody(type: number, r: ByteReader, ctx: string, doi: number): IsakmpPayload {
  switch (type) {
    case T.SA:
      return decodeSa(r, ctx, doi);
    case T.KE:
      if (r.remaining === 0) throw isakmpError(ctx, "empty KE payload");
      return { kind: "ke", data: r.take(r.remaining) };
    case T.ID: {
      const idType = r.u8();
      const protocol = r.u8();
      const port = r.u16();
      if (!KINK_ID_TYPES.includes(idType)) {
        throw isakmpError(ctx, `ID type ${idType} is not allowed in KINK (1, 4, 5, 6, 7, 8)`);
      }
      const want = ID_DATA_LENGTH[idType]!;
      if (r.remaining !== want) {
        throw isakmpError(
          ctx,
          `ID type ${idType} needs ${want} octets of data, got ${r.remaining}`,
        );
      }
      return { kind: "id", idType, protocol, port, data: r.take(r.remaining) };
    }
    case T.NONCE:
      if (r.remaining === 0) throw isakmpError(ctx, "empty Nonce payload");
      return { kind: "nonce", nonce: r.take(r.remaining) };
    case T.NOTIFY: {
      const d = r.u32();
      checkDoi(d, doi, ctx);
      const protocol = r.u8();
      const spiSize = r.u8();
      const notifyType = r.u16();
      const spi = r.take(spiSize);
      return { kind: "notify", doi: d, protocol, notifyType, spi, data: r.take(r.remaining) };
    }
    default: { // T.DELETE
      const d = r.u32();
      checkDoi(d, doi, ctx);
      const protocol = r.u8();
      const spiSize = r.u8();
      const n = r.u16();
      if (n * spiSize !== r.remaining) {
        throw isakmpError(
          ctx,
          `Delete payload announces ${n} SPIs of ${spiSize} octets but has ${r.remaining} octets`,
        );
      }
      if (n > 0 && spiSize === 0) throw isakmpError(ctx, "Delete payload with SPI size 0");
      const spis: Uint8Array[] = [];
      for (let i = 0; i < n; i++) spis.push(r.take(spiSize));
      return { kind: "delete", doi: d, protocol, spiSize, spis };
    }
  }
}

function checkDoi(d: number, doi: number, ctx: string): void {
  if (d !== doi) throw isakmpError(ctx, `DOI ${d} differs from the KINK header's DOI ${doi}`);
}

function decodeSa(r: ByteReader, ctx: string, doi: number): SaPayload {
  const d = r.u32();
  checkDoi(d, doi, ctx);
  const situation = r.u32();
  if (situation !== SIT_IDENTITY_ONLY) {
    throw isakmpError(ctx, `situation ${situation} is not SIT_IDENTITY_ONLY (1)`);
  }
  const proposals: Proposal[] = [];
  const limit = r.end;
  let type: number = T.PROPOSAL;
  if (r.remaining === 0) throw isakmpError(ctx, "SA payload without a Proposal");
  while (type !== T.NONE) {
    const pctx = `${ctx} proposal at offset ${r.offset}`;
    if (type !== T.PROPOSAL) {
      throw isakmpError(pctx, `Next Payload ${type} inside an SA payload (must be 2 or 0)`);
    }
    const h = readGeneric(r, pctx, limit);
    const p = reader(r.bytes, pctx, h.bodyStart, h.end);
    const number = p.u8();
    const protocol = p.u8();
    const spiSize = p.u8();
    const nTransforms = p.u8();
    const spi = p.take(spiSize);
    const transforms: Transform[] = [];
    let ttype: number = nTransforms > 0 ? T.TRANSFORM : T.NONE;
    while (ttype !== T.NONE) {
      const tctx = `${pctx} transform at offset ${p.offset}`;
      if (ttype !== T.TRANSFORM) {
        throw isakmpError(tctx, `Next Payload ${ttype} inside a Proposal (must be 3 or 0)`);
      }
      const th = readGeneric(p, tctx, h.end);
      const t = reader(r.bytes, tctx, th.bodyStart, th.end);
      const tnum = t.u8();
      const id = t.u8();
      t.u16(); // RESERVED2
      const attributes: SaAttribute[] = [];
      while (t.remaining > 0) {
        const at = t.u16();
        const v = t.u16();
        if (at & 0x8000) attributes.push({ type: at & 0x7fff, value: v });
        else attributes.push({ type: at, value: t.take(v) });
      }
      transforms.push({ number: tnum, id, attributes });
      p.offset = th.end;
      ttype = th.next;
    }
    if (transforms.length !== nTransforms) {
      throw isakmpError(
        pctx,
        `#Transforms is ${nTransforms} but ${transforms.length} Transform payloads follow`,
      );
    }
    if (transforms.length === 0) throw isakmpError(pctx, "Proposal without a Transform");
    if (p.offset !== h.end) {
      throw isakmpError(pctx, `${h.end - p.offset} octets after the last Transform`);
    }
    proposals.push({ number, protocol, spi, transforms });
    r.offset = h.end;
    type = h.next;
  }
  if (r.offset !== limit) {
    throw isakmpError(ctx, `${limit - r.offset} octets after the last Proposal`);
  }
  return { kind: "sa", doi: d, situation, proposals };
}

function fail(detail: string): never {
  throw isakmpError("encode ISAKMP", detail);
}

function u8ok(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) fail(`${what} ${v} does not fit in one octet`);
  return v;
}

function u16ok(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) fail(`${what} ${v} does not fit in 16 bits`);
  return v;
}

function u32ok(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail(`${what} ${v} does not fit in 32 bits`);
  return v;
}

/** Writes a generic header placeholder; returns a function that patches its length. */
function open(w: ByteWriter, next: number): () => void {
  const start = w.length;
  w.u8(next).u8(0).u16(0);
  return () => {
    const len = w.length - start;
    if (len > 0xffff) fail(`payload of ${len} octets exceeds 65535`);
    w.setU16At(start + 2, len);
  };
}

function encodeSa(w: ByteWriter, p: SaPayload): void {
  w.u32(u32ok(p.doi, "DOI")).u32(u32ok(p.situation, "situation"));
  p.proposals.forEach((pr, i) => {
    const close = open(w, i + 1 < p.proposals.length ? T.PROPOSAL : T.NONE);
    w.u8(u8ok(pr.number, "proposal #")).u8(u8ok(pr.protocol, "protocol"));
    w.u8(u8ok(pr.spi.length, "SPI size")).u8(u8ok(pr.transforms.length, "#transforms"));
    w.bytes(pr.spi);
    pr.transforms.forEach((t, j) => {
      const tclose = open(w, j + 1 < pr.transforms.length ? T.TRANSFORM : T.NONE);
      w.u8(u8ok(t.number, "transform #")).u8(u8ok(t.id, "transform id")).u16(0);
      for (const a of t.attributes) {
        if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0x7fff) {
          fail(`attribute type ${a.type} does not fit in 15 bits`);
        }
        if (typeof a.value === "number") {
          w.u16(0x8000 | a.type).u16(u16ok(a.value, "basic attribute value"));
        } else {
          w.u16(a.type).u16(u16ok(a.value.length, "attribute length")).bytes(a.value);
        }
      }
      tclose();
    });
    close();
  });
}

/** Appends the encoding of one payload (generic header with `next`, then its body). */
function encodeOne(w: ByteWriter, p: IsakmpPayload, next: number): void {
  const close = open(w, next);
  switch (p.kind) {
    case "sa":
      encodeSa(w, p);
      break;
    case "ke":
      w.bytes(p.data);
      break;
    case "id":
      w.u8(u8ok(p.idType, "ID type")).u8(u8ok(p.protocol, "ID protocol"));
      w.u16(u16ok(p.port, "ID port")).bytes(p.data);
      break;
    case "nonce":
      w.bytes(p.nonce);
      break;
    case "notify":
      w.u32(u32ok(p.doi, "DOI")).u8(u8ok(p.protocol, "protocol"));
      w.u8(u8ok(p.spi.length, "SPI size")).u16(u16ok(p.notifyType, "notify type"));
      w.bytes(p.spi).bytes(p.data);
      break;
    case "delete":
      w.u32(u32ok(p.doi, "DOI")).u8(u8ok(p.protocol, "protocol"));
      w.u8(u8ok(p.spiSize, "SPI size")).u16(u16ok(p.spis.length, "#SPIs"));
      for (const s of p.spis) {
        if (s.length !== p.spiSize) {
          fail(`SPI of ${s.length} octets in a Delete of SPI size ${p.spiSize}`);
        }
        w.bytes(s);
      }
      break;
  }
  close();
}

/**
 * Encodes a Quick Mode payload chain. Returns the chain and the type of its
 * first payload (KINK_ISAKMP's InnerNextPload; 0 for an empty chain).
 */
export function encodeIsakmpPayloads(
  payloads: readonly IsakmpPayload[],
): { first: number; bytes: Uint8Array } {
  const w = new ByteWriter(256);
  encodeIsakmpPayloadsInto(w, payloads);
  return { first: payloads.length ? isakmpPayloadType(payloads[0]!) : T.NONE, bytes: w.finish() };
}

/**
 * Appends the encoding of a Quick Mode payload chain to `w` (the same octets
 * as {@link encodeIsakmpPayloads}'s, written in place: no buffer of its own
 * and no copy). On a throw, `w` holds a partial chain.
 */
export function encodeIsakmpPayloadsInto(
  w: ByteWriter,
  payloads: readonly IsakmpPayload[],
): void {
  for (let i = 0; i < payloads.length; i++) {
    const next = i + 1 < payloads.length ? isakmpPayloadType(payloads[i + 1]!) : T.NONE;
    encodeOne(w, payloads[i]!, next);
  }
}

/** Reads a 4-octet SPI as an unsigned number (AH/ESP); undefined for other sizes. */
export function spiNumber(spi: Uint8Array): number | undefined {
  if (spi.length !== 4) return undefined;
  return ((spi[0]! << 24) | (spi[1]! << 16) | (spi[2]! << 8) | spi[3]!) >>> 0;
}

/** Encodes a 32-bit SPI as 4 octets. */
export function spiBytes(spi: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, spi >>> 0);
  return b;
}
