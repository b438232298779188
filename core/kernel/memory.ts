/**
 * The in-memory backend of {@link KernelIpsec}: a model of the Linux XFRM
 * state and policy databases with the kernel's semantics (the same errno for
 * the same mistake, larval SAs from SPI allocation, index generation, update
 * rules, newest-first dumps, lifetime expiry events, ACQUIRE on traffic
 * without an SA). The contract suite in `tests/unit/kernel` and
 * `tests/integration/kernel`/`tests/vm/kernel` runs against this backend and
 * the real kernel alike, so the two cannot drift apart.
 *
 * Every request goes through the same validation as the netlink backend.
 * Policies are normalized through the same XFRM encoder and decoder; SAs
 * are normalized directly (the hot path of load tests: one SA costs about
 * 1 µs instead of an encode and decode), and a unit test checks that the
 * result equals the encoder/decoder round trip for every contract case.
 *
 * Time comes from an injected {@link TimerClock} (lifetimes, addTime,
 * ACQUIRE back-off) and SPIs from an injected {@link RandomSource}, so a
 * simulation drives it with a `ManualClock` and a `SeededRandom`.
 *
 * @module
 */
import { Errno, KernelError } from "./errors.ts";
import { normalizeAddr, parseAddr } from "./addr.ts";
import type {
  AllocSpiRequest,
  Flow,
  Lifetime,
  Mark,
  PolicyConfig,
  PolicyDir,
  PolicyId,
  PolicyState,
  SaConfig,
  SaId,
  SaState,
  Selector,
  XfrmEvent,
  XfrmProto,
} from "./model.ts";
import { redactKeyInspect } from "./model.ts";
import { anySelector, selectorMatches } from "./selector.ts";
import {
  checkSa,
  DIR_NUM,
  validateAllocSpi,
  validatePolicy,
  validatePolicyId,
  validateSaId,
} from "./validate.ts";
import { decodePolicy } from "./xfrm/decode.ts";
import { encodePolicy } from "./xfrm/encode.ts";
import type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";
import { systemClock, type TimerClock, type TimerId } from "../util/clock.ts";
import { type HeapEntry, IndexedHeap } from "../util/heap.ts";
import { randomBelow, type RandomSource, systemRandom } from "../util/random.ts";

/** Seconds a larval SA from {@link MemoryKernel.allocSpi} lives (the kernel's `xfrm_acq_expires`). */
export const ACQ_EXPIRES_SECONDS = 30;

/** One pending lifetime (or ACQUIRE back-off) deadline of the model. */
interface Deadline extends HeapEntry {
  fn: () => void;
}

/**
 * The model's deadlines on one timer of the clock: the shared heap by (time,
 * creation), with the clock armed for the earliest only. An SA used to set
 * two clock timers (soft and hard lifetime) and a larval SA one; with the
 * system clock each was a `setTimeout`, which cost more than the rest of
 * adding the SA. Cancelling removes the entry from the heap at once, so
 * memory follows the live SAs however many come and go.
 */
class Deadlines {
  readonly #clock: TimerClock;
  readonly #heap = new IndexedHeap<Deadline>();
  #seq = 0;
  #armed: TimerId | undefined;
  #armedAt = Infinity;

  constructor(clock: TimerClock) {
    this.#clock = clock;
  }

  /** Calls `fn` once the clock reaches `at`. */
  add(at: number, fn: () => void): Deadline {
    const d: Deadline = { at, seq: this.#seq++, idx: -1, fn };
    this.#heap.push(d);
    if (at < this.#armedAt) this.#arm(at);
    return d;
  }

  /** Cancels a deadline (ignored once fired or cancelled). */
  cancel(d: Deadline): void {
    this.#heap.remove(d);
    // The clock stays armed: a wake-up with nothing due only re-arms.
  }

  /** Cancels everything (the model is closed). */
  clear(): void {
    this.#heap.clear();
    if (this.#armed !== undefined) this.#clock.clearTimer(this.#armed);
    this.#armed = undefined;
    this.#armedAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#armed !== undefined) this.#clock.clearTimer(this.#armed);
    this.#armedAt = at;
    this.#armed = this.#clock.setTimer(at, () => this.#fire());
  }

  #fire(): void {
    this.#armed = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    for (let top = this.#heap.peek(); top !== undefined && top.at <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      top.fn();
    }
    const next = this.#heap.peek();
    if (next !== undefined && next.at < this.#armedAt) this.#arm(next.at);
  }
}

/** Options of {@link MemoryKernel}. */
export interface MemoryKernelOptions {
  /** Clock for lifetimes, `addTime` and ACQUIRE back-off (default {@link systemClock}). */
  clock?: TimerClock;
  /** Randomness for SPI allocation (default {@link systemRandom}). */
  random?: RandomSource;
}

interface PolEntry {
  pol: PolicyState;
  seqNo: number;
  timers: Deadline[] | undefined;
}

/** Freezes `o` and every object under it. */
function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null && !ArrayBuffer.isView(o) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function refuse(context: string, errno: number): KernelError {
  return KernelError.fromErrno("kernel", context, errno);
}

function markKey(m: Mark | undefined): string {
  return m ? `${m.value >>> 0}/${m.mask >>> 0}` : "0/0";
}

function sameMark(a: Mark | undefined, b: Mark | undefined): boolean {
  return ((a?.value ?? 0) >>> 0) === ((b?.value ?? 0) >>> 0) &&
    ((a?.mask ?? 0) >>> 0) === ((b?.mask ?? 0) >>> 0);
}

/** Key of a larval SA still without SPI: the parameters ALLOCSPI looks it up by. */
function larvalKey(r: AllocSpiRequest): string {
  return `${r.proto}|${normalizeAddr(r.src)}|${normalizeAddr(r.dst)}|${r.mode ?? "transport"}|${
    r.reqid ?? 0
  }|${markKey(r.mark && (r.mark.value || r.mark.mask) ? r.mark : undefined)}`;
}

function selKey(s: Selector): string {
  return `${s.family}|${normalizeAddr(s.src)}/${s.srcPrefixLen}|${
    normalizeAddr(s.dst)
  }/${s.dstPrefixLen}|${s.proto}|${s.sport}|${s.dport}|${s.ifindex}`;
}

/** `dir|src|dst` of a selector naming one host on each side, else undefined. */
function hostsKey(dir: PolicyDir, s: Selector): string | undefined {
  const max = s.family === "inet6" ? 128 : 32;
  if (s.srcPrefixLen !== max || s.dstPrefixLen !== max) return undefined;
  return `${dir}|${normalizeAddr(s.src)}|${normalizeAddr(s.dst)}`;
}

function polKey(dir: PolicyDir, s: Selector, mark: Mark | undefined): string {
  return `${dir}|${selKey(s)}|${markKey(mark)}`;
}

const NO_LIMITS: Lifetime = Object.freeze({});
const ANY_SELECTOR = {
  inet: Object.freeze(anySelector("inet")),
  inet6: Object.freeze(anySelector("inet6")),
};
const RESOLVED: Promise<void> = Promise.resolve();

function isAny(s: Selector): boolean {
  return !s.srcPrefixLen && !s.dstPrefixLen && !s.proto && !s.sport && !s.dport && !s.ifindex &&
    s.src === ANY_SELECTOR[s.family].src && s.dst === ANY_SELECTOR[s.family].dst;
}

/** Lifetime as the kernel reports it back: byte/packet limits as given, zero seconds dropped. */
function normLifetime(l: Lifetime | undefined): Lifetime {
  if (!l) return NO_LIMITS;
  const o: Lifetime = {};
  let n = 0;
  if (l.softBytes !== undefined) (o.softBytes = l.softBytes), n++;
  if (l.hardBytes !== undefined) (o.hardBytes = l.hardBytes), n++;
  if (l.softPackets !== undefined) (o.softPackets = l.softPackets), n++;
  if (l.hardPackets !== undefined) (o.hardPackets = l.hardPackets), n++;
  if (l.softAddSeconds) (o.softAddSeconds = l.softAddSeconds), n++;
  if (l.hardAddSeconds) (o.hardAddSeconds = l.hardAddSeconds), n++;
  if (l.softUseSeconds) (o.softUseSeconds = l.softUseSeconds), n++;
  if (l.hardUseSeconds) (o.hardUseSeconds = l.hardUseSeconds), n++;
  return n ? o : NO_LIMITS;
}

function normSelector(s: Selector | undefined, family: SaState["family"]): Selector {
  if (!s) return ANY_SELECTOR[family];
  const n: Selector = {
    family: s.family,
    src: normalizeAddr(s.src),
    srcPrefixLen: s.srcPrefixLen,
    dst: normalizeAddr(s.dst),
    dstPrefixLen: s.dstPrefixLen,
    proto: s.proto,
    sport: s.sport,
    dport: s.dport,
    ifindex: s.ifindex,
  };
  return isAny(n) ? ANY_SELECTOR[n.family] : n;
}

/**
 * One SA as the model stores it: flat fields and one key buffer (three
 * objects per SA instead of ten, which is most of what an add costs), with
 * the entry's bookkeeping. {@link StoredSa.state} builds the caller's copy.
 */
class StoredSa {
  /** In the table (false once deleted, expired or replaced). */
  live = false;
  /** Insertion order, for newest-first dumps. */
  order = 0;
  /** ALLOCSPI parameters while a larval SA has no SPI yet. */
  larvalKey: string | undefined = undefined;
  larval: boolean;
  timers: Deadline[] | undefined = undefined;
  softFired = false;
  src: string;
  dst: string;
  family: SaState["family"];
  proto: XfrmProto;
  spi: number;
  mode: SaState["mode"];
  reqid: number;
  replayWindow: number;
  flags: number;
  seq: number;
  lifetime: Lifetime;
  selector: Selector;
  mark: Mark | undefined;
  addTime: number;
  useTime = 0;
  bytes = 0;
  packets = 0;
  /** enc key, then auth key, then AEAD key. */
  keys: Uint8Array;
  encName: string | undefined;
  encLen: number;
  authName: string | undefined;
  authLen: number;
  truncBits: number;
  aeadName: string | undefined;
  icvBits: number;

  constructor(
    cfg: SaConfig,
    family: SaState["family"],
    src: string,
    dst: string,
    larval: boolean,
    addTime: number,
  ) {
    const flags = ((cfg.flags ?? 0) | (cfg.esn ? 128 : 0)) & 0xff;
    this.larval = larval;
    this.src = src;
    this.dst = dst;
    this.family = family;
    this.proto = cfg.proto;
    this.spi = cfg.spi;
    this.mode = cfg.mode;
    this.reqid = cfg.reqid ?? 0;
    this.replayWindow = cfg.replayWindow ?? 0;
    this.flags = flags;
    this.seq = cfg.acquireSeq ?? 0;
    this.lifetime = normLifetime(cfg.lifetime);
    this.selector = normSelector(cfg.selector, family);
    this.mark = cfg.mark && (cfg.mark.value || cfg.mark.mask)
      ? { value: cfg.mark.value >>> 0, mask: cfg.mark.mask >>> 0 }
      : undefined;
    this.addTime = addTime;
    // The keys are copied (the caller may wipe its own) into one allocation.
    const ek = cfg.enc?.key, ak = cfg.auth?.key, gk = cfg.aead?.key;
    this.encLen = ek?.length ?? 0;
    this.authLen = ak?.length ?? 0;
    const keys = this.keys = new Uint8Array(this.encLen + this.authLen + (gk?.length ?? 0));
    // byte loops: cheaper than TypedArray.prototype.set for keys this short
    let o = 0;
    if (ek) { for (let i = 0; i < ek.length; i++) keys[o++] = ek[i]!; }
    if (ak) { for (let i = 0; i < ak.length; i++) keys[o++] = ak[i]!; }
    if (gk) { for (let i = 0; i < gk.length; i++) keys[o++] = gk[i]!; }
    this.encName = cfg.enc?.name;
    this.authName = cfg.auth?.name;
    this.truncBits = cfg.auth?.truncBits ?? 0;
    this.aeadName = cfg.aead?.name;
    this.icvBits = cfg.aead?.icvBits ?? 0;
  }

  /** The SA as the kernel reports it: fresh objects, keys copied and hidden from `Deno.inspect` (left out without `withKeys`). */
  state(withKeys: boolean): SaState {
    const sa: SaState = {
      src: this.src,
      dst: this.dst,
      family: this.family,
      proto: this.proto,
      spi: this.spi,
      mode: this.mode,
      reqid: this.reqid,
      replayWindow: this.replayWindow,
      esn: (this.flags & 128) !== 0,
      lifetime: { ...this.lifetime },
      selector: { ...this.selector },
      flags: this.flags,
      seq: this.seq,
      current: {
        bytes: this.bytes,
        packets: this.packets,
        addTime: this.addTime,
        useTime: this.useTime,
      },
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      replay: { oseq: 0, seq: 0, oseqHi: 0, seqHi: 0 },
    };
    if (this.mark) sa.mark = { ...this.mark };
    if (!withKeys) return sa; // EXPIRE messages carry no algorithm attributes
    const k = this.keys, e = this.encLen, a = e + this.authLen;
    if (this.encName !== undefined) {
      sa.enc = redactKeyInspect({ name: this.encName, key: k.slice(0, e) });
    }
    if (this.authName !== undefined) {
      sa.auth = redactKeyInspect({
        name: this.authName,
        key: k.slice(e, a),
        truncBits: this.truncBits,
      });
    }
    if (this.aeadName !== undefined) {
      sa.aead = redactKeyInspect({ name: this.aeadName, key: k.slice(a), icvBits: this.icvBits });
    }
    return sa;
  }

  /** Zeroes the key material. */
  wipe(): void {
    this.keys.fill(0);
  }

  /** True for the SA with this protocol, (normalized) destination and mark. */
  is(proto: XfrmProto, dst: string, mark: Mark | undefined): boolean {
    return this.proto === proto && this.dst === dst && sameMark(this.mark, mark);
  }
}

/** Adds an SA to a by-path index (a path's lone SA is held without a Set). */
function indexPath(byPath: Map<string, StoredSa | Set<StoredSa>>, e: StoredSa): void {
  const pk = `${e.src}|${e.dst}`;
  const path = byPath.get(pk);
  if (path === undefined) byPath.set(pk, e);
  else if (path instanceof Set) path.add(e);
  else if (path !== e) byPath.set(pk, new Set([path, e]));
}

/**
 * The SA database, indexed like the kernel's `byspi` hash: by SPI (a number
 * key: no key string is built or hashed per operation), then protocol,
 * destination and mark. Larval SAs still without an SPI are held apart, by
 * their ALLOCSPI parameters. Dumps sort by insertion order.
 */
class SaTable {
  readonly #bySpi = new Map<number, StoredSa | StoredSa[]>();
  readonly #noSpi = new Map<string, StoredSa>();
  #order = 0;
  #size = 0;
  /**
   * SAs with an SPI by (source, destination): what a packet's template may
   * use. Built on the first {@link SaTable.path} (a packet simulated), kept
   * up to date from then on: a model that only stores SAs (a daemon's load
   * test, bench/xfrm_bench) pays nothing for it.
   */
  #byPath: Map<string, StoredSa | Set<StoredSa>> | undefined = undefined;

  get size(): number {
    return this.#size + this.#noSpi.size;
  }

  get(proto: XfrmProto, dst: string, spi: number, mark: Mark | undefined): StoredSa | undefined {
    const v = this.#bySpi.get(spi);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return v.is(proto, dst, mark) ? v : undefined;
    for (const e of v) if (e.is(proto, dst, mark)) return e;
    return undefined;
  }

  add(e: StoredSa): void {
    e.live = true;
    e.order = ++this.#order;
    if (e.larvalKey !== undefined) {
      this.#noSpi.set(e.larvalKey, e);
      return;
    }
    this.#size++;
    if (this.#byPath) indexPath(this.#byPath, e);
    const v = this.#bySpi.get(e.spi);
    if (v === undefined) this.#bySpi.set(e.spi, e);
    else if (Array.isArray(v)) v.push(e);
    else this.#bySpi.set(e.spi, [v, e]);
  }

  delete(e: StoredSa): void {
    if (!e.live) return;
    e.live = false;
    if (e.larvalKey !== undefined) {
      this.#noSpi.delete(e.larvalKey);
      return;
    }
    this.#size--;
    if (this.#byPath) {
      const pk = `${e.src}|${e.dst}`;
      const path = this.#byPath.get(pk);
      if (path === e) this.#byPath.delete(pk);
      else if (path instanceof Set && path.delete(e) && path.size === 0) this.#byPath.delete(pk);
    }
    const v = this.#bySpi.get(e.spi);
    if (v === e) this.#bySpi.delete(e.spi);
    else if (Array.isArray(v)) {
      const rest = v.filter((x) => x !== e);
      this.#bySpi.set(e.spi, rest.length === 1 ? rest[0]! : rest);
    }
  }

  /** The SAs (with an SPI) from `src` to `dst` (normalized addresses). */
  path(src: string, dst: string): Iterable<StoredSa> {
    if (!this.#byPath) {
      this.#byPath = new Map();
      for (const v of this.#bySpi.values()) {
        if (Array.isArray(v)) { for (const e of v) indexPath(this.#byPath, e); }
        else indexPath(this.#byPath, v);
      }
    }
    const path = this.#byPath.get(`${src}|${dst}`);
    return path === undefined ? [] : path instanceof Set ? path : [path];
  }

  larval(key: string): StoredSa | undefined {
    return this.#noSpi.get(key);
  }

  all(): StoredSa[] {
    const out = [...this.#noSpi.values()];
    for (const v of this.#bySpi.values()) {
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    }
    return out;
  }

  newestFirst(): StoredSa[] {
    return this.all().sort((a, b) => b.order - a.order);
  }
}

/**
 * The state the kernel reports for `cfg` (what an XFRM_MSG_NEWSA round trip
 * gives back), built directly after the netlink backend's validation.
 */
export function normalizeSa(cfg: SaConfig, addTime: number): SaState {
  const a = checkSa(cfg, "XFRM_MSG_NEWSA");
  return new StoredSa(cfg, a.family, a.src, a.dst, false, addTime).state(true);
}

/** Describes one packet for {@link MemoryKernel.sendPacket}. */
export interface SimPacket extends Flow {
  /** Octets (default 100). */
  bytes?: number;
}

/** What happened to a simulated packet. */
export type SimResult = "bypass" | "blocked" | "acquire" | "protected";

/** {@link KernelIpsec} held in memory, with the kernel's semantics. */
export class MemoryKernel implements KernelIpsec {
  /** Always `"memory"`. */
  readonly backend = "memory" as const;
  /** Always 0: the model holds only what it can describe. */
  readonly undecodable = 0;
  readonly #clock: TimerClock;
  readonly #deadlines: Deadlines;
  readonly #random: RandomSource;
  readonly #sas = new SaTable();
  readonly #pols = new Map<string, PolEntry>();
  readonly #polByIndex = new Map<number, string>();
  /**
   * Policies whose selector names one source and one destination host, by
   * direction and those hosts (Linux keeps such policies in its by-destination
   * hash too); the rest are scanned. A packet's policy lookup then reads its
   * own bucket and the few subnet policies instead of every policy (a hub of
   * 1,000 peers × 10 selectors has 30,000).
   */
  readonly #polHosts = new Map<string, Set<PolEntry>>();
  readonly #polNets = new Set<PolEntry>();
  readonly #subs = new Set<{ push(e: XfrmEvent): void; end(): void }>();
  /**
   * Larval (ACQUIRE-pending) flows by template (`proto|src|dst|reqid`), then
   * flow: until when no new ACQUIRE is raised for the flow. Installing an SA
   * replaces the larval state of the flows it covers (as xfrm_state_add
   * removes the ACQ state it completes), so a flow whose SA is later deleted
   * raises a new ACQUIRE at once; an expired entry is replaced when its flow is seen again.
   */
  readonly #pendingAcquire = new Map<string, Map<string, { until: number; flow: Flow }>>();
  #idxGen = 0;
  #polSeq = 0;
  #acqSeq = 0;
  #closed = false;

  /** An empty model; `opts` injects the clock and the randomness. */
  constructor(opts: MemoryKernelOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#deadlines = new Deadlines(this.#clock);
    this.#random = opts.random ?? systemRandom;
  }

  /** Number of SAs held (larval ones included). */
  get saCount(): number {
    return this.#sas.size;
  }

  /** Number of policies held. */
  get policyCount(): number {
    return this.#pols.size;
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  #check(context: string): void {
    if (this.#closed) throw new KernelError("closed", context, "backend closed");
  }

  #emit(e: XfrmEvent): void {
    for (const s of this.#subs) {
      s.push(e);
    }
  }

  #after(seconds: number, fn: () => void): Deadline {
    return this.#deadlines.add(this.#clock.now() + seconds * 1000, fn);
  }

  #clearTimers(timers: Deadline[] | undefined): void {
    if (timers) { for (const t of timers) this.#deadlines.cancel(t); }
  }

  #insertSa(e: StoredSa): void {
    if (!e.larval && this.#pendingAcquire.size > 0) {
      const gkey = `${e.proto}|${e.src}|${e.dst}|${e.reqid}`;
      const group = this.#pendingAcquire.get(gkey);
      if (group) {
        const any = isAny(e.selector);
        for (const [k, p] of group) {
          if (any || selectorMatches(e.selector, p.flow)) group.delete(k);
        }
        if (group.size === 0) this.#pendingAcquire.delete(gkey);
      }
    }
    e.softFired = false;
    e.timers = undefined;
    const lt = e.lifetime;
    if (lt.softAddSeconds || lt.hardAddSeconds) {
      e.timers = [];
      if (lt.softAddSeconds) {
        e.timers.push(this.#after(lt.softAddSeconds, () => this.#softExpire(e)));
      }
      if (lt.hardAddSeconds) {
        e.timers.push(this.#after(lt.hardAddSeconds, () => this.#hardExpire(e)));
      }
    }
    this.#sas.add(e);
  }

  #softExpire(e: StoredSa): void {
    if (!e.live || e.softFired) return;
    e.softFired = true;
    if (this.#subs.size) this.#emit({ type: "expire", hard: false, sa: e.state(false) });
  }

  #hardExpire(e: StoredSa): void {
    if (!e.live) return;
    this.#removeSa(e);
    if (this.#subs.size) this.#emit({ type: "expire", hard: true, sa: e.state(false) });
    e.wipe();
  }

  #removeSa(e: StoredSa): void {
    this.#clearTimers(e.timers);
    this.#sas.delete(e);
  }

  /** Same as the kernel's ALLOCSPI: a new larval SA with a free random SPI of the range; ENOENT when none is free. */
  allocSpi(req: AllocSpiRequest): Promise<number> {
    const ctx = "XFRM_MSG_ALLOCSPI";
    try {
      this.#check(ctx);
      validateAllocSpi(req, ctx); // exactly the netlink backend's validation
      // The kernel first finds or creates a larval SA without SPI for these
      // parameters, then picks the SPI; when none is free the larval SA stays.
      const lkey = larvalKey(req);
      let entry = this.#sas.larval(lkey);
      if (!entry) {
        entry = this.#larval(req, lkey);
        this.#insertSa(entry);
      }
      const min = req.min ?? 0x100, max = req.max ?? 0xffffffff;
      const dst = normalizeAddr(req.dst);
      const free = (spi: number) => !this.#sas.get(req.proto, dst, spi, req.mark);
      let spi = -1;
      if (min === max) {
        if (free(min)) spi = min;
      } else {
        const range = max - min + 1;
        for (let i = 0; i < Math.min(range, 4096) && spi < 0; i++) {
          const c = min + randomBelow(this.#random, range);
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
      this.#sas.delete(entry); // from the no-SPI table into the SPI index, keeping its timer
      entry.spi = spi;
      entry.larvalKey = undefined;
      this.#sas.add(entry);
      return Promise.resolve(spi);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #larval(req: AllocSpiRequest, lkey: string): StoredSa {
    const family = parseAddr(req.dst).family;
    const max = family === "inet" ? 32 : 128;
    const cfg: SaConfig = {
      src: req.src,
      dst: req.dst,
      proto: req.proto,
      spi: 0,
      mode: req.mode ?? "transport",
      lifetime: { hardAddSeconds: ACQ_EXPIRES_SECONDS },
      selector: {
        family,
        src: req.src,
        srcPrefixLen: max,
        dst: req.dst,
        dstPrefixLen: max,
        proto: 0,
        sport: 0,
        dport: 0,
        ifindex: 0,
      },
    };
    if (req.reqid !== undefined) cfg.reqid = req.reqid;
    if (req.acquireSeq !== undefined) cfg.acquireSeq = req.acquireSeq;
    if (req.mark) cfg.mark = req.mark;
    const e = new StoredSa(
      cfg,
      family,
      normalizeAddr(req.src),
      normalizeAddr(req.dst),
      true,
      this.#nowSeconds(),
    );
    e.larvalKey = lkey;
    return e;
  }

  /** Same as the kernel's NEWSA: EEXIST when dst/SPI/proto/mark is taken (larval SAs too). */
  addSa(cfg: SaConfig): Promise<void> {
    try {
      this.#check("XFRM_MSG_NEWSA");
      const a = checkSa(cfg, "XFRM_MSG_NEWSA"); // the netlink backend's validation
      if (this.#sas.get(cfg.proto, a.dst, cfg.spi, cfg.mark)) {
        throw refuse("XFRM_MSG_NEWSA", Errno.EEXIST);
      }
      this.#insertSa(new StoredSa(cfg, a.family, a.src, a.dst, false, this.#nowSeconds()));
      return RESOLVED;
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
      const a = checkSa(cfg, "XFRM_MSG_UPDSA");
      const old = this.#sas.get(cfg.proto, a.dst, cfg.spi, cfg.mark);
      if (!old) throw refuse("XFRM_MSG_UPDSA", Errno.ESRCH);
      this.#removeSa(old);
      if (old.larval) {
        old.wipe();
        this.#insertSa(new StoredSa(cfg, a.family, a.src, a.dst, false, this.#nowSeconds()));
      } else {
        old.lifetime = normLifetime(cfg.lifetime);
        this.#insertSa(old);
      }
      return RESOLVED;
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

  #find(id: SaId, ctx: string): StoredSa {
    this.#check(ctx);
    validateSaId(id, ctx); // same validation as the netlink backend
    const e = this.#sas.get(id.proto, normalizeAddr(id.dst), id.spi, id.mark);
    if (!e || (id.src !== undefined && e.src !== normalizeAddr(id.src))) {
      throw refuse(ctx, Errno.ESRCH);
    }
    return e;
  }

  /** Same as the kernel's GETSA: ESRCH if none. */
  getSa(id: SaId): Promise<SaState> {
    try {
      return Promise.resolve(this.#find(id, "XFRM_MSG_GETSA").state(true));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as the kernel's DELSA: ESRCH if none. */
  deleteSa(id: SaId): Promise<void> {
    try {
      const e = this.#find(id, "XFRM_MSG_DELSA");
      this.#removeSa(e);
      e.wipe();
      return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Newest first, like the kernel's dump. */
  listSas(): Promise<SaState[]> {
    try {
      this.#check("XFRM_MSG_GETSA dump");
      return Promise.resolve(this.#sas.newestFirst().map((e) => e.state(true)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as FLUSHSA (no error when empty). */
  flushSas(proto?: XfrmProto): Promise<void> {
    try {
      this.#check("XFRM_MSG_FLUSHSA");
      for (const e of this.#sas.all()) {
        if (!proto || e.proto === proto) {
          this.#removeSa(e);
          e.wipe();
        }
      }
      return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #genIndex(dir: PolicyDir): number {
    for (;;) {
      let idx = (this.#idxGen | DIR_NUM[dir]) >>> 0;
      this.#idxGen = (this.#idxGen + 8) >>> 0;
      if (idx === 0) idx = 8;
      if (!this.#polByIndex.has(idx)) return idx;
    }
  }

  #normalizePolicy(p: PolicyConfig): PolicyState {
    const pol = decodePolicy(encodePolicy(p));
    pol.current.addTime = this.#nowSeconds();
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
    // Never changed once stored: frozen, so ACQUIRE and expiry events carry the policy itself
    // (a receiver's mutation throws instead of corrupting the model; no copy per event).
    deepFreeze(pol);
    const e: PolEntry = { pol, seqNo: ++this.#polSeq, timers: undefined };
    const lt = pol.lifetime;
    if (lt.softAddSeconds || lt.hardAddSeconds) e.timers = [];
    if (lt.softAddSeconds) {
      e.timers!.push(this.#after(lt.softAddSeconds, () => {
        if (this.#pols.get(key) === e) {
          this.#emit({ type: "polexpire", hard: false, policy: e.pol });
        }
      }));
    }
    if (lt.hardAddSeconds) {
      e.timers!.push(this.#after(lt.hardAddSeconds, () => {
        if (this.#pols.get(key) !== e) return;
        this.#dropPolicy(key, e);
        this.#emit({ type: "polexpire", hard: true, policy: e.pol });
      }));
    }
    this.#pols.set(key, e);
    this.#polByIndex.set(pol.index, key);
    const hk = hostsKey(pol.dir, pol.selector);
    if (hk === undefined) this.#polNets.add(e);
    else {
      const b = this.#polHosts.get(hk);
      if (b) b.add(e);
      else this.#polHosts.set(hk, new Set([e]));
    }
  }

  #dropPolicy(key: string, e: PolEntry): void {
    this.#clearTimers(e.timers);
    this.#pols.delete(key);
    if (this.#polByIndex.get(e.pol.index) === key) this.#polByIndex.delete(e.pol.index);
    const hk = hostsKey(e.pol.dir, e.pol.selector);
    if (hk === undefined) this.#polNets.delete(e);
    else {
      const b = this.#polHosts.get(hk);
      b?.delete(e);
      if (b?.size === 0) this.#polHosts.delete(hk);
    }
  }

  /** Same as NEWPOLICY: EEXIST for the same selector, direction and mark. */
  addPolicy(p: PolicyConfig): Promise<void> {
    try {
      this.#insertPolicy(p, true, "XFRM_MSG_NEWPOLICY");
      return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as UPDPOLICY: inserts or replaces, keeping the replaced index. */
  updatePolicy(p: PolicyConfig): Promise<void> {
    try {
      this.#insertPolicy(p, false, "XFRM_MSG_UPDPOLICY");
      return RESOLVED;
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

  #findPolicy(id: PolicyId, ctx: string): [string, PolEntry] | undefined {
    this.#check(ctx);
    validatePolicyId(id, ctx); // same validation as the netlink backend
    if (id.index) {
      if ((id.index & 7) !== DIR_NUM[id.dir]) return undefined;
      const key = this.#polByIndex.get(id.index);
      const e = key === undefined ? undefined : this.#pols.get(key);
      return e && key !== undefined ? [key, e] : undefined;
    }
    const key = polKey(
      id.dir,
      id.selector!,
      id.mark && (id.mark.value || id.mark.mask) ? id.mark : undefined,
    );
    const e = this.#pols.get(key);
    return e ? [key, e] : undefined;
  }

  /** Same as GETPOLICY: ENOENT if none. */
  getPolicy(id: PolicyId): Promise<PolicyState> {
    try {
      const found = this.#findPolicy(id, "XFRM_MSG_GETPOLICY");
      if (!found) throw refuse("XFRM_MSG_GETPOLICY", Errno.ENOENT);
      return Promise.resolve(structuredClone(found[1].pol));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** GETPOLICY, `undefined` if none. */
  findPolicy(id: PolicyId): Promise<PolicyState | undefined> {
    try {
      const found = this.#findPolicy(id, "XFRM_MSG_GETPOLICY");
      return Promise.resolve(found ? structuredClone(found[1].pol) : undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #match(dir: PolicyDir, flow: Flow): PolEntry | undefined {
    let best: PolEntry | undefined;
    const consider = (e: PolEntry) => {
      const pol = e.pol;
      if (pol.dir !== dir || !selectorMatches(pol.selector, flow)) return;
      if (
        !best || pol.priority < best.pol.priority ||
        (pol.priority === best.pol.priority && e.seqNo < best.seqNo)
      ) best = e;
    };
    const hosts = this.#polHosts.get(
      `${dir}|${normalizeAddr(flow.src)}|${normalizeAddr(flow.dst)}`,
    );
    if (hosts) { for (const e of hosts) consider(e); }
    for (const e of this.#polNets) consider(e);
    return best;
  }

  /** The policy the kernel would apply to `flow` (lowest priority value, oldest on a tie). */
  matchPolicy(dir: PolicyDir, flow: Flow): Promise<PolicyState | undefined> {
    try {
      this.#check("match policy");
      parseAddr(flow.src, "match policy");
      parseAddr(flow.dst, "match policy");
      const e = this.#match(dir, flow);
      return Promise.resolve(e ? structuredClone(e.pol) : undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as DELPOLICY: ENOENT if none. */
  deletePolicy(id: PolicyId): Promise<void> {
    try {
      const found = this.#findPolicy(id, "XFRM_MSG_DELPOLICY");
      if (!found) throw refuse("XFRM_MSG_DELPOLICY", Errno.ENOENT);
      this.#dropPolicy(found[0], found[1]);
      return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Newest first, like the kernel's dump. */
  listPolicies(): Promise<PolicyState[]> {
    try {
      this.#check("XFRM_MSG_GETPOLICY dump");
      return Promise.resolve(
        [...this.#pols.values()].sort((a, b) => b.seqNo - a.seqNo).map((e) =>
          structuredClone(e.pol)
        ),
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as FLUSHPOLICY. */
  flushPolicies(): Promise<void> {
    try {
      this.#check("XFRM_MSG_FLUSHPOLICY");
      for (const [k, e] of [...this.#pols]) this.#dropPolicy(k, e);
      return RESOLVED;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Simulates an outbound packet: finds the `out` policy the kernel would
   * apply ({@link matchPolicy}); none or an `allow` policy without
   * templates lets it pass in clear ("bypass"); each template uses the
   * newest matching SA whose selector matches the packet (as
   * `xfrm_state_find`); with no SA for one of its required templates an
   * ACQUIRE is emitted (once per template and flow until 30 s pass), otherwise the SAs' counters grow and byte/packet
   * lifetimes may expire them.
   */
  sendPacket(pkt: SimPacket): SimResult {
    this.#check("send packet");
    const src = parseAddr(pkt.src, "send packet");
    parseAddr(pkt.dst, "send packet");
    const best = this.#match("out", pkt)?.pol;
    if (!best) return "bypass";
    if (best.action === "block") return "blocked";
    if (best.templates.length === 0) return "bypass";
    const used: StoredSa[] = [];
    for (const t of best.templates) {
      const tdst = t.mode === "tunnel" ? t.dst : pkt.dst;
      const tsrc = t.mode === "tunnel" ? t.src : pkt.src;
      const ndst = normalizeAddr(tdst), nsrc = normalizeAddr(tsrc);
      let found: StoredSa | undefined;
      for (const e of this.#sas.path(nsrc, ndst)) {
        const s = e;
        if (e.larval || s.proto !== t.proto || s.mode !== t.mode) continue;
        if (t.reqid && s.reqid !== t.reqid) continue;
        if (t.spi && s.spi !== t.spi) continue;
        if (s.dst !== ndst || s.src !== nsrc) continue;
        // xfrm_state_find: the SA's selector must match the flow (an SA negotiated for one
        // traffic selector never carries another's; that one gets its own ACQUIRE).
        if (!isAny(s.selector) && !selectorMatches(s.selector, pkt)) continue;
        if (!found || e.order > found.order) found = e; // the newest, as xfrm_state_find
      }
      if (!found) {
        if (t.level === "use") continue;
        // One ACQUIRE per flow, as Linux's larval (XFRM_STATE_ACQ) state carries the
        // flow's selector: another flow of the same policy raises its own.
        const gkey = `${t.proto}|${nsrc}|${ndst}|${t.reqid ?? 0}`;
        const fkey = `${normalizeAddr(pkt.src)}|${normalizeAddr(pkt.dst)}|${pkt.proto ?? 0}|${
          pkt.sport ?? 0
        }|${pkt.dport ?? 0}`;
        let group = this.#pendingAcquire.get(gkey);
        const until = group?.get(fkey)?.until;
        const now = this.#clock.now();
        if (until === undefined || until < now) {
          if (!group) this.#pendingAcquire.set(gkey, group = new Map());
          group.set(fkey, {
            until: now + ACQ_EXPIRES_SECONDS * 1000,
            flow: {
              src: pkt.src,
              dst: pkt.dst,
              proto: pkt.proto ?? 0,
              sport: pkt.sport ?? 0,
              dport: pkt.dport ?? 0,
            },
          });
          const max = src.family === "inet" ? 32 : 128;
          this.#emit({
            type: "acquire",
            seq: ++this.#acqSeq,
            dst: ndst,
            src: nsrc,
            proto: t.proto,
            selector: {
              family: src.family,
              src: normalizeAddr(pkt.src),
              srcPrefixLen: max,
              dst: normalizeAddr(pkt.dst),
              dstPrefixLen: max,
              proto: pkt.proto ?? 0,
              sport: pkt.sport ?? 0,
              dport: pkt.dport ?? 0,
              ifindex: 0,
            },
            policy: best,
          });
        }
        return "acquire";
      }
      used.push(found);
    }
    for (const e of used) {
      const c = e, lt = e.lifetime;
      c.packets += 1;
      c.bytes += pkt.bytes ?? 100;
      if (!c.useTime) c.useTime = this.#nowSeconds();
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
    try {
      this.#check("subscribe");
    } catch (e) {
      return Promise.reject(e);
    }
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
      undecodable: 0, // the model's events are typed: nothing to decode
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
    this.#deadlines.clear();
    this.#closed = true;
  }
}
