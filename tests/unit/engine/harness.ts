/**
 * Test harness for the protocol engine: gateways (an {@link Engine} with its
 * own {@link MemoryKernel}), a ticket office that issues real Kerberos
 * tickets (DER, encrypted under the service keys, key usage 2) from kink's
 * Kerberos messages, and a pump that moves datagrams between engines on a
 * virtual clock, with optional loss / duplication decided by a seeded PRNG.
 *
 * The sim engineer's `tests/sim/` is the full simulator; this is the small
 * in-process driver the engine's own unit tests need.
 */
import {
  type Credentials,
  decodeEncTicketPart,
  decodeTicket,
  encodeEncTicketPart,
  encodeTicket,
  KeyUsage,
  parsePrincipal,
  type Principal,
  ReplayCache,
  type ServiceKeyEntry,
} from "../../../core/kerberos/mod.ts";
import { decrypt, encrypt, Key } from "../../../core/crypto/mod.ts";
import { MemoryKernel, type SaState } from "../../../core/kernel/mod.ts";
import { type RandomSource, SeededRandom } from "../../../core/util/random.ts";
import {
  Engine,
  type EngineConfig,
  type EngineEvent,
  type EngineOutput,
  nextEpoch,
  type PeerConfig,
  type TicketRequest,
} from "../../../core/engine/mod.ts";

/** Issues tickets for clients to services whose keys it knows (an in-test KDC). */
export class TicketOffice {
  readonly #keys = new Map<string, { key: Key; kvno: number }>();
  readonly #random: RandomSource;
  /** Sessions keys issued (disposed by {@link dispose}). */
  readonly issued: Key[] = [];
  /** Number of tickets issued. */
  count = 0;
  /** Enctype of the session keys issued from now on (17–20). */
  sessionEnctype: 17 | 18 | 19 | 20 = 18;

  constructor(random: RandomSource) {
    this.#random = random;
  }

  /** Creates a service key for `principal`; returns its keytab entry. */
  addService(principal: string, kvno = 3): ServiceKeyEntry {
    const key = Key.random(18, this.#random);
    this.#keys.set(principal, { key, kvno });
    const bytes = key.exportBytes();
    return { principal: parsePrincipal(principal), kvno, enctype: 18, key: bytes };
  }

  /** Registers an existing service key. */
  setServiceKey(principal: string, key: Key, kvno: number): void {
    this.#keys.set(principal, { key, kvno });
  }

  /**
   * A user-to-user ticket for `client` to `server`, encrypted in the session
   * key of `peerTgt` (the server's TGT, which this office decrypts with the
   * krbtgt key), as a KDC does for enc-tkt-in-skey.
   */
  issueU2U(client: string, server: string, peerTgt: Uint8Array, now: number): Credentials {
    const t = decodeTicket(peerTgt);
    const tgs = this.#keys.get(`krbtgt/${t.realm}@${t.realm}`);
    if (!tgs) throw new Error("no krbtgt key");
    const part = decodeEncTicketPart(decrypt(tgs.key, KeyUsage.KDC_REP_TICKET, t.encPart.cipher));
    const skey = Key.fromBytes(part.key.keytype, part.key.keyvalue);
    this.issued.push(skey);
    const c = this.#issue(client, server, now, 10 * 3600_000, { key: skey, kvno: undefined });
    c.userToUser = true;
    return c;
  }

  /** A ticket for `client` to `server`, valid from `now` for `lifeMs`. */
  issue(client: string, server: string, now: number, lifeMs = 10 * 3600_000): Credentials {
    const svc = this.#keys.get(server);
    if (!svc) throw new Error(`no key for ${server}`);
    return this.#issue(client, server, now, lifeMs, svc);
  }

  #issue(
    client: string,
    server: string,
    now: number,
    lifeMs: number,
    svc: { key: Key; kvno: number | undefined },
  ): Credentials {
    const c: Principal = parsePrincipal(client);
    const s: Principal = parsePrincipal(server);
    const session = Key.random(this.sessionEnctype, this.#random);
    this.issued.push(session);
    const kv = session.exportBytes();
    const authtime = new Date(Math.floor(now / 1000) * 1000);
    const endtime = new Date(Math.floor((now + lifeMs) / 1000) * 1000);
    const part = encodeEncTicketPart({
      flags: 0,
      key: { keytype: this.sessionEnctype, keyvalue: kv },
      crealm: c.realm,
      cname: { nameType: c.nameType, components: c.components },
      transited: { trType: 1, contents: new Uint8Array(0) },
      authtime,
      endtime,
    });
    kv.fill(0);
    const cipher = encrypt(svc.key, KeyUsage.KDC_REP_TICKET, part, this.#random);
    const raw = encodeTicket({
      tktVno: 5,
      realm: s.realm,
      sname: { nameType: s.nameType, components: s.components },
      encPart: svc.kvno === undefined
        ? { etype: svc.key.enctype, cipher }
        : { etype: svc.key.enctype, kvno: svc.kvno, cipher },
    });
    this.count++;
    return {
      client: c,
      server: s,
      ticket: decodeTicket(raw),
      sessionKey: session,
      flags: 0,
      authtime,
      endtime,
    };
  }

  /** Disposes every key. */
  dispose(): void {
    for (const k of this.issued) k.dispose();
    for (const v of this.#keys.values()) v.key.dispose();
  }
}

/** One gateway under test. */
export interface Gateway {
  name: string;
  address: string;
  principal: string;
  engine: Engine;
  kernel: MemoryKernel;
  events: EngineEvent[];
  /** Received datagrams are dropped while false (a partitioned / stopped gateway). */
  up: boolean;
  /** Every datagram this gateway sent. */
  sent: Uint8Array[];
  /** When each of `sent` was sent (network time). */
  sentAt: number[];
  /** When each of `events` was reported (network time). */
  eventAt: number[];
  /** This gateway's clock minus the network's (clock skew). */
  offset: number;
  /** The configuration it was built with. */
  config: EngineConfig;
  /** Its replay cache (kept across restarts). */
  replay: ReplayCache;
}

/** A network of gateways on a virtual clock. */
export class Net {
  now: number;
  readonly random: SeededRandom;
  readonly office: TicketOffice;
  readonly gateways = new Map<string, Gateway>();
  readonly #byAddr = new Map<string, Gateway>();
  #hasKrbtgt = false;
  /** Probability that a datagram is lost. */
  loss = 0;
  /** Probability that a datagram is delivered twice. */
  dup = 0;
  /** One-way delay, ms. */
  delay = 5;
  #queue: { at: number; to: Gateway; from: string; data: Uint8Array; seq: number }[] = [];
  #seq = 0;
  /** Optional hook to inspect/alter/drop datagrams in flight (return undefined to drop). */
  tap: ((from: string, to: string, data: Uint8Array) => Uint8Array | undefined) | undefined;
  /** Services the KDC issues only user-to-user tickets for (else KDC_ERR_MUST_USE_USER2USER). */
  readonly u2uOnly = new Set<string>();
  /** Ticket requests fail with this error code when set (KDC unavailable / errors). */
  ticketError: { errorCode?: number; message: string } | undefined;
  /** Every ticket request, by gateway name, in order. */
  readonly ticketRequests: { gateway: string; request: TicketRequest }[] = [];
  /**
   * When set, the next service ticket is issued as if at `now − backdateNextTicketMs`
   * (a stale ticket handed out from a cache); reset after one ticket.
   */
  backdateNextTicketMs = 0;

  constructor(seed: number, start = Date.UTC(2026, 10, 27, 0, 39, 5)) {
    this.now = start;
    this.random = new SeededRandom(seed);
    this.office = new TicketOffice(this.random.fork());
  }

  /** Adds a gateway (its service key is created in the office). */
  add(
    name: string,
    address: string,
    peers: (Omit<PeerConfig, "localAddress"> & { localAddress?: string })[],
    extra: Partial<EngineConfig> & { tgtOnly?: boolean } = {},
  ): Gateway {
    const principal = `kink/${name}.kink.test@KINK.TEST`;
    const entry = this.office.addService(principal);
    let identity: EngineConfig["identity"] = { principal, serviceKeys: [entry] };
    if (extra.identity?.tgt === undefined && (extra as { tgtOnly?: boolean }).tgtOnly) {
      // A gateway with only a TGT (no keytab): the user-to-user case.
      if (!this.#hasKrbtgt) {
        this.office.addService("krbtgt/KINK.TEST@KINK.TEST");
        this.#hasKrbtgt = true;
      }
      identity = {
        principal,
        tgt: this.office.issue(principal, "krbtgt/KINK.TEST@KINK.TEST", this.now),
      };
    }
    const { tgtOnly: _t, ...rest } = extra as { tgtOnly?: boolean };
    const config: EngineConfig = {
      identity,
      epoch: Math.floor(this.now / 1000) >>> 0,
      peers: peers.map((p) => ({ ...p, localAddress: p.localAddress ?? address })),
      ...rest,
    };
    // The replay cache outlives engine restarts (a persisted cache, as a daemon keeps).
    const replay = ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => this.now });
    const engine = new Engine(config, { random: this.random.fork(), replayCache: replay });
    const g: Gateway = {
      name,
      address,
      principal,
      engine,
      kernel: new MemoryKernel(),
      events: [],
      up: true,
      sent: [],
      sentAt: [],
      eventAt: [],
      offset: 0,
      config,
      replay,
    };
    this.gateways.set(name, g);
    this.#byAddr.set(address, g);
    return g;
  }

  /**
   * Restarts a gateway: a new engine (new epoch as a daemon chooses it —
   * `nextEpoch` — unless given, empty state)
   * over a flushed kernel. `random` lets a test force e.g. the XID start.
   */
  async restart(
    g: Gateway,
    o: { epoch?: number; random?: RandomSource; lostReplayCache?: boolean } = {},
  ): Promise<void> {
    await g.kernel.flushSas();
    g.config = { ...g.config, epoch: o.epoch ?? nextEpoch(this.now, g.config.epoch) };
    g.engine = o.lostReplayCache
      ? new Engine(g.config, { random: o.random ?? this.random.fork() })
      : new Engine(g.config, { random: o.random ?? this.random.fork(), replayCache: g.replay });
  }

  /** Drains every engine's outputs, running kernel ops and ticket requests. */
  async drain(): Promise<void> {
    for (let round = 0; round < 10_000; round++) {
      let any = false;
      for (const g of this.gateways.values()) {
        for (let o = g.engine.poll(); o; o = g.engine.poll()) {
          any = true;
          await this.#perform(g, o);
        }
      }
      if (!any) return;
    }
    throw new Error("drain did not settle");
  }

  async #perform(g: Gateway, o: EngineOutput): Promise<void> {
    switch (o.kind) {
      case "event":
        g.events.push(o.event);
        g.eventAt.push(this.now);
        return;
      case "send": {
        g.sent.push(o.data);
        g.sentAt.push(this.now);
        const to = this.#byAddr.get(o.remote.address);
        if (!to) return;
        if (this.random.nextUint32() / 2 ** 32 < this.loss) return;
        const copies = this.random.nextUint32() / 2 ** 32 < this.dup ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          this.#queue.push({
            at: this.now + this.delay + i,
            to,
            from: g.address,
            data: o.data.slice(),
            seq: this.#seq++,
          });
        }
        return;
      }
      case "ticket": {
        if (this.ticketError) {
          g.engine.handleTicket(this.now + g.offset, o.id, { ok: false, ...this.ticketError });
          return;
        }
        const req = o.request;
        this.ticketRequests.push({ gateway: g.name, request: req });
        if (!req.peerTgt && this.u2uOnly.has(req.server)) {
          g.engine.handleTicket(this.now + g.offset, o.id, {
            ok: false,
            errorCode: 27,
            message: "KDC_ERR_MUST_USE_USER2USER",
          });
          return;
        }
        let cred: Credentials;
        try {
          cred = req.peerTgt
            ? this.office.issueU2U(g.principal, req.server, req.peerTgt, this.now)
            : this.office.issue(g.principal, req.server, this.now - this.backdateNextTicketMs);
          this.backdateNextTicketMs = 0;
        } catch (e) {
          g.engine.handleTicket(this.now + g.offset, o.id, { ok: false, message: String(e) });
          return;
        }
        g.engine.handleTicket(this.now + g.offset, o.id, { ok: true, credentials: cred });
        return;
      }
      case "kernel": {
        const k = g.kernel;
        try {
          const op = o.op;
          switch (op.kind) {
            case "allocSpi": {
              // The SPI comes from the seeded generator (MemoryKernel draws from Math.random).
              let spi = 0;
              for (let i = 0; i < 100 && !spi; i++) {
                const c = 0x100 + (this.random.nextUint32() % 0xfffffe00);
                try {
                  spi = await k.allocSpi({ ...op.request, min: c, max: c });
                } catch {
                  spi = 0;
                }
              }
              g.engine.handleKernelResult(this.now + g.offset, o.id, { ok: true, spi });
              return;
            }
            case "addSa":
              await k.addSa(op.sa);
              break;
            case "updateSa":
              await k.updateSa(op.sa);
              break;
            case "deleteSa":
              await k.deleteSa(op.id);
              break;
            case "getSa":
              g.engine.handleKernelResult(this.now + g.offset, o.id, {
                ok: true,
                sa: await k.getSa(op.id),
              });
              return;
          }
          g.engine.handleKernelResult(this.now + g.offset, o.id, { ok: true });
        } catch (e) {
          g.engine.handleKernelResult(this.now + g.offset, o.id, { ok: false, error: e as Error });
        }
      }
    }
  }

  /** Runs until nothing is in flight and no timer is due before `until`. */
  async run(until: number): Promise<void> {
    for (let i = 0; i < 1_000_000; i++) {
      await this.drain();
      let next = Infinity;
      for (const q of this.#queue) next = Math.min(next, q.at);
      for (const g of this.gateways.values()) {
        const t = g.engine.nextTimeout();
        if (t !== undefined) next = Math.min(next, t - g.offset);
      }
      if (next === Infinity || next > until) {
        this.now = Math.max(this.now, until);
        return;
      }
      this.now = Math.max(this.now, next);
      const due = this.#queue.filter((q) => q.at <= this.now).sort((a, b) =>
        a.at - b.at || a.seq - b.seq
      );
      this.#queue = this.#queue.filter((q) => q.at > this.now);
      for (const q of due) {
        if (!q.to.up) continue;
        const data = this.tap ? this.tap(q.from, q.to.address, q.data) : q.data;
        if (!data) continue;
        q.to.engine.handleDatagram(this.now + q.to.offset, {
          data,
          remote: { address: q.from, port: 910 },
          local: { address: q.to.address, port: 910 },
        });
      }
      for (const g of this.gateways.values()) {
        const t = g.engine.nextTimeout();
        if (t !== undefined && t - g.offset <= this.now) {
          g.engine.handleTimeout(this.now + g.offset);
        }
      }
    }
    throw new Error("run did not settle");
  }

  /** Closes every kernel and disposes the office's keys. */
  async close(): Promise<void> {
    for (const g of this.gateways.values()) await g.kernel.close();
    this.office.dispose();
  }
}

/** Default ESP proposals: AES-128-CBC + HMAC-SHA1, then 3DES + HMAC-SHA1 (kinkd's defaults). */
export const ESP_AES_3DES = [{
  protocols: [{
    protocol: "esp" as const,
    transforms: [
      { id: 12, keyBits: 128, authAlgorithm: 2 },
      { id: 3, authAlgorithm: 2 },
    ],
  }],
}];

/** A 3DES-only ESP proposal (forces the 3-way CREATE against {@link ESP_AES_3DES}). */
export const ESP_3DES_ONLY = [{
  protocols: [{ protocol: "esp" as const, transforms: [{ id: 3, authAlgorithm: 2 }] }],
}];

/** The SAs of a kernel (no larval ones), sorted by SPI. */
export async function sas(k: MemoryKernel): Promise<SaState[]> {
  return (await k.listSas()).filter((s) => s.spi !== 0 && (s.enc || s.auth || s.aead)).sort(
    (a, b) => a.spi - b.spi,
  );
}

/** A comparable view of an SA: direction, SPI, algorithms and keys in hex. */
export function saView(s: SaState): string {
  const hex = (b: Uint8Array | undefined) =>
    b ? [...b].map((x) => x.toString(16).padStart(2, "0")).join("") : "-";
  return [
    s.src,
    s.dst,
    s.proto,
    s.spi.toString(16),
    s.mode,
    s.enc?.name ?? "-",
    hex(s.enc?.key),
    s.auth?.name ?? "-",
    hex(s.auth?.key),
    s.aead?.name ?? "-",
    hex(s.aead?.key),
  ].join(" ");
}

/** Both kernels hold the same SAs (each SA of one is in the other, key for key). */
export async function matchingSas(a: Gateway, b: Gateway): Promise<{ a: string[]; b: string[] }> {
  const va = (await sas(a.kernel)).map(saView).sort();
  const vb = (await sas(b.kernel)).map(saView).sort();
  return { a: va, b: vb };
}

/** What {@link transportPair} changes from its defaults, per side. */
export interface PairOptions {
  /** A's view of its peer "b". */
  a?: Partial<PeerConfig>;
  /** B's view of its peer "a". */
  b?: Partial<PeerConfig>;
  /** Engine settings of A (timers, limits, …). */
  aEngine?: Partial<EngineConfig>;
  /** Engine settings of B. */
  bEngine?: Partial<EngineConfig>;
}

/**
 * The usual two gateways: "a" at 10.77.0.1 and "b" at 10.77.0.2, each the
 * other's only peer, transport mode, {@link ESP_AES_3DES} proposals.
 */
export function transportPair(net: Net, o: PairOptions = {}): [Gateway, Gateway] {
  const peer = (name: string, address: string, over: Partial<PeerConfig> | undefined) => ({
    name,
    address,
    principal: `kink/${name}.kink.test@KINK.TEST`,
    proposals: ESP_AES_3DES,
    mode: "transport" as const,
    ...over,
  });
  return [
    net.add("a", "10.77.0.1", [peer("b", "10.77.0.2", o.a)], o.aEngine),
    net.add("b", "10.77.0.2", [peer("a", "10.77.0.1", o.b)], o.bEngine),
  ];
}
