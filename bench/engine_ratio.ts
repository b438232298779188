/**
 * The engine exchange as a ratio to its crypto floor, robust to a shared
 * machine: the two are timed in alternating batches in one process (the
 * floor, then the same number of exchanges, again and again), and the
 * figure is the median over batches of each batch's ratio, by process CPU
 * time (user + system, so time spent waiting for a core does not count) and
 * by wall time. Same material as `engine_bench.ts` (which this imports).
 * Between batches (untimed) the engines delete the batch's pairs and let
 * the clock run past the grace periods, so each batch starts from the same
 * state rather than from one more pair per exchange ever made.
 *
 *   deno run --allow-read=. --allow-env=TMPDIR bench/engine_ratio.ts \
 *     [--batches 40] [--batch 100] [--kernel memory|noop] [--json]
 *
 * For a profile, add `--cpu-prof --cpu-prof-dir=DIR` before the script path
 * and `--only exchange` (no floor batches in the profile).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { cryptoFloor, exchange, floorCachedTicket, settle } from "./engine_bench.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    batches: { type: "string", default: "40" },
    batch: { type: "string", default: "100" },
    kernel: { type: "string", default: "memory" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const batches = Number(args.values.batches);
const batch = Number(args.values.batch);
const memory = args.values.kernel !== "noop";
const only = args.values.only;

function floorOnce(): void {
  try {
    cryptoFloor();
  } catch {
    // see engine_bench.ts
  }
}

function floorCachedOnce(): void {
  try {
    floorCachedTicket();
  } catch {
    // see engine_bench.ts
  }
}

interface Sample {
  cpu: number;
  wall: number;
}

async function timed(n: number, f: () => unknown): Promise<Sample> {
  const c0 = cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  const wall = (performance.now() - t0) * 1000 / n;
  const c = cpuUsage(c0);
  return { cpu: (c.user + c.system) / n, wall };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// Warm-up: JIT, ticket caches, wasm memory (the floors only when timed).
for (let i = 0; i < 300; i++) {
  await exchange(memory);
  if (only !== "exchange") {
    floorOnce();
    floorCachedOnce();
  }
}
await settle(memory);

const rows = { floor: [] as Sample[], cached: [] as Sample[], exchange: [] as Sample[] };
for (let b = 0; b < batches; b++) {
  if (only !== "exchange") {
    rows.floor.push(await timed(batch, floorOnce));
    rows.cached.push(await timed(batch, floorCachedOnce));
  }
  if (only !== "floor") rows.exchange.push(await timed(batch, () => exchange(memory)));
  // Untimed: the engines let go of the batch's pairs, so every batch starts alike.
  await settle(memory);
}

const out: Record<string, number> = {};
for (const k of ["cpu", "wall"] as const) {
  if (rows.floor.length) out[`floor_${k}_us`] = median(rows.floor.map((s) => s[k]));
  if (rows.cached.length) out[`floor_cached_ticket_${k}_us`] = median(rows.cached.map((s) => s[k]));
  if (rows.exchange.length) out[`exchange_${k}_us`] = median(rows.exchange.map((s) => s[k]));
  if (rows.floor.length && rows.exchange.length) {
    out[`ratio_${k}`] = median(rows.exchange.map((s, i) => s[k] / rows.floor[i]![k]));
    out[`ratio_cached_ticket_${k}`] = median(
      rows.exchange.map((s, i) => s[k] / rows.cached[i]![k]),
    );
  }
}
if (args.values.json) {
  console.log(JSON.stringify(out));
} else {
  console.log(
    `${batches} batches of ${batch}, ${memory ? "in-memory" : "no-op"} kernel (medians):`,
  );
  for (const [k, v] of Object.entries(out)) console.log(`  ${k.padEnd(34)} ${v.toFixed(2)}`);
}
