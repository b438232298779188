/**
 * The simulator in the unit tier: a few hundred seeds of the mixed
 * scenarios (every invariant of tests/sim/invariants.ts after every run),
 * bit-for-bit reproduction of a seed, a smaller many-peers run and a short
 * engine fuzz run. `deno task sim` and `deno task fuzz:engine` run more.
 *
 * Skipped, with the reason in the test name, while core/engine has no
 * Engine class.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadEngine } from "../../sim/world.ts";
import { MIXED, reproduceCommand, runScenario, scenarioFor } from "../../sim/scenarios.ts";
import { runEngineFuzz } from "../../fuzz/engine_fuzz.ts";
import { skipUnless } from "../../harness/tiers.ts";

const loaded = await loadEngine();
const why = typeof loaded === "string" ? loaded : undefined;
const engine = typeof loaded === "string" ? undefined : loaded;

/** Seeds of the mixed run (40 per scenario); `deno task sim --seeds N` runs more. */
const SEEDS = 240;

function report(r: Awaited<ReturnType<typeof runScenario>>): string {
  return `${r.scenario} seed ${r.seed}:\n  ${r.violations.slice(0, 5).join("\n  ")}\n  reproduce: ${
    reproduceCommand(r.scenario, r.seed)
  }`;
}

Deno.test({
  ...skipUnless(`sim: ${SEEDS} seeds of ${MIXED.join("/")} hold every invariant`, why),
  fn: async () => {
    const failures: string[] = [];
    let saUp = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runScenario(scenarioFor(seed), seed, engine!);
      saUp += r.saUp;
      if (r.violations.length) failures.push(report(r));
    }
    assert(saUp > 0, "no SA came up in any run");
    assertEquals(failures.length, 0, `${failures.length} failing seeds:\n${failures.join("\n")}`);
  },
});

Deno.test({
  ...skipUnless("sim: a seed reproduces bit for bit (digest of every datagram and kernel op)", why),
  fn: async () => {
    for (const name of MIXED) {
      const a = await runScenario(name, 7, engine!);
      const b = await runScenario(name, 7, engine!);
      const c = await runScenario(name, 8, engine!);
      assert(a.digest.length === 64, `${name}: no digest (${a.violations[0]})`);
      assertEquals(b.digest, a.digest, `${name} seed 7 ran differently twice`);
      assert(c.digest !== a.digest, `${name}: seeds 7 and 8 gave the same run`);
      assertEquals(b.stats, a.stats);
    }
  },
});

Deno.test({
  ...skipUnless(
    "sim skew: a CREATE to a peer beyond the skew window succeeds after the protected KRB_AP_ERR_SKEW",
    why,
  ),
  fn: async () => {
    const gaps: string[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const r = await runScenario("skew", seed, engine!);
      assertEquals(r.violations, [], report(r));
      for (const g of r.gaps) gaps.push(`seed ${seed}: ${g} (${reproduceCommand("skew", seed)})`);
    }
    assertEquals(gaps, []);
  },
});

Deno.test({
  ...skipUnless("sim: one hub with 50 peers × 10 SAs each", why),
  fn: async () => {
    const r = await runScenario("many", 1, engine!, { peers: 50, sasPerPeer: 10 });
    assertEquals(r.violations, [], report(r));
  },
});

Deno.test({
  ...skipUnless(
    "sim: each of a peer's selectors (UDP ports) gets its own SA pair from its ACQUIRE",
    why,
  ),
  fn: async () => {
    const r = await runScenario("many", 2, engine!, { peers: 5, sasPerPeer: 10 });
    assertEquals(r.violations, [], report(r));
    assertEquals(r.gaps, []);
  },
});

Deno.test({
  ...skipUnless("fuzz (short run): 3,000 random and mutated inputs into a live engine", why),
  fn: async () => {
    const r = await runEngineFuzz(engine!, 3000, 1);
    assertEquals(r.violations, []);
    assert(r.maxTransactions <= 64);
  },
});
