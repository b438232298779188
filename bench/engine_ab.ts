/**
 * Two versions of the engine exchange against each other in one process:
 * export each commit's tree (`git archive C | tar -x -C DIR`), then
 *
 *   deno run --allow-read --allow-env=TMPDIR --config deno.json \
 *     bench/engine_ab.ts DIR_A DIR_B [batches]
 *
 * Each batch times the crypto floor (A's), then A's and B's exchanges, the
 * two in alternating order from batch to batch, by process CPU; between
 * batches each engine lets go of its pairs (as `engine_ratio.ts` does). It
 * prints the medians and the median of B/A per batch. The tree loaded
 * second has measured a few per cent slower on its own (same tree twice:
 * ~1.00–1.04), so run both orders and take the geometric mean of B/A and
 * 1/(A/B): sqrt(r1 / r2).
 *
 * @module
 */
import { cpuUsage } from "node:process";

const [a, b, nb] = Deno.args;
if (!a || !b) {
  console.error("usage: engine_ab.ts DIR_A DIR_B [batches]");
  Deno.exit(2);
}
const A = await import(`${a}/bench/engine_bench.ts`);
const B = await import(`${b}/bench/engine_bench.ts`);
const batches = Number(nb ?? 30);
const batch = 100;

function floorOnce(): void {
  try {
    A.cryptoFloor();
  } catch {
    // see engine_bench.ts
  }
}

async function timed(f: () => unknown): Promise<number> {
  const c0 = cpuUsage();
  for (let i = 0; i < batch; i++) await f();
  const c = cpuUsage(c0);
  return (c.user + c.system) / batch;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

for (let i = 0; i < 300; i++) {
  await A.exchange(true);
  await B.exchange(true);
  floorOnce();
}
await A.settle(true);
await B.settle(true);
const fl: number[] = [], ea: number[] = [], eb: number[] = [];
for (let i = 0; i < batches; i++) {
  fl.push(await timed(floorOnce));
  const runA = async () => {
    ea.push(await timed(() => A.exchange(true)));
    await A.settle(true);
  };
  const runB = async () => {
    eb.push(await timed(() => B.exchange(true)));
    await B.settle(true);
  };
  if (i % 2 === 0) {
    await runA();
    await runB();
  } else {
    await runB();
    await runA();
  }
}
const ratio = (xs: number[]) => median(xs.map((x, i) => x / fl[i]!));
console.log(
  `floor ${median(fl).toFixed(0)} µs; A ${median(ea).toFixed(0)} µs (${ratio(ea).toFixed(2)}×); ` +
    `B ${median(eb).toFixed(0)} µs (${ratio(eb).toFixed(2)}×); B/A ${
      median(eb.map((x, i) => x / ea[i]!)).toFixed(3)
    }`,
);
