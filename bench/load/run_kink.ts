/**
 * The kink ↔ kink runs of the load benchmark (see kink.ts for the set-up).
 *
 * @module
 */
import { withNetns } from "../../tests/harness/netns.ts";
import { withRealm } from "../../tests/harness/krb5_realm.ts";
import {
  loadTempDir,
  mergeRounds,
  nowMs,
  round,
  runWindowed,
  sleep,
  udpCounters,
  type WorkloadResult,
} from "./common.ts";
import { KinkLab } from "./kink.ts";
import type { Sizes } from "./workloads.ts";

/** Options of {@link runKink}. */
export interface KinkRunOptions {
  root: string;
  sizes: Sizes;
  only: Set<string> | undefined;
  /** Extra `[daemon]` lines (a lever under test). */
  daemonExtra?: string[];
  /** Label of the variant (`kink`, `kink+lever`). */
  impl?: string;
  /** Run the daemons under `--cpu-prof`, profiles here (see KinkLabOptions.profileDir). */
  profileDir?: string;
}

async function withLab<T>(
  o: KinkRunOptions,
  peers: number,
  selectors: number,
  fn: (lab: KinkLab) => Promise<T>,
): Promise<T> {
  return await withNetns(3, async ([kdc, a, b]) => {
    return await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
      async (realm) => {
        const dir = await loadTempDir("kink");
        let lab: KinkLab | undefined;
        try {
          lab = await KinkLab.start({
            root: o.root,
            dir,
            realm,
            a: a!,
            b: b!,
            peers,
            selectors,
            ...(o.daemonExtra ? { daemonExtra: o.daemonExtra } : {}),
            ...(o.profileDir ? { profileDir: o.profileDir } : {}),
          });
          return await fn(lab);
        } finally {
          await lab?.stop();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
}

/**
 * Most peers the harness gives one daemon: the workloads' 1,000 (a
 * configuration may name 65,535; each peer is an address and a socket here).
 */
export const MAX_PEERS = 1000;

/** Runs kink's workloads. */
export async function runKink(o: KinkRunOptions): Promise<WorkloadResult[]> {
  const { sizes } = o;
  const want = (k: string) => !o.only || o.only.has(k);
  const impl = o.impl ?? "kink";
  const out: WorkloadResult[] = [];
  const peers = Math.min(MAX_PEERS, Math.max(sizes.seq, sizes.win, sizes.rekey));
  const base = { impl, idleTimeoutMs: 35_000 };
  // One exchange per peer and round; rounds are separated by `down` of every peer (untimed).
  const rounds = async (workload: string, n: number, window: number, detail: string) => {
    const parts: WorkloadResult[] = [];
    return await withLabRounds(async (lab) => {
      for (let done = 0; done < n;) {
        const k = Math.min(peers, n - done);
        lab.begin();
        const f0 = lab.failures();
        const r = await runWindowed(lab, { ...base, workload, detail, n: k, window });
        const failed = lab.failures() - f0;
        parts.push(r);
        done += k;
        await lab.reset();
        if (failed > 0) r.notes = failNote(failed);
      }
      const m = mergeRounds(parts);
      const failed = parts.filter((p) => p.notes).map((p) => p.notes).join("; ");
      m.notes = `${parts.length} round(s) of ≤ ${peers} peers` + (failed ? `; ${failed}` : "");
      return m;
    });
  };
  let shared: KinkLab | undefined;
  const withLabRounds = (fn: (lab: KinkLab) => Promise<WorkloadResult>) => fn(shared!);
  if (["seq", "win10", "win50", "win200", "rekey"].some(want)) {
    await withLab(o, peers, 0, async (lab) => {
      shared = lab;
      const windows: [string, number, number][] = [
        ["seq", sizes.seq, 1],
        ["win10", sizes.win, 10],
        ["win50", sizes.win, 50],
        ["win200", sizes.win, 200],
      ];
      for (const [workload, n, window] of windows) {
        if (!want(workload)) continue;
        out.push(
          await rounds(
            workload,
            n,
            window,
            `${n} exchanges (an ACQUIRE for a peer without SAs), ≤ ${window} outstanding`,
          ),
        );
      }
      if (want("rekey")) {
        const n = Math.min(sizes.rekey, peers);
        await lab.round(n, 0, 120_000); // every pair up (untimed)
        lab.begin();
        const r = await runWindowed({
          pids: lab.pids,
          inject: (i) => lab.rekey(i),
          poll: () => lab.poll(),
        }, {
          ...base,
          workload: "rekey",
          detail: `${n} rekeys requested at once (new CREATE, then DELETE of the old pair)`,
          n,
          window: n,
        });
        r.notes = "retransmission count includes the DELETE exchanges that follow each rekey";
        out.push(r);
      }
    });
  }
  // Bursts: P peers × S tunnel selectors (S = 0: transport mode), every ACQUIRE in one request.
  const burst = async (workload: string, p: number, s: number, detail: string, note: string) => {
    await withLab(o, p, s, async (lab) => {
      lab.begin();
      let fired = false;
      const f0 = lab.failures();
      const n = p * Math.max(1, s);
      const r = await runWindowed({
        pids: lab.pids,
        inject: async () => {
          if (!fired) {
            fired = true;
            await lab.injectMany(0, n, s === 0);
          }
        },
        poll: () => lab.poll(),
      }, { ...base, workload, detail, n, window: n });
      const failed = lab.failures() - f0;
      const ce = lab.controlErrors();
      r.notes = note + (failed ? `; ${failNote(failed)}` : "") +
        (ce.n ? `; ${ce.n} control errors (${ce.last})` : "");
      out.push(r);
    });
  };
  if (want("burst1000")) {
    const p = Math.min(sizes.burst, MAX_PEERS);
    await burst(
      "burst1000",
      p,
      0,
      `${p} ACQUIREs at once (one request to A's in-memory kernel), one per peer`,
      `${p} peers, transport mode`,
    );
  }
  if (want("peers1000x10")) {
    const p = Math.min(sizes.peers, MAX_PEERS), s = sizes.perPeer;
    await burst(
      "peers1000x10",
      p,
      s,
      `${p} peers × ${s} tunnel selectors: ${p * s} ACQUIREs at once`,
      `${p} peers × ${s} selectors, one SA pair per selector`,
    );
  }
  if (want("status1000")) {
    // STATUS from A to each of P peers at once, after one SA pair per peer is up (untimed). A
    // STATUS is one datagram each way: completions are the REPLYs A's namespace received.
    const p = Math.min(sizes.status, MAX_PEERS);
    await withLab(o, p, 0, async (lab) => {
      await lab.round(p, 0, 300_000);
      await sleep(1000);
      const in0 = udpCounters(lab.pids.initiator).in;
      let seen = 0;
      const r = await runWindowed({
        pids: lab.pids,
        inject: (i) => lab.probe(i),
        poll: () => {
          const now = udpCounters(lab.pids.initiator).in - in0;
          const out: { t: number }[] = [];
          for (; seen < Math.min(now, p); seen++) out.push({ t: nowMs() });
          return out;
        },
      }, {
        ...base,
        workload: "status1000",
        detail: `${p} STATUS exchanges (\`probe\`), one to each peer, all requested at once`,
        n: p,
        window: p,
      });
      const ce = lab.controlErrors();
      r.notes = "completion = a datagram received by A (the REPLY); latency to the poll (1 ms)" +
        (ce.n ? `; ${ce.n} control errors (${ce.last})` : "");
      out.push(r);
    });
  }
  if (want("hold100k")) {
    // 100,000 SAs per side: P peers × S tunnel selectors, one SA pair each (2 SAs per side).
    const pairs = Math.ceil(sizes.hold / 2);
    const p = Math.min(MAX_PEERS, pairs), s = Math.ceil(pairs / p);
    await withLab(o, p, s, async (lab) => {
      await sleep(3000);
      const idle = lab.rss();
      lab.begin();
      // ramp: ACQUIREs 200 at a time (one request each), at most 400 outstanding
      let done = 0, quarter: { rss: number; sas: number } | undefined;
      const r = await runWindowed({
        pids: lab.pids,
        inject: async (i) => {
          if (i % 200 === 0) await lab.injectMany(i, Math.min(200, p * s - i), false);
        },
        poll: () => {
          const c = lab.poll();
          done += c.length;
          if (!quarter && done >= (p * s) / 4) {
            quarter = { rss: lab.rss().responder, sas: done * 2 };
          }
          return c;
        },
      }, {
        ...base,
        workload: "hold100k",
        detail: `${p * s} pairs (${p * s * 2} SAs per side): ${p} peers × ${s} selectors, ` +
          `brought up ≤ 400 at a time, then held`,
        n: p * s,
        window: 400,
      });
      await sleep(5000);
      const r1 = lab.rss();
      const sas = r.completed * 2;
      r.rssMiB = { initiator: round(r1.initiator, 1), responder: round(r1.responder, 1) };
      const slope = quarter && sas > quarter.sas
        ? (r1.responder - quarter.rss) / (sas - quarter.sas)
        : NaN;
      r.notes =
        `RSS (initiator/responder) ${round(idle.initiator, 1)}/${
          round(idle.responder, 1)
        } MiB with the configuration loaded and no SA, ${round(r1.initiator, 1)}/${
          round(r1.responder, 1)
        } MiB holding ${sas} SAs per side` +
        (Number.isNaN(slope) ? "" : `; responder ${round(slope * 1024, 2)} KiB per SA from ` +
          `${quarter!.sas} to ${sas} SAs`);
      out.push(r);
    });
  }
  return out;
}

function failNote(n: number): string | undefined {
  return n > 0 ? `${n} exchange-failed events logged` : undefined;
}
