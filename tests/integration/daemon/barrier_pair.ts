/**
 * Two engines run by real {@link EngineDriver}s over an in-memory datagram
 * hub (in-memory kernels, tickets from the engine tests' in-test KDC), the
 * responder's replay cache persisted to a file in group-commit mode with the
 * driver's durability barrier on it — as `kink daemon` runs it. Every
 * datagram the responder sends is recorded together with what its replay
 * cache file held at that moment.
 */
import { EngineDriver } from "../../../core/daemon/driver.ts";
import { Logger } from "../../../core/daemon/log.ts";
import { Engine, type EngineEvent, type PeerConfig } from "../../../core/engine/mod.ts";
import { ReplayCache } from "../../../core/kerberos/mod.ts";
import { MemoryKernel } from "../../../core/kernel/mod.ts";
import { MemoryHub, type MemoryTransport } from "../../../core/net/mod.ts";
import { systemClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { ESP_AES_3DES, TicketOffice } from "../../unit/engine/harness.ts";

/** What the responder's replay cache held when it sent one datagram. */
export interface SendRecord {
  /** `E` lines in the replay cache file at the moment of the send. */
  fileEntries: number;
  /** Entries the cache had accepted (in memory) when the engine produced the datagram. */
  accepted: number;
}

/** A running initiator/responder pair. */
export interface BarrierPair {
  /** The initiator's driver. */
  a: EngineDriver;
  /** The responder's driver (its barrier is `replay`). */
  b: EngineDriver;
  /** The responder's persisted replay cache. */
  replay: ReplayCache;
  /** One record per datagram the responder sent. */
  sends: SendRecord[];
  /** Events of each side. */
  events: { a: EngineEvent[]; b: EngineEvent[] };
  /** Log lines of the responder. */
  logB: string[];
  /** Starts `n` CREATE exchanges (one per traffic selector of the peer). */
  up(): void;
  /** The initiator's in-memory kernel (its events feed `a`). */
  kernelA: MemoryKernel;
  /** ACQUIREs the initiator's engine was given, and when (`a`'s initiator sa-ups then). */
  acquiresFed: { upsBefore: number }[];
  /** Stops both drivers and closes the cache. */
  close(): Promise<void>;
}

/** Number of traffic selectors, so one `up` starts this many CREATEs at once. */
export const SELECTORS = 8;

function peer(name: string, address: string, mine: number, theirs: number): PeerConfig {
  const selectors = Array.from({ length: SELECTORS }, (_, i) => ({
    local: `10.${mine}.${i}.0/24`,
    remote: `10.${theirs}.${i}.0/24`,
  }));
  return {
    name,
    address,
    localAddress: "",
    principal: `kink/${name}.kink.test@KINK.TEST`,
    proposals: ESP_AES_3DES,
    mode: "tunnel",
    selectors,
  };
}

function countEntries(path: string): number {
  const text = Deno.readTextFileSync(path);
  let n = 0;
  for (const l of text.split("\n")) if (l.startsWith("E ")) n++;
  return n;
}

/** Starts the pair; the responder's replay cache lives at `path`. */
export function startPair(
  path: string,
  skewMs = 300_000,
  opts: { acquireWindow?: number } = {},
): BarrierPair {
  const random = new SeededRandom(14);
  const office = new TicketOffice(random.fork());
  const hub = new MemoryHub();
  const aAddr = "10.77.0.1", bAddr = "10.77.0.2";
  const aKey = office.addService("kink/a.kink.test@KINK.TEST");
  const bKey = office.addService("kink/b.kink.test@KINK.TEST");
  const epoch = Math.floor(Date.now() / 1000) >>> 0;
  const replay = ReplayCache.open({ skewMs, path, firstStart: true, groupCommit: true });
  const engA = new Engine({
    identity: { principal: "kink/a.kink.test@KINK.TEST", serviceKeys: [aKey] },
    epoch,
    peers: [{ ...peer("b", bAddr, 1, 2), localAddress: aAddr }],
    firstStart: true,
  }, { random: random.fork() });
  const engB = new Engine({
    identity: { principal: "kink/b.kink.test@KINK.TEST", serviceKeys: [bKey] },
    epoch,
    peers: [{ ...peer("a", aAddr, 2, 1), localAddress: bAddr }],
  }, { random: random.fork(), replayCache: replay });
  const ta = hub.transport([{ address: aAddr, port: 910 }]);
  const tb: MemoryTransport = hub.transport([{ address: bAddr, port: 910 }]);
  const sends: SendRecord[] = [];
  // What the cache had accepted when the engine produced each datagram: every
  // entry the datagram can rely on.
  const produced = new WeakMap<Uint8Array, number>();
  const poll = engB.poll.bind(engB);
  engB.poll = () => {
    const o = poll();
    if (o?.kind === "send") produced.set(o.data, replay.size);
    return o;
  };
  const sendB = tb.send.bind(tb);
  tb.send = (data, remote, local) => {
    sends.push({ fileEntries: countEntries(path), accepted: produced.get(data) ?? -1 });
    return sendB(data, remote, local);
  };
  const logB: string[] = [];
  const events = { a: [] as EngineEvent[], b: [] as EngineEvent[] };
  const tickets = (client: string) => (req: { server: string }) =>
    Promise.resolve({
      ok: true as const,
      credentials: office.issue(client, req.server, Date.now()),
    });
  const kernelA = new MemoryKernel();
  const acquiresFed: { upsBefore: number }[] = [];
  const handleKernelEvent = engA.handleKernelEvent.bind(engA);
  engA.handleKernelEvent = (now, ev) => {
    if (ev.type === "acquire") {
      const ups = events.a.filter((e) => e.type === "sa-up" && e.initiator).length;
      acquiresFed.push({ upsBefore: ups });
    }
    handleKernelEvent(now, ev);
  };
  const a = new EngineDriver(engA, {
    transport: ta,
    kernel: kernelA,
    ...(opts.acquireWindow !== undefined ? { acquireWindow: opts.acquireWindow } : {}),
    tickets: tickets("kink/a.kink.test@KINK.TEST"),
    clock: systemClock,
    log: new Logger(() => {}, { level: "error" }),
  });
  const b = new EngineDriver(engB, {
    transport: tb,
    kernel: new MemoryKernel(),
    tickets: tickets("kink/b.kink.test@KINK.TEST"),
    clock: systemClock,
    log: new Logger((l) => logB.push(l), { level: "info" }),
    barrier: replay,
  });
  a.onEvent((e) => events.a.push(e));
  b.onEvent((e) => events.b.push(e));
  const subA = kernelA.subscribe();
  const running = [subA.then((s) => a.run(s)), b.run()];
  return {
    a,
    b,
    replay,
    sends,
    events,
    logB,
    kernelA,
    acquiresFed,
    up: () => a.with((e, now) => e.command(now, { kind: "up", peer: "b" })),
    close: async () => {
      await a.close();
      await b.close();
      await (await subA).close();
      await ta.close();
      await tb.close();
      await Promise.allSettled(running);
      replay.close();
      office.dispose();
    },
  };
}

/** Resolves when `cond` holds (polled every 10 ms), rejects after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
