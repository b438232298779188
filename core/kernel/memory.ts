/**
 * The in-memory backend of {@link KernelIpsec}: a model of the Linux XFRM
 * state and policy databases with the kernel's semantics (the same errno for
 * the same mistake, larval SAs from SPI allocation, index generation, update
 * rules, newest-first dumps, lifetime expiry events, ACQUIRE on traffic
 * without an SA). The contract suite in `tests/unit/kernel` and
 * `tests/integration/kernel`/`tests/vm/kernel` runs against this backend and
 * the real kernel alike, so the two cannot drift apart.
 *
 * Every SA and policy goes through the same encoder and decoder as the
 * netlink backend, so validation and normalization are identical.
 *
 * @module
 */
import { Errno, KernelError } from "./errors.ts";
import { formatAddr, parseAddr } from "./addr.ts";
import {
  type AllocSpiRequest,
  type Lifetime,
  type Mark,
  type PolicyConfig,
  type PolicyDir,
  type PolicyId,
  type PolicyState,
  redactKeyInspect,
  type SaConfig,
  type SaId,
  type SaState,
  type Selector,
  type XfrmEvent,
  type XfrmProto,
} from "./model.ts";
import { anySelector } from "./selector.ts";
import { validatePolicy } from "./validate.ts";
import { decodePolicy, decodeSa } from "./xfrm/decode.ts";
import {
  encodeAllocSpi,
  encodePolicy,
  encodePolicyId,
  encodeSa,
  encodeSaId,
} from "./xfrm/encode.ts";
import type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";

const DIR_NUM: Record<PolicyDir, number> = { in: 0, out: 1, fwd: 2 };
/** Seconds a larval SA from {@link MemoryKernel.allocSpi} lives (the kernel's `xfrm_acq_expires`). */
export const ACQ_EXPIRES_SECONDS = 30;

interface SaEntry {
  key: string;
  sa: SaState;
  larval: boolean;
  timers: number[];
  softFired: boolean;
}

interface PolEntry {
  pol: PolicyState;
  seqNo: number;
  timers: number[];
}

function refuse(context: string, errno: number): KernelError {
  return KernelError.fromErrno("kernel", context, errno);
}

function markKey(m: Mark | undefined): string {
  return m ? `${m.value >>> 0}/${m.mask >>> 0}` : "0/0";
}

function saKey(proto: XfrmProto, dst: string, spi: number, mark: Mark | undefined): string {
  return `${proto}|${parseAddr(dst).bytes.join(".")}|${spi >>> 0}|${markKey(mark)}`;
}

function selKey(s: Selector): string {
  return [
    s.family,
    parseAddr(s.src).bytes.join("."),
    s.srcPrefixLen,
    parseAddr(s.dst).bytes.join("."),
    s.dstPrefixLen,
    s.proto,
    s.sport,
    s.dport,
    s.ifindex,
  ].join("|");
}

function polKey(dir: PolicyDir, s: Selector, mark: Mark | undefined): string {
  return `${dir}|${selKey(s)}|${markKey(mark)}`;
}

const ZERO_REPLAY = Object.freeze({ oseq: 0, seq: 0, oseqHi: 0, seqHi: 0 });
const ZERO_STATS = Object.freeze({ replayWindow: 0, replay: 0, integrityFailed: 0 });
const NO_LIMITS: Lifetime = Object.freeze({});
const ANY_SELECTOR = {
  inet: Object.freeze(anySelector("inet")),
  inet6: Object.freeze(anySelector("inet6")),
};

function isAny(s: Selector): boolean {
  const a = ANY_SELECTOR[s.family];
  return s.src === a.src && s.dst === a.dst && !s.srcPrefixLen && !s.dstPrefixLen && !s.proto &&
    !s.sport && !s.dport && !s.ifindex;
}

function cloneSa(sa: SaState): SaState {
  const c = structuredClone(sa); // drops the inspect guards: put them back
  if (c.enc) redactKeyInspect(c.enc);
  if (c.auth) redactKeyInspect(c.auth);
  if (c.aead) redactKeyInspect(c.aead);
  return c;
}

function wipeSa(sa: SaState): void {
  for (const k of [sa.enc?.key, sa.auth?.key, sa.aead?.key]) k?.fill(0);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Describes one packet for {@link MemoryKernel.sendPacket}. */
export interface SimPacket {
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** IP protocol (default 0). */
  proto?: number;
  /** Source port. */
  sport?: number;
  /** Destination port. */
  dport?: number;
  /** Octets (default 100). */
  bytes?: number;
}

/** What happened to a simulated packet. */
export type SimResult = "bypass" | "blocked" | "acquire" | "protected";

function prefixMatch(addr: Uint8Array, net: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const bit = 7 - (i & 7);
    if (((addr[i >> 3]! >> bit) & 1) !== ((net[i >> 3]! >> bit) & 1)) return false;
  }
  return true;
}

/** {@link KernelIpsec} held in memory, with the kernel's semantics. */
export class MemoryKernel implements KernelIpsec {
  /** Always `"memory"`. */
  readonly backend = "memory" as const;
  readonly #sas = new Map<string, SaEntry>();
  readonly #pols = new Map<string, PolEntry>();
  readonly #subs = new Set<{ push(e: XfrmEvent): void; end(): void }>();
  readonly #pendingAcquire = new Map<string, number>();
  #idxGen = 0;
  #polSeq = 0;
  #acqSeq = 0;
  #larvalSeq = 0;
  #closed = false;

  /** Number of SAs held (larval ones included). */
  get saCount(): number {
    return this.#sas.size;
  }

  /** Number of policies held. */
  get policyCount(): number {
    return this.#pols.size;
  }

  #check(context: string): void {
    if (this.#closed) throw new KernelError("closed", context, "backend closed");
  }

  #emit(e: XfrmEvent): void {
    for (const s of this.#subs) {
      s.push(e.type === "expire" ? { ...e, sa: this.#keyless(e.sa) } : e);
    }
  }

  #keyless(sa: SaState): SaState {
    const c = cloneSa(sa);
    // EXPIRE messages from the kernel carry no algorithm attributes.
    delete c.enc;
    delete c.auth;
    delete c.aead;
    return c;
  }

  #timer(ms: number, fn: () => void): number {
    const id = setTimeout(fn, ms) as unknown as number;
    Deno.unrefTimer(id);
    return id;
  }

  #insertSa(key: string, sa: SaState, larval: boolean): void {
    const e: SaEntry = { key, sa, larval, timers: [], softFired: false };
    const lt = sa.lifetime;
    if (lt.softAddSeconds) {
      e.timers.push(this.#timer(lt.softAddSeconds * 1000, () => this.#softExpire(e)));
    }
    if (lt.hardAddSeconds) {
      e.timers.push(this.#timer(lt.hardAddSeconds * 1000, () => this.#hardExpire(e)));
    }
    this.#sas.set(key, e);
  }

  #softExpire(e: SaEntry): void {
    if (this.#sas.get(e.key) !== e || e.softFired) return;
    e.softFired = true;
    this.#emit({ type: "expire", hard: false, sa: e.sa });
  }

  #hardExpire(e: SaEntry): void {
    if (this.#sas.get(e.key) !== e) return;
    this.#removeSa(e.key, e);
    this.#emit({ type: "expire", hard: true, sa: e.sa });
    wipeSa(e.sa);
  }

  #removeSa(key: string, e: SaEntry): void {
    for (const t of e.timers) clearTimeout(t);
    this.#sas.delete(key);
  }

  /** Same as the kernel's ALLOCSPI: a new larval SA with a free random SPI of the range; ENOENT when none is free. */
  async allocSpi(req: AllocSpiRequest): Promise<number> {
    await Promise.resolve();
    const ctx = "XFRM_MSG_ALLOCSPI";
    this.#check(ctx);
    encodeAllocSpi(req); // validates exactly like the netlink backend
    const mode = req.mode ?? "transport";
    const reqid = req.reqid ?? 0;
    // The kernel first finds or creates a larval SA without SPI for these
    // parameters, then picks the SPI; when none is free the larval SA stays.
    let larval: [string, SaEntry] | undefined;
    for (const [k, e] of this.#sas) {
      const s = e.sa;
      if (
        e.larval && s.spi === 0 && s.proto === req.proto && s.mode === mode && s.reqid === reqid &&
        sameAddr(s.dst, req.dst) && sameAddr(s.src, req.src) &&
        markKey(s.mark) === markKey(req.mark)
      ) {
        larval = [k, e];
        break;
      }
    }
    if (!larval) {
      const sa = this.#larval(req, mode, reqid);
      const key = `larval|${++this.#larvalSeq}`;
      this.#insertSa(key, sa, true);
      larval = [key, this.#sas.get(key)!];
    }
    const min = req.min ?? 0x100, max = req.max ?? 0xffffffff;
    const free = (spi: number) => !this.#sas.has(saKey(req.proto, req.dst, spi, req.mark));
    let spi = -1;
    if (min === max) {
      if (free(min)) spi = min;
    } else {
      const range = max - min + 1;
      for (let i = 0; i < Math.min(range, 4096) && spi < 0; i++) {
        const c = min + Math.floor(Math.random() * range);
        if (free(c)) spi = c;
      }
    }
    if (spi < 0) {
      throw KernelError.fromErrno(
        "kernel",
        ctx,
        Errno.ENOENT,
        "No SPI available in the requested range",
      );
    }
    const [oldKey, entry] = larval;
    this.#sas.delete(oldKey);
    entry.sa.spi = spi;
    entry.key = saKey(req.proto, req.dst, spi, req.mark);
    this.#sas.set(entry.key, entry);
    return spi;
  }

  #larval(req: AllocSpiRequest, mode: SaState["mode"], reqid: number): SaState {
    const family = parseAddr(req.dst).family;
    const max2 = family === "inet" ? 32 : 128;
    const sa: SaState = {
      src: normAddr(req.src),
      dst: normAddr(req.dst),
      family,
      proto: req.proto,
      spi: 0,
      mode,
      reqid,
      replayWindow: 0,
      esn: false,
      lifetime: { hardAddSeconds: ACQ_EXPIRES_SECONDS },
      selector: {
        family,
        src: normAddr(req.src),
        srcPrefixLen: max2,
        dst: normAddr(req.dst),
        dstPrefixLen: max2,
        proto: 0,
        sport: 0,
        dport: 0,
        ifindex: 0,
      },
      flags: 0,
      seq: req.acquireSeq ?? 0,
      current: { bytes: 0, packets: 0, addTime: nowSeconds(), useTime: 0 },
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      replay: { oseq: 0, seq: 0, oseqHi: 0, seqHi: 0 },
    };
    if (req.mark && (req.mark.value || req.mark.mask)) sa.mark = { ...req.mark };
    return sa;
  }

  #normalize(cfg: SaConfig): { key: string; sa: SaState } {
    const bytes = encodeSa(cfg); // validation identical to the netlink backend
    const sa = decodeSa(bytes);
    bytes.fill(0);
    sa.current.addTime = nowSeconds();
    // Parts that never change while stored are shared (callers get clones).
    sa.replay = ZERO_REPLAY;
    sa.stats = ZERO_STATS;
    if (Object.keys(sa.lifetime).length === 0) sa.lifetime = NO_LIMITS;
    if (isAny(sa.selector)) sa.selector = ANY_SELECTOR[sa.selector.family];
    if (sa.mark && !sa.mark.value && !sa.mark.mask) delete sa.mark;
    return { key: saKey(sa.proto, sa.dst, sa.spi, sa.mark), sa };
  }

  /** Same as the kernel's NEWSA: EEXIST when dst/SPI/proto/mark is taken (larval SAs too). */
  addSa(cfg: SaConfig): Promise<void> {
    try {
      this.#check("XFRM_MSG_NEWSA");
      const { key, sa } = this.#normalize(cfg);
      if (this.#sas.has(key)) {
        wipeSa(sa);
        throw refuse("XFRM_MSG_NEWSA", Errno.EEXIST);
      }
      this.#insertSa(key, sa, false);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Same as the kernel's UPDSA: a larval SA is replaced whole; a complete SA
   * only takes the new lifetimes (the kernel keeps its keys); ESRCH if none.
   */
  updateSa(cfg: SaConfig): Promise<void> {
    try {
      this.#check("XFRM_MSG_UPDSA");
      const { key, sa } = this.#normalize(cfg);
      const old = this.#sas.get(key);
      if (!old) {
        wipeSa(sa);
        throw refuse("XFRM_MSG_UPDSA", Errno.ESRCH);
      }
      if (old.larval) {
        this.#removeSa(key, old);
        wipeSa(old.sa);
        this.#insertSa(key, sa, false);
      } else {
        for (const t of old.timers) clearTimeout(t);
        old.sa.lifetime = sa.lifetime;
        wipeSa(sa);
        this.#removeSa(key, old);
        this.#insertSa(key, old.sa, false);
      }
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Adds each SA in turn (no partial rollback, like a netlink batch). */
  async addSas(sas: SaConfig[], _perSend = 64): Promise<BatchOutcome[]> {
    const out: BatchOutcome[] = [];
    for (const sa of sas) {
      try {
        await this.addSa(sa);
        out.push(undefined);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        out.push(e);
      }
    }
    return out;
  }

  #find(id: SaId, ctx: string): [string, SaEntry] {
    this.#check(ctx);
    encodeSaId(id); // same validation as the netlink backend
    const key = saKey(id.proto, id.dst, id.spi, id.mark);
    const e = this.#sas.get(key);
    if (!e || (id.src !== undefined && !sameAddr(e.sa.src, id.src))) throw refuse(ctx, Errno.ESRCH);
    return [key, e];
  }

  /** Same as the kernel's GETSA: ESRCH if none. */
  getSa(id: SaId): Promise<SaState> {
    try {
      return Promise.resolve(cloneSa(this.#find(id, "XFRM_MSG_GETSA")[1].sa));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as the kernel's DELSA: ESRCH if none. */
  deleteSa(id: SaId): Promise<void> {
    try {
      const [key, e] = this.#find(id, "XFRM_MSG_DELSA");
      this.#removeSa(key, e);
      wipeSa(e.sa);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Newest first, like the kernel's dump. */
  listSas(): Promise<SaState[]> {
    this.#check("XFRM_MSG_GETSA dump");
    return Promise.resolve([...this.#sas.values()].reverse().map((e) => cloneSa(e.sa)));
  }

  /** Same as FLUSHSA (no error when empty). */
  flushSas(proto?: XfrmProto): Promise<void> {
    this.#check("XFRM_MSG_FLUSHSA");
    for (const [k, e] of [...this.#sas]) {
      if (!proto || e.sa.proto === proto) {
        this.#removeSa(k, e);
        wipeSa(e.sa);
      }
    }
    return Promise.resolve();
  }

  #genIndex(dir: PolicyDir): number {
    for (;;) {
      let idx = (this.#idxGen | DIR_NUM[dir]) >>> 0;
      this.#idxGen = (this.#idxGen + 8) >>> 0;
      if (idx === 0) idx = 8;
      let used = false;
      for (const e of this.#pols.values()) if (e.pol.index === idx) used = true;
      if (!used) return idx;
    }
  }

  #normalizePolicy(p: PolicyConfig): PolicyState {
    const pol = decodePolicy(encodePolicy(p));
    pol.current.addTime = nowSeconds();
    if (pol.mark && !pol.mark.value && !pol.mark.mask) delete pol.mark;
    return pol;
  }

  #insertPolicy(p: PolicyConfig, excl: boolean, ctx: string): void {
    this.#check(ctx);
    validatePolicy(p, ctx);
    const pol = this.#normalizePolicy(p);
    const key = polKey(pol.dir, pol.selector, pol.mark);
    const old = this.#pols.get(key);
    if (old && excl) throw refuse(ctx, Errno.EEXIST);
    pol.index = p.index || old?.pol.index || this.#genIndex(pol.dir);
    if (old) this.#dropPolicy(key, old);
    const e: PolEntry = { pol, seqNo: ++this.#polSeq, timers: [] };
    const lt = pol.lifetime;
    if (lt.softAddSeconds) {
      e.timers.push(this.#timer(lt.softAddSeconds * 1000, () => {
        if (this.#pols.get(key) === e) {
          this.#emit({ type: "polexpire", hard: false, policy: structuredClone(e.pol) });
        }
      }));
    }
    if (lt.hardAddSeconds) {
      e.timers.push(this.#timer(lt.hardAddSeconds * 1000, () => {
        if (this.#pols.get(key) !== e) return;
        this.#dropPolicy(key, e);
        this.#emit({ type: "polexpire", hard: true, policy: structuredClone(e.pol) });
      }));
    }
    this.#pols.set(key, e);
  }

  #dropPolicy(key: string, e: PolEntry): void {
    for (const t of e.timers) clearTimeout(t);
    this.#pols.delete(key);
  }

  /** Same as NEWPOLICY: EEXIST for the same selector, direction and mark. */
  addPolicy(p: PolicyConfig): Promise<void> {
    try {
      this.#insertPolicy(p, true, "XFRM_MSG_NEWPOLICY");
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as UPDPOLICY: inserts or replaces, keeping the replaced index. */
  updatePolicy(p: PolicyConfig): Promise<void> {
    try {
      this.#insertPolicy(p, false, "XFRM_MSG_UPDPOLICY");
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Adds each policy in turn. */
  async addPolicies(ps: PolicyConfig[], _perSend = 64): Promise<BatchOutcome[]> {
    const out: BatchOutcome[] = [];
    for (const p of ps) {
      try {
        await this.addPolicy(p);
        out.push(undefined);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        out.push(e);
      }
    }
    return out;
  }

  #findPolicy(id: PolicyId, ctx: string): [string, PolEntry] {
    this.#check(ctx);
    encodePolicyId(id); // same validation as the netlink backend
    if (id.index) {
      if ((id.index & 7) !== DIR_NUM[id.dir]) throw refuse(ctx, Errno.ENOENT);
      for (const [k, e] of this.#pols) if (e.pol.index === id.index) return [k, e];
      throw refuse(ctx, Errno.ENOENT);
    }
    const key = polKey(
      id.dir,
      id.selector!,
      id.mark && (id.mark.value || id.mark.mask) ? id.mark : undefined,
    );
    const e = this.#pols.get(key);
    if (!e) throw refuse(ctx, Errno.ENOENT);
    return [key, e];
  }

  /** Same as GETPOLICY: ENOENT if none. */
  getPolicy(id: PolicyId): Promise<PolicyState> {
    try {
      return Promise.resolve(structuredClone(this.#findPolicy(id, "XFRM_MSG_GETPOLICY")[1].pol));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as DELPOLICY: ENOENT if none. */
  deletePolicy(id: PolicyId): Promise<void> {
    try {
      const [key, e] = this.#findPolicy(id, "XFRM_MSG_DELPOLICY");
      this.#dropPolicy(key, e);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Newest first, like the kernel's dump. */
  listPolicies(): Promise<PolicyState[]> {
    this.#check("XFRM_MSG_GETPOLICY dump");
    return Promise.resolve(
      [...this.#pols.values()].sort((a, b) => b.seqNo - a.seqNo).map((e) => structuredClone(e.pol)),
    );
  }

  /** Same as FLUSHPOLICY. */
  flushPolicies(): Promise<void> {
    this.#check("XFRM_MSG_FLUSHPOLICY");
    for (const [k, e] of [...this.#pols]) this.#dropPolicy(k, e);
    return Promise.resolve();
  }

  /**
   * Simulates an outbound packet: finds the best (lowest priority value)
   * matching `out` policy; with no SA for one of its templates an ACQUIRE is
   * emitted (once per template until an SA appears or 30 s pass), otherwise
   * the SAs' counters grow and byte/packet lifetimes may expire them.
   */
  sendPacket(pkt: SimPacket): SimResult {
    this.#check("send packet");
    const src = parseAddr(pkt.src), dst = parseAddr(pkt.dst);
    let best: PolicyState | undefined;
    for (const { pol } of this.#pols.values()) {
      const s = pol.selector;
      if (pol.dir !== "out" || s.family !== src.family) continue;
      if (!prefixMatch(src.bytes, parseAddr(s.src).bytes, s.srcPrefixLen)) continue;
      if (!prefixMatch(dst.bytes, parseAddr(s.dst).bytes, s.dstPrefixLen)) continue;
      if (s.proto && s.proto !== (pkt.proto ?? 0)) continue;
      if (s.sport && s.sport !== (pkt.sport ?? 0)) continue;
      if (s.dport && s.dport !== (pkt.dport ?? 0)) continue;
      if (!best || pol.priority < best.priority) best = pol;
    }
    if (!best) return "bypass";
    if (best.action === "block") return "blocked";
    const used: [string, SaEntry][] = [];
    for (const t of best.templates) {
      const tdst = t.mode === "tunnel" ? t.dst : pkt.dst;
      const tsrc = t.mode === "tunnel" ? t.src : pkt.src;
      let found: [string, SaEntry] | undefined;
      for (const [k, e] of this.#sas) {
        const s = e.sa;
        if (e.larval || s.proto !== t.proto || s.mode !== t.mode) continue;
        if (t.reqid && s.reqid !== t.reqid) continue;
        if (t.spi && s.spi !== t.spi) continue;
        if (!sameAddr(s.dst, tdst) || !sameAddr(s.src, tsrc)) continue;
        found = [k, e];
        break;
      }
      if (!found) {
        if (t.level === "use") continue;
        const akey = `${t.proto}|${tsrc}|${tdst}|${t.reqid}`;
        const until = this.#pendingAcquire.get(akey);
        if (until === undefined || until < Date.now()) {
          this.#pendingAcquire.set(akey, Date.now() + ACQ_EXPIRES_SECONDS * 1000);
          const fam = parseAddr(tdst).family;
          const max = fam === "inet" ? 32 : 128;
          this.#emit({
            type: "acquire",
            seq: ++this.#acqSeq,
            dst: normAddr(tdst),
            src: normAddr(tsrc),
            proto: t.proto,
            selector: {
              family: src.family,
              src: normAddr(pkt.src),
              srcPrefixLen: max,
              dst: normAddr(pkt.dst),
              dstPrefixLen: max,
              proto: pkt.proto ?? 0,
              sport: pkt.sport ?? 0,
              dport: pkt.dport ?? 0,
              ifindex: 0,
            },
            policy: structuredClone(best),
          });
        }
        return "acquire";
      }
      used.push(found);
    }
    for (const [, e] of used) {
      const c = e.sa.current, lt = e.sa.lifetime;
      c.packets += 1;
      c.bytes += pkt.bytes ?? 100;
      if (!c.useTime) c.useTime = nowSeconds();
      if (
        (lt.hardBytes !== undefined && c.bytes >= lt.hardBytes) ||
        (lt.hardPackets !== undefined && c.packets >= lt.hardPackets)
      ) {
        this.#hardExpire(e);
      } else if (
        (lt.softBytes !== undefined && c.bytes >= lt.softBytes) ||
        (lt.softPackets !== undefined && c.packets >= lt.softPackets)
      ) {
        this.#softExpire(e);
      }
    }
    return "protected";
  }

  /** Subscribes to ACQUIRE / EXPIRE / POLEXPIRE events of this model. */
  subscribe(): Promise<EventSubscription> {
    this.#check("subscribe");
    const queue: XfrmEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const sink = {
      push: (e: XfrmEvent) => {
        queue.push(e);
        wake?.();
      },
      end: () => {
        ended = true;
        wake?.();
      },
    };
    this.#subs.add(sink);
    const subs = this.#subs;
    return Promise.resolve({
      async *[Symbol.asyncIterator](): AsyncGenerator<XfrmEvent> {
        while (!ended || queue.length) {
          const e = queue.shift();
          if (e) {
            yield e;
            continue;
          }
          // Keep the event loop alive while a subscriber waits (lifetime timers are unref'd).
          const keep = setInterval(() => {}, 1 << 30);
          try {
            await new Promise<void>((r) => (wake = r));
          } finally {
            clearInterval(keep);
          }
          wake = undefined;
        }
      },
      close() {
        subs.delete(sink);
        sink.end();
        return Promise.resolve();
      },
    });
  }

  /** Drops every SA (wiping keys) and policy, ends subscriptions. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flushSas();
    await this.flushPolicies();
    for (const s of [...this.#subs]) s.end();
    this.#subs.clear();
    this.#closed = true;
  }
}

function sameAddr(a: string, b: string): boolean {
  const x = parseAddr(a).bytes, y = parseAddr(b).bytes;
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function normAddr(a: string): string {
  const p = parseAddr(a);
  return formatAddr(p.family, p.bytes);
}
