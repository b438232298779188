/**
 * Shared pieces of the load benchmark: what one workload run reports, CPU and
 * memory of a process from `/proc/<pid>/stat`/`status`, UDP counters of a
 * namespace from `/proc/<pid>/net/snmp`, percentiles, and the windowed
 * ACQUIRE driver every ACQUIRE-driven implementation is measured with.
 *
 * @module
 */
import { tempRoot, uniqueName } from "../../tests/harness/cleanup.ts";

/**
 * A temporary directory named like the test harness's (`kink-test-<pid>-…`),
 * so the harness's watchdog removes it if the run is killed.
 */
export function loadTempDir(kind: string): Promise<string> {
  return Deno.makeTempDir({ dir: tempRoot(), prefix: `${uniqueName(`load-${kind}`)}-` });
}

/** One workload on one implementation. */
export interface WorkloadResult {
  /** Implementation: `kink`, `kinkd`, `strongswan`. */
  impl: string;
  /** Workload key (`seq`, `win10`, `win50`, `win200`, `burst1000`, `peers1000x10`, `rekey`, `status1000`, `hold100k`). */
  workload: string;
  /** What was actually run (the peers' drivers differ in detail). */
  detail: string;
  /** Exchanges asked for. */
  requested: number;
  /** Exchanges completed (both directions installed on both sides). */
  completed: number;
  /** Exchanges that did not complete. */
  failures: number;
  /** Seconds from the first request to the last completion. */
  wallS: number;
  /** Completed SA pairs (or exchanges) per second. */
  rate: number;
  /** Latency request → both directions installed on both sides, ms. */
  latencyMs: { p50: number; p99: number; mean: number; max: number } | undefined;
  /** utime+stime of both daemons ÷ completed, ms (initiator + responder). */
  cpuMsPerExchange: number | undefined;
  /** The two parts of {@link cpuMsPerExchange}. */
  cpuMsSplit: { initiator: number; responder: number } | undefined;
  /** Resident set size after the workload, MiB, per daemon. */
  rssMiB: { initiator: number; responder: number } | undefined;
  /** Datagrams the initiator sent beyond one per exchange (UDP OutDatagrams delta − exchanges). */
  retransmissions: number | undefined;
  /** UDP receive-buffer drops in both namespaces (RcvbufErrors). */
  rcvbufErrors: number | undefined;
  /** Raw latencies (ms), kept only while rounds are merged; never written out. */
  raw?: number[];
  /** Free-form notes (why something is n/a, caveats). */
  notes?: string | undefined;
}

const HZ = 100; // CLK_TCK on Linux x86-64

/** utime+stime of a process in seconds (0 if it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / HZ;
  } catch {
    return 0;
  }
}

/** VmRSS of a process in MiB (0 if it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** UDP counters of the namespace `pid` lives in. */
export function udpCounters(pid: number): { out: number; in: number; rcvbufErrors: number } {
  try {
    const lines = Deno.readTextFileSync(`/proc/${pid}/net/snmp`).split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = lines[0]!.split(/\s+/), vals = lines[1]!.split(/\s+/).map(Number);
    const get = (k: string) => vals[names.indexOf(k)] ?? 0;
    return { out: get("OutDatagrams"), in: get("InDatagrams"), rcvbufErrors: get("RcvbufErrors") };
  } catch {
    return { out: 0, in: 0, rcvbufErrors: 0 };
  }
}

/** Percentile (linear interpolation) of unsorted values. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const k = (s.length - 1) * p / 100, f = Math.floor(k), c = Math.min(f + 1, s.length - 1);
  return s[f]! + (s[c]! - s[f]!) * (k - f);
}

/** p50/p99/mean/max of latencies in ms. */
export function latencySummary(ms: number[]): WorkloadResult["latencyMs"] {
  if (ms.length === 0) return undefined;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: r(percentile(ms, 50)),
    p99: r(percentile(ms, 99)),
    mean: r(ms.reduce((a, b) => a + b, 0) / ms.length),
    max: r(Math.max(...ms)),
  };
}

/** Wall-clock time in ms since the epoch with sub-ms resolution (comparable to log stamps). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * An implementation driven by ACQUIREs: the harness injects them and learns
 * when each exchange has completed on both sides.
 */
export interface AcquireLab {
  /** Initiator and responder PIDs (the daemons themselves). */
  readonly pids: { initiator: number; responder: number };
  /** Injects one ACQUIRE for exchange `i` (0-based within the current run). */
  inject(i: number): Promise<void> | void;
  /**
   * Reads what completed since the last call: completion times (ms since the
   * epoch) of exchanges, in completion order, both sides installed; with `i`
   * when the implementation tells which injected exchange it was.
   */
  poll(): Promise<Completion[]> | Completion[];
}

/** One completed exchange: when, and (if known) which injection it answers. */
export interface Completion {
  t: number;
  i?: number;
}

/** Options of {@link runWindowed}. */
export interface WindowOptions {
  impl: string;
  workload: string;
  detail: string;
  /** Exchanges. */
  n: number;
  /** Most outstanding at once (n: all at once). */
  window: number;
  /** Give up this long after the last completion (ms). */
  idleTimeoutMs?: number;
  /** Poll interval (ms), default 1 (the harness must not take a core from the daemons). */
  pollMs?: number;
}

/**
 * Injects `n` ACQUIREs with at most `window` outstanding and waits for them.
 * When the implementation names the injection a completion answers, its
 * latency is exact; otherwise completions are matched to injections in order
 * (the k-th completion ends the k-th oldest outstanding exchange), exact for
 * the sequential run and a close approximation under a window (kinkd's logs
 * carry no common transaction id). CPU is utime+stime of both daemons over the run.
 */
export async function runWindowed(lab: AcquireLab, o: WindowOptions): Promise<WorkloadResult> {
  const idle = o.idleTimeoutMs ?? 40_000;
  const sent: number[] = [];
  const done: number[] = [];
  const exact: number[] = [];
  const u0 = [udpCounters(lab.pids.initiator), udpCounters(lab.pids.responder)];
  const c0 = [cpuSeconds(lab.pids.initiator), cpuSeconds(lab.pids.responder)];
  await lab.poll(); // discard anything earlier
  const t0 = nowMs();
  let lastProgress = t0;
  while (done.length < o.n) {
    while (sent.length < o.n && sent.length - done.length < o.window) {
      sent.push(nowMs());
      await lab.inject(sent.length - 1);
    }
    const got = await lab.poll();
    if (got.length > 0) {
      for (const c of got) {
        done.push(c.t);
        if (c.i !== undefined && sent[c.i] !== undefined) exact.push(c.t - sent[c.i]!);
      }
      lastProgress = nowMs();
    } else if (nowMs() - lastProgress > idle) {
      break;
    } else {
      await sleep(o.pollMs ?? 1);
    }
  }
  const c1 = [cpuSeconds(lab.pids.initiator), cpuSeconds(lab.pids.responder)];
  const u1 = [udpCounters(lab.pids.initiator), udpCounters(lab.pids.responder)];
  const completed = Math.min(done.length, o.n);
  const last = completed > 0 ? done[completed - 1]! : nowMs();
  const wallS = (last - t0) / 1000;
  const lat = exact.length === completed && completed > 0
    ? exact
    : done.slice(0, completed).map((t, k) => t - sent[k]!);
  const ci = (c1[0]! - c0[0]!) * 1000 / Math.max(1, completed);
  const cr = (c1[1]! - c0[1]!) * 1000 / Math.max(1, completed);
  return {
    impl: o.impl,
    workload: o.workload,
    detail: o.detail,
    requested: o.n,
    completed,
    failures: o.n - completed,
    wallS: round(wallS),
    rate: round(completed / Math.max(wallS, 1e-6), 1),
    latencyMs: latencySummary(lat),
    cpuMsPerExchange: round(ci + cr),
    cpuMsSplit: { initiator: round(ci), responder: round(cr) },
    rssMiB: {
      initiator: round(rssMiB(lab.pids.initiator), 1),
      responder: round(rssMiB(lab.pids.responder), 1),
    },
    retransmissions: Math.max(0, u1[0]!.out - u0[0]!.out - completed) +
      Math.max(0, u1[1]!.out - u0[1]!.out - completed),
    rcvbufErrors: (u1[0]!.rcvbufErrors - u0[0]!.rcvbufErrors) +
      (u1[1]!.rcvbufErrors - u0[1]!.rcvbufErrors),
    raw: lat,
  };
}

/** Merges rounds of one workload (rates from summed wall time, CPU weighted by exchanges). */
export function mergeRounds(rs: WorkloadResult[]): WorkloadResult {
  const first = rs[0]!;
  const completed = rs.reduce((s, r) => s + r.completed, 0);
  const wallS = rs.reduce((s, r) => s + r.wallS, 0);
  const w = (f: (r: WorkloadResult) => number | undefined) =>
    rs.reduce((s, r) => s + (f(r) ?? 0) * r.completed, 0) / Math.max(1, completed);
  const raw = rs.flatMap((r) => r.raw ?? []);
  const last = rs[rs.length - 1]!;
  return {
    ...first,
    requested: rs.reduce((s, r) => s + r.requested, 0),
    completed,
    failures: rs.reduce((s, r) => s + r.failures, 0),
    wallS: round(wallS),
    rate: round(completed / Math.max(wallS, 1e-6), 1),
    latencyMs: latencySummary(raw),
    cpuMsPerExchange: round(w((r) => r.cpuMsPerExchange)),
    cpuMsSplit: {
      initiator: round(w((r) => r.cpuMsSplit?.initiator)),
      responder: round(w((r) => r.cpuMsSplit?.responder)),
    },
    rssMiB: last.rssMiB,
    retransmissions: rs.reduce((s, r) => s + (r.retransmissions ?? 0), 0),
    rcvbufErrors: rs.reduce((s, r) => s + (r.rcvbufErrors ?? 0), 0),
    raw,
  };
}

/** Rounds to `d` decimals (3 by default). */
export function round(x: number, d = 3): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Tails a growing text file, returning complete new lines. */
export class FileTail {
  #file: Deno.FsFile | undefined;
  #rest = "";
  readonly #buf = new Uint8Array(1 << 20);
  readonly #dec = new TextDecoder();
  constructor(readonly path: string) {}
  /** New complete lines since the last call. */
  lines(): string[] {
    if (!this.#file) {
      try {
        this.#file = Deno.openSync(this.path, { read: true });
      } catch {
        return [];
      }
    }
    const out: string[] = [];
    for (;;) {
      const n = this.#file.readSync(this.#buf);
      if (n === null || n === 0) break;
      this.#rest += this.#dec.decode(this.#buf.subarray(0, n), { stream: true });
      if (n < this.#buf.length) break;
    }
    const parts = this.#rest.split("\n");
    this.#rest = parts.pop() ?? "";
    for (const p of parts) out.push(p);
    return out;
  }
  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
