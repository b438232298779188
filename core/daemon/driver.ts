/**
 * The driver that runs a sans-I/O {@link EngineApi} against real (or
 * in-memory) systems: a datagram transport, a `KernelIpsec`, a ticket source
 * and a timer clock. It is the only place where the engine's outputs turn
 * into I/O and I/O turns into the engine's inputs.
 *
 * - Datagrams received are fed in arrival order; `send` outputs go out in
 *   output order (a failed send is logged and counted, never thrown).
 * - Durability barrier: when the seams name one (the replay cache in group
 *   commit), a datagram leaves only after every entry recorded before it was
 *   produced is durable. While entries are pending, or a commit is running,
 *   the datagrams of each drain are held; one commit runs at a time (its
 *   fsync off the JavaScript thread, so further datagrams are processed
 *   meanwhile and their entries share the next commit), and when it
 *   completes the datagrams held before it started are sent in order. When
 *   a commit fails they are withheld (fail closed: nothing that relied on a
 *   replay cache entry leaves the process before the entry is durable; the
 *   peer retransmits, and the engine answers from its reply cache once the
 *   barrier commits again).
 * - Kernel operations run concurrently with the engine; the `addSa`
 *   operations of one drain of the engine's outputs go to the kernel as one
 *   batch (`addSas`), so concurrent exchanges share kernel round trips.
 * - Ticket requests run on the Kerberos client; their results come back as
 *   `handleTicket`.
 * - One timer is kept at the engine's `nextTimeout()`.
 * - Events go to the logger and to listeners (metrics, the control socket).
 * - Back-pressure on ACQUIREs (`acquireWindow`): at most that many exchanges
 *   started by ACQUIREs are in flight; later ACQUIREs wait in a FIFO and are
 *   fed as exchanges end (an initiator's `sa-up`, a failed CREATE, or 40 s).
 *   A burst then keeps the peers' queues short enough that the first
 *   retransmission (1 s) does not fire while a CREATE waits to be served —
 *   without it, 10,000 ACQUIREs at once made every CREATE retransmit until
 *   the responder spent its time on duplicates. An ACQUIRE that waited 30 s
 *   (the kernel's larval lifetime) is dropped: the kernel raises a new one
 *   while traffic continues.
 *
 * Nothing the engine or a seam throws takes the process down: a failure in a
 * handler is logged as `driver-error` and counted.
 *
 * @module
 */
import type {
  Datagram,
  Endpoint,
  EngineApi,
  EngineEvent,
  KernelOp,
  KernelResult,
  TicketRequest,
  TicketResult,
} from "../engine/api.ts";
import type { KernelIpsec, SaConfig, XfrmEvent } from "../kernel/mod.ts";
import type { TimerClock, TimerId } from "../util/clock.ts";
import type { Logger } from "./log.ts";

/** The datagram transport the driver needs (core/net's `DatagramTransport` fits). */
export interface DriverTransport {
  /** Sends one datagram. */
  send(data: Uint8Array, remote: Endpoint, local?: Endpoint): Promise<void> | void;
  /** Received datagrams, until closed. */
  receive(): AsyncIterable<Datagram>;
}

/** Gets a service ticket for the engine (a KerberosClient behind it). */
export type TicketSource = (request: TicketRequest) => Promise<TicketResult>;

/** Something to make durable before a drain's datagrams are sent (a `ReplayCache` fits). */
export interface DurabilityBarrier {
  /** Persists what was recorded up to the call; false when it cannot. One at a time. */
  commitAsync(): Promise<boolean>;
  /** Entries recorded but not yet persisted. */
  readonly pending: number;
  /** True while nothing new can be persisted (every commit fails until a snapshot is written). */
  readonly unavailable: boolean;
}

/** The systems a driver connects the engine to. */
export interface DriverSeams {
  /** KINK datagrams. */
  transport: DriverTransport;
  /** The kernel's IPsec state. */
  kernel: KernelIpsec;
  /** Service tickets. */
  tickets: TicketSource;
  /** Time and timers. */
  clock: TimerClock;
  /** Where events and problems are logged. */
  log: Logger;
  /** Committed before any datagram of a drain is sent (see the module documentation). */
  barrier?: DurabilityBarrier;
  /** Most exchanges started by ACQUIREs in flight at once (default: no limit). */
  acquireWindow?: number;
}

/** How long an ACQUIRE-started exchange holds its slot at most (ms): KINK gives up after 31 s. */
const ACQUIRE_SLOT_MS = 40_000;
/** How long an ACQUIRE may wait for a slot (ms): the kernel's larval SA lives 30 s. */
const ACQUIRE_WAIT_MS = 30_000;
/** Most ACQUIREs waiting; more are dropped (the kernel raises them again while traffic flows). */
const ACQUIRE_QUEUE_MAX = 100_000;

/** Counters the driver keeps (exported as metrics). */
export interface DriverCounters {
  /** KINK datagrams received. */
  datagramsIn: number;
  /** KINK datagrams sent. */
  datagramsOut: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Kernel operations run. */
  kernelOps: number;
  /** Kernel operations that failed. */
  kernelErrors: number;
  /** Kernel round trips (a batch of addSa counts once). */
  kernelBatches: number;
  /** Service tickets asked for. */
  ticketRequests: number;
  /** Ticket requests that failed. */
  ticketErrors: number;
  /** Failures inside a handler (logged as driver-error). */
  driverErrors: number;
  /** Kernel events (ACQUIRE, EXPIRE) received. */
  kernelEvents: number;
  /** Durability commits run (one per drain that had entries to persist). */
  commits: number;
  /** Datagrams withheld because the durability barrier could not commit. */
  withheld: number;
  /** ACQUIREs that waited for a slot of the ACQUIRE window. */
  acquiresQueued: number;
  /** ACQUIREs dropped: waited 30 s, or the queue was full. */
  acquiresDropped: number;
}

interface Outgoing {
  data: Uint8Array;
  remote: Endpoint;
  local: Endpoint | undefined;
}

/** Runs an engine; see the module documentation. */
export class EngineDriver {
  readonly #engine: EngineApi;
  readonly #s: DriverSeams;
  #timer: TimerId | undefined;
  #timerAt: number | undefined;
  #listeners: ((e: EngineEvent) => void)[] = [];
  #closed = false;
  #inflight = new Set<Promise<unknown>>();
  /** Sends in flight (not in #inflight). */
  #sending = 0;
  #sendsDone: PromiseWithResolvers<void> | undefined;
  /** Counters since start. */
  readonly counters: DriverCounters = {
    datagramsIn: 0,
    datagramsOut: 0,
    sendErrors: 0,
    kernelOps: 0,
    kernelErrors: 0,
    kernelBatches: 0,
    ticketRequests: 0,
    ticketErrors: 0,
    driverErrors: 0,
    kernelEvents: 0,
    commits: 0,
    withheld: 0,
    acquiresQueued: 0,
    acquiresDropped: 0,
  };
  /** Release times (clock ms) of the ACQUIRE window's busy slots, oldest first. */
  #slots: number[] = [];
  /** ACQUIREs waiting for a slot, with their arrival time. */
  #waiting: { e: XfrmEvent; at: number }[] = [];
  #waitingHead = 0;
  /** Datagrams of the current drain, sent after the barrier. */
  #outbox: Outgoing[] = [];
  /** Datagrams waiting for the next commit of the barrier. */
  #held: Outgoing[] = [];
  /** A commit of the barrier is running. */
  #committing = false;

  /** A driver for `engine`; call {@link EngineDriver.run} to start feeding it. */
  constructor(engine: EngineApi, seams: DriverSeams) {
    this.#engine = engine;
    this.#s = seams;
  }

  /** Calls `fn` for every engine event (after it is logged); returns the unsubscribe function. */
  onEvent(fn: (e: EngineEvent) => void): () => void {
    this.#listeners.push(fn);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== fn);
    };
  }

  /**
   * Feeds received datagrams (until the transport ends) and kernel events
   * (until `events` ends) to the engine. Resolves when both have ended.
   */
  async run(events?: AsyncIterable<XfrmEvent>): Promise<void> {
    const rx = (async () => {
      for await (const d of this.#s.transport.receive()) {
        if (this.#closed) break;
        this.counters.datagramsIn++;
        this.#datagram(d);
      }
    })();
    const ev = (async () => {
      if (!events) return;
      for await (const e of events) {
        if (this.#closed) break;
        this.counters.kernelEvents++;
        if (e.type === "acquire" && this.#s.acquireWindow !== undefined) this.#acquire(e);
        else {
          this.#step("kernel-event", () => this.#engine.handleKernelEvent(this.#s.clock.now(), e));
        }
      }
    })();
    this.#pump();
    await Promise.all([rx, ev]);
  }

  /** Runs `fn` against the engine (a command, a status read) and performs its outputs. */
  with<T>(fn: (engine: EngineApi, now: number) => T): T {
    const r = fn(this.#engine, this.#s.clock.now());
    this.#pump();
    return r;
  }

  /** Stops feeding inputs and cancels the timer; waits for operations in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#s.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    await this.settled();
  }

  /** Resolves once no kernel operation, ticket request or send is in flight. */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0 || this.#sending > 0) {
      await Promise.allSettled([...this.#inflight, this.#sendsSettled()]);
    }
  }

  /** One received datagram into the engine (#step without a closure per datagram). */
  #datagram(d: Datagram): void {
    try {
      this.#engine.handleDatagram(this.#s.clock.now(), d);
    } catch (e) {
      this.counters.driverErrors++;
      this.#s.log.error("driver-error", {
        input: "datagram",
        error: String((e as Error)?.message ?? e),
      });
    }
    this.#pump();
  }

  #step(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.counters.driverErrors++;
      this.#s.log.error("driver-error", { input: what, error: String((e as Error)?.message ?? e) });
    }
    this.#pump();
  }

  #track(p: Promise<unknown>): void {
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p));
  }

  #pump(): void {
    let adds: { id: number; sa: SaConfig }[] | undefined;
    for (;;) {
      let out;
      try {
        out = this.#engine.poll();
      } catch (e) {
        this.counters.driverErrors++;
        this.#s.log.error("driver-error", {
          input: "poll",
          error: String((e as Error)?.message ?? e),
        });
        break;
      }
      if (out === undefined) break;
      switch (out.kind) {
        case "send":
          this.#outbox.push({ data: out.data, remote: out.remote, local: out.local });
          break;
        case "kernel":
          if (out.op.kind === "addSa") (adds ??= []).push({ id: out.id, sa: out.op.sa });
          else this.#kernel(out.id, out.op);
          break;
        case "ticket":
          this.#ticket(out.id, out.request);
          break;
        case "event":
          this.#event(out.event);
          break;
      }
    }
    if (this.#outbox.length > 0) this.#flush();
    if (adds !== undefined) this.#addBatch(adds);
    this.#schedule();
  }

  /** Sends the drain's datagrams, or holds them for the barrier's next commit. */
  #flush(): void {
    const box = this.#outbox;
    this.#outbox = [];
    const b = this.#s.barrier;
    if (
      b === undefined ||
      (b.pending === 0 && !b.unavailable && !this.#committing && this.#held.length === 0)
    ) {
      for (const d of box) this.#send(d.data, d.remote, d.local);
      return;
    }
    for (const d of box) this.#held.push(d);
    this.#commit();
  }

  /** Runs one commit of the barrier; sends what was held before it started once it succeeds. */
  #commit(): void {
    const b = this.#s.barrier;
    if (b === undefined || this.#committing) return;
    this.#committing = true;
    const batch = this.#held;
    this.#held = [];
    this.counters.commits++;
    const p = b.commitAsync().then((ok) => ok, (e: unknown) => {
      this.counters.driverErrors++;
      this.#s.log.error("driver-error", {
        input: "commit",
        error: String((e as Error)?.message ?? e),
      });
      return false;
    }).then((ok) => {
      this.#committing = false;
      if (ok) {
        for (const d of batch) this.#send(d.data, d.remote, d.local);
      } else if (batch.length > 0) {
        this.counters.withheld += batch.length;
        this.#s.log.error("datagrams-withheld", {
          count: batch.length,
          detail:
            "the replay cache cannot persist its entries: nothing that relied on them is sent",
        });
      }
      if (this.#held.length > 0) this.#commit();
    });
    this.#track(p);
  }

  #send(data: Uint8Array, remote: Endpoint, local?: Endpoint): void {
    this.counters.datagramsOut++;
    try {
      const r = this.#s.transport.send(data, remote, local);
      if (r instanceof Promise) {
        // counted, not tracked in #inflight: one promise per datagram instead of three
        this.#sending++;
        r.then(this.#sent, (e) => {
          this.#sendFailed(remote, e);
          this.#sent();
        });
      }
    } catch (e) {
      this.#sendFailed(remote, e);
    }
  }

  readonly #sent = (): void => {
    if (--this.#sending === 0 && this.#sendsDone !== undefined) {
      this.#sendsDone.resolve();
      this.#sendsDone = undefined;
    }
  };

  /** Resolves once no send is in flight. */
  #sendsSettled(): Promise<void> {
    if (this.#sending === 0) return Promise.resolve();
    return (this.#sendsDone ??= Promise.withResolvers<void>()).promise;
  }

  #sendFailed(remote: Endpoint, e: unknown): void {
    this.counters.sendErrors++;
    this.#s.log.warn("send-failed", {
      remote: `${remote.address}:${remote.port}`,
      error: String((e as Error)?.message ?? e),
    });
  }

  #result(id: number, r: KernelResult): void {
    if (!r.ok) this.counters.kernelErrors++;
    if (this.#closed) return;
    this.#step("kernel-result", () => this.#engine.handleKernelResult(this.#s.clock.now(), id, r));
  }

  #addBatch(adds: { id: number; sa: SaConfig }[]): void {
    this.counters.kernelOps += adds.length;
    this.counters.kernelBatches++;
    const k = this.#s.kernel;
    const p =
      (adds.length === 1
        ? k.addSa(adds[0]!.sa).then(() => [undefined])
        : k.addSas(adds.map((a) => a.sa), adds.length))
        .then(
          (outcomes) => {
            adds.forEach((a, i) => {
              const o = outcomes[i];
              this.#result(a.id, o === undefined ? { ok: true } : { ok: false, error: o });
            });
          },
          (e: Error) => {
            for (const a of adds) this.#result(a.id, { ok: false, error: e });
          },
        );
    this.#track(p);
  }

  #kernel(id: number, op: KernelOp): void {
    this.counters.kernelOps++;
    this.counters.kernelBatches++;
    const k = this.#s.kernel;
    let p: Promise<KernelResult>;
    switch (op.kind) {
      case "allocSpi":
        p = k.allocSpi(op.request).then((spi) => ({ ok: true, spi }));
        break;
      case "addSa":
        p = k.addSa(op.sa).then(() => ({ ok: true }));
        break;
      case "updateSa":
        p = k.updateSa(op.sa).then(() => ({ ok: true }));
        break;
      case "deleteSa":
        p = k.deleteSa(op.id).then(() => ({ ok: true }));
        break;
      case "getSa":
        p = k.getSa(op.id).then((sa) => ({ ok: true, sa }));
        break;
    }
    this.#track(
      p.then((r) => this.#result(id, r), (e: Error) => this.#result(id, { ok: false, error: e })),
    );
  }

  #ticket(id: number, req: TicketRequest): void {
    this.counters.ticketRequests++;
    const p = this.#s.tickets(req).then(
      (r) => r,
      (e: Error): TicketResult => ({ ok: false, message: String(e?.message ?? e) }),
    ).then((r) => {
      if (!r.ok) this.counters.ticketErrors++;
      if (this.#closed) return;
      this.#step("ticket", () => this.#engine.handleTicket(this.#s.clock.now(), id, r));
    });
    this.#track(p);
  }

  /** An ACQUIRE under the window: fed now if a slot is free, else queued. */
  #acquire(e: XfrmEvent): void {
    const now = this.#s.clock.now();
    this.#expireSlots(now);
    if (this.#slots.length < this.#s.acquireWindow! && this.#waitingHead === this.#waiting.length) {
      this.#feedAcquire(e, now);
      return;
    }
    if (this.#waiting.length - this.#waitingHead >= ACQUIRE_QUEUE_MAX) {
      this.counters.acquiresDropped++;
      return;
    }
    this.counters.acquiresQueued++;
    this.#waiting.push({ e, at: now });
  }

  #feedAcquire(e: XfrmEvent, now: number, reserved = false): void {
    if (!reserved) this.#slots.push(now + ACQUIRE_SLOT_MS);
    this.#step("kernel-event", () => this.#engine.handleKernelEvent(now, e));
  }

  /** Slots held past their time are released (an exchange whose end we did not see). */
  #expireSlots(now: number): void {
    let k = 0;
    while (k < this.#slots.length && this.#slots[k]! <= now) k++;
    if (k > 0) this.#slots.splice(0, k);
  }

  /** An ACQUIRE-started exchange may have ended: free a slot, feed waiting ACQUIREs. */
  #releaseSlot(): void {
    if (this.#s.acquireWindow === undefined) return;
    if (this.#slots.length > 0) this.#slots.shift();
    const now = this.#s.clock.now();
    this.#expireSlots(now);
    while (
      this.#slots.length < this.#s.acquireWindow && this.#waitingHead < this.#waiting.length
    ) {
      const w = this.#waiting[this.#waitingHead++]!;
      if (now - w.at > ACQUIRE_WAIT_MS) {
        this.counters.acquiresDropped++;
        continue;
      }
      // fed after this event's handling is done (the engine is not re-entered)
      queueMicrotask(() => {
        if (!this.#closed) this.#feedAcquire(w.e, this.#s.clock.now(), true);
      });
      this.#slots.push(now + ACQUIRE_SLOT_MS); // reserved for it
    }
    if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitingHead);
      this.#waitingHead = 0;
    }
  }

  #event(e: EngineEvent): void {
    if (
      (e.type === "sa-up" && e.initiator && !e.rekey) ||
      (e.type === "exchange-failed" && e.command === "CREATE")
    ) this.#releaseSlot();
    const { type, ...fields } = e as EngineEvent & Record<string, unknown>;
    const flat: Record<string, string | number | boolean | undefined> = {};
    for (const [k, v] of Object.entries(fields)) {
      if (Array.isArray(v)) {
        flat[k] = v.map((x) =>
          typeof x === "object" && x !== null && "spi" in x
            ? `${(x as { protocol: string }).protocol}/0x${
              (x as { spi: number }).spi.toString(16).padStart(8, "0")
            }`
            : String(x)
        ).join(",");
      } else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        flat[k] = v;
      }
    }
    const level = type === "exchange-failed" || type === "peer-dead" || type === "limit"
      ? "warn"
      : type === "dropped"
      ? "debug"
      : "info";
    this.#s.log.log(level, type, flat);
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.counters.driverErrors++;
        this.#s.log.error("driver-error", { input: "listener", error: String(err) });
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    const at = this.#engine.nextTimeout();
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) this.#s.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    this.#timer = this.#s.clock.setTimer(at, () => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#step("timeout", () => this.#engine.handleTimeout(this.#s.clock.now()));
    });
  }
}
