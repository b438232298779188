/**
 * The kinkd ↔ kinkd runs of the load benchmark.
 *
 * @module
 */
import { withNetns } from "../../tests/harness/netns.ts";
import { withRealm } from "../../tests/harness/krb5_realm.ts";
import { loadTempDir, runWindowed, sleep, type WorkloadResult } from "./common.ts";
import { KinkdLab } from "./kinkd.ts";
import type { Sizes } from "./workloads.ts";

/** Runs every workload kinkd has; returns one result per workload (n/a ones with a note). */
export async function runKinkd(sizes: Sizes, only: Set<string> | undefined): Promise<
  WorkloadResult[]
> {
  const want = (k: string) => !only || only.has(k);
  const out: WorkloadResult[] = [];
  await withNetns(2, async ([a, b]) => {
    await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: a!.name },
      async (realm) => {
        const dir = await loadTempDir("kinkd");
        let lab: KinkdLab | undefined;
        try {
          lab = await KinkdLab.start(dir, realm, a!, b!);
          const base = { impl: "kinkd", idleTimeoutMs: 35_000 };
          const windows: [string, number, number, string][] = [
            ["seq", sizes.seq, 1, `${sizes.seq} ACQUIREs, one at a time`],
            ["win10", sizes.win, 10, `${sizes.win} ACQUIREs, ≤ 10 outstanding`],
            ["win50", sizes.win, 50, `${sizes.win} ACQUIREs, ≤ 50 outstanding`],
            ["win200", sizes.win, 200, `${sizes.win} ACQUIREs, ≤ 200 outstanding`],
            ["burst1000", sizes.burst, sizes.burst, `${sizes.burst} ACQUIREs written at once`],
          ];
          for (const [workload, n, window, detail] of windows) {
            if (!want(workload)) continue;
            out.push(await runWindowed(lab, { ...base, workload, detail, n, window }));
            await sleep(1500); // let stray retransmissions die down between runs
          }
          if (want("rekey")) {
            // Every initiator-side outbound SA gets a soft EXPIRE at once.
            const spis = lab.outboundSpis.slice(-sizes.rekey);
            const r = await runWindowed({
              pids: lab.pids,
              inject: (i) => lab!.expire(spis[i]!),
              poll: () => lab!.poll(),
            }, {
              ...base,
              workload: "rekey",
              detail: `${spis.length} soft EXPIREs written at once (new CREATE, then DELETE)`,
              n: spis.length,
              window: spis.length,
            });
            r.notes = "retransmission count includes the DELETE exchanges that follow each rekey";
            out.push(r);
          }
        } finally {
          await lab?.stop();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
  for (
    const [k, why] of [
      ["peers1000x10", "kinkd's configuration names peers one by one (not run)"],
      ["status1000", "kinkd sends STATUS only on SIGUSR1 to peers it has state with (not run)"],
      ["hold100k", "not run for kinkd (its stand-in logs every SA to a file)"],
    ] as const
  ) {
    if (want(k)) out.push(na("kinkd", k, why));
  }
  return out;
}

/** A placeholder for a workload an implementation does not have. */
export function na(impl: string, workload: string, why: string): WorkloadResult {
  return {
    impl,
    workload,
    detail: "n/a",
    requested: 0,
    completed: 0,
    failures: 0,
    wallS: 0,
    rate: NaN,
    latencyMs: undefined,
    cpuMsPerExchange: undefined,
    cpuMsSplit: undefined,
    rssMiB: undefined,
    retransmissions: undefined,
    rcvbufErrors: undefined,
    notes: why,
  };
}
