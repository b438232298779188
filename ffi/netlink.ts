/**
 * Netlink framing (RFC 3549): message and attribute builders and parsers, and
 * a nonblocking {@link NetlinkSocket} with sequence numbers, acks, extended
 * acks, multipart dumps, batching and ENOBUFS handling.
 *
 * Every parser rejects malformed input with a {@link KernelError} of category
 * `"malformed"`; no length field is trusted beyond the bytes actually present.
 * Netlink integers are in host byte order (little-endian on x86_64).
 *
 * @module
 */
import { KernelError } from "../core/kernel/errors.ts";
import * as c from "./libc.ts";

/** `sizeof(struct nlmsghdr)`. */
export const NLMSG_HDRLEN = 16;
/** `sizeof(struct nlattr)`. */
export const NLA_HDRLEN = 4;
/** `NLMSG_NOOP`. */
export const NLMSG_NOOP = 1;
/** `NLMSG_ERROR`. */
export const NLMSG_ERROR = 2;
/** `NLMSG_DONE`. */
export const NLMSG_DONE = 3;
/** `NLMSG_OVERRUN`. */
export const NLMSG_OVERRUN = 4;
/** `NLM_F_REQUEST`. */
export const NLM_F_REQUEST = 0x1;
/** `NLM_F_MULTI`. */
export const NLM_F_MULTI = 0x2;
/** `NLM_F_ACK`. */
export const NLM_F_ACK = 0x4;
/** `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`). */
export const NLM_F_DUMP = 0x300;
/** `NLM_F_CAPPED` (in an ack: the original payload was left out). */
export const NLM_F_CAPPED = 0x100;
/** `NLM_F_ACK_TLVS` (in an ack: extended-ack attributes follow). */
export const NLM_F_ACK_TLVS = 0x200;
/** `SOL_NETLINK`. */
export const SOL_NETLINK = 270;
/** `NETLINK_ADD_MEMBERSHIP`. */
export const NETLINK_ADD_MEMBERSHIP = 1;
/** `NETLINK_CAP_ACK`. */
export const NETLINK_CAP_ACK = 10;
/** `NETLINK_EXT_ACK`. */
export const NETLINK_EXT_ACK = 11;
/** `NLMSGERR_ATTR_MSG`. */
export const NLMSGERR_ATTR_MSG = 1;
/** `NLMSGERR_ATTR_OFFS`. */
export const NLMSGERR_ATTR_OFFS = 2;
/** `NETLINK_XFRM`. */
export const NETLINK_XFRM = 6;
const NLA_TYPE_MASK = 0x3fff;

/** A parsed netlink message; `payload` is a view into the received buffer. */
export interface NlMsg {
  /** `nlmsg_type`. */
  type: number;
  /** `nlmsg_flags`. */
  flags: number;
  /** `nlmsg_seq`. */
  seq: number;
  /** `nlmsg_pid`. */
  pid: number;
  /** Everything after the 16-octet header, up to `nlmsg_len`. */
  payload: Uint8Array;
}

/** A parsed netlink attribute; `value` is a view. */
export interface NlAttr {
  /** `nla_type` without the NESTED/BYTEORDER bits. */
  type: number;
  /** The attribute's value (without header or padding). */
  value: Uint8Array;
}

/** Rounds up to the netlink alignment of 4. */
export function nlAlign(n: number): number {
  return (n + 3) & ~3;
}

function malformed(context: string, detail: string): never {
  throw new KernelError("malformed", context, detail);
}

/** Encodes one netlink message (header + payload, padded to 4). */
export function encodeNlMsg(
  type: number,
  flags: number,
  seq: number,
  pid: number,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const len = NLMSG_HDRLEN + payload.length;
  const out = new Uint8Array(nlAlign(len));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq >>> 0, true);
  dv.setUint32(12, pid >>> 0, true);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/**
 * Splits a datagram into netlink messages. Rejects a header shorter than 16,
 * a length past the end of the data, or trailing bytes that are not a whole
 * header.
 */
export function parseNlMsgs(buf: Uint8Array): NlMsg[] {
  const out: NlMsg[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN) {
      malformed(
        "parse netlink",
        `${buf.length - off} trailing octets at offset ${off} < header 16`,
      );
    }
    const len = dv.getUint32(off, true);
    if (len < NLMSG_HDRLEN) malformed("parse netlink", `nlmsg_len ${len} < 16 at offset ${off}`);
    if (len > buf.length - off) {
      malformed(
        "parse netlink",
        `nlmsg_len ${len} at offset ${off} exceeds ${buf.length - off} octets`,
      );
    }
    out.push({
      type: dv.getUint16(off + 4, true),
      flags: dv.getUint16(off + 6, true),
      seq: dv.getUint32(off + 8, true),
      pid: dv.getUint32(off + 12, true),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += nlAlign(len);
  }
  return out;
}

/**
 * Parses a run of attributes. The last attribute's padding may be missing;
 * anything else that does not fit is rejected.
 */
export function parseAttrs(buf: Uint8Array, context = "parse attributes"): NlAttr[] {
  const out: NlAttr[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLA_HDRLEN) {
      malformed(
        context,
        `${buf.length - off} trailing octets at offset ${off} < attribute header 4`,
      );
    }
    const len = dv.getUint16(off, true);
    const type = dv.getUint16(off + 2, true) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN) malformed(context, `nla_len ${len} < 4 at offset ${off}`);
    if (len > buf.length - off) {
      malformed(
        context,
        `attribute ${type} length ${len} at offset ${off} exceeds ${buf.length - off} octets`,
      );
    }
    out.push({ type, value: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += nlAlign(len);
  }
  return out;
}

/** Indexes attributes by type (the last occurrence wins). */
export function attrMap(attrs: NlAttr[]): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (const a of attrs) m.set(a.type, a.value);
  return m;
}

/** Encodes one attribute (header + value + padding). */
export function encodeAttr(type: number, value: Uint8Array): Uint8Array {
  const len = NLA_HDRLEN + value.length;
  if (len > 0xffff) {
    throw new KernelError("invalid", "encode attribute", `attribute ${type} too long (${len})`);
  }
  const out = new Uint8Array(nlAlign(len));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(value, NLA_HDRLEN);
  return out;
}

/** A decoded `NLMSG_ERROR` payload (an ack when `error` is 0). */
export interface NlError {
  /** 0 for an ack, otherwise a positive errno. */
  errno: number;
  /** The header of the request being answered. */
  request: { type: number; flags: number; seq: number; pid: number; len: number };
  /** Extended-ack message, if any. */
  message?: string;
  /** Extended-ack offset of the offending attribute in the request, if any. */
  offset?: number;
}

/** Decodes the payload of an `NLMSG_ERROR` message with flags `flags`. */
export function parseNlError(payload: Uint8Array, flags: number): NlError {
  if (payload.length < 4 + NLMSG_HDRLEN) {
    malformed("parse NLMSG_ERROR", `payload ${payload.length} octets < 20`);
  }
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const code = dv.getInt32(0, true);
  if (code > 0 || code < -4095) malformed("parse NLMSG_ERROR", `error code ${code} out of range`);
  const reqLen = dv.getUint32(4, true);
  const res: NlError = {
    errno: code === 0 ? 0 : -code,
    request: {
      len: reqLen,
      type: dv.getUint16(8, true),
      flags: dv.getUint16(10, true),
      seq: dv.getUint32(12, true),
      pid: dv.getUint32(16, true),
    },
  };
  if (flags & NLM_F_ACK_TLVS) {
    // With NLM_F_CAPPED only the request header was echoed; otherwise the whole request.
    const echoed = flags & NLM_F_CAPPED || code === 0 ? NLMSG_HDRLEN : reqLen;
    if (echoed < NLMSG_HDRLEN) {
      malformed("parse NLMSG_ERROR", `echoed request length ${echoed} < 16`);
    }
    const start = 4 + nlAlign(echoed);
    if (start > payload.length) {
      malformed(
        "parse NLMSG_ERROR",
        `echoed request (${echoed}) exceeds payload ${payload.length}`,
      );
    }
    for (const a of parseAttrs(payload.subarray(start), "parse extended ack")) {
      if (a.type === NLMSGERR_ATTR_MSG) {
        const end = a.value.indexOf(0);
        res.message = new TextDecoder("utf-8", { fatal: false }).decode(
          end < 0 ? a.value : a.value.subarray(0, end),
        );
      } else if (a.type === NLMSGERR_ATTR_OFFS && a.value.length >= 4) {
        res.offset = new DataView(a.value.buffer, a.value.byteOffset).getUint32(0, true);
      }
    }
  }
  return res;
}

/** One request of a batch. */
export interface NlRequest {
  /** `nlmsg_type`. */
  type: number;
  /** Extra flags (`NLM_F_REQUEST | NLM_F_ACK` are always added). */
  flags?: number;
  /** Payload after the header. */
  payload: Uint8Array;
  /** Overrides the automatic sequence number (only for ACQUIRE answers). */
  seq?: number;
  /** Names the request in errors, e.g. `"XFRM_MSG_NEWSA"`. */
  context: string;
}

/** The outcome of one request: data messages, or a typed error. */
export type NlResult = { ok: true; messages: NlMsg[] } | { ok: false; error: KernelError };

/** Options of {@link NetlinkSocket.open}. */
export interface NetlinkOpenOptions {
  /** Multicast groups to join (group numbers, e.g. XFRMNLGRP_ACQUIRE = 1). */
  groups?: number[];
  /** Path of a network namespace (e.g. `/run/netns/NAME`) to open the socket in. */
  netns?: string;
  /** Receive buffer size to request (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
  rcvbuf?: number;
  /** Milliseconds to wait for a reply before failing with `"timeout"` (default 5000). */
  timeoutMs?: number;
}

const RECV_BUF = 1 << 18;

/**
 * A nonblocking netlink socket. Requests are serialized per socket; each one
 * carries `NLM_F_ACK` and a fresh sequence number, and replies are matched by
 * sequence number and port id. Extended acks (`NETLINK_EXT_ACK`) and capped
 * acks (`NETLINK_CAP_ACK`, so the kernel never echoes key material back) are
 * switched on when the kernel supports them.
 */
export class NetlinkSocket {
  readonly #fd: number;
  /** The port id the kernel assigned (`nl_pid`). */
  readonly portId: number;
  readonly #protocol: number;
  readonly #timeoutMs: number;
  #seq: number;
  #closed = false;
  #lock: Promise<unknown> = Promise.resolve();
  #polling: Promise<boolean> | undefined;
  readonly #rbuf = new Uint8Array(RECV_BUF);
  readonly #kernelAddr = new Uint8Array(12);

  private constructor(fd: number, portId: number, protocol: number, timeoutMs: number) {
    this.#fd = fd;
    this.portId = portId;
    this.#protocol = protocol;
    this.#timeoutMs = timeoutMs;
    this.#seq = (Date.now() & 0x7fffffff) >>> 0;
    new DataView(this.#kernelAddr.buffer).setUint16(0, c.AF_NETLINK, true);
  }

  /** Opens and binds a netlink socket of `protocol` (e.g. {@link NETLINK_XFRM}). */
  static open(protocol: number, opts: NetlinkOpenOptions = {}): NetlinkSocket {
    const create = () => NetlinkSocket.#create(protocol, opts);
    return opts.netns ? c.withNetns(opts.netns, create) : create();
  }

  static #create(protocol: number, opts: NetlinkOpenOptions): NetlinkSocket {
    const fd = c.socket(c.AF_NETLINK, c.SOCK_RAW, protocol);
    try {
      const addr = new Uint8Array(12);
      const dv = new DataView(addr.buffer);
      dv.setUint16(0, c.AF_NETLINK, true);
      let legacy = 0;
      for (const g of opts.groups ?? []) if (g >= 1 && g <= 32) legacy |= 1 << (g - 1);
      dv.setUint32(8, legacy >>> 0, true);
      c.bind(fd, addr);
      for (const g of opts.groups ?? []) {
        if (g > 32) c.setsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
      }
      try {
        c.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        c.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      } catch { /* old kernel: plain acks */ }
      const want = opts.rcvbuf ?? 1 << 20;
      for (
        const [force, plain] of [[c.SO_RCVBUFFORCE, c.SO_RCVBUF], [c.SO_SNDBUFFORCE, c.SO_SNDBUF]]
      ) {
        try {
          c.setsockoptInt(fd, c.SOL_SOCKET, force!, want);
        } catch {
          try {
            c.setsockoptInt(fd, c.SOL_SOCKET, plain!, want);
          } catch { /* keep the default */ }
        }
      }
      const local = c.getsockname(fd);
      const portId = local.length >= 8
        ? new DataView(local.buffer, local.byteOffset).getUint32(4, true)
        : 0;
      return new NetlinkSocket(fd, portId, protocol, opts.timeoutMs ?? 5000);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** The netlink protocol of this socket. */
  get protocol(): number {
    return this.#protocol;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Allocates the next sequence number. */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  /** Sends one request and waits for its ack; resolves to the data messages before the ack. */
  async request(req: NlRequest): Promise<NlMsg[]> {
    const [r] = await this.batch([req], 1);
    if (!r) throw new KernelError("malformed", req.context, "no result");
    if (!r.ok) throw r.error;
    return r.messages;
  }

  /**
   * Sends many requests, `perSend` netlink messages per `sendto` datagram, and
   * collects every result in order. A kernel refusal of one request does not
   * stop the others (netlink processes each message of a datagram on its own).
   */
  batch(reqs: NlRequest[], perSend = 64): Promise<NlResult[]> {
    return this.#locked(() => this.#batch(reqs, Math.max(1, perSend)));
  }

  /** Runs a dump request (`NLM_F_DUMP`) and collects every message until `NLMSG_DONE`. */
  dump(type: number, payload: Uint8Array, context: string): Promise<NlMsg[]> {
    return this.#locked(() => this.#dump(type, payload, context));
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  #send(buf: Uint8Array<ArrayBuffer>, context: string): Promise<void> | void {
    const n = c.sendto(this.#fd, buf, this.#kernelAddr);
    if (n >= 0) return;
    if (n === -11 || n === -105) {
      // EAGAIN/ENOBUFS on send: let the kernel catch up, then retry once per tick.
      return new Promise<void>((resolve, reject) => {
        let tries = 0;
        const again = () => {
          const m = c.sendto(this.#fd, buf, this.#kernelAddr);
          if (m >= 0) return resolve();
          if ((m === -11 || m === -105) && ++tries < 200) return void setTimeout(again, 5);
          reject(KernelError.fromErrno("syscall", `sendto ${context}`, -m));
        };
        setTimeout(again, 1);
      });
    }
    throw KernelError.fromErrno("syscall", `sendto ${context}`, -n);
  }

  /** Receives one datagram (waiting without blocking); returns its messages. */
  async #recvOnce(deadline: number, context: string): Promise<NlMsg[]> {
    for (;;) {
      if (this.#closed) throw new KernelError("closed", context, "socket closed");
      const n = c.recv(this.#fd, this.#rbuf);
      if (n >= 0) {
        if (n > this.#rbuf.length) {
          throw new KernelError("malformed", context, `datagram of ${n} octets truncated`);
        }
        return parseNlMsgs(this.#rbuf.subarray(0, n)); // views, valid until the next recv: callers copy what they keep
      }
      if (n === -105) {
        throw new KernelError(
          "overrun",
          context,
          "receive queue overflowed (ENOBUFS): replies lost",
          { errno: 105 },
        );
      }
      if (n !== -11 && n !== -4) throw KernelError.fromErrno("syscall", `recv ${context}`, -n);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new KernelError("timeout", context, `no reply within ${this.#timeoutMs} ms`);
      }
      await this.#poll(Math.min(left, 100));
    }
  }

  async #poll(ms: number): Promise<boolean> {
    const p = c.pollIn(this.#fd, ms);
    this.#polling = p;
    try {
      return await p;
    } finally {
      this.#polling = undefined;
    }
  }

  async #batch(reqs: NlRequest[], perSend: number): Promise<NlResult[]> {
    const results: (NlResult | undefined)[] = new Array(reqs.length);
    for (let i = 0; i < reqs.length; i += perSend) {
      const chunk = reqs.slice(i, i + perSend);
      const bySeq = new Map<number, { index: number; messages: NlMsg[] }>();
      let total = 0;
      for (const r of chunk) total += nlAlign(NLMSG_HDRLEN + r.payload.length);
      const buf = new Uint8Array(total);
      const dv = new DataView(buf.buffer);
      let o = 0;
      chunk.forEach((r, j) => {
        const seq = r.seq ?? this.nextSeq();
        bySeq.set(seq, { index: i + j, messages: [] });
        dv.setUint32(o, NLMSG_HDRLEN + r.payload.length, true);
        dv.setUint16(o + 4, r.type, true);
        dv.setUint16(o + 6, NLM_F_REQUEST | NLM_F_ACK | (r.flags ?? 0), true);
        dv.setUint32(o + 8, seq, true);
        buf.set(r.payload, o + NLMSG_HDRLEN);
        o += nlAlign(NLMSG_HDRLEN + r.payload.length);
      });
      const ctx = chunk.length === 1 ? chunk[0]!.context : `batch of ${chunk.length}`;
      await this.#send(buf, ctx);
      buf.fill(0); // requests may carry keys
      let pending = bySeq.size;
      const deadline = Date.now() + this.#timeoutMs;
      try {
        while (pending > 0) {
          for (const m of await this.#recvOnce(deadline, ctx)) {
            const slot = bySeq.get(m.seq);
            if (!slot || (m.pid !== this.portId && m.pid !== 0)) continue; // stale reply
            if (m.type === NLMSG_ERROR) {
              const e = parseNlError(m.payload, m.flags);
              const req = reqs[slot.index]!;
              results[slot.index] = e.errno === 0 ? { ok: true, messages: slot.messages } : {
                ok: false,
                error: KernelError.fromErrno("kernel", req.context, e.errno, e.message),
              };
              bySeq.delete(m.seq);
              pending--;
            } else if (m.type !== NLMSG_NOOP) {
              slot.messages.push({ ...m, payload: m.payload.slice() });
            }
          }
        }
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        for (const slot of bySeq.values()) {
          results[slot.index] = {
            ok: false,
            error: new KernelError(e.category as "overrun", reqs[slot.index]!.context, e.detail, {
              cause: e,
            }),
          };
        }
        for (let k = i + perSend; k < reqs.length; k++) {
          results[k] = {
            ok: false,
            error: new KernelError(
              e.category as "overrun",
              reqs[k]!.context,
              `not sent: ${e.detail}`,
              { cause: e },
            ),
          };
        }
        return results as NlResult[];
      }
    }
    return results as NlResult[];
  }

  async #dump(type: number, payload: Uint8Array, context: string): Promise<NlMsg[]> {
    const seq = this.nextSeq();
    await this.#send(encodeNlMsg(type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0, payload), context);
    const out: NlMsg[] = [];
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      for (const m of await this.#recvOnce(deadline, context)) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_DONE) {
          if (m.payload.length >= 4) {
            const code = new DataView(m.payload.buffer, m.payload.byteOffset).getInt32(0, true);
            if (code < 0) throw KernelError.fromErrno("kernel", context, -code);
          }
          return out;
        }
        if (m.type === NLMSG_ERROR) {
          const e = parseNlError(m.payload, m.flags);
          if (e.errno !== 0) throw KernelError.fromErrno("kernel", context, e.errno, e.message);
          return out;
        }
        if (m.type === NLMSG_OVERRUN) {
          throw new KernelError("overrun", context, "dump interrupted (NLMSG_OVERRUN)");
        }
        if (m.type !== NLMSG_NOOP) out.push({ ...m, payload: m.payload.slice() });
      }
    }
  }

  /**
   * Receives multicast messages forever (until {@link close}): yields each
   * message, the string `"overrun"` when the receive queue overflowed and
   * messages were lost (the caller should resynchronize with a dump), or a
   * `KernelError("malformed")` for a datagram that does not frame as netlink
   * messages (reported, never thrown: the stream goes on).
   */
  async *messages(): AsyncGenerator<NlMsg | "overrun" | KernelError, void, undefined> {
    while (!this.#closed) {
      const n = c.recv(this.#fd, this.#rbuf);
      if (n >= 0) {
        if (n > this.#rbuf.length) {
          yield "overrun";
          continue;
        }
        let msgs: NlMsg[];
        try {
          msgs = parseNlMsgs(this.#rbuf.slice(0, n));
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          yield e; // a datagram we cannot frame is reported, not fatal
          continue;
        }
        for (const m of msgs) yield m;
        continue;
      }
      if (n === -105) {
        yield "overrun";
        continue;
      }
      if (n !== -11 && n !== -4) {
        if (this.#closed) return;
        throw KernelError.fromErrno("syscall", "recv events", -n);
      }
      await this.#poll(100);
    }
  }

  /** Closes the socket (after any in-flight poll returns). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.catch(() => {});
    while (this.#polling) await this.#polling.catch(() => false);
    c.close(this.#fd);
  }
}
