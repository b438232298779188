/**
 * The kink ↔ kink runs of the load benchmark (see kink.ts for the set-up).
 *
 * @module
 */
import { withNetns } from "../../tests/harness/netns.ts";
import { withRealm } from "../../tests/harness/krb5_realm.ts";
import { round, runWindowed, type WorkloadResult } from "./common.ts";
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
        const dir = await Deno.makeTempDir({ prefix: "kink-load-kink-" });
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

/** Runs kink's workloads. */
export async function runKink(o: KinkRunOptions): Promise<WorkloadResult[]> {
  const { sizes } = o;
  const want = (k: string) => !o.only || o.only.has(k);
  const impl = o.impl ?? "kink";
  const out: WorkloadResult[] = [];
  const peers = Math.max(sizes.seq, sizes.win, sizes.burst, sizes.rekey);
  const base = { impl, idleTimeoutMs: 35_000 };
  if (["seq", "win10", "win50", "win200", "burst1000", "rekey"].some(want)) {
    await withLab(o, peers, 0, async (lab) => {
      const windows: [string, number, number, string][] = [
        ["seq", sizes.seq, 1, `${sizes.seq} peers brought up one at a time`],
        ["win10", sizes.win, 10, `${sizes.win} peers, ≤ 10 outstanding`],
        ["win50", sizes.win, 50, `${sizes.win} peers, ≤ 50 outstanding`],
        ["win200", sizes.win, 200, `${sizes.win} peers, ≤ 200 outstanding`],
      ];
      for (const [workload, n, window, detail] of windows) {
        if (!want(workload)) continue;
        lab.begin();
        const f0 = lab.failures();
        const r = await runWindowed(lab, { ...base, workload, detail, n, window });
        r.notes = failNote(lab.failures() - f0);
        out.push(r);
        await lab.reset();
      }
      if (want("burst1000")) {
        lab.begin();
        const n = sizes.burst;
        const f0 = lab.failures();
        let fired = false;
        const r = await runWindowed({
          pids: lab.pids,
          // all n `up`s in one write on the control socket
          inject: async (i) => {
            if (!fired) {
              fired = true;
              await lab.injectMany(0, n);
            }
            void i;
          },
          poll: () => lab.poll(),
        }, { ...base, workload: "burst1000", detail: `${n} ups in one write`, n, window: n });
        r.notes = failNote(lab.failures() - f0);
        out.push(r);
      }
      if (want("rekey")) {
        // every pair up (untimed), then a rekey of every peer at once
        if (!want("burst1000")) await lab.round(sizes.rekey, 0, 120_000);
        lab.begin();
        const n = Math.min(sizes.rekey, sizes.burst);
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
  if (want("peers1000x10")) {
    const p = sizes.peers, s = sizes.perPeer;
    await withLab(o, p, s, async (lab) => {
      lab.begin();
      // one `up` per peer starts all of its selectors' CREATEs
      let fired = 0;
      const r = await runWindowed({
        pids: lab.pids,
        inject: async () => {
          if (fired === 0) {
            fired = 1;
            await lab.injectMany(0, p);
          }
        },
        poll: () => lab.poll(),
      }, {
        ...base,
        workload: "peers1000x10",
        detail: `${p} peers × ${s} tunnel selectors, every peer up at once`,
        n: p,
        window: p,
      });
      // poll() counts a peer once its first pair is up on both sides; count all pairs
      r.notes = `rate counts peers with a first pair up; RSS after ${p * s} pairs ` +
        `(${p * s * 2} SAs per side)`;
      r.rssMiB = {
        initiator: round(lab.rss().initiator, 1),
        responder: round(lab.rss().responder, 1),
      };
      out.push(r);
    });
  }
  if (want("status1000")) {
    out.push(
      na(impl, "status1000", "the control socket has no STATUS probe command yet (not run)"),
    );
  }
  if (want("hold100k")) {
    out.push(
      na(
        impl,
        "hold100k",
        "see peers1000x10 RSS (100,000 SAs needs 50 selectors × 1,000 peers: config over 1 MiB)",
      ),
    );
  }
  return out;
}

function failNote(n: number): string | undefined {
  return n > 0 ? `${n} exchange-failed events logged` : undefined;
}
