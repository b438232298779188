/**
 * SA installation through kink's netlink FFI against `ip -batch` at batch
 * sizes 1, 10, 100 and 1,000 (issue 14: "at least as fast as `ip -batch` at
 * every batch size, including one SA per exchange under load"). Needs a
 * kernel with ESP: bench/xfrm_vm.ts runs it inside the qemu VM (then only the
 * ratios mean anything: the CPU is emulated).
 *
 * For batch size B, one run installs the same N SAs (AES-GCM, tunnel mode) in
 * N / B batches, each waited for before the next starts — what a daemon does
 * that installs the SAs of B concurrent exchanges together:
 * - kink: `addSas(batch, B)` (all B messages in one `sendto`, every ack
 *   read); at B = 1 `addSa` (one request, one ack: one SA per exchange);
 * - `ip -batch` (baseline): ip is already running (start-up outside the timed
 *   region); the B `xfrm state add` lines are written to its stdin, then
 *   `xfrm policy count`, and the batch is done when ip answers that (ip
 *   prints nothing for an add, so this is how a caller learns the batch was
 *   executed; one GETSPDINFO per batch more than kink's requests).
 * The SAs are flushed between runs (outside the timed region); the variants
 * alternate, 7 rounds; every run checks the kernel holds exactly N SAs. The
 * median time per SA of each variant is reported, and kink's as a ratio to
 * ip's of the same batch size.
 *
 *     deno run --allow-all bench/xfrm_batch.ts [--json FILE] [--rounds 7] [--n 1000]
 *
 * Root (a network namespace of its own). Never part of a test tier.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { NetlinkKernel } from "../core/kernel/mod.ts";
import { benchSas, IpBatch, saLine } from "./ip_batch.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "string" },
    rounds: { type: "string", default: "7" },
    n: { type: "string", default: "1000" },
  },
});
const ROUNDS = Number(values.rounds);
const N = Number(values.n);
const SIZES = [1, 10, 100, 1000].filter((b) => b <= N);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const name = `kink-xfrm-batch-${Deno.pid}`;
await new Deno.Command("ip", { args: ["netns", "add", name] }).output();
let ip: IpBatch | undefined;
let k: NetlinkKernel | undefined;
try {
  k = NetlinkKernel.open({ netns: `/run/netns/${name}` });
  ip = await IpBatch.start(name);
  const all = benchSas(N);
  // kink's configurations are made per run (the daemon builds them per exchange; addSas wipes
  // the keys it encoded, not the caller's); ip's text is made once, outside the timed region.
  const text = (b: number) => {
    const out: string[] = [];
    for (let i = 0; i < N; i += b) out.push(all.slice(i, i + b).map(saLine).join("\n") + "\n");
    return out;
  };
  const texts = new Map(SIZES.map((b) => [b, text(b)]));
  const expect = async (what: string) => {
    const got = (await k!.listSas()).length;
    if (got !== N) throw new Error(`${what}: ${got} SAs installed, expected ${N}`);
  };
  const times = new Map<string, number[]>();
  const rec = (key: string, ms: number) => {
    const l = times.get(key);
    if (l) l.push(ms);
    else times.set(key, [ms]);
  };
  // warm-up: one run of each (JIT, ip's page cache)
  for (let round = -1; round < ROUNDS; round++) {
    for (const b of SIZES) {
      await k.flushSas();
      let t = performance.now();
      if (b === 1) {
        for (const sa of all) await k.addSa(sa);
      } else {
        for (let i = 0; i < N; i += b) {
          const r = await k.addSas(all.slice(i, i + b), b);
          const bad = r.find((x) => x !== undefined);
          if (bad) throw bad;
        }
      }
      let ms = performance.now() - t;
      await expect(`kink B=${b}`);
      if (round >= 0) rec(`kink ${b}`, ms);
      await k.flushSas();
      const batches = texts.get(b)!;
      t = performance.now();
      for (const cmds of batches) await ip.run(cmds);
      ms = performance.now() - t;
      await expect(`ip B=${b}`);
      if (round >= 0) rec(`ip ${b}`, ms);
    }
  }
  await k.flushSas();
  const rows = SIZES.map((b) => {
    const kk = median(times.get(`kink ${b}`)!), ii = median(times.get(`ip ${b}`)!);
    return {
      batch: b,
      kinkUsPerSa: Math.round(kk * 1000 / N * 10) / 10,
      ipUsPerSa: Math.round(ii * 1000 / N * 10) / 10,
      kinkOverIp: Math.round(kk / ii * 100) / 100,
      kinkRuns: times.get(`kink ${b}`)!.map((x) => Math.round(x)),
      ipRuns: times.get(`ip ${b}`)!.map((x) => Math.round(x)),
    };
  });
  console.log(`SA installs, ${N} per run, median of ${ROUNDS} alternating rounds\n`);
  console.log("| SAs per batch | kink µs/SA | ip -batch µs/SA | kink time ÷ ip time |");
  console.log("|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.batch} | ${r.kinkUsPerSa} | ${r.ipUsPerSa} | ${r.kinkOverIp.toFixed(2)} |`);
  }
  const result = { n: N, rounds: ROUNDS, rows, loadavg: Deno.readTextFileSync("/proc/loadavg") };
  console.log(`\nJSON ${JSON.stringify(result)}`);
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2) + "\n");
} finally {
  await ip?.close();
  await k?.close();
  await new Deno.Command("ip", { args: ["netns", "del", name] }).output();
}
