/**
 * CPU per exchange of the daemon's hot path in one process, lever by lever:
 * two engines, each run by a real {@link EngineDriver} as `kink daemon` runs
 * it (in-memory kernels, tickets from the engine tests' in-test KDC, fetched
 * by an untimed warm-up round), the responder's replay cache persisted to a
 * file in the temporary directory, log lines at info level. Each round starts
 * `--window` CREATEs at once (one `up` of a peer with that many traffic
 * selectors) and ends when both sides have every pair up; the pairs are
 * deleted between rounds (untimed). Variants run interleaved, round by round,
 * so a busy machine slows them alike: read the ratios.
 *
 * Variants (`--variants`, comma-separated; default all):
 * - `base`: UDP on loopback (`Deno.listenDatagram`), replay cache written
 *   and fsynced per authenticator, log lines written synchronously per line
 *   to a file (as the daemon's stderr sink does);
 * - `group`: as base, replay cache in group commit with the driver's barrier;
 * - `group-nolog`: as group, log lines discarded (the cost of logging);
 * - `group-memnet`: as group, in-memory datagrams instead of UDP (the cost of
 *   the sockets).
 *
 *   deno run -A bench/daemon_bench.ts [--rounds 20] [--window 50] [--variants base,group]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { type DriverTransport, EngineDriver } from "../core/daemon/driver.ts";
import { Logger, type LogSink } from "../core/daemon/log.ts";
import { Engine, type PeerConfig } from "../core/engine/mod.ts";
import { ReplayCache } from "../core/kerberos/mod.ts";
import { MemoryKernel } from "../core/kernel/mod.ts";
import { MemoryHub, UdpTransport } from "../core/net/mod.ts";
import { systemClock } from "../core/util/clock.ts";
import { SeededRandom } from "../core/util/random.ts";
import { ESP_AES_3DES, TicketOffice } from "../tests/unit/engine/harness.ts";

interface Variant {
  name: string;
  udp: boolean;
  group: boolean;
  log: boolean;
}

const VARIANTS: Variant[] = [
  { name: "base", udp: true, group: false, log: true },
  { name: "group", udp: true, group: true, log: true },
  { name: "group-nolog", udp: true, group: true, log: false },
  { name: "group-memnet", udp: false, group: true, log: true },
];

const A = "kink/a.kink.test@KINK.TEST";
const B = "kink/b.kink.test@KINK.TEST";

function peer(
  name: string,
  principal: string,
  address: string,
  local: string,
  n: number,
  mine: number,
): PeerConfig {
  return {
    name,
    address,
    localAddress: local,
    principal,
    proposals: ESP_AES_3DES,
    mode: "tunnel",
    selectors: Array.from({ length: n }, (_, i) => ({
      local: `10.${mine}.${i >> 8}.${i & 255}/32`,
      remote: `10.${3 - mine}.${i >> 8}.${i & 255}/32`,
    })),
  };
}

interface Rig {
  v: Variant;
  a: EngineDriver;
  b: EngineDriver;
  upA: number;
  upB: number;
  pairsA: () => number;
  cpuUs: number;
  wallMs: number;
  datagrams: number;
  exchanges: number;
  close(): Promise<void>;
}

let rigs = 0;

function rig(v: Variant, window: number, dir: string): Rig {
  const random = new SeededRandom(14);
  const office = new TicketOffice(random.fork());
  const kA = office.addService(A), kB = office.addService(B);
  const epoch = Math.floor(Date.now() / 1000) >>> 0;
  const limits = { maxSaPairs: 1e6, maxSaPairsPerPeer: 1e6 };
  // KINK's port on both sides (the engine sends from its local address's port 910).
  const pa = 910, pb = 910;
  const k = 100 + rigs++;
  const aAddr = `127.0.${k}.1`, bAddr = `127.0.${k}.2`;
  const engA = new Engine({
    identity: { principal: A, serviceKeys: [kA] },
    epoch,
    peers: [peer("b", B, bAddr, aAddr, window, 1)],
    limits,
    firstStart: true,
  }, { random: random.fork() });
  const replay = ReplayCache.open({
    skewMs: 300_000,
    path: `${dir}/${v.name}-replay.log`,
    firstStart: true,
    groupCommit: v.group,
  });
  const engB = new Engine({
    identity: { principal: B, serviceKeys: [kB] },
    epoch,
    peers: [peer("a", A, aAddr, bAddr, window, 2)],
    limits,
  }, { random: random.fork(), replayCache: replay });
  let ta: DriverTransport & { close(): Promise<void> };
  let tb: DriverTransport & { close(): Promise<void> };
  if (v.udp) {
    ta = UdpTransport.open({ locals: [{ address: aAddr, port: pa }] });
    tb = UdpTransport.open({ locals: [{ address: bAddr, port: pb }] });
  } else {
    const hub = new MemoryHub();
    ta = hub.transport([{ address: aAddr, port: pa }]);
    tb = hub.transport([{ address: bAddr, port: pb }]);
  }
  const logFile = Deno.openSync(`${dir}/${v.name}.log`, {
    write: true,
    create: true,
    append: true,
  });
  const enc = new TextEncoder();
  const sink: LogSink = v.log
    ? (line) => {
      const b = enc.encode(line + "\n");
      let off = 0;
      while (off < b.length) off += logFile.writeSync(b.subarray(off));
    }
    : () => {};
  const dbg = Deno.env.get("KINK_BENCH_DEBUG") ? (l: string) => console.error(l) : undefined;
  const tickets = (client: string) => (req: { server: string }) =>
    Promise.resolve({
      ok: true as const,
      credentials: office.issue(client, req.server, Date.now()),
    });
  const a = new EngineDriver(engA, {
    transport: ta,
    kernel: new MemoryKernel(),
    tickets: tickets(A),
    clock: systemClock,
    log: new Logger(dbg ?? sink, { level: "info" }),
  });
  const b = new EngineDriver(engB, {
    transport: tb,
    kernel: new MemoryKernel(),
    tickets: tickets(B),
    clock: systemClock,
    log: new Logger(dbg ?? sink, { level: "info" }),
    ...(v.group ? { barrier: replay } : {}),
  });
  const r: Rig = {
    v,
    a,
    b,
    upA: 0,
    upB: 0,
    pairsA: () => engA.status().saPairs.length,
    cpuUs: 0,
    wallMs: 0,
    datagrams: 0,
    exchanges: 0,
    close: async () => {
      await a.close();
      await b.close();
      await ta.close();
      await tb.close();
      await Promise.allSettled(running);
      replay.close();
      logFile.close();
      office.dispose();
    },
  };
  a.onEvent((e) => {
    if (e.type === "sa-up") r.upA++;
    wake();
  });
  b.onEvent((e) => {
    if (e.type === "sa-up") r.upB++;
    wake();
  });
  const running = [a.run(), b.run()];
  return r;
}

/** Waiters woken by the sides' events (no polling timers inside the timed part). */
const waiters = new Set<() => void>();
function wake(): void {
  for (const w of [...waiters]) w();
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 60_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise<void>((r) => {
      const t = setTimeout(done, 1000);
      function done() {
        clearTimeout(t);
        waiters.delete(done);
        r();
      }
      waiters.add(done);
    });
  }
}

async function round(r: Rig, window: number, timed: boolean): Promise<void> {
  const a0 = r.upA, b0 = r.upB;
  const d0 = r.a.counters.datagramsOut + r.b.counters.datagramsOut;
  const c0 = cpuUsage();
  const t0 = performance.now();
  r.a.with((e, now) => e.command(now, { kind: "up", peer: "b" }));
  await until(() => r.upA - a0 >= window && r.upB - b0 >= window, `${r.v.name} round`);
  const t1 = performance.now();
  const c1 = cpuUsage(c0);
  if (timed) {
    r.cpuUs += c1.user + c1.system;
    r.wallMs += t1 - t0;
    r.exchanges += window;
    r.datagrams += r.a.counters.datagramsOut + r.b.counters.datagramsOut - d0;
  }
  // Untimed: delete every pair, wait for quiet.
  r.a.with((e, now) => e.command(now, { kind: "down", peer: "b" }));
  await until(() => r.pairsA() === 0, `${r.v.name} down`);
  await r.a.settled();
  await r.b.settled();
  await new Promise((res) => setTimeout(res, 20));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "20" },
      window: { type: "string", default: "50" },
      variants: { type: "string" },
    },
  });
  const rounds = Number(values.rounds), window = Number(values.window);
  const names = values.variants?.split(",");
  const vs = names ? VARIANTS.filter((v) => names.includes(v.name)) : VARIANTS;
  const dir = Deno.makeTempDirSync({ prefix: "kink-daemon-bench-" });
  try {
    const rigs = vs.map((v) => rig(v, window, dir));
    for (const r of rigs) await round(r, window, false); // tickets fetched, code warmed
    for (let i = 0; i < rounds; i++) for (const r of rigs) await round(r, window, true);
    console.log(
      `${rounds} rounds of ${window} CREATEs at once per variant, interleaved; CPU of the process (both sides)`,
    );
    console.log(
      "| variant | exchanges | CPU µs/exchange (i+r) | exchanges/s (wall) | datagrams/exchange |",
    );
    console.log("|---|---|---|---|---|");
    for (const r of rigs) {
      console.log(
        `| ${r.v.name} | ${r.exchanges} | ${(r.cpuUs / r.exchanges).toFixed(0)} | ${
          (r.exchanges / (r.wallMs / 1000)).toFixed(0)
        } | ${(r.datagrams / r.exchanges).toFixed(2)} |`,
      );
    }
    for (const r of rigs) await r.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
