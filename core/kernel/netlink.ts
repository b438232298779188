/**
 * The NETLINK_XFRM backend of {@link KernelIpsec}: every operation is one
 * netlink request (or a batch of them) on a nonblocking socket, and each is
 * documented with the `ip xfrm` command it equals.
 *
 * Needs root (CAP_NET_ADMIN) and `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`.
 *
 * @module
 */
import { NETLINK_XFRM, NetlinkSocket, type NlRequest } from "../../ffi/netlink.ts";
import { XFRM_MSG, XFRMNLGRP } from "../../ffi/xfrm/layout.ts";
import { KernelError } from "./errors.ts";
import { parseAddr } from "./addr.ts";
import { selectorMatches } from "./selector.ts";
import type {
  AllocSpiRequest,
  Flow,
  PolicyConfig,
  PolicyDir,
  PolicyId,
  PolicyState,
  SaConfig,
  SaId,
  SaState,
  XfrmEvent,
  XfrmProto,
} from "./model.ts";
import { decodeEvent, decodePolicy, decodeSa } from "./xfrm/decode.ts";
import {
  encodeAllocSpi,
  encodeFlushSa,
  encodePolicy,
  encodePolicyId,
  encodeSa,
  encodeSaId,
} from "./xfrm/encode.ts";
import type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";

/** Options of {@link NetlinkKernel.open}. */
export interface NetlinkKernelOptions {
  /** Network namespace path (e.g. `/run/netns/NAME`) to operate in. */
  netns?: string;
  /** Reply timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

/** {@link KernelIpsec} over NETLINK_XFRM. */
export class NetlinkKernel implements KernelIpsec {
  /** Always `"netlink"`. */
  readonly backend = "netlink" as const;
  readonly #sock: NetlinkSocket;
  readonly #opts: NetlinkKernelOptions;
  readonly #subs = new Set<EventSubscription>();
  #undecodable = 0;

  private constructor(sock: NetlinkSocket, opts: NetlinkKernelOptions) {
    this.#sock = sock;
    this.#opts = opts;
  }

  /** Opens a NETLINK_XFRM socket (in `opts.netns` when given). */
  static open(opts: NetlinkKernelOptions = {}): NetlinkKernel {
    const o: { netns?: string; timeoutMs?: number } = {};
    if (opts.netns !== undefined) o.netns = opts.netns;
    if (opts.timeoutMs !== undefined) o.timeoutMs = opts.timeoutMs;
    return new NetlinkKernel(NetlinkSocket.open(NETLINK_XFRM, o), opts);
  }

  /** `ip xfrm state allocspi src S dst D proto P [mode M] [reqid R] [min A max B]`. */
  async allocSpi(req: AllocSpiRequest): Promise<number> {
    const msgs = await this.#sock.request({
      type: XFRM_MSG.ALLOCSPI,
      payload: encodeAllocSpi(req),
      context: "XFRM_MSG_ALLOCSPI",
    });
    const m = msgs.find((x) => x.type === XFRM_MSG.NEWSA);
    if (!m) throw new KernelError("malformed", "XFRM_MSG_ALLOCSPI", "no NEWSA in the reply");
    return decodeSa(m.payload).spi;
  }

  #saReq(sa: SaConfig, type: number): NlRequest {
    const name = type === XFRM_MSG.NEWSA ? "XFRM_MSG_NEWSA" : "XFRM_MSG_UPDSA";
    return {
      type,
      payload: encodeSa(sa),
      context: `${name} ${sa.proto} spi 0x${sa.spi.toString(16).padStart(8, "0")} dst ${sa.dst}`,
    };
  }

  async #one(req: NlRequest): Promise<void> {
    try {
      await this.#sock.request(req);
    } finally {
      req.payload.fill(0);
    }
  }

  /**
   * `ip xfrm state add src S dst D proto esp spi X mode M reqid R
   * [enc|auth-trunc|aead …] [replay-window W] [flag esn] [limit …] [mark …]`.
   */
  async addSa(sa: SaConfig): Promise<void> {
    await this.#one(this.#saReq(sa, XFRM_MSG.NEWSA));
  }

  /** `ip xfrm state update …` (same arguments as add). */
  async updateSa(sa: SaConfig): Promise<void> {
    await this.#one(this.#saReq(sa, XFRM_MSG.UPDSA));
  }

  /** `ip -batch` of `xfrm state add …` lines, `perSend` netlink messages per sendto. */
  async addSas(sas: SaConfig[], perSend = 64): Promise<BatchOutcome[]> {
    const out: BatchOutcome[] = new Array(sas.length);
    const reqs: NlRequest[] = [];
    const idx: number[] = [];
    sas.forEach((sa, i) => {
      try {
        reqs.push(this.#saReq(sa, XFRM_MSG.NEWSA));
        idx.push(i);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        out[i] = e;
      }
    });
    try {
      const res = await this.#sock.batch(reqs, perSend);
      res.forEach((r, j) => (out[idx[j]!] = r.ok ? undefined : r.error));
    } finally {
      for (const r of reqs) r.payload.fill(0);
    }
    return out;
  }

  /** `ip xfrm state get src S dst D proto P spi X [mark …]`. */
  async getSa(id: SaId): Promise<SaState> {
    const msgs = await this.#sock.request({
      type: XFRM_MSG.GETSA,
      payload: encodeSaId(id),
      context: `XFRM_MSG_GETSA ${id.proto} spi 0x${id.spi.toString(16)} dst ${id.dst}`,
    });
    const m = msgs.find((x) => x.type === XFRM_MSG.NEWSA);
    if (!m) throw new KernelError("malformed", "XFRM_MSG_GETSA", "no NEWSA in the reply");
    const sa = decodeSa(m.payload);
    m.payload.fill(0);
    return sa;
  }

  /** `ip xfrm state delete src S dst D proto P spi X [mark …]`. */
  async deleteSa(id: SaId): Promise<void> {
    await this.#sock.request({
      type: XFRM_MSG.DELSA,
      payload: encodeSaId(id),
      context: `XFRM_MSG_DELSA ${id.proto} spi 0x${id.spi.toString(16)} dst ${id.dst}`,
    });
  }

  /**
   * `ip xfrm state list` (dump). An SA kink cannot decode (an IPComp SA
   * another program installed, say) is skipped and counted in
   * {@link undecodable} instead of failing the whole list.
   */
  async listSas(): Promise<SaState[]> {
    const msgs = await this.#sock.dump(XFRM_MSG.GETSA, new Uint8Array(0), "XFRM_MSG_GETSA dump");
    const out: SaState[] = [];
    try {
      for (const m of msgs) {
        if (m.type !== XFRM_MSG.NEWSA) continue;
        const sa = this.#decodeOrCount(() => decodeSa(m.payload));
        if (sa) out.push(sa);
      }
    } finally {
      for (const m of msgs) m.payload.fill(0); // replies carry keys
    }
    return out;
  }

  #decodeOrCount<T>(decode: () => T): T | undefined {
    try {
      return decode();
    } catch (e) {
      if (!(e instanceof KernelError) || e.category !== "malformed") throw e;
      this.#undecodable++;
      return undefined;
    }
  }

  /** Entries of dumps ({@link listSas}, {@link listPolicies}) that could not be decoded and were skipped. */
  get undecodable(): number {
    return this.#undecodable;
  }

  /** `ip xfrm state flush [proto P]`. */
  async flushSas(proto?: XfrmProto): Promise<void> {
    await this.#sock.request({
      type: XFRM_MSG.FLUSHSA,
      payload: encodeFlushSa(proto),
      context: "XFRM_MSG_FLUSHSA",
    });
  }

  #polReq(p: PolicyConfig, type: number): NlRequest {
    const name = type === XFRM_MSG.NEWPOLICY ? "XFRM_MSG_NEWPOLICY" : "XFRM_MSG_UPDPOLICY";
    const s = p.selector;
    return {
      type,
      payload: encodePolicy(p),
      context: `${name} ${s.src}/${s.srcPrefixLen} -> ${s.dst}/${s.dstPrefixLen} dir ${p.dir}`,
    };
  }

  /**
   * `ip xfrm policy add src S/L dst D/L [proto P [sport|dport N]] dir in|out|fwd
   * [priority N] [action allow|block] [tmpl src T dst U proto esp mode M reqid R level L] [mark …]`.
   */
  async addPolicy(p: PolicyConfig): Promise<void> {
    await this.#sock.request(this.#polReq(p, XFRM_MSG.NEWPOLICY));
  }

  /** `ip xfrm policy update …` (same arguments as add). */
  async updatePolicy(p: PolicyConfig): Promise<void> {
    await this.#sock.request(this.#polReq(p, XFRM_MSG.UPDPOLICY));
  }

  /** `ip -batch` of `xfrm policy add …` lines, `perSend` netlink messages per sendto. */
  async addPolicies(ps: PolicyConfig[], perSend = 64): Promise<BatchOutcome[]> {
    const out: BatchOutcome[] = new Array(ps.length);
    const reqs: NlRequest[] = [];
    const idx: number[] = [];
    ps.forEach((p, i) => {
      try {
        reqs.push(this.#polReq(p, XFRM_MSG.NEWPOLICY));
        idx.push(i);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        out[i] = e;
      }
    });
    const res = await this.#sock.batch(reqs, perSend);
    res.forEach((r, j) => (out[idx[j]!] = r.ok ? undefined : r.error));
    return out;
  }

  /** `ip xfrm policy get src S/L dst D/L dir D` or `ip xfrm policy get index N dir D`. */
  async getPolicy(id: PolicyId): Promise<PolicyState> {
    const msgs = await this.#sock.request({
      type: XFRM_MSG.GETPOLICY,
      payload: encodePolicyId(id),
      context: `XFRM_MSG_GETPOLICY dir ${id.dir}`,
    });
    const m = msgs.find((x) => x.type === XFRM_MSG.NEWPOLICY);
    if (!m) throw new KernelError("malformed", "XFRM_MSG_GETPOLICY", "no NEWPOLICY in the reply");
    return decodePolicy(m.payload);
  }

  /** `ip xfrm policy get …`, resolving to `undefined` on ENOENT. */
  async findPolicy(id: PolicyId): Promise<PolicyState | undefined> {
    try {
      return await this.getPolicy(id);
    } catch (e) {
      if (e instanceof KernelError && e.category === "kernel" && e.errnoName === "ENOENT") {
        return undefined;
      }
      throw e;
    }
  }

  /**
   * The policy the kernel applies to `flow` in direction `dir`. NETLINK_XFRM
   * has no "match this flow" query (GETPOLICY wants the exact selector), so
   * this dumps the policies (`ip xfrm policy list dir D`) and applies the
   * kernel's selector rules here: lowest priority value, oldest on a tie.
   */
  async matchPolicy(dir: PolicyDir, flow: Flow): Promise<PolicyState | undefined> {
    parseAddr(flow.src, "match policy");
    parseAddr(flow.dst, "match policy");
    let best: PolicyState | undefined;
    for (const p of await this.listPolicies()) { // newest first
      if (p.dir !== dir || !selectorMatches(p.selector, flow)) continue;
      if (!best || p.priority <= best.priority) best = p;
    }
    return best;
  }

  /** `ip xfrm policy delete src S/L dst D/L dir D` or `… index N dir D`. */
  async deletePolicy(id: PolicyId): Promise<void> {
    await this.#sock.request({
      type: XFRM_MSG.DELPOLICY,
      payload: encodePolicyId(id),
      context: `XFRM_MSG_DELPOLICY dir ${id.dir}`,
    });
  }

  /**
   * `ip xfrm policy list` (dump). A policy kink cannot decode (an IPComp
   * template, say) is skipped and counted in {@link undecodable}.
   */
  async listPolicies(): Promise<PolicyState[]> {
    const msgs = await this.#sock.dump(
      XFRM_MSG.GETPOLICY,
      new Uint8Array(0),
      "XFRM_MSG_GETPOLICY dump",
    );
    const out: PolicyState[] = [];
    for (const m of msgs) {
      if (m.type !== XFRM_MSG.NEWPOLICY) continue;
      const p = this.#decodeOrCount(() => decodePolicy(m.payload));
      if (p) out.push(p);
    }
    return out;
  }

  /** `ip xfrm policy flush`. */
  async flushPolicies(): Promise<void> {
    await this.#sock.request({
      type: XFRM_MSG.FLUSHPOLICY,
      payload: new Uint8Array(0),
      context: "XFRM_MSG_FLUSHPOLICY",
    });
  }

  /**
   * `ip xfrm monitor acquire expire`: a socket bound to XFRMNLGRP_ACQUIRE and
   * _EXPIRE. When its receive queue (`opts.rcvbuf`, default 1 MiB) overflows,
   * the lost events are reported as one `{ type: "overrun" }` event.
   */
  async subscribe(opts: { rcvbuf?: number } = {}): Promise<EventSubscription> {
    await Promise.resolve();
    const o: { groups: number[]; netns?: string; rcvbuf?: number } = {
      groups: [XFRMNLGRP.ACQUIRE, XFRMNLGRP.EXPIRE],
    };
    if (opts.rcvbuf !== undefined) o.rcvbuf = opts.rcvbuf;
    if (this.#opts.netns !== undefined) o.netns = this.#opts.netns;
    const sock = NetlinkSocket.open(NETLINK_XFRM, o);
    const subs = this.#subs;
    let undecodable = 0;
    const sub: EventSubscription = {
      get undecodable() {
        return undecodable;
      },
      async *[Symbol.asyncIterator](): AsyncGenerator<XfrmEvent> {
        for await (const m of sock.messages()) {
          if (m === "overrun") {
            yield { type: "overrun" };
            continue;
          }
          if (m instanceof KernelError) {
            undecodable++;
            yield { type: "undecodable", error: m };
            continue;
          }
          let ev: XfrmEvent | undefined;
          try {
            ev = decodeEvent(m.type, m.payload);
          } catch (e) {
            if (!(e instanceof KernelError)) throw e;
            // never fatal: reported and counted, and the stream goes on
            undecodable++;
            yield { type: "undecodable", messageType: m.type, error: e };
            continue;
          }
          if (ev) {
            if (ev.type === "expire") {
              for (const k of [ev.sa.enc?.key, ev.sa.auth?.key, ev.sa.aead?.key]) k?.fill(0);
            }
            yield ev;
          }
        }
      },
      async close() {
        subs.delete(sub);
        await sock.close();
      },
    };
    subs.add(sub);
    return sub;
  }

  /** Closes the socket and every subscription. */
  async close(): Promise<void> {
    for (const s of [...this.#subs]) await s.close();
    await this.#sock.close();
  }
}
