/**
 * A reader of packet captures for `kink decode`: classic pcap (both byte
 * orders, micro- and nanosecond timestamps) and pcapng (Section Header,
 * Interface Description, Enhanced and Simple Packet blocks, several
 * interfaces and sections), with the link types Ethernet (incl. 802.1Q/QinQ
 * tags), Linux cooked SLL and SLL2, raw IP, raw IPv4/IPv6 and BSD loopback;
 * IPv4 and IPv6 (through extension headers) carrying UDP. Nothing is
 * reassembled: a fragment is reported as such.
 *
 * Every malformed file is a {@link WireError} of category `"pcap"`; an odd
 * packet inside a good file is reported per packet, never thrown.
 *
 * @module
 */
import { ipv4Text, ipv6Text } from "../util/ip.ts";
import { ByteReader } from "../util/bytes.ts";
import { WireError } from "./errors.ts";

/** Link-layer header types this reader understands (tcpdump LINKTYPE_* values). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** One captured packet. */
export interface CapturedPacket {
  /** 1-based frame number (as tshark counts). */
  frame: number;
  /** Capture time in seconds since the epoch (fractional). */
  time: number;
  /** Link type of the interface that captured it. */
  linkType: number;
  /** Captured octets (may be shorter than the original packet). */
  data: Uint8Array;
  /** Original packet length on the wire. */
  origLength: number;
}

/** A UDP datagram found in a captured packet. */
export interface UdpDatagram {
  /** Frame number. */
  frame: number;
  /** Capture time (seconds). */
  time: number;
  /** Source address as text (dotted quad or RFC 5952 IPv6). */
  src: string;
  /** Destination address as text. */
  dst: string;
  /** UDP source port. */
  srcPort: number;
  /** UDP destination port. */
  dstPort: number;
  /** The UDP payload octets available in the capture. */
  payload: Uint8Array;
  /** Payload length according to the UDP header. */
  udpPayloadLength: number;
  /** True when the capture holds fewer payload octets than the UDP header announces. */
  truncated: boolean;
}

/** Why a packet yielded no UDP datagram. */
export interface NotUdp {
  /** Frame number. */
  frame: number;
  /** Reason, e.g. "IPv4 fragment (not reassembled)". */
  reason: string;
}

function pcapError(detail: string): WireError {
  return new WireError("pcap", "read capture", detail, { reaction: { action: "drop" } });
}

/** Largest packet a record may hold (octets): libpcap's MAXIMUM_SNAPLEN. */
export const CAPTURE_MAX_PACKET = 262144;

/** Largest pcapng block accepted (octets): a maximal packet plus room for options. */
export const PCAPNG_MAX_BLOCK: number = CAPTURE_MAX_PACKET + 131072;

/** Where the octets of a capture come from: an open file (`Deno.FsFile`) or memory. */
export interface CaptureSource {
  /** Reads into `p`; the number of octets read, or null at the end (as `Deno.FsFile.readSync`). */
  readSync(p: Uint8Array): number | null;
}

/** A {@link CaptureSource} over bytes in memory. */
export function memorySource(bytes: Uint8Array): CaptureSource {
  let off = 0;
  return {
    readSync(p: Uint8Array): number | null {
      if (off >= bytes.length) return null;
      const n = Math.min(p.length, bytes.length - off);
      p.set(bytes.subarray(off, off + n));
      off += n;
      return n;
    },
  };
}

const CHUNK = 65536;
const EMPTY = new Uint8Array(0);

/**
 * Reads a classic pcap or pcapng capture one record at a time from a
 * {@link CaptureSource}, holding at most one record (bounded by
 * {@link CAPTURE_MAX_PACKET} / {@link PCAPNG_MAX_BLOCK}) plus one read chunk
 * in memory, whatever the file's size. Each packet's `data` is its own copy.
 *
 * A file that ends inside a record (a capture cut short, as when tcpdump is
 * killed) yields every complete record and then sets {@link truncatedTail},
 * as tcpdump reports "truncated dump file". Malformed structure (bad magic,
 * impossible lengths, records over the bound) throws a {@link WireError}
 * `"pcap"` at the record where it is found.
 */
export class CaptureReader implements IterableIterator<CapturedPacket> {
  readonly #src: CaptureSource;
  #buf = new Uint8Array(CHUNK);
  #dv = new DataView(this.#buf.buffer);
  #start = 0;
  #end = 0;
  #eof = false;
  /** Octets consumed before `#start` (file offset of `#buf[#start]`). */
  #consumed = 0;
  #format: "pcap" | "pcapng" | undefined;
  #le = true;
  #nano = false;
  #linkType = 0;
  #ifaces: { linkType: number; tsDiv: number }[] = [];
  #frames = 0;
  /** Set when the file ends inside a record: what was cut off. */
  truncatedTail: string | undefined;

  /**
   * Reads from `source`; nothing is read until the first packet is asked for.
   *
   * @param source the capture's octets (a file opened for reading, or {@link memorySource})
   */
  constructor(source: CaptureSource) {
    this.#src = source;
  }

  /** Packets delivered so far. */
  get packets(): number {
    return this.#frames;
  }

  /** Makes `n` octets available at `#start`; false when the file ends first. */
  #fill(n: number): boolean {
    while (this.#end - this.#start < n) {
      if (this.#eof) return false;
      if (this.#buf.length - this.#start < n) {
        // Grow (bounded by the callers' record limits) and move the pending octets to 0.
        const nb = new Uint8Array(Math.max(n, CHUNK));
        nb.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = nb;
        this.#dv = new DataView(nb.buffer);
        this.#end -= this.#start;
        this.#start = 0;
      } else if (this.#end === this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const got = this.#src.readSync(this.#buf.subarray(this.#end));
      if (got === null) this.#eof = true;
      else this.#end += got;
    }
    return true;
  }

  #take(n: number): void {
    this.#start += n;
    this.#consumed += n;
    // Keep the buffer from holding on to one large record forever.
    if (this.#start === this.#end && this.#buf.length > 4 * CHUNK) {
      this.#buf = new Uint8Array(CHUNK);
      this.#dv = new DataView(this.#buf.buffer);
      this.#start = this.#end = 0;
    }
  }

  #view(len: number): DataView {
    return new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#start, len);
  }

  #tail(detail: string): undefined {
    this.truncatedTail = `truncated capture: ${detail} at offset ${this.#consumed} ` +
      `(the ${this.#frames} complete packets before it were read)`;
    this.#start = this.#end;
    this.#eof = true;
    return undefined;
  }

  #header(): void {
    if (!this.#fill(4)) {
      throw pcapError(`file of ${this.#end - this.#start} octets is not a capture`);
    }
    const m = this.#view(4).getUint32(0, false);
    if (m === 0x0a0d0d0a) {
      this.#format = "pcapng";
      return;
    }
    if (m !== 0xa1b2c3d4 && m !== 0xd4c3b2a1 && m !== 0xa1b23c4d && m !== 0x4d3cb2a1) {
      throw pcapError(`unknown capture magic 0x${m.toString(16).padStart(8, "0")}`);
    }
    if (!this.#fill(24)) throw pcapError("pcap: truncated file header");
    const v = this.#view(24);
    this.#le = m === 0xd4c3b2a1 || m === 0x4d3cb2a1;
    this.#nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
    this.#linkType = v.getUint32(20, this.#le) & 0x0fffffff; // upper bits: FCS info
    this.#format = "pcap";
    this.#take(24);
  }

  /** The next packet, or undefined at the end of the capture. */
  next(): IteratorResult<CapturedPacket> {
    const p = this.read();
    return p ? { value: p, done: false } : { value: undefined, done: true };
  }

  /** The reader is its own iterator (one pass over the capture). */
  [Symbol.iterator](): this {
    return this;
  }

  /** The next packet, or undefined at the end of the capture (see {@link truncatedTail}). */
  read(): CapturedPacket | undefined {
    if (this.#format === undefined) this.#header();
    return this.#format === "pcap" ? this.#pcapRecord() : this.#pcapngPacket();
  }

  #pcapRecord(): CapturedPacket | undefined {
    if (!this.#fill(1)) return undefined;
    if (!this.#fill(16)) {
      return this.#tail(`${this.#end - this.#start} octets of a 16-octet record header`);
    }
    const h = this.#dv;
    const o = this.#start;
    const le = this.#le;
    const sec = h.getUint32(o, le);
    const frac = h.getUint32(o + 4, le);
    const incl = h.getUint32(o + 8, le);
    const orig = h.getUint32(o + 12, le);
    if (incl > CAPTURE_MAX_PACKET) {
      throw pcapError(
        `pcap: record ${this.#frames + 1} at offset ${this.#consumed} claims ${incl} octets, ` +
          `more than the limit of ${CAPTURE_MAX_PACKET}`,
      );
    }
    if (!this.#fill(16 + incl)) {
      return this.#tail(
        `record ${this.#frames + 1} claims ${incl} octets, ${this.#end - this.#start - 16} present`,
      );
    }
    // An empty record shares one empty array: allocating one per record is what made
    // runs of zero-length records cost many times their size.
    const data = incl === 0 ? EMPTY : this.#buf.slice(this.#start + 16, this.#start + 16 + incl);
    this.#take(16 + incl);
    return {
      frame: ++this.#frames,
      time: sec + frac / (this.#nano ? 1e9 : 1e6),
      linkType: this.#linkType,
      data,
      origLength: orig,
    };
  }

  #pcapngPacket(): CapturedPacket | undefined {
    for (;;) {
      if (!this.#fill(1)) return undefined;
      const off = this.#consumed;
      if (!this.#fill(12)) return this.#tail(`${this.#end - this.#start} octets of a block header`);
      let v = this.#view(12);
      const type = v.getUint32(0, this.#le);
      if (type === 0x0a0d0d0a) {
        const bom = v.getUint32(8, true);
        if (bom === 0x1a2b3c4d) this.#le = true;
        else if (bom === 0x4d3c2b1a) this.#le = false;
        else throw pcapError(`pcapng: bad byte-order magic at offset ${off}`);
        this.#ifaces = [];
      }
      const len = v.getUint32(4, this.#le);
      if (len < 12 || len % 4 !== 0 || len > PCAPNG_MAX_BLOCK) {
        throw pcapError(`pcapng: block at offset ${off} has bad length ${len}`);
      }
      if (!this.#fill(len)) {
        return this.#tail(`block of ${len} octets, ${this.#end - this.#start} present`);
      }
      v = this.#view(len);
      if (v.getUint32(len - 4, this.#le) !== len) {
        throw pcapError(`pcapng: trailing length of the block at offset ${off} differs`);
      }
      const body = this.#buf.subarray(this.#start + 8, this.#start + len - 4);
      const r = new ByteReader(body, (d) => {
        throw pcapError(`pcapng block at offset ${off}: ${d}`);
      });
      const le = this.#le;
      let pkt: CapturedPacket | undefined;
      if (type === 1) {
        const linkType = r.u16(le);
        r.u16(le);
        r.u32(le); // snaplen
        let tsDiv = 1e6;
        // options: code(2) len(2) value padded to 4
        while (r.remaining >= 4) {
          const code = r.u16(le);
          const olen = r.u16(le);
          if (code === 0) break;
          const val = r.bytesView(olen);
          r.skip((4 - (olen % 4)) % 4 > r.remaining ? r.remaining : (4 - (olen % 4)) % 4);
          if (code === 9 && olen >= 1) {
            const t = val[0]!;
            const exp = t & 0x7f;
            if (exp > 30) throw pcapError(`pcapng: if_tsresol ${t} out of range`);
            tsDiv = t & 0x80 ? 2 ** exp : 10 ** exp;
          }
        }
        if (this.#ifaces.length >= 65536) throw pcapError("pcapng: more than 65536 interfaces");
        this.#ifaces.push({ linkType, tsDiv });
      } else if (type === 6 || type === 3) {
        const ifIdx = type === 6 ? r.u32(le) : 0;
        const iface = this.#ifaces[ifIdx];
        if (!iface) throw pcapError(`pcapng: packet refers to unknown interface ${ifIdx}`);
        let time = 0;
        let incl: number;
        let orig: number;
        if (type === 6) {
          const hi = r.u32(le);
          const lo = r.u32(le);
          time = (hi * 4294967296 + lo) / iface.tsDiv;
          incl = r.u32(le);
          orig = r.u32(le);
        } else {
          orig = r.u32(le);
          incl = Math.min(orig, r.remaining);
        }
        pkt = {
          frame: this.#frames + 1,
          time,
          linkType: iface.linkType,
          data: r.bytesView(incl).slice(),
          origLength: orig,
        };
      }
      // other blocks (name resolution, statistics, custom…) are skipped
      this.#take(len);
      if (pkt) {
        this.#frames++;
        return pkt;
      }
    }
  }
}

/**
 * Reads every packet of a classic pcap or pcapng file held in memory (see
 * {@link CaptureReader}; large files should be streamed with it instead).
 * When the file ends inside a record, the complete packets are returned and
 * the reason is pushed to `warnings` when given; without `warnings` the cut
 * is a {@link WireError}, as silently dropping data would be.
 */
export function readCapture(file: Uint8Array, warnings?: string[]): CapturedPacket[] {
  const reader = new CaptureReader(memorySource(file));
  const out = [...reader];
  if (reader.truncatedTail !== undefined) {
    if (!warnings) throw pcapError(reader.truncatedTail);
    warnings.push(reader.truncatedTail);
  }
  return out;
}

/**
 * Finds the UDP datagram in a captured packet, or says why there is none
 * (other link type, not IP, not UDP, fragment, truncated headers).
 */
export function extractUdp(pkt: CapturedPacket): UdpDatagram | NotUdp {
  const d = pkt.data;
  const no = (reason: string): NotUdp => ({ frame: pkt.frame, reason });
  let off: number;
  let ethType: number;
  const u16 = (o: number) => (d[o]! << 8) | d[o + 1]!;
  switch (pkt.linkType) {
    case LinkType.ETHERNET: {
      if (d.length < 14) return no("truncated Ethernet header");
      ethType = u16(12);
      off = 14;
      while (ethType === 0x8100 || ethType === 0x88a8 || ethType === 0x9100) {
        if (d.length < off + 4) return no("truncated VLAN tag");
        ethType = u16(off + 2);
        off += 4;
      }
      break;
    }
    case LinkType.LINUX_SLL:
      if (d.length < 16) return no("truncated Linux SLL header");
      ethType = u16(14);
      off = 16;
      break;
    case LinkType.LINUX_SLL2:
      if (d.length < 20) return no("truncated Linux SLL2 header");
      ethType = u16(0);
      off = 20;
      break;
    case LinkType.RAW:
    case 12: // DLT_RAW on some BSDs
    case 14: // DLT_RAW on OpenBSD
    case LinkType.IPV4:
    case LinkType.IPV6: {
      if (d.length < 1) return no("empty packet");
      const v = d[0]! >> 4;
      ethType = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
      off = 0;
      break;
    }
    case LinkType.NULL: {
      if (d.length < 4) return no("truncated loopback header");
      const fam = d[0] === 0 ? u16(2) : d[0]! | (d[1]! << 8);
      ethType = fam === 2 ? 0x0800 : fam === 24 || fam === 28 || fam === 30 ? 0x86dd : 0;
      off = 4;
      break;
    }
    default:
      return no(`unsupported link type ${pkt.linkType}`);
  }
  let src: string;
  let dst: string;
  let udpOff: number;
  let ipEnd: number;
  if (ethType === 0x0800) {
    if (d.length < off + 20) return no("truncated IPv4 header");
    if (d[off]! >> 4 !== 4) return no("not IPv4");
    const ihl = (d[off]! & 15) * 4;
    if (ihl < 20 || d.length < off + ihl) return no("bad IPv4 header length");
    const total = u16(off + 2);
    const frag = u16(off + 6);
    if ((frag & 0x3fff) !== 0) return no("IPv4 fragment (not reassembled)");
    if (d[off + 9] !== 17) return no(`IP protocol ${d[off + 9]} is not UDP`);
    src = ipv4Text(d.subarray(off + 12, off + 16));
    dst = ipv4Text(d.subarray(off + 16, off + 20));
    udpOff = off + ihl;
    ipEnd = off + Math.max(total, ihl);
  } else if (ethType === 0x86dd) {
    if (d.length < off + 40) return no("truncated IPv6 header");
    const plen = u16(off + 4);
    let nh = d[off + 6]!;
    src = ipv6Text(d.subarray(off + 8, off + 24));
    dst = ipv6Text(d.subarray(off + 24, off + 40));
    let p = off + 40;
    ipEnd = p + plen;
    for (let hops = 0; nh !== 17; hops++) {
      if (hops > 16) return no("too many IPv6 extension headers");
      if (nh === 44) return no("IPv6 fragment (not reassembled)");
      if (nh === 0 || nh === 43 || nh === 60 || nh === 51) {
        if (d.length < p + 2) return no("truncated IPv6 extension header");
        const next = d[p]!;
        const len = nh === 51 ? (d[p + 1]! + 2) * 4 : (d[p + 1]! + 1) * 8;
        nh = next;
        p += len;
      } else return no(`IPv6 next header ${nh} is not UDP`);
    }
    udpOff = p;
  } else {
    return no(`ethertype 0x${ethType.toString(16).padStart(4, "0")} is not IP`);
  }
  if (d.length < udpOff + 8) return no("truncated UDP header");
  const srcPort = u16(udpOff);
  const dstPort = u16(udpOff + 2);
  const ulen = u16(udpOff + 4);
  if (ulen < 8) return no(`UDP length ${ulen} < 8`);
  const want = ulen - 8;
  const avail = Math.max(0, Math.min(d.length, ipEnd) - (udpOff + 8));
  const have = Math.min(want, avail);
  return {
    frame: pkt.frame,
    time: pkt.time,
    src,
    dst,
    srcPort,
    dstPort,
    payload: d.subarray(udpOff + 8, udpOff + 8 + have),
    udpPayloadLength: want,
    truncated: have < want,
  };
}
