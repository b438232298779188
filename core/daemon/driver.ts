/**
 * The driver that runs a sans-I/O {@link EngineApi} against real (or
 * in-memory) systems: a datagram transport, a `KernelIpsec`, a ticket source
 * and a timer clock. It is the only place where the engine's outputs turn
 * into I/O and I/O turns into the engine's inputs.
 *
 * - Datagrams received are fed in arrival order; `send` outputs go out in
 *   output order (a failed send is logged and counted, never thrown).
 * - Kernel operations run concurrently with the engine; the `addSa`
 *   operations of one drain of the engine's outputs go to the kernel as one
 *   batch (`addSas`), so concurrent exchanges share kernel round trips.
 * - Ticket requests run on the Kerberos client; their results come back as
 *   `handleTicket`.
 * - One timer is kept at the engine's `nextTimeout()`.
 * - Events go to the logger and to listeners (metrics, the control socket).
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
}

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
  };

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
        this.#step("datagram", () => this.#engine.handleDatagram(this.#s.clock.now(), d));
      }
    })();
    const ev = (async () => {
      if (!events) return;
      for await (const e of events) {
        if (this.#closed) break;
        this.counters.kernelEvents++;
        this.#step("kernel-event", () => this.#engine.handleKernelEvent(this.#s.clock.now(), e));
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
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Resolves once no kernel operation or ticket request is in flight. */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
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
    const adds: { id: number; sa: SaConfig }[] = [];
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
          this.#send(out.data, out.remote, out.local);
          break;
        case "kernel":
          if (out.op.kind === "addSa") adds.push({ id: out.id, sa: out.op.sa });
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
    if (adds.length > 0) this.#addBatch(adds);
    this.#schedule();
  }

  #send(data: Uint8Array, remote: Endpoint, local?: Endpoint): void {
    this.counters.datagramsOut++;
    try {
      const r = this.#s.transport.send(data, remote, local);
      if (r instanceof Promise) {
        this.#track(r.catch((e) => this.#sendFailed(remote, e)));
      }
    } catch (e) {
      this.#sendFailed(remote, e);
    }
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

  #event(e: EngineEvent): void {
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
