/**
 * The in-memory implementation of {@link DatagramTransport}: a
 * {@link MemoryHub} delivers datagrams between the transports attached to
 * it, by destination endpoint, as a network of UDP sockets would — no
 * delivery to an endpoint nobody holds, a bounded receive queue per
 * transport — with a hook that decides, per datagram, whether it is lost,
 * delayed or duplicated. Delays run on an injected {@link TimerClock}, so a
 * simulation on a `ManualClock` with a seeded hook reproduces exactly.
 *
 * @module
 */
import { systemClock, type TimerClock } from "../util/clock.ts";
import { type RandomSource, randomUint32 } from "../util/random.ts";
import { NetError } from "./errors.ts";
import { DatagramQueue } from "./queue.ts";
import {
  checkSize,
  type Datagram,
  type DatagramTransport,
  type Endpoint,
  endpointText,
  normalizeEndpoint,
} from "./types.ts";

/** What the hub does with one datagram: deliver it (after a delay, in copies) or drop it. */
export interface HubVerdict {
  /** Lose the datagram. */
  drop?: boolean;
  /** Deliver after this many milliseconds of the hub's clock (default 0: at once). */
  delayMs?: number;
  /** Extra copies to deliver (duplication), each after its own `delayMs` of the array, or the same delay. */
  duplicates?: number[];
}

/** Decides the fate of each datagram sent through a {@link MemoryHub}. */
export type HubHook = (d: Readonly<Datagram>) => HubVerdict | undefined;

/** Counters of a {@link MemoryHub}. */
export interface HubStats {
  /** Datagrams put into a receiver's queue. */
  delivered: number;
  /** Datagrams the hook dropped. */
  lost: number;
  /** Datagrams to an endpoint nobody holds. */
  unroutable: number;
  /** Datagrams dropped because the receiver's queue was full (also in its `dropped`). */
  overflow: number;
}

/** Options of {@link MemoryHub}. */
export interface MemoryHubOptions {
  /** Clock for delayed deliveries (default {@link systemClock}). */
  clock?: TimerClock;
  /** Receive-queue limit of each transport (default 1024). */
  queueLimit?: number;
  /** Initial hook (default: deliver everything at once). */
  hook?: HubHook;
}

function key(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

/** Connects {@link MemoryTransport}s; see the module documentation. */
export class MemoryHub {
  readonly #clock: TimerClock;
  readonly #queueLimit: number;
  readonly #bound = new Map<string, MemoryTransport>();
  #nextPort = 49152;
  /** The per-datagram hook (loss, delay, duplication); replace it at any time. */
  hook: HubHook | undefined;
  /** Delivery counters. */
  readonly stats: HubStats = { delivered: 0, lost: 0, unroutable: 0, overflow: 0 };

  /** A hub with no transports. */
  constructor(opts: MemoryHubOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#queueLimit = opts.queueLimit ?? 1024;
    this.hook = opts.hook;
  }

  /**
   * A transport holding `locals` (port 0: the hub picks a free port from
   * 49152). Throws `NetError("bind")` when an endpoint is taken.
   */
  transport(locals: Endpoint[]): MemoryTransport {
    const ctx = "bind in-memory transport";
    if (!locals.length) throw new NetError("invalid", ctx, "no local endpoint");
    const eps = locals.map((l) => normalizeEndpoint(l, ctx, true));
    const out: (Endpoint & { family: "inet" | "inet6" })[] = [];
    for (const e of eps) {
      let port = e.port;
      if (port === 0) {
        do port = this.#nextPort = this.#nextPort >= 65535 ? 49152 : this.#nextPort + 1; while (
          this.#bound.has(key({ address: e.address, port }))
        );
      }
      const b = { address: e.address, port, family: e.family };
      if (this.#bound.has(key(b)) || out.some((x) => key(x) === key(b))) {
        throw new NetError("bind", `bind ${endpointText(b)}`, "address in use");
      }
      out.push(b);
    }
    const t = new MemoryTransport(this, out, this.#queueLimit);
    for (const e of out) this.#bound.set(key(e), t);
    return t;
  }

  /** @internal Routes one datagram from a transport of this hub. */
  route(d: Datagram): void {
    const v = this.hook?.(d);
    if (v?.drop) {
      this.stats.lost++;
      return;
    }
    const delays = [v?.delayMs ?? 0, ...(v?.duplicates ?? [])];
    for (const ms of delays) {
      const copy: Datagram = { data: d.data.slice(), local: d.local, remote: d.remote };
      if (ms > 0) this.#clock.setTimer(this.#clock.now() + ms, () => this.#deliver(copy));
      else this.#deliver(copy);
    }
  }

  #deliver(d: Datagram): void {
    const t = this.#bound.get(key(d.local));
    if (!t) {
      this.stats.unroutable++;
      return;
    }
    if (t.deliver(d)) this.stats.delivered++;
    else this.stats.overflow++;
  }

  /** @internal Releases a closed transport's endpoints. */
  unbind(t: MemoryTransport): void {
    for (const e of t.locals) if (this.#bound.get(key(e)) === t) this.#bound.delete(key(e));
  }
}

/** A {@link DatagramTransport} attached to a {@link MemoryHub}. */
export class MemoryTransport implements DatagramTransport {
  readonly #hub: MemoryHub;
  readonly #eps: (Endpoint & { family: "inet" | "inet6" })[];
  readonly #queue: DatagramQueue;
  #closed = false;
  /** The held endpoints. */
  readonly locals: readonly Endpoint[];

  /** @internal Use {@link MemoryHub.transport}. */
  constructor(
    hub: MemoryHub,
    eps: (Endpoint & { family: "inet" | "inet6" })[],
    queueLimit: number,
  ) {
    this.#hub = hub;
    this.#eps = eps;
    this.locals = Object.freeze(
      eps.map((e) => Object.freeze({ address: e.address, port: e.port })),
    );
    this.#queue = new DatagramQueue(queueLimit);
  }

  /** Datagrams dropped because the receive queue was full. */
  get dropped(): number {
    return this.#queue.dropped;
  }

  /** @internal Queues a datagram for the consumer; false when dropped. */
  deliver(d: Datagram): boolean {
    return !this.#closed && this.#queue.push(d);
  }

  /**
   * Sends one datagram through the hub (copied, so the caller may reuse
   * `data`); resolves at once — delivery happens now or on the hub's clock.
   */
  send(data: Uint8Array, remote: Endpoint, local?: Endpoint): Promise<void> {
    const ctx = `send to ${typeof remote?.address === "string" ? endpointText(remote) : "?"}`;
    try {
      if (this.#closed) throw new NetError("closed", ctx, "transport closed");
      checkSize(data, ctx);
      const r = normalizeEndpoint(remote, ctx);
      let from: Endpoint & { family: string } | undefined;
      if (local) {
        const l = normalizeEndpoint(local, ctx);
        from = this.#eps.find((e) => e.address === l.address && e.port === l.port);
        if (!from) throw new NetError("invalid", ctx, `${endpointText(l)} is not a local endpoint`);
        if (from.family !== r.family) {
          throw new NetError("invalid", ctx, `${endpointText(l)} and the peer differ in family`);
        }
      } else {
        from = this.#eps.find((e) => e.family === r.family);
        if (!from) throw new NetError("invalid", ctx, `no local ${r.family} endpoint`);
      }
      this.#hub.route({
        data,
        local: { address: r.address, port: r.port },
        remote: { address: from.address, port: from.port },
      });
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The received datagrams (see {@link DatagramTransport.receive}). */
  receive(): AsyncIterable<Datagram> {
    return this.#queue;
  }

  /** Releases the endpoints and ends the receive iteration. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#hub.unbind(this);
      this.#queue.end();
    }
    return Promise.resolve();
  }
}

/** Options of {@link impairments}. */
export interface ImpairmentOptions {
  /** Probability (0..1) a datagram is lost. */
  loss?: number;
  /** Probability (0..1) a datagram is delivered twice. */
  duplicate?: number;
  /** Fixed delay in milliseconds. */
  delayMs?: number;
  /** Extra delay, uniform in [0, jitterMs) — reorders datagrams. */
  jitterMs?: number;
  /** The randomness (a `SeededRandom` makes runs reproducible). */
  random: RandomSource;
}

/** A {@link HubHook} with independent random loss, duplication, delay and jitter. */
export function impairments(o: ImpairmentOptions): HubHook {
  const u = () => randomUint32(o.random) / 0x1_0000_0000;
  const delay = () => (o.delayMs ?? 0) + (o.jitterMs ? u() * o.jitterMs : 0);
  return () => {
    if (o.loss && u() < o.loss) return { drop: true };
    const v: HubVerdict = { delayMs: delay() };
    if (o.duplicate && u() < o.duplicate) v.duplicates = [delay()];
    return v;
  };
}
