/**
 * Codec of KINK messages (RFC 4430 §4): the 16-octet header, the outer
 * payload chain with its 4-octet alignment, the eight payload types, the
 * Cksum procedure (Length set to Length − CksumLen and CksumLen zeroed while
 * computing, §4) and KINK_ENCRYPT sealing/opening (key usage 39, §4.2.7).
 *
 * The codec does no cryptography of its own: the Cksum and KINK_ENCRYPT
 * steps call a {@link KinkKeyOps} built on the crypto layer (see
 * `session.ts`). Kerberos messages (AP-REQ, AP-REP, KRB-ERROR, TGT) are
 * carried as opaque DER octets; only their outer tag and length are checked
 * so that a payload length that disagrees with its content is caught here.
 *
 * @module
 */
import { ByteReader, ByteWriter } from "../util/bytes.ts";
import { describeDerLengthProblem, readDerLength } from "../util/der_length.ts";
import { KinkErrorCode, malformed, WireError } from "./errors.ts";
import {
  DOI_IPSEC,
  KEY_USAGE_KINK_CKSUM,
  KEY_USAGE_KINK_ENCRYPT,
  KINK_HEADER_SIZE,
  KINK_MAJOR_VERSION,
  PayloadType as P,
} from "./constants.ts";
import {
  decodeIsakmpPayloads,
  encodeIsakmpPayloadsInto,
  type IsakmpPayload,
  isakmpPayloadType,
} from "./isakmp.ts";

/**
 * The session-key operations the Cksum and KINK_ENCRYPT steps need: RFC 3961
 * get_mic/verify_mic and encrypt/decrypt with the ticket session key. Build
 * one from a crypto `Key` with `keyOps()` in `session.ts`.
 */
export interface KinkKeyOps {
  /** Size of the checksum get_mic produces (the CksumLen). */
  readonly checksumSize: number;
  /** RFC 3961 get_mic. */
  getMic(usage: number, data: Uint8Array): Uint8Array;
  /** RFC 3961 verify_mic; false when the checksum does not match. */
  verifyMic(usage: number, data: Uint8Array, mic: Uint8Array): boolean;
  /** RFC 3961 encrypt (fresh confounder, initial cipher state). */
  encrypt(usage: number, plaintext: Uint8Array): Uint8Array;
  /** RFC 3961 decrypt; throws when the integrity check fails. */
  decrypt(usage: number, ciphertext: Uint8Array): Uint8Array;
}

/** KINK_AP_REQ (§4.2.1): EPOCH and a raw DER AP-REQ. */
export interface ApReqPayload {
  /** Discriminant. */
  kind: "ap-req";
  /** Sender's epoch: low 32 bits of POSIX seconds. */
  epoch: number;
  /** DER AP-REQ (`[APPLICATION 14]`). */
  apReq: Uint8Array;
}

/** KINK_AP_REP (§4.2.2): EPOCH and a raw DER AP-REP. */
export interface ApRepPayload {
  /** Discriminant. */
  kind: "ap-rep";
  /** Sender's epoch. */
  epoch: number;
  /** DER AP-REP (`[APPLICATION 15]`). */
  apRep: Uint8Array;
}

/** KINK_KRB_ERROR (§4.2.3): a raw DER KRB-ERROR. */
export interface KrbErrorPayload {
  /** Discriminant. */
  kind: "krb-error";
  /** DER KRB-ERROR (`[APPLICATION 30]`). */
  krbError: Uint8Array;
}

/** KINK_TGT_REQ (§4.2.4): the RFC 1964 string form of the wanted principal. */
export interface TgtReqPayload {
  /** Discriminant. */
  kind: "tgt-req";
  /** e.g. `kink/b.example.com@EXAMPLE.COM` (RFC 1964 §2.1.3 escaping). */
  princName: string;
}

/** KINK_TGT_REP (§4.2.5): the responder's TGT as a DER Ticket. */
export interface TgtRepPayload {
  /** Discriminant. */
  kind: "tgt-rep";
  /** DER Ticket (`[APPLICATION 1]`). */
  tgt: Uint8Array;
}

/** KINK_ISAKMP (§4.2.6): one Quick Mode transaction, QM version 1.0. */
export interface IsakmpKinkPayload {
  /** Discriminant. */
  kind: "isakmp";
  /** The Quick Mode payloads; InnerNextPload is the type of the first. */
  payloads: IsakmpPayload[];
  /**
   * The undecoded value (InnerNextPload ‖ QM version ‖ RESERVED ‖ chain) when
   * decoding was deferred (`deferIsakmp`); `payloads` is then empty until
   * {@link parseDeferredIsakmp}.
   */
  deferred?: Uint8Array;
}

/**
 * KINK_ENCRYPT (§4.2.7). Decoded messages carry `ciphertext`; after
 * {@link openKinkMessage} also `inner`. To build one, give `inner` and no
 * ciphertext: the encoder seals it with usage 39.
 */
export interface EncryptPayload {
  /** Discriminant. */
  kind: "encrypt";
  /** Ciphertext (PayloadLength − 4 octets) as received or as sealed. */
  ciphertext?: Uint8Array;
  /** The inner payload chain (plaintext view). */
  inner?: KinkPayload[];
}

/** KINK_ERROR (§4.2.8). */
export interface ErrorPayload {
  /** Discriminant. */
  kind: "error";
  /** ErrorCode (see `KinkErrorCode`). */
  code: number;
}

/** Any KINK payload. */
export type KinkPayload =
  | ApReqPayload
  | ApRepPayload
  | KrbErrorPayload
  | TgtReqPayload
  | TgtRepPayload
  | IsakmpKinkPayload
  | EncryptPayload
  | ErrorPayload;

/** A KINK message. */
export interface KinkMessage {
  /** Message type (see `MessageType`). */
  type: number;
  /** Domain of interpretation (1 = IPsec). */
  doi: number;
  /** Transaction id. */
  xid: number;
  /** ACKREQ flag. */
  ackReq: boolean;
  /** The outer payload chain. */
  payloads: KinkPayload[];
  /** The Cksum as received (empty when CksumLen is 0). Ignored when encoding with a key. */
  cksum?: Uint8Array;
}

/** Everything {@link decodeKinkMessage} learned beyond the message itself. */
export interface DecodedKinkMessage {
  /** The message. */
  message: KinkMessage;
  /** The header octets as received. */
  header: {
    /** Major version (1). */
    majorVersion: number;
    /** The low nibble of octet 1 (reserved; ignored). */
    reservedVersionNibble: number;
    /** Length field. */
    length: number;
    /** NextPayload field. */
    nextPayload: number;
    /** RESERVED2 bits (ignored). */
    reserved2: number;
    /** CksumLen field. */
    cksumLen: number;
  };
  /** Length − CksumLen: the octets the Cksum covers. */
  signedLength: number;
  /** Octets after Length in the datagram (tolerated, never processed). */
  trailing: number;
  /** The message octets (0 .. Length − 1) as received. */
  raw: Uint8Array;
}

const DER_TAGS: Record<string, number> = {
  "ap-req": 0x6e,
  "ap-rep": 0x6f,
  "krb-error": 0x7e,
  "tgt-rep": 0x61,
};

/**
 * Checks that `b` is exactly one DER TLV with tag `tag` (outer framing
 * only; the Kerberos layer decodes the content).
 */
function checkDerFrame(b: Uint8Array, tag: number, lazyCtx: string | (() => string)): void {
  const l = b.length >= 2 && b[0] === tag ? readDerLength(b, 1, b.length, "ber") : undefined;
  if (l?.ok && l.next + l.length === b.length) return; // the common case: no context text built
  const ctx = typeof lazyCtx === "string" ? lazyCtx : lazyCtx();
  if (b.length < 2) throw malformed(ctx, `Kerberos message of ${b.length} octets`);
  if (b[0] !== tag) {
    throw malformed(
      ctx,
      `Kerberos message starts with tag 0x${b[0]!.toString(16)}, expected 0x${tag.toString(16)}`,
    );
  }
  if (!l!.ok) throw malformed(ctx, describeDerLengthProblem(l!.problem, "the Kerberos message"));
  throw malformed(
    ctx,
    `DER length ${l!.length} + header ${l!.next} disagrees with the payload's ${b.length} octets`,
  );
}

/** A payload as framed in a chain, before its body is interpreted. */
interface Framed {
  type: number;
  next: number;
  start: number;
  end: number;
}

/**
 * Walks a chain of KINK payloads in `bytes[start, limit)` starting with type
 * `first`, honouring the 4-octet alignment. Returns the framed payloads and
 * the offset just after the last one (unpadded).
 */
function walkChain(
  bytes: Uint8Array,
  first: number,
  start: number,
  limit: number,
  ctx: string,
): { items: Framed[]; end: number } {
  const items: Framed[] = [];
  let off = start;
  let type = first;
  let end = start;
  const r = new ByteReader(
    bytes,
    (d) => {
      throw malformed(ctx, d);
    },
    0,
    limit,
  );
  while (type !== P.DONE) {
    off = (end + 3) & ~3;
    if (off + 4 > limit) {
      throw malformed(ctx, `payload ${type} at offset ${off} runs past the end (${limit})`);
    }
    r.offset = off;
    const next = r.u8();
    r.u8(); // RESERVED
    const len = r.u16();
    if (len < 4) throw malformed(ctx, `payload ${type} at offset ${off} has length ${len} < 4`);
    if (off + len > limit) {
      throw malformed(
        ctx,
        `payload ${type} at offset ${off} has length ${len}, only ${limit - off} octets left`,
      );
    }
    items.push({ type, next, start: off, end: off + len });
    end = off + len;
    type = next;
  }
  return { items, end };
}

/** The big-endian 32-bit value at `off` (the caller checked the length). */
function u32At(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function decodePayload(
  bytes: Uint8Array,
  f: Framed,
  doi: number,
  inner: boolean,
  defer = false,
): KinkPayload {
  // The context text is built only for an error (not for every payload decoded).
  const lazyCtx = () => `decode ${payloadName(f.type)} at offset ${f.start}`;
  const body = bytes.subarray(f.start + 4, f.end);
  switch (f.type) {
    case P.AP_REQ:
    case P.AP_REP: {
      if (body.length < 4) {
        // ByteReader's wording, kept: the tests and operators know it.
        throw malformed(lazyCtx(), `need 4 octets at offset 0, have ${body.length}`);
      }
      const epoch = u32At(body, 0);
      const der = body.slice(4);
      checkDerFrame(der, f.type === P.AP_REQ ? 0x6e : 0x6f, lazyCtx);
      return f.type === P.AP_REQ
        ? { kind: "ap-req", epoch, apReq: der }
        : { kind: "ap-rep", epoch, apRep: der };
    }
    case P.KRB_ERROR: {
      const der = body.slice();
      checkDerFrame(der, DER_TAGS["krb-error"]!, lazyCtx);
      return { kind: "krb-error", krbError: der };
    }
    case P.TGT_REQ: {
      let princName: string;
      try {
        princName = new TextDecoder("utf-8", { fatal: true }).decode(body);
      } catch {
        throw malformed(lazyCtx(), "PrincName is not valid UTF-8");
      }
      if (princName.length === 0) throw malformed(lazyCtx(), "empty PrincName");
      return { kind: "tgt-req", princName };
    }
    case P.TGT_REP: {
      const der = body.slice();
      checkDerFrame(der, DER_TAGS["tgt-rep"]!, lazyCtx);
      return { kind: "tgt-rep", tgt: der };
    }
    case P.ISAKMP: {
      if (defer) {
        if (body.length < 4) {
          throw malformed(lazyCtx(), `KINK_ISAKMP value of ${body.length} octets < 4`);
        }
        return { kind: "isakmp", payloads: [], deferred: body.slice() };
      }
      return decodeIsakmpValue(body, doi, lazyCtx());
    }
    case P.ENCRYPT: {
      if (inner) throw malformed(lazyCtx(), "KINK_ENCRYPT nested inside KINK_ENCRYPT");
      if (f.next !== P.DONE) {
        throw malformed(
          lazyCtx(),
          `KINK_ENCRYPT must be the last payload (Next Payload ${f.next})`,
        );
      }
      if (body.length === 0) throw malformed(lazyCtx(), "empty KINK_ENCRYPT");
      return { kind: "encrypt", ciphertext: body.slice() };
    }
    case P.ERROR: {
      if (body.length !== 4) {
        throw malformed(lazyCtx(), `KINK_ERROR value is ${body.length} octets, expected 4`);
      }
      return { kind: "error", code: u32At(body, 0) };
    }
    default:
      throw malformed(lazyCtx(), `unknown payload type ${f.type}`);
  }
}

/** Decodes a KINK_ISAKMP value: InnerNextPload, QM version (must be 1.0), RESERVED, QM chain. */
function decodeIsakmpValue(body: Uint8Array, doi: number, ctx: string): IsakmpKinkPayload {
  const r = new ByteReader(body, (d) => {
    throw malformed(ctx, d);
  });
  const innerNext = r.u8();
  const ver = r.u8();
  r.u16(); // RESERVED
  const major = ver >> 4;
  const minor = ver & 15;
  if (major !== 1 || minor !== 0) {
    throw new WireError(
      "qm-version",
      ctx,
      `Quick Mode version ${major}.${minor} is not supported (only 1.0)`,
      { reaction: { action: "kink-error", code: KinkErrorCode.BADQMVERS } },
    );
  }
  const payloads = decodeIsakmpPayloads(body.subarray(4), innerNext, { doi });
  return { kind: "isakmp", payloads };
}

function payloadName(t: number): string {
  return [
    "KINK_DONE",
    "KINK_AP_REQ",
    "KINK_AP_REP",
    "KINK_KRB_ERROR",
    "KINK_TGT_REQ",
    "KINK_TGT_REP",
    "KINK_ISAKMP",
    "KINK_ENCRYPT",
    "KINK_ERROR",
  ][t] ?? `payload ${t}`;
}

/** Options of {@link decodeKinkMessage}. */
export interface KinkDecodeOptions {
  /** DOIs this receiver supports (default `[1]`); any other → KINK_INVDOI. */
  supportedDois?: readonly number[];
  /**
   * Keep KINK_ISAKMP values undecoded (`deferred`) so that a receiver can
   * authenticate the message before judging its Quick Mode content (digest
   * §15). Decode them later with {@link parseDeferredIsakmp}.
   */
  deferIsakmp?: boolean;
}

/**
 * Reads and checks the KINK header (digest §15 step 1): size, MjVer
 * (KINK_INVMAJ), Length ≤ datagram, CksumLen ≤ Length − 16, DOI
 * (KINK_INVDOI).
 */
export function decodeKinkHeader(
  datagram: Uint8Array,
  options: KinkDecodeOptions = {},
): DecodedKinkMessage["header"] & { type: number; doi: number; xid: number; ackReq: boolean } {
  const ctx = "decode KINK header";
  if (datagram.length < KINK_HEADER_SIZE) {
    throw malformed(ctx, `datagram of ${datagram.length} octets < 16`);
  }
  const r = new ByteReader(datagram, (d) => {
    throw malformed(ctx, d);
  });
  const type = r.u8();
  const ver = r.u8();
  const length = r.u16();
  const doi = r.u32();
  const xid = r.u32();
  const nextPayload = r.u8();
  const flags = r.u8();
  const cksumLen = r.u16();
  const majorVersion = ver >> 4;
  if (majorVersion !== KINK_MAJOR_VERSION) {
    throw new WireError("version", ctx, `KINK major version ${majorVersion} is not supported`, {
      reaction: { action: "kink-error", code: KinkErrorCode.INVMAJ },
    });
  }
  if (length < KINK_HEADER_SIZE) throw malformed(ctx, `Length ${length} < 16`);
  if (length > datagram.length) {
    throw malformed(ctx, `Length ${length} > datagram of ${datagram.length} octets (truncated)`);
  }
  if (cksumLen > length - KINK_HEADER_SIZE) {
    throw malformed(ctx, `CksumLen ${cksumLen} > Length ${length} − 16`);
  }
  if (cksumLen > 0 && (length - cksumLen) % 4 !== 0) {
    throw malformed(ctx, `Cksum at offset ${length - cksumLen} is not 4-octet aligned`);
  }
  const dois = options.supportedDois ?? [DOI_IPSEC];
  if (!dois.includes(doi)) {
    throw new WireError("doi", ctx, `DOI ${doi} is not supported`, {
      reaction: { action: "kink-error", code: KinkErrorCode.INVDOI },
    });
  }
  return {
    type,
    doi,
    xid,
    ackReq: (flags & 0x80) !== 0,
    majorVersion,
    reservedVersionNibble: ver & 15,
    length,
    nextPayload,
    reserved2: flags & 0x7f,
    cksumLen,
  };
}

/**
 * Decodes a KINK datagram (digest §15 steps 1–2): header checks, the outer
 * payload chain with alignment and length checks, each payload's content.
 * KINK_ENCRYPT stays sealed (see {@link openKinkMessage}); the Cksum is
 * returned, not verified (see {@link verifyKinkChecksum}). Octets after
 * Length are ignored.
 */
export function decodeKinkMessage(
  datagram: Uint8Array,
  options: KinkDecodeOptions = {},
): DecodedKinkMessage {
  const h = decodeKinkHeader(datagram, options);
  const signedLength = h.length - h.cksumLen;
  const { items, end } = walkChain(
    datagram,
    h.nextPayload,
    KINK_HEADER_SIZE,
    signedLength,
    "decode KINK payload chain",
  );
  if (signedLength - end >= 4 || (h.cksumLen > 0 && end > signedLength)) {
    throw malformed(
      "decode KINK payload chain",
      `${signedLength - end} octets between the last payload and the Cksum`,
    );
  }
  const defer = options.deferIsakmp ?? false;
  const payloads = items.map((f) => decodePayload(datagram, f, h.doi, false, defer));
  const message: KinkMessage = {
    type: h.type,
    doi: h.doi,
    xid: h.xid,
    ackReq: h.ackReq,
    payloads,
    cksum: datagram.slice(signedLength, h.length),
  };
  const { type: _t, doi: _d, xid: _x, ackReq: _a, ...header } = h;
  return {
    message,
    header,
    signedLength,
    trailing: datagram.length - h.length,
    raw: datagram.slice(0, h.length),
  };
}

/** Encodes a payload chain (4-octet aligned, pads zero) into `w`, whose length is 4-aligned. */
function encodeChain(
  w: ByteWriter,
  payloads: readonly KinkPayload[],
  doi: number,
  key: KinkKeyOps | undefined,
  inner: boolean,
): void {
  payloads.forEach((p, i) => {
    w.align(4);
    const next = i + 1 < payloads.length ? kinkPayloadType(payloads[i + 1]!) : P.DONE;
    const start = w.length;
    w.u8(next).u8(0).u16(0);
    switch (p.kind) {
      case "ap-req":
        w.u32(p.epoch).bytes(p.apReq);
        break;
      case "ap-rep":
        w.u32(p.epoch).bytes(p.apRep);
        break;
      case "krb-error":
        w.bytes(p.krbError);
        break;
      case "tgt-req":
        w.bytes(new TextEncoder().encode(p.princName));
        break;
      case "tgt-rep":
        w.bytes(p.tgt);
        break;
      case "isakmp": {
        if (p.deferred) {
          w.bytes(p.deferred);
          break;
        }
        // Written straight into `w` (one buffer per message, no copy per payload).
        const first = p.payloads.length ? isakmpPayloadType(p.payloads[0]!) : 0;
        w.u8(first).u8(0x10).u16(0);
        encodeIsakmpPayloadsInto(w, p.payloads);
        break;
      }
      case "encrypt": {
        if (inner) throw invalid("KINK_ENCRYPT nested inside KINK_ENCRYPT");
        if (i !== payloads.length - 1) throw invalid("KINK_ENCRYPT must be the last payload");
        let ct = p.ciphertext;
        if (!ct) {
          if (!p.inner) throw invalid("KINK_ENCRYPT without ciphertext or inner payloads");
          if (!key) throw invalid("sealing KINK_ENCRYPT needs the session key");
          ct = sealEncryptPayload(p.inner, doi, key);
        }
        w.bytes(ct);
        break;
      }
      case "error":
        w.u32(p.code);
        break;
    }
    const len = w.length - start;
    if (len > 0xffff) throw invalid(`${payloadName(kinkPayloadType(p))} of ${len} octets > 65535`);
    w.setU16At(start + 2, len);
  });
}

function invalid(detail: string): WireError {
  return new WireError("invalid-argument", "encode KINK message", detail);
}

/** KINK payload type number of a payload. */
export function kinkPayloadType(p: KinkPayload): number {
  switch (p.kind) {
    case "ap-req":
      return P.AP_REQ;
    case "ap-rep":
      return P.AP_REP;
    case "krb-error":
      return P.KRB_ERROR;
    case "tgt-req":
      return P.TGT_REQ;
    case "tgt-rep":
      return P.TGT_REP;
    case "isakmp":
      return P.ISAKMP;
    case "encrypt":
      return P.ENCRYPT;
    case "error":
      return P.ERROR;
  }
}

/**
 * Builds the KINK_ENCRYPT plaintext (InnerNextPload ‖ RESERVED2 ‖ inner
 * chain) and encrypts it with key usage 39. Returns the ciphertext.
 */
export function sealEncryptPayload(
  inner: readonly KinkPayload[],
  doi: number,
  key: KinkKeyOps,
): Uint8Array {
  // The plaintext is written into one reused buffer (zeroed after every use,
  // and on a throw) rather than into a fresh writer and then a copy of it.
  const spare = sealScratch;
  sealScratch = undefined;
  const w = new ByteWriter(spare ?? 512);
  try {
    w.u8(inner.length ? kinkPayloadType(inner[0]!) : P.DONE).u8(0).u16(0);
    encodeChain(w, inner, doi, undefined, true);
    return key.encrypt(KEY_USAGE_KINK_ENCRYPT, w.view());
  } finally {
    // A writer that outgrew its buffer left the old one behind (the grown copy
    // holds everything written): both are zeroed.
    w.buffer.fill(0, 0, w.length);
    if (spare) {
      spare.fill(0);
      sealScratch = w.buffer.length <= 65536 ? w.buffer : spare;
    }
  }
}

/** The reusable plaintext buffer of {@link sealEncryptPayload} (undefined while in use). */
let sealScratch: Uint8Array | undefined = new Uint8Array(512);

/**
 * Decrypts a KINK_ENCRYPT ciphertext (usage 39) and decodes the inner chain,
 * ignoring octets after the last inner payload (etype padding, §4.2.7). A
 * failed integrity check is a WireError of category "integrity" (drop).
 */
export function openEncryptPayload(
  ciphertext: Uint8Array,
  doi: number,
  key: KinkKeyOps,
  deferIsakmp = false,
): KinkPayload[] {
  let pt: Uint8Array;
  try {
    pt = key.decrypt(KEY_USAGE_KINK_ENCRYPT, ciphertext);
  } catch (e) {
    throw new WireError("integrity", "open KINK_ENCRYPT", "decryption failed", {
      cause: e,
      reaction: { action: "drop" },
    });
  }
  try {
    const ctx = "decode KINK_ENCRYPT plaintext";
    if (pt.length < 4) throw malformed(ctx, `plaintext of ${pt.length} octets < 4`);
    const { items } = walkChain(pt, pt[0]!, 4, pt.length, ctx);
    return items.map((f) => decodePayload(pt, f, doi, true, deferIsakmp));
  } finally {
    pt.fill(0);
  }
}

/** Options of {@link encodeKinkMessage}. */
export interface KinkEncodeOptions {
  /**
   * Session-key operations: seal KINK_ENCRYPT payloads given as `inner` and
   * append a fresh Cksum. Without a key, a message's `cksum` (if any) is
   * appended as is, so a decoded message re-encodes to the same octets.
   */
  key?: KinkKeyOps;
  /** Omit the Cksum even with a key (GETTGT and its REPLY). */
  noChecksum?: boolean;
}

/**
 * Encodes a KINK message (§4): header, aligned payloads with zero pads, then
 * the Cksum computed as the RFC and racoon2 do (over the message with Length
 * = Length − CksumLen and CksumLen = 0).
 */
export function encodeKinkMessage(msg: KinkMessage, options: KinkEncodeOptions = {}): Uint8Array {
  // The outer message holds nothing secret (KINK_ENCRYPT is sealed before it is
  // written), so one buffer serves every message: a fresh 1 KiB buffer per
  // message cost more than the rest of the encoding. A nested call (none today)
  // finds it taken and allocates.
  const spare = scratch;
  scratch = undefined;
  const w = new ByteWriter(spare ?? 1024);
  try {
    return encodeInto(w, msg, options);
  } finally {
    if (spare) scratch = w.buffer.length <= 65536 ? w.buffer : spare;
  }
}

/** The reusable buffer of {@link encodeKinkMessage} (undefined while in use). */
let scratch: Uint8Array | undefined = new Uint8Array(1024);

function encodeInto(w: ByteWriter, msg: KinkMessage, options: KinkEncodeOptions): Uint8Array {
  if (!Number.isInteger(msg.type) || msg.type < 0 || msg.type > 255) {
    throw invalid(`message type ${msg.type}`);
  }
  w.u8(msg.type).u8(KINK_MAJOR_VERSION << 4).u16(0).u32(msg.doi).u32(msg.xid);
  w.u8(msg.payloads.length ? kinkPayloadType(msg.payloads[0]!) : P.DONE);
  w.u8(msg.ackReq ? 0x80 : 0).u16(0);
  encodeChain(w, msg.payloads, msg.doi, options.key, false);
  w.align(4);
  const signedLength = w.length;
  if (signedLength > 0xffff) throw invalid(`message of ${signedLength} octets > 65535`);
  w.setU16At(2, signedLength);
  let cksum: Uint8Array | undefined;
  if (options.key && !options.noChecksum) {
    cksum = options.key.getMic(KEY_USAGE_KINK_CKSUM, w.view());
  } else if (!options.key && msg.cksum && msg.cksum.length) {
    cksum = msg.cksum;
  }
  if (cksum) {
    const total = signedLength + cksum.length;
    if (total > 0xffff) throw invalid(`message of ${total} octets > 65535`);
    w.bytes(cksum);
    w.setU16At(2, total);
    w.setU16At(14, cksum.length);
  }
  return w.finish();
}

/**
 * Verifies the Cksum of a received KINK message (§4): recomputes over octets
 * 0 .. Length − CksumLen − 1 with Length = Length − CksumLen and CksumLen = 0.
 * Returns false when it does not verify; throws WireError "unauthenticated"
 * (drop) when CksumLen is 0, or "malformed" for an inconsistent header.
 */
export function verifyKinkChecksum(datagram: Uint8Array, key: KinkKeyOps): boolean {
  const ctx = "verify KINK Cksum";
  if (datagram.length < KINK_HEADER_SIZE) throw malformed(ctx, "datagram shorter than a header");
  const dv = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const length = dv.getUint16(2);
  const cksumLen = dv.getUint16(14);
  if (cksumLen === 0) {
    throw new WireError("unauthenticated", ctx, "message has no Cksum (CksumLen 0)", {
      reaction: { action: "drop" },
    });
  }
  if (length > datagram.length || cksumLen > length - KINK_HEADER_SIZE) {
    throw malformed(ctx, `Length ${length} / CksumLen ${cksumLen} inconsistent`);
  }
  const signed = length - cksumLen;
  // The signed octets with Length and CksumLen rewritten, in a reused buffer
  // (the datagram is not secret; a fresh copy per message cost an allocation).
  let data = verifyScratch;
  if (data.length < signed) data = verifyScratch = new Uint8Array(Math.max(signed, 2048));
  data.set(datagram.subarray(0, signed));
  data[2] = signed >>> 8;
  data[3] = signed & 0xff;
  data[14] = 0;
  data[15] = 0;
  return key.verifyMic(
    KEY_USAGE_KINK_CKSUM,
    data.subarray(0, signed),
    datagram.subarray(signed, length),
  );
}

/** The buffer {@link verifyKinkChecksum} rewrites the signed octets in. */
let verifyScratch = new Uint8Array(2048);

/**
 * Returns a copy of `msg` whose KINK_ENCRYPT payload (if any) has its
 * `inner` chain filled in by decrypting with `key`.
 */
export function openKinkMessage(
  msg: KinkMessage,
  key: KinkKeyOps,
  deferIsakmp = false,
): KinkMessage {
  return {
    ...msg,
    payloads: msg.payloads.map((p) =>
      p.kind === "encrypt" && p.ciphertext && !p.inner
        ? { ...p, inner: openEncryptPayload(p.ciphertext, msg.doi, key, deferIsakmp) }
        : p
    ),
  };
}

/**
 * Returns a copy of `msg` with every deferred KINK_ISAKMP value (outer and
 * inside an opened KINK_ENCRYPT) decoded. Throws KINK_BADQMVERS for a Quick
 * Mode version other than 1.0 and a Notify-reaction error for bad content.
 */
export function parseDeferredIsakmp(msg: KinkMessage): KinkMessage {
  const fix = (ps: KinkPayload[]): KinkPayload[] =>
    ps.map((p) => {
      if (p.kind === "isakmp" && p.deferred) {
        return decodeIsakmpValue(p.deferred, msg.doi, "decode KINK_ISAKMP");
      }
      if (p.kind === "encrypt" && p.inner) return { ...p, inner: fix(p.inner) };
      return p;
    });
  return { ...msg, payloads: fix(msg.payloads) };
}

/**
 * The payloads of a message with KINK_ENCRYPT replaced by its opened inner
 * chain (the "effective" payload list the §6 rules speak about). Throws when
 * a KINK_ENCRYPT is still sealed.
 */
export function effectivePayloads(msg: KinkMessage): KinkPayload[] {
  const out: KinkPayload[] = [];
  for (const p of msg.payloads) {
    if (p.kind === "encrypt") {
      if (!p.inner) {
        throw new WireError("invalid-argument", "read KINK payloads", "KINK_ENCRYPT not opened");
      }
      out.push(...p.inner);
    } else out.push(p);
  }
  return out;
}
