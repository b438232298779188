/**
 * The kink ↔ kink runs of the load benchmark (see kink.ts for the set-up).
 *
 * @module
 */
import { withNetns } from "../../tests/harness/netns.ts";
import { withRealm } from "../../tests/harness/krb5_realm.ts";
import { loadTempDir, mergeRounds, round, runWindowed, type WorkloadResult } from "./common.ts";
import { KinkLab } from "./kink.ts";
import { na } from "./run_kinkd.ts";
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

/** Most peers one `kink daemon` configuration may name (one reqid block of 256 each). */
export const MAX_PEERS = 250;

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
            `${n} exchanges (\`up\` of a peer without SAs), ≤ ${window} outstanding`,
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
  // Bursts: P peers × S tunnel selectors, one `up` per peer (all in one write) starts S CREATEs.
  const burst = async (workload: string, p: number, s: number, detail: string, note: string) => {
    await withLab(o, p, s, async (lab) => {
      lab.begin();
      let fired = false;
      const f0 = lab.failures();
      const r = await runWindowed({
        pids: lab.pids,
        inject: async () => {
          if (!fired) {
            fired = true;
            await lab.injectMany(0, p, false);
          }
        },
        poll: () => lab.poll(),
      }, { ...base, workload, detail, n: p * s, window: p * s });
      const failed = lab.failures() - f0;
      r.notes = note + (failed ? `; ${failNote(failed)}` : "");
      out.push(r);
    });
  };
  if (want("burst1000")) {
    const s = Math.max(1, Math.round(sizes.burst / peers));
    await burst(
      "burst1000",
      peers,
      s,
      `${peers * s} CREATEs at once: ${peers} peers × ${s} selectors, all \`up\`s in one write`,
      "a config names ≤ 256 peers, so the burst is spread over selectors",
    );
  }
  if (want("peers1000x10")) {
    const p = Math.min(sizes.peers, peers), s = sizes.perPeer;
    await burst(
      "peers1000x10",
      p,
      s,
      `${p} peers × ${s} tunnel selectors, every peer up at once`,
      `${p} peers, not ${sizes.peers}: a configuration names ≤ 256`,
    );
  }
  if (want("hold100k")) {
    // 100,000 SAs per side needs 50,000 selectors: over the 1 MiB configuration limit. Measure
    // RSS at two sizes and extrapolate linearly.
    const s = Math.min(48, Math.ceil(sizes.hold / 2 / peers)),
      p = Math.min(peers, Math.ceil(sizes.hold / 2 / s));
    await withLab(o, p, s, async (lab) => {
      lab.begin();
      // ramp: one `up` per peer (S CREATEs), at most 4 peers' worth outstanding
      let done = 0, quarter: { rss: number; sas: number } | undefined;
      const r = await runWindowed({
        pids: lab.pids,
        inject: async (i) => {
          if (i % s === 0) await lab.inject(i / s);
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
        detail: `${p * s} pairs (${p * s * 2} SAs per side) brought up ${
          4 * s
        } at a time, then held`,
        n: p * s,
        window: 4 * s,
      });
      await new Promise((res) => setTimeout(res, 3000));
      const r1 = lab.rss();
      const sas = r.completed * 2;
      r.rssMiB = { initiator: round(r1.initiator, 1), responder: round(r1.responder, 1) };
      if (quarter && sas > quarter.sas && r1.responder <= quarter.rss) {
        r.notes = `responder RSS ${round(quarter.rss, 1)} MiB at ${quarter.sas} SAs, ` +
          `${round(r1.responder, 1)} MiB at ${sas}: it fell (start-up garbage — the parsed ` +
          `configuration of ${p * s} selectors — collected), so no per-SA slope; ` +
          `100,000 SAs need 50,000 selectors, over the configuration's 1 MiB limit`;
      } else if (quarter && sas > quarter.sas) {
        const slope = (r1.responder - quarter.rss) / (sas - quarter.sas);
        const at100k = r1.responder + slope * (100_000 - sas);
        r.notes = `responder RSS ${round(quarter.rss, 1)} MiB at ${quarter.sas} SAs, ` +
          `${round(r1.responder, 1)} MiB at ${sas}: ${round(slope * 1024, 2)} KiB/SA, ` +
          `≈ ${round(at100k, 0)} MiB at 100,000 SAs (linear; a configuration cannot name ` +
          `50,000 selectors under its 1 MiB limit)`;
      }
      out.push(r);
    });
  }
  if (want("status1000")) {
    out.push(
      na(impl, "status1000", "the control socket has no STATUS probe command yet (not run)"),
    );
  }
  return out;
}

function failNote(n: number): string | undefined {
  return n > 0 ? `${n} exchange-failed events logged` : undefined;
}
