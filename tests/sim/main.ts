/**
 * `deno task sim --seeds N [--start SEED] [--scenario S] [--repro] [--peers P --sas K]`:
 * runs N seeds of the simulator (tests/sim/scenarios.ts) and prints one
 * line per failing seed with the command that reproduces it. Without
 * `--scenario` the seeds rotate through every scenario but `many`. With
 * `--repro` each seed runs twice and the two digests of every datagram and
 * kernel operation must be equal. Exit status 1 when any seed failed.
 *
 * @module
 */
import { loadEngine, probeFeatures } from "./world.ts";
import { reproduceCommand, runScenario, scenarioFor, SCENARIOS } from "./scenarios.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const seeds = Number(arg("seeds") ?? "100");
const start = Number(arg("start") ?? "1");
const only = arg("scenario");
const repro = Deno.args.includes("--repro");
const verbose = Deno.args.includes("--verbose");
if (!Number.isInteger(seeds) || seeds < 1 || !Number.isInteger(start)) {
  console.error("usage: deno task sim --seeds N [--start SEED] [--scenario S] [--repro]");
  Deno.exit(2);
}
if (only && !SCENARIOS[only]) {
  console.error(`unknown scenario ${only}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  Deno.exit(2);
}
const engine = await loadEngine();
if (typeof engine === "string") {
  console.error(`sim: ${engine}`);
  Deno.exit(1);
}
const features = probeFeatures(engine);
if (features.pfs !== true) console.log(`note: runs without PFS — the engine says: ${features.pfs}`);
const opts: Parameters<typeof runScenario>[3] & object = { features };
if (arg("peers")) opts.peers = Number(arg("peers"));
if (arg("sas")) opts.sasPerPeer = Number(arg("sas"));

const t0 = performance.now();
let failed = 0;
const gaps = new Map<string, number>();
const perScenario = new Map<string, { runs: number; failed: number; saUp: number }>();
for (let seed = start; seed < start + seeds; seed++) {
  const name = only ?? scenarioFor(seed);
  const r = await runScenario(name, seed, engine, opts);
  if (repro && r.violations.length === 0) {
    const again = await runScenario(name, seed, engine, opts);
    if (again.digest !== r.digest) {
      r.violations.push(
        `not reproducible: digest ${r.digest.slice(0, 16)} then ${again.digest.slice(0, 16)}`,
      );
    }
  }
  for (const g of r.gaps) gaps.set(g, (gaps.get(g) ?? 0) + 1);
  const s = perScenario.get(name) ?? { runs: 0, failed: 0, saUp: 0 };
  s.runs++;
  s.saUp += r.saUp;
  if (r.violations.length) {
    failed++;
    s.failed++;
    console.log(`FAIL ${name} seed ${seed}: ${r.violations.length} violation(s)`);
    for (const v of r.violations.slice(0, verbose ? 50 : 3)) console.log(`  - ${v}`);
    console.log(`  reproduce: ${reproduceCommand(name, seed)}`);
  } else if (verbose) {
    console.log(
      `ok ${name} seed ${seed}: ${r.saUp} sa-up, ${r.failed} failed exchanges, ` +
        `${r.stats.datagrams} datagrams, ${r.stats.kernelOps} kernel ops, digest ${
          r.digest.slice(0, 16)
        }`,
    );
  }
  perScenario.set(name, s);
}
const secs = ((performance.now() - t0) / 1000).toFixed(1);
for (const [g, n] of gaps) console.log(`engine gap in ${n} seed(s): ${g}`);
for (const [name, s] of perScenario) {
  console.log(`${name}: ${s.runs} seeds, ${s.failed} failed, ${s.saUp} sa-up events`);
}
console.log(`${seeds} seeds (${start}..${start + seeds - 1}), ${failed} failed, ${secs} s`);
Deno.exit(failed ? 1 : 0);
