/**
 * `deno task bench:load` — issue 14's load benchmark: kink ↔ kink, racoon2's
 * kinkd ↔ kinkd and strongSwan ↔ strongSwan on this machine in one run, each
 * pair of daemons in network namespaces of our own, real UDP, tickets (where
 * there are tickets) from a real MIT KDC fetched before anything is timed.
 *
 *     deno task bench:load [--quick] [--only seq,win50,…] [--impl kink,kinkd,strongswan]
 *                          [--kink-root DIR] [--out DIR] [--size peers=200,perPeer=5,…]
 *                          [--profile DIR]
 *
 * `--size` overrides sizes of workloads.ts (a smaller run of one workload);
 * `--profile DIR` runs kink's daemons under `deno run --cpu-prof` and writes
 * their V8 CPU profiles under DIR (summarise with bench/load/profile.ts).
 *
 * Prints markdown tables (every figure; kink's as ratios to the peers';
 * issue 14's targets) and writes `results.json` and `rate.svg` under
 * `--out` (default `bench/load/results/<UTC time>/`, git-ignored). Root only
 * (namespaces). `--kink-root` names the checkout whose `kink daemon` runs
 * (default: this one).
 *
 * Permissions: `--allow-all`. Deno refuses reads of `/proc/<pid>/…` (CPU,
 * RSS, a namespace's UDP counters) to anything less; the harness also runs
 * `ip`, `unshare`, MIT's KDC, kinkd, charon and the daemons as root.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { WorkloadResult } from "./common.ts";
import { kinkdAvailable } from "./kinkd.ts";
import { kinkDaemonAvailable } from "./kink.ts";
import { runKinkd } from "./run_kinkd.ts";
import { runKink } from "./run_kink.ts";
import { runStrongswan, strongswanAvailable } from "./run_strongswan.ts";
import { ratioTable, resultsTable, svgPlot, targetsTable } from "./report.ts";
import { FULL, QUICK, type Sizes } from "./workloads.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Runs the benchmark; returns every result. */
export async function main(argv: string[]): Promise<WorkloadResult[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      impl: { type: "string", default: "strongswan,kinkd,kink" },
      "kink-root": { type: "string" },
      out: { type: "string" },
      "daemon-extra": { type: "string", multiple: true },
      size: { type: "string" },
      profile: { type: "string" },
    },
  });
  if (Deno.uid() !== 0) throw new Error("bench:load needs root (network namespaces)");
  const sizes = { ...(values.quick ? QUICK : FULL) };
  for (const kv of values.size ? values.size.split(",") : []) {
    const [k, v] = kv.split("=");
    if (!k || !(k in sizes) || !(Number(v) > 0)) throw new Error(`--size: bad entry "${kv}"`);
    sizes[k as keyof Sizes] = Number(v);
  }
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  const impls = values.impl!.split(",");
  const kinkRoot = values["kink-root"] ?? ROOT;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const out = values.out ?? `${ROOT}/bench/load/results/${stamp}`;
  await Deno.mkdir(out, { recursive: true });
  const results: WorkloadResult[] = [];
  const skipped: string[] = [];
  const step = async (
    name: string,
    why: string | undefined,
    fn: () => Promise<WorkloadResult[]>,
  ) => {
    if (!impls.includes(name)) return;
    if (why) {
      skipped.push(`${name}: ${why}`);
      console.error(`[bench:load] ${name} skipped: ${why}`);
      return;
    }
    const t0 = Date.now();
    console.error(`[bench:load] ${name} …`);
    try {
      const rs = await fn();
      for (const r of rs) delete r.raw;
      results.push(...rs);
      console.error(`[bench:load] ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      skipped.push(`${name}: failed: ${(e as Error).message.split("\n")[0]}`);
      console.error(`[bench:load] ${name} failed: ${(e as Error).stack}`);
    }
    await Deno.writeTextFile(`${out}/results.json`, JSON.stringify({ results, skipped }, null, 2));
  };
  await step("strongswan", strongswanAvailable(), () => runStrongswan(sizes, only));
  await step("kinkd", kinkdAvailable(), () => runKinkd(sizes, only));
  await step(
    "kink",
    kinkDaemonAvailable(kinkRoot),
    () =>
      runKink({
        root: kinkRoot,
        sizes,
        only,
        ...(values["daemon-extra"] ? { daemonExtra: values["daemon-extra"] } : {}),
        ...(values.profile ? { profileDir: values.profile } : {}),
      }),
  );
  const meta = {
    when: new Date().toISOString(),
    quick: values.quick,
    sizes,
    kinkRoot,
    loadavg: (await Deno.readTextFile("/proc/loadavg")).trim(),
    cpus: navigator.hardwareConcurrency,
  };
  await Deno.writeTextFile(
    `${out}/results.json`,
    JSON.stringify({ meta, results, skipped }, null, 2),
  );
  await Deno.writeTextFile(
    `${out}/rate.svg`,
    svgPlot(results, `SA pairs per second, one run (${meta.when.slice(0, 16)}Z)`),
  );
  console.log(`## Load benchmark (${meta.when}, load ${meta.loadavg})\n`);
  console.log(resultsTable(results));
  console.log("\n### kink as ratios to the peers (same run)\n");
  console.log(ratioTable(results));
  console.log("\n### Issue 14 targets\n");
  console.log(targetsTable(results));
  for (const s of skipped) console.log(`\nskipped: ${s}`);
  const notes = results.filter((r) => r.notes).map((r) => `- ${r.impl} ${r.workload}: ${r.notes}`);
  if (notes.length) console.log(`\nNotes:\n${notes.join("\n")}`);
  for (const r of results) {
    if (r.detail !== "n/a") console.log(`- ${r.impl} ${r.workload}: ${r.detail}`);
  }
  console.log(`\nresults: ${out}/results.json, ${out}/rate.svg`);
  return results;
}

if (import.meta.main) {
  await main(Deno.args);
}
