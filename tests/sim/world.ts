/**
 * The simulator's world: N gateways, each one KINK engine with its own
 * `MemoryKernel` and ticket client, a simulated network (per-link latency
 * and jitter, loss, duplication, reordering, partitions), one in-process KDC
 * and one virtual clock, all driven by a discrete-event loop. Everything
 * random comes from one seed (`SeededRandom.fork` per component), so a run
 * reproduces bit for bit; {@link World.digest} hashes every datagram sent and
 * every kernel operation run, in order, to prove it.
 *
 * The driver follows the contract in core/engine/api.ts: after every input
 * it drains `poll()`, sends datagrams into the network, runs kernel
 * operations on the gateway's `MemoryKernel` and feeds their results back as
 * events of the same virtual instant, gets tickets from the KDC (results
 * arrive after a KDC round trip), logs events, and calls `handleTimeout`
 * when the engine's `nextTimeout` comes.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type {
  Datagram,
  EngineApi,
  EngineConfig,
  EngineEvent,
  EngineSeams,
  KernelOp,
  KernelResult,
  PeerConfig,
  ProposalConfig,
  TicketResult,
} from "../../core/engine/api.ts";
import {
  type Credentials,
  decodeTicket,
  formatPrincipal,
  KerberosClient,
  KerberosError,
  parsePrincipal,
  ReplayCache,
  type ServiceKeyEntry,
} from "../../core/kerberos/mod.ts";
import {
  KernelError,
  MemoryKernel,
  type SaState,
  selector,
  type XfrmEvent,
  type XfrmProto,
} from "../../core/kernel/mod.ts";
import { randomBelow, randomUint32, SeededRandom } from "../../core/util/random.ts";
import { toHex } from "../../core/util/bytes.ts";
import { KinkError } from "../../core/errors.ts";
import { nextEpoch } from "../../core/engine/epoch.ts";
import { SimKdc } from "./kdc.ts";

/** The realm of every simulated gateway. */
export const SIM_REALM = "SIM.TEST";
/** Virtual time at which every run starts (2026-01-01T00:00:00Z). */
export const SIM_T0 = Date.UTC(2026, 0, 1);
/** KINK's UDP port. */
export const KINK_PORT = 910;

/** Constructor of the engine under test (core/engine/mod.ts `Engine`). */
export type EngineCtor = new (config: EngineConfig, seams: EngineSeams) => EngineApi;

/**
 * Loads the engine class, or returns why it cannot be loaded (the engine
 * may not be built yet: the simulator then reports the missing part).
 */
export async function loadEngine(): Promise<EngineCtor | string> {
  // A variable specifier keeps `deno check` of the simulator independent of
  // whether core/engine/mod.ts exports the class yet.
  const path = "../../core/engine/mod.ts";
  const mod = await import(path) as Record<string, unknown>;
  const ctor = mod["Engine"];
  if (typeof ctor !== "function") {
    return "engine not ready: core/engine/mod.ts exports no Engine class";
  }
  return ctor as EngineCtor;
}

/** Optional engine features the scenarios use when the engine has them. */
export interface EngineFeatures {
  /** KE payloads (PFS); the reason when missing. */
  pfs: true | string;
}

/**
 * Probes optional features by constructing an engine that uses them; a
 * feature whose configuration the engine refuses is reported with the
 * engine's own reason, and the scenarios leave it out.
 */
export function probeFeatures(engine: EngineCtor): EngineFeatures {
  const peer: PeerConfig = {
    name: "probe",
    address: "10.255.0.2",
    localAddress: "10.255.0.1",
    principal: `kink/probe.sim.test@${SIM_REALM}`,
    proposals: [{ protocols: [{ protocol: "esp", transforms: [{ id: 20, keyBits: 256 }] }] }],
    mode: "transport",
    pfsGroup: 14,
  };
  let pfs: true | string = true;
  try {
    new engine({
      identity: { principal: `kink/me.sim.test@${SIM_REALM}` },
      epoch: 1,
      peers: [peer],
    }, {
      random: new SeededRandom(1),
    });
  } catch (e) {
    pfs = e instanceof Error ? e.message : String(e);
  }
  return { pfs };
}

/** Network behaviour of one direction of a link. */
export interface LinkModel {
  /** One-way base latency, ms. */
  latencyMs: number;
  /** Uniform extra delay 0…jitterMs (reorders datagrams when larger than their spacing). */
  jitterMs: number;
  /** Probability a datagram is lost. */
  loss: number;
  /** Probability a datagram is delivered twice. */
  dup: number;
}

/** A gateway to create. */
export interface GatewaySpec {
  /** Host part of the principal (`kink/<host>@SIM.TEST`). */
  host: string;
  /** IPv4 address. */
  address: string;
  /** Enctypes of the gateway's keys. */
  enctypes: number[];
  /** The gateway has no service key, only a TGT: peers must use user-to-user. */
  userToUserOnly?: boolean;
  /** The gateway's clock minus true time, ms. */
  clockOffsetMs?: number;
}

/** One relationship between two gateways, configured on both. */
export interface PairSpec {
  a: number;
  b: number;
  /** Proposals of `a` and of `b` (a different first choice makes the exchange 3-way). */
  proposalsA: ProposalConfig[];
  proposalsB: ProposalConfig[];
  /** Traffic selectors used for ACQUIREs: UDP destination ports. */
  ports: number[];
  /** PFS group on both sides (14 or 19), if any. */
  pfsGroup?: number;
  /** PRF reading (both sides). */
  prf?: "racoon2" | "mit";
  /** Extra peer config on both sides. */
  extra?: Partial<PeerConfig>;
}

/** A logged engine event with where and when it happened. */
export interface LoggedEvent {
  at: number;
  gateway: number;
  /** How many times the gateway had restarted. */
  generation: number;
  event: EngineEvent;
  /** The log line as a daemon would write it. */
  line: string;
}

/** One ACQUIRE handed to an engine. */
export interface AcquireRecord {
  at: number;
  gateway: number;
  peer: number;
  port: number;
}

interface Gateway {
  index: number;
  /** The daemon's persisted replay cache: it survives a restart (RFC 4120 §3.2.3). */
  replayCache: ReplayCache;
  spec: GatewaySpec;
  principal: string;
  name: string;
  engine: EngineApi;
  kernel: MemoryKernel;
  /** kink's Kerberos client, on the SimKdc through its sender seam, with the gateway's clock. */
  tickets: KerberosClient;
  driverRandom: SeededRandom;
  scheduledTimeout: number | undefined;
  generation: number;
  epoch: number;
  tgt: Credentials | undefined;
  serviceKeys: ServiceKeyEntry[];
  peers: PeerConfig[];
}

type SimEvent =
  | { kind: "deliver"; to: number; from: number; data: Uint8Array; generation: number }
  | { kind: "kernel-result"; gw: number; id: number; result: KernelResult; generation: number }
  | { kind: "ticket-result"; gw: number; id: number; result: TicketResult; generation: number }
  | { kind: "kernel-event"; gw: number; event: XfrmEvent; generation: number }
  | { kind: "timeout"; gw: number; at: number; generation: number }
  | { kind: "action"; fn: () => void | Promise<void> };

interface Queued {
  at: number;
  seq: number;
  ev: SimEvent;
}

/** Options of a {@link World}. */
export interface WorldOptions {
  seed: number;
  engine: EngineCtor;
  gateways: GatewaySpec[];
  pairs: PairSpec[];
  /** Default link model. */
  link?: Partial<LinkModel>;
  /** KDC round trip, ms. Default 2. */
  kdcLatencyMs?: number;
  /** Time a ticket request takes to fail while the KDC is down, ms. Default 3000. */
  kdcTimeoutMs?: number;
  /** Engine config overrides for every gateway. */
  engineConfig?: Partial<EngineConfig>;
  /** Keep every sent datagram for replay attacks (default true). */
  record?: boolean;
}

const DEFAULT_LINK: LinkModel = { latencyMs: 5, jitterMs: 2, loss: 0, dup: 0 };

/** The simulated world; see the module documentation. */
export class World {
  /** Virtual (true) time, ms since the epoch. */
  now = SIM_T0;
  readonly seed: number;
  readonly kdc: SimKdc;
  readonly gateways: Gateway[] = [];
  readonly pairs: PairSpec[];
  /** Every engine event. */
  readonly events: LoggedEvent[] = [];
  /** Every ACQUIRE delivered to an engine. */
  readonly acquires: AcquireRecord[] = [];
  /** Every datagram sent: (from, to, data). */
  readonly sent: { at: number; from: number; to: number; data: Uint8Array }[] = [];
  /**
   * Every datagram delivered to an engine and not dropped by it (a replay is
   * a second delivery of one of these; re-sending one that was lost, or one
   * the engine refused, is a late delivery — see the README on why).
   */
  readonly delivered: { at: number; from: number; to: number; data: Uint8Array }[] = [];
  /** Key octets seen in kernel operations and tickets (searched for in logs). */
  readonly secrets = new Set<string>();
  /** Counters. */
  readonly stats = {
    datagrams: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    partitioned: 0,
    kernelOps: 0,
    kernelErrors: 0,
    tickets: 0,
    ticketFailures: 0,
    steps: 0,
    addSaEexist: 0,
    typedErrors: 0,
  };
  /** Typed errors the engine threw, by category. */
  readonly typedErrors = new Map<string, number>();
  /** Whether sent datagrams are kept in {@link sent} (for replay attacks). */
  record: boolean;
  /** Problems seen while running (engine threw, driver errors). */
  readonly problems: string[] = [];

  readonly #opts: WorldOptions;
  readonly #root: SeededRandom;
  readonly #netRandom: SeededRandom;
  readonly #kdcRandom: SeededRandom;
  readonly #hash = createHash("sha256");
  readonly #heap: Queued[] = [];
  #seq = 0;
  readonly #byAddress = new Map<string, number>();
  readonly #links = new Map<string, LinkModel>();
  readonly #partitions = new Set<string>();
  #linkDefault: LinkModel;
  #pumps: Promise<void>[] = [];

  private constructor(opts: WorldOptions) {
    this.#opts = opts;
    this.seed = opts.seed;
    this.pairs = opts.pairs;
    this.#root = new SeededRandom(opts.seed);
    this.#netRandom = this.#root.fork();
    this.#kdcRandom = this.#root.fork();
    this.#linkDefault = { ...DEFAULT_LINK, ...opts.link };
    this.record = opts.record ?? true;
    this.kdc = new SimKdc({
      realm: SIM_REALM,
      clock: { now: () => this.now },
      random: this.#kdcRandom,
      tgtEnctypes: [18, 20],
    });
  }

  /** Builds the world: KDC principals, kernels with policies, engines. */
  static async create(opts: WorldOptions): Promise<World> {
    const w = new World(opts);
    for (const [i, g] of opts.gateways.entries()) {
      w.#byAddress.set(g.address, i);
      const p = `kink/${g.host}`;
      const opt: { enctypes: number[]; userToUserOnly?: boolean } = { enctypes: g.enctypes };
      if (g.userToUserOnly) opt.userToUserOnly = true;
      w.kdc.addPrincipal(p, opt);
    }
    for (const [i] of opts.gateways.entries()) await w.#boot(i, 0);
    return w;
  }

  /** True time as gateway `i` reads it. */
  localNow(i: number): number {
    return this.now + (this.gateways[i]?.spec.clockOffsetMs ?? 0);
  }

  /** SHA-256 of every datagram and kernel operation so far (hex). */
  digest(): string {
    return this.#hash.copy().digest("hex");
  }

  // ---------------------------------------------------------------------------
  // Gateways

  #peerConfigs(i: number): PeerConfig[] {
    const g = this.#opts.gateways[i]!;
    const out: PeerConfig[] = [];
    for (const [k, pair] of this.pairs.entries()) {
      if (pair.a !== i && pair.b !== i) continue;
      const j = pair.a === i ? pair.b : pair.a;
      const other = this.#opts.gateways[j]!;
      const pc: PeerConfig = {
        name: `gw${j}`,
        address: other.address,
        port: KINK_PORT,
        localAddress: g.address,
        principal: `kink/${other.host}@${SIM_REALM}`,
        proposals: pair.a === i ? pair.proposalsA : pair.proposalsB,
        mode: "transport",
        reqid: 1000 + k,
        // Mirrored selectors (the pair's `a` side talks to port P of `b`; `b` answers from
        // it), sent as IDci/IDcr so the responder installs its SAs for the same selector.
        selectors: pair.ports.map((port) => ({
          local: g.address,
          remote: other.address,
          proto: 17,
          ...(pair.a === i ? { remotePort: port } : { localPort: port }),
        })),
        sendIds: true,
        ...pair.extra,
      };
      if (pair.pfsGroup !== undefined) pc.pfsGroup = pair.pfsGroup;
      if (pair.prf) pc.prf = pair.prf;
      if (other.userToUserOnly) pc.userToUser = true;
      out.push(pc);
    }
    return out;
  }

  async #boot(i: number, generation: number): Promise<void> {
    const spec = this.#opts.gateways[i]!;
    const principal = `kink/${spec.host}@${SIM_REALM}`;
    const compRandom = this.#root.fork();
    const engineRandom = compRandom.fork();
    const keys = this.kdc.keytab(`kink/${spec.host}`);
    for (const k of keys) this.#secret(k.key);
    const tickets = new KerberosClient(parsePrincipal(principal), { keytab: keys }, {
      send: (realm, req, signal) => this.kdc.handle(realm, req, signal),
      now: () => this.localNow(i),
      random: compRandom.fork(),
    });
    const peers = this.#peerConfigs(i);
    const kernel = new MemoryKernel();
    const replayCache = this.gateways[i]?.replayCache ??
      ReplayCache.open({
        skewMs: this.#opts.engineConfig?.skewMs ?? 300_000,
        firstStart: true,
        now: () => this.localNow(i),
      });
    const gw: Gateway = {
      index: i,
      replayCache,
      spec,
      principal,
      name: `gw${i}`,
      engine: undefined as unknown as EngineApi,
      kernel,
      tickets,
      driverRandom: compRandom.fork(),
      scheduledTimeout: undefined,
      generation,
      // The daemon's rule (core/daemon/state.ts claimEpoch): the POSIX second of the start,
      // but always after the previous start's epoch, also for a reboot within the same second.
      epoch: nextEpoch(this.localNow(i), this.gateways[i]?.epoch),
      tgt: undefined,
      serviceKeys: spec.userToUserOnly ? [] : keys,
      peers,
    };
    if (spec.userToUserOnly) {
      try {
        gw.tgt = await tickets.getTgt();
        this.#secret(gw.tgt.sessionKey.exportBytes());
      } catch (e) {
        this.problems.push(`gw${i}: no TGT at boot: ${(e as Error).message}`);
      }
    }
    const identity: EngineConfig["identity"] = { principal };
    if (gw.serviceKeys.length) identity.serviceKeys = gw.serviceKeys;
    if (gw.tgt) identity.tgt = gw.tgt;
    const config: EngineConfig = {
      ...this.#opts.engineConfig,
      identity,
      epoch: gw.epoch,
      peers,
    };
    gw.engine = new this.#opts.engine(config, { random: engineRandom, replayCache });
    this.gateways[i] = gw;
    // Outbound policies whose traffic triggers ACQUIREs.
    for (const pc of peers) {
      for (const sel of pc.selectors ?? []) {
        const pair = this.pairs[(pc.reqid ?? 1000) - 1000]!;
        const protos = (pair.a === i ? pair.proposalsA : pair.proposalsB)[0]!.protocols.map((
          p,
        ) => p.protocol);
        await kernel.addPolicy({
          selector: selector(`${sel.local}/32`, `${sel.remote}/32`, {
            proto: 17,
            dport: sel.remotePort ?? 0,
            sport: sel.localPort ?? 0,
          }),
          dir: "out",
          templates: protos.map((proto: XfrmProto) => ({
            proto,
            mode: "transport" as const,
            reqid: pc.reqid ?? 0,
          })),
        });
      }
    }
    const sub = await kernel.subscribe();
    this.#pumps.push((async () => {
      for await (const ev of sub) {
        if (this.gateways[i] !== gw) break;
        this.#push(this.now, { kind: "kernel-event", gw: i, event: ev, generation });
      }
    })());
  }

  /**
   * Restarts gateway `i`: a new engine (new epoch) and an empty kernel, as
   * after a reboot. The replay cache survives, as a daemon persists it.
   */
  async restart(i: number): Promise<void> {
    const old = this.gateways[i]!;
    await old.kernel.close();
    old.tickets.dispose();
    await this.#boot(i, old.generation + 1);
  }

  // ---------------------------------------------------------------------------
  // Network

  #linkKey(from: number, to: number): string {
    return `${from}>${to}`;
  }

  /** Sets the link model from `a` to `b` (and back unless `oneWay`). */
  setLink(a: number, b: number, m: Partial<LinkModel>, oneWay = false): void {
    this.#links.set(this.#linkKey(a, b), { ...this.#linkDefault, ...m });
    if (!oneWay) this.#links.set(this.#linkKey(b, a), { ...this.#linkDefault, ...m });
  }

  /** Sets the default link model. */
  setDefaultLink(m: Partial<LinkModel>): void {
    this.#linkDefault = { ...this.#linkDefault, ...m };
  }

  /** Cuts (or heals) the link between `a` and `b`, both ways. */
  partition(a: number, b: number, cut: boolean): void {
    for (const k of [this.#linkKey(a, b), this.#linkKey(b, a)]) {
      if (cut) this.#partitions.add(k);
      else this.#partitions.delete(k);
    }
  }

  #chance(p: number): boolean {
    return p > 0 && randomUint32(this.#netRandom) < p * 0x1_0000_0000;
  }

  #transmit(from: number, toAddress: string, data: Uint8Array): void {
    const to = this.#byAddress.get(toAddress);
    this.stats.datagrams++;
    this.#hash.update(`send ${from} ${toAddress} ${data.length}\n`);
    this.#hash.update(data);
    if (to === undefined) {
      this.problems.push(`gw${from} sent to unknown address ${toAddress}`);
      return;
    }
    if (this.record) this.sent.push({ at: this.now, from, to, data });
    this.inject(from, to, data);
  }

  /** Puts a datagram on the wire from `from` to `to` (also used to replay or forge). */
  inject(from: number, to: number, data: Uint8Array): void {
    const key = this.#linkKey(from, to);
    if (this.#partitions.has(key)) {
      this.stats.partitioned++;
      return;
    }
    const m = this.#links.get(key) ?? this.#linkDefault;
    if (this.#chance(m.loss)) {
      this.stats.lost++;
      return;
    }
    const copies = this.#chance(m.dup) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      const delay = m.latencyMs +
        (m.jitterMs > 0 ? randomBelow(this.#netRandom, m.jitterMs + 1) : 0);
      this.#push(this.now + delay, {
        kind: "deliver",
        to,
        from,
        data: data.slice(),
        generation: this.gateways[to]!.generation,
      });
    }
  }

  // ---------------------------------------------------------------------------
  // Traffic and commands

  /**
   * Gateway `i` sends a UDP packet of the pair's selector for `port` to
   * gateway `j` (to port `port` from the pair's `a` side, from it on the `b`
   * side): through its kernel's policy, which may ACQUIRE an SA (delivered
   * to the engine).
   */
  async traffic(i: number, j: number, port: number, bytes = 100): Promise<string> {
    const gw = this.gateways[i]!;
    const fromB = this.#pairOf(i, j)?.b === i;
    const r = gw.kernel.sendPacket({
      src: gw.spec.address,
      dst: this.#opts.gateways[j]!.address,
      proto: 17,
      ...(fromB ? { sport: port } : { dport: port }),
      bytes,
    });
    await settle();
    return r;
  }

  #pairIndex: Map<string, PairSpec> | undefined;

  #pairOf(i: number, j: number): PairSpec | undefined {
    if (!this.#pairIndex) {
      this.#pairIndex = new Map();
      for (const p of this.pairs) {
        this.#pairIndex.set(`${p.a}|${p.b}`, p);
        this.#pairIndex.set(`${p.b}|${p.a}`, p);
      }
    }
    return this.#pairIndex.get(`${i}|${j}`);
  }

  /** An operator command on gateway `i`. */
  async command(i: number, cmd: Parameters<EngineApi["command"]>[1]): Promise<void> {
    const gw = this.gateways[i]!;
    this.#guard(gw, "command", () => gw.engine.command(this.localNow(i), cmd));
    await this.#drain(gw);
  }

  /**
   * Any input to gateway `i`'s engine (`fn` gets the engine and the
   * gateway's local time), guarded and drained like the driver's own.
   */
  async input(i: number, what: string, fn: (e: EngineApi, now: number) => void): Promise<void> {
    const gw = this.gateways[i]!;
    this.#guard(gw, what, () => fn(gw.engine, this.localNow(i)));
    await this.#drain(gw);
  }

  /** Schedules `fn` at virtual time `at`. */
  at(at: number, fn: () => void | Promise<void>): void {
    this.#push(at, { kind: "action", fn });
  }

  // ---------------------------------------------------------------------------
  // The event loop

  #push(at: number, ev: SimEvent): void {
    const h = this.#heap;
    h.push({ at, seq: this.#seq++, ev });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Queued | undefined {
    const h = this.#heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Whether anything other than engine timers is pending (datagrams, kernel, tickets, actions). */
  busy(): boolean {
    return this.#heap.some((q) => q.ev.kind !== "timeout");
  }

  /** Runs every event up to `until` (virtual ms), then sets the clock there. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      const top = this.#heap[0];
      if (!top || top.at > until) break;
      this.#pop();
      if (top.at > this.now) this.now = top.at;
      this.stats.steps++;
      await this.#step(top.ev);
    }
    if (until > this.now) this.now = until;
  }

  /** Runs for `ms` of virtual time. */
  runFor(ms: number): Promise<void> {
    return this.runUntil(this.now + ms);
  }

  /**
   * Runs until nothing but engine timers is pending and no engine has a
   * transaction open, checking every `stepMs`; false if `budgetMs` passes first.
   */
  async runUntilQuiet(budgetMs: number, stepMs = 1000): Promise<boolean> {
    const end = this.now + budgetMs;
    while (this.now < end) {
      await this.runFor(stepMs);
      if (this.quiet()) return true;
    }
    return this.quiet();
  }

  /** No datagram, kernel result, ticket or action pending; no transaction or larval/dying SA pair. */
  quiet(): boolean {
    if (this.busy()) return false;
    for (const g of this.gateways) {
      const s = g.engine.status();
      if (s.transactions.length > 0) return false;
      if (s.saPairs.some((p) => p.state === "larval" || p.state === "dying")) return false;
    }
    return true;
  }

  async #step(ev: SimEvent): Promise<void> {
    switch (ev.kind) {
      case "action":
        await ev.fn();
        return;
      case "deliver": {
        const gw = this.gateways[ev.to]!;
        this.stats.delivered++;
        const mark = this.events.length;
        const from = this.#opts.gateways[ev.from]!;
        const d: Datagram = {
          data: ev.data,
          remote: { address: from.address, port: KINK_PORT },
          local: { address: gw.spec.address, port: KINK_PORT },
        };
        this.#guard(gw, "handleDatagram", () => gw.engine.handleDatagram(this.localNow(ev.to), d));
        await this.#drain(gw);
        const refused = this.events.slice(mark).some((e) => e.event.type === "dropped");
        if (this.record && !refused) {
          this.delivered.push({ at: this.now, from: ev.from, to: ev.to, data: ev.data });
        }
        return;
      }
      case "kernel-result": {
        const gw = this.gateways[ev.gw]!;
        if (gw.generation !== ev.generation) return;
        this.#guard(
          gw,
          "handleKernelResult",
          () => gw.engine.handleKernelResult(this.localNow(ev.gw), ev.id, ev.result),
        );
        await this.#drain(gw);
        return;
      }
      case "ticket-result": {
        const gw = this.gateways[ev.gw]!;
        if (gw.generation !== ev.generation) return;
        this.#guard(
          gw,
          "handleTicket",
          () => gw.engine.handleTicket(this.localNow(ev.gw), ev.id, ev.result),
        );
        await this.#drain(gw);
        return;
      }
      case "kernel-event": {
        const gw = this.gateways[ev.gw]!;
        if (gw.generation !== ev.generation) return;
        if (ev.event.type === "acquire") {
          const peer = this.#byAddress.get(ev.event.dst);
          this.acquires.push({
            at: this.now,
            gateway: ev.gw,
            peer: peer ?? -1,
            port: ev.event.selector.dport,
          });
        }
        this.#hash.update(`kevent ${ev.gw} ${ev.event.type}\n`);
        this.#guard(
          gw,
          "handleKernelEvent",
          () => gw.engine.handleKernelEvent(this.localNow(ev.gw), ev.event),
        );
        await this.#drain(gw);
        return;
      }
      case "timeout": {
        const gw = this.gateways[ev.gw]!;
        if (gw.generation !== ev.generation || gw.scheduledTimeout !== ev.at) return;
        gw.scheduledTimeout = undefined;
        const due = gw.engine.nextTimeout();
        if (due !== undefined && due <= this.localNow(ev.gw)) {
          this.#guard(gw, "handleTimeout", () => gw.engine.handleTimeout(this.localNow(ev.gw)));
        }
        await this.#drain(gw);
        return;
      }
    }
  }

  #guard(gw: Gateway, what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // A typed error is the engine refusing an input; the driver logs it and goes on.
      if (e instanceof KinkError) {
        this.stats.typedErrors++;
        this.typedErrors.set(e.category, (this.typedErrors.get(e.category) ?? 0) + 1);
        return;
      }
      this.problems.push(
        `gw${gw.index} ${what} threw at ${this.now - SIM_T0} ms: ${
          e instanceof Error ? `${e.name}: ${e.message}` : String(e)
        }`,
      );
    }
  }

  async #drain(gw: Gateway): Promise<void> {
    const i = gw.index;
    for (let n = 0;; n++) {
      if (n > 100_000) {
        this.problems.push(`gw${i}: poll() did not run dry after 100000 outputs`);
        break;
      }
      let out;
      try {
        out = gw.engine.poll();
      } catch (e) {
        this.problems.push(`gw${i} poll threw: ${(e as Error).message}`);
        break;
      }
      if (out === undefined) break;
      switch (out.kind) {
        case "send":
          this.#transmit(i, out.remote.address, out.data);
          break;
        case "event": {
          const line = `${this.now - SIM_T0} gw${i} ${JSON.stringify(out.event)}`;
          this.events.push({
            at: this.now,
            gateway: i,
            generation: gw.generation,
            event: out.event,
            line,
          });
          break;
        }
        case "kernel": {
          const result = await this.#kernelOp(gw, out.op);
          this.#push(this.now, {
            kind: "kernel-result",
            gw: i,
            id: out.id,
            result,
            generation: gw.generation,
          });
          break;
        }
        case "ticket": {
          const { result, delay } = await this.#ticket(gw, out.request);
          this.#push(this.now + delay, {
            kind: "ticket-result",
            gw: i,
            id: out.id,
            result,
            generation: gw.generation,
          });
          break;
        }
      }
    }
    const t = gw.engine.nextTimeout();
    if (t !== undefined && t !== gw.scheduledTimeout) {
      gw.scheduledTimeout = t;
      // The engine speaks its own clock; the loop runs on true time.
      const at = Math.max(this.now, t - (gw.spec.clockOffsetMs ?? 0));
      this.#push(at, { kind: "timeout", gw: i, at: t, generation: gw.generation });
    }
  }

  #secret(k: Uint8Array | undefined): void {
    if (k && k.length >= 8) this.secrets.add(toHex(k));
  }

  async #kernelOp(gw: Gateway, op: KernelOp): Promise<KernelResult> {
    this.stats.kernelOps++;
    this.#hash.update(`kop ${gw.index} ${stableJson(op)}\n`);
    const k = gw.kernel;
    try {
      switch (op.kind) {
        case "allocSpi": {
          // The kernel picks a random free SPI of the range; the simulator
          // picks it from the seed so that a run reproduces.
          const min = op.request.min ?? 0x100, max = op.request.max ?? 0xffffffff;
          let lastErr: unknown;
          for (let t = 0; t < 16; t++) {
            const spi = min + randomBelow(gw.driverRandom, max - min + 1);
            try {
              const got = await k.allocSpi({ ...op.request, min: spi, max: spi });
              return { ok: true, spi: got };
            } catch (e) {
              lastErr = e;
            }
          }
          throw lastErr;
        }
        case "addSa":
          for (const a of [op.sa.enc, op.sa.auth, op.sa.aead]) this.#secret(a?.key);
          await k.addSa(op.sa);
          return { ok: true };
        case "updateSa":
          for (const a of [op.sa.enc, op.sa.auth, op.sa.aead]) this.#secret(a?.key);
          await k.updateSa(op.sa);
          return { ok: true };
        case "deleteSa":
          await k.deleteSa(op.id);
          return { ok: true };
        case "getSa":
          return { ok: true, sa: await k.getSa(op.id) };
      }
    } catch (e) {
      this.stats.kernelErrors++;
      if (op.kind === "addSa" && e instanceof KernelError && /EEXIST/.test(e.message)) {
        this.stats.addSaEexist++;
      }
      this.#hash.update(`kerr ${(e as Error).message}\n`);
      return { ok: false, error: e instanceof Error ? e : new Error(String(e)) };
    }
  }

  async #ticket(
    gw: Gateway,
    req: { server: string; peerTgt?: Uint8Array; fresh?: boolean },
  ): Promise<{ result: TicketResult; delay: number }> {
    this.stats.tickets++;
    const latency = this.#opts.kdcLatencyMs ?? 2;
    if (!this.kdc.available) {
      this.stats.ticketFailures++;
      return {
        result: { ok: false, message: "KDC unreachable (simulated outage)" },
        delay: this.#opts.kdcTimeoutMs ?? 3000,
      };
    }
    try {
      const server = parsePrincipal(req.server);
      let c;
      if (req.peerTgt) {
        c = await gw.tickets.getServiceTicket(server, { peerTgt: decodeTicket(req.peerTgt) });
      } else if (req.fresh) {
        c = await gw.tickets.tgsExchange(await gw.tickets.getTgt(), server);
        gw.tickets.addCredentials(c);
      } else {
        c = await gw.tickets.getServiceTicket(server);
      }
      for (const x of gw.tickets.credentials()) this.#secret(x.sessionKey.exportBytes());
      this.#secret(c.sessionKey.exportBytes());
      return { result: { ok: true, credentials: c }, delay: latency };
    } catch (e) {
      this.stats.ticketFailures++;
      const r: TicketResult = { ok: false, message: (e as Error).message };
      if (e instanceof KerberosError && e.errorCode !== undefined) r.errorCode = e.errorCode;
      return { result: r, delay: latency };
    }
  }

  // ---------------------------------------------------------------------------
  // Inspection

  /** Every SA in gateway `i`'s kernel. */
  sas(i: number): Promise<SaState[]> {
    return this.gateways[i]!.kernel.listSas();
  }

  /** Gateway index of an address. */
  gatewayAt(address: string): number | undefined {
    return this.#byAddress.get(address);
  }

  /** Name of gateway i's principal. */
  principalOf(i: number): string {
    return formatPrincipal(parsePrincipal(this.gateways[i]!.principal));
  }

  /** Stops the kernel event pumps. */
  async close(): Promise<void> {
    for (const g of this.gateways) await g.kernel.close();
    await Promise.all(this.#pumps);
    for (const g of this.gateways) g.tickets.dispose();
  }
}

function less(a: Queued, b: Queued): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets pending promise callbacks (kernel event pumps) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 8; i++) await Promise.resolve();
}

/** JSON with sorted keys, octets as hex: a stable text of a value. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x instanceof Uint8Array) return toHex(x);
    if (typeof x === "bigint") return x.toString();
    if (x && typeof x === "object" && !Array.isArray(x)) {
      return Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]));
    }
    return x;
  });
}
