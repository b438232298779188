/**
 * The simulator's scenarios. Each takes a seed, builds a {@link World},
 * drives traffic, operator commands and faults, runs until quiet and checks
 * the invariants (tests/sim/invariants.ts). A scenario's whole run is a
 * function of its seed.
 *
 * | name | what |
 * | --- | --- |
 * | `pair` | 2 gateways, every flow: ACQUIRE both ways at once, 3-way CREATE, PFS, user-to-user, STATUS, rekey, DELETE, down |
 * | `lossy` | 3 gateways meshed, 30 % loss, 10 % duplication, reordering (jitter ≫ spacing), a partition that heals |
 * | `restart` | a peer reboots (new epoch, empty kernel) in the middle of an exchange, and again within the same second after a new pair |
 * | `kdc` | the KDC is unavailable, then back |
 * | `skew` | one gateway's clock is beyond the Kerberos skew window |
 * | `rekey` | a storm of rekeys from both sides at once, plus kernel soft-expiry by traffic volume |
 * | `many` | one hub, N peers × K SAs each (1,000 × 10 by default) |
 *
 * @module
 */
import type { ProposalConfig } from "../../core/engine/api.ts";
import { randomBelow, SeededRandom } from "../../core/util/random.ts";
import { checkInvariants, checkReplayAndTamper } from "./invariants.ts";
import {
  type EngineCtor,
  type EngineFeatures,
  type GatewaySpec,
  type PairSpec,
  SIM_T0,
  World,
} from "./world.ts";

/** Outcome of one run. */
export interface RunResult {
  scenario: string;
  seed: number;
  violations: string[];
  /**
   * Expected engine behaviour that did not happen but breaks no invariant
   * (e.g. recovering from a protected KRB_AP_ERR_SKEW): reported apart, and
   * asserted by their own tests.
   */
  gaps: string[];
  digest: string;
  /** Number of sa-up / exchange-failed events. */
  saUp: number;
  failed: number;
  stats: World["stats"];
  virtualMs: number;
}

/** Options some scenarios read. */
export interface ScenarioOptions {
  /** Engine features (from `probeFeatures`); PFS is used only when `pfs === true`. */
  features?: EngineFeatures;
  /** `many`: number of peers of the hub. */
  peers?: number;
  /** `many`: SAs per peer. */
  sasPerPeer?: number;
}

type Scenario = (seed: number, engine: EngineCtor, o: ScenarioOptions) => Promise<RunResult>;

const esp = (id: number, keyBits?: number, authAlgorithm?: number): ProposalConfig => ({
  protocols: [{
    protocol: "esp",
    transforms: [{
      id,
      ...(keyBits ? { keyBits } : {}),
      ...(authAlgorithm ? { authAlgorithm } : {}),
    }],
  }],
});

/** Proposals the scenarios choose from. */
export const PROPOSALS: Record<string, ProposalConfig> = {
  "esp-aes128-sha1": esp(12, 128, 2),
  "esp-aes256-sha256": esp(12, 256, 5),
  "esp-gcm16-256": esp(20, 256),
  "ah-sha256": { protocols: [{ protocol: "ah", transforms: [{ id: 5 }] }] },
  "ah+esp": {
    protocols: [
      { protocol: "ah", transforms: [{ id: 5 }] },
      { protocol: "esp", transforms: [{ id: 12, keyBits: 128, authAlgorithm: 2 }] },
    ],
  },
};
const PROPOSAL_NAMES = Object.keys(PROPOSALS);

function pick<T>(r: SeededRandom, xs: readonly T[]): T {
  return xs[randomBelow(r, xs.length)]!;
}

function enctypes(r: SeededRandom): number[] {
  const all = [17, 18, 19, 20];
  const first = pick(r, all);
  return randomBelow(r, 2) ? [first] : [first, ...all.filter((e) => e !== first).slice(0, 1)];
}

function gateway(i: number, r: SeededRandom, extra: Partial<GatewaySpec> = {}): GatewaySpec {
  return {
    host: `gw${i}.sim.test`,
    address: `10.${(i >> 8) & 255}.${i & 255}.1`,
    enctypes: enctypes(r),
    ...extra,
  };
}

/** A pair with random proposals (sometimes a 3-way first choice), PFS and PRF reading. */
function pair(a: number, b: number, r: SeededRandom, ports: number[], opts: {
  pfs?: boolean;
} = {}): PairSpec {
  const common = PROPOSALS[pick(r, PROPOSAL_NAMES)]!;
  const threeWay = randomBelow(r, 3) === 0;
  const other = PROPOSALS[pick(r, PROPOSAL_NAMES)]!;
  const p: PairSpec = {
    a,
    b,
    // 3-way: a's first choice is one b does not accept, so b picks the second.
    proposalsA: threeWay && other !== common ? [other, common] : [common],
    proposalsB: [common],
    ports,
    prf: randomBelow(r, 2) ? "racoon2" : "mit",
  };
  // The draw happens whether or not the engine has PFS, so runs stay comparable.
  const pfs = randomBelow(r, 4) === 0 ? pick(r, [14, 19]) : undefined;
  if (opts.pfs !== false && pfs !== undefined && current.features?.pfs === true) p.pfsGroup = pfs;
  return p;
}

async function finish(
  w: World,
  scenario: string,
  r: SeededRandom,
  o: { settleMs?: number; skipPairsOf?: Set<number>; replay?: number } = {},
): Promise<RunResult> {
  const quiet = await w.runUntilQuiet(o.settleMs ?? 400_000);
  const violations = quiet
    ? []
    : ["the world never became quiet (transactions or events still pending)"];
  const inv: Parameters<typeof checkInvariants>[1] = {};
  if (o.skipPairsOf) inv.skipPairsOf = o.skipPairsOf;
  violations.push(...await checkInvariants(w, inv));
  if (quiet && violations.length === 0 && (o.replay ?? 8) > 0) {
    violations.push(...await checkReplayAndTamper(w, r, o.replay ?? 8));
    violations.push(...(await checkInvariants(w, inv)).filter((x) => !violations.includes(x)));
  }
  const result: RunResult = {
    scenario,
    seed: w.seed,
    violations,
    gaps: [],
    digest: w.digest(),
    saUp: w.events.filter((e) => e.event.type === "sa-up").length,
    failed: w.events.filter((e) => e.event.type === "exchange-failed").length,
    stats: { ...w.stats },
    virtualMs: w.now - SIM_T0,
  };
  await w.close();
  return result;
}

/** A spi of one of gateway i's SA pairs with `peer`, for a DELETE command. */
function someSpi(w: World, i: number, peer: string, r: SeededRandom): number | undefined {
  const pairs = w.gateways[i]!.engine.status().saPairs.filter((p) => p.peer === peer);
  if (pairs.length === 0) return undefined;
  const p = pick(r, pairs);
  return (p.inbound[0] ?? p.outbound[0])?.spi;
}

// ---------------------------------------------------------------------------

const pairScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x5ca1ab1e);
  const u2u = randomBelow(r, 4) === 0;
  const gws = [gateway(0, r), gateway(1, r, u2u ? { userToUserOnly: true } : {})];
  const w = await World.create({
    seed,
    engine,
    gateways: gws,
    pairs: [pair(0, 1, r, [5001, 5002, 5003, 5004])],
  });
  const t = w.now;
  w.at(t, () => void w.traffic(0, 1, 5001));
  w.at(t + randomBelow(r, 50), () => void w.traffic(1, 0, 5002));
  w.at(t + 2_000, () => w.command(0, { kind: "status", peer: "gw1" }));
  const side = randomBelow(r, 2);
  w.at(t + 5_000, () => w.command(side, { kind: "rekey", peer: `gw${1 - side}` }));
  w.at(t + 20_000, async () => {
    const spi = someSpi(w, 1, "gw0", r);
    if (spi !== undefined) await w.command(1, { kind: "delete", peer: "gw0", spi });
  });
  w.at(t + 30_000, () => void w.traffic(0, 1, 5003));
  if (randomBelow(r, 2)) {
    w.at(t + 60_000, () => w.command(0, { kind: "down", peer: "gw1" }));
    w.at(t + 70_000, () => void w.traffic(1, 0, 5004));
  } else {
    w.at(t + 60_000, () => w.command(1, { kind: "up", peer: "gw0" }));
  }
  await w.runFor(80_000);
  return finish(w, "pair", r);
};

const lossyScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x1055);
  const gws = [0, 1, 2].map((i) => gateway(i, r));
  const w = await World.create({
    seed,
    engine,
    gateways: gws,
    pairs: [
      pair(0, 1, r, [6001, 6002]),
      pair(1, 2, r, [6003, 6004]),
      pair(0, 2, r, [6005, 6006]),
    ],
    link: { latencyMs: 10, jitterMs: 80, loss: 0.3, dup: 0.1 },
  });
  const t = w.now;
  const flows: [number, number, number][] = [
    [0, 1, 6001],
    [1, 0, 6002],
    [1, 2, 6003],
    [2, 1, 6004],
    [0, 2, 6005],
    [2, 0, 6006],
  ];
  for (const [a, b, port] of flows) {
    w.at(t + randomBelow(r, 200), () => void w.traffic(a, b, port));
  }
  // A partition between 0 and 2 that heals before the retransmissions give up.
  w.at(t + 50, () => w.partition(0, 2, true));
  w.at(t + 50 + randomBelow(r, 10_000), () => w.partition(0, 2, false));
  w.at(t + 40_000, () => w.command(1, { kind: "rekey", peer: "gw0" }));
  await w.runFor(60_000);
  // The loss stops before the end, so retries can finish and the world be judged.
  w.setDefaultLink({ loss: 0, dup: 0, jitterMs: 2 });
  return finish(w, "lossy", r);
};

const restartScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x4e57);
  const gws = [0, 1, 2].map((i) => gateway(i, r));
  const w = await World.create({
    seed,
    engine,
    gateways: gws,
    pairs: [pair(0, 1, r, [7001, 7002, 7003]), pair(0, 2, r, [7004])],
  });
  // On a whole second, so both reboots below fall within one second.
  const t = Math.ceil(w.now / 1000) * 1000;
  w.at(t, () => void w.traffic(0, 2, 7004));
  w.at(t + 1_000, () => void w.traffic(0, 1, 7001));
  // Reboot gateway 1 somewhere inside its first exchange.
  w.at(t + 1_000 + randomBelow(r, 40), () => w.restart(1));
  // It negotiates a pair at once, and reboots again within the same second (a crash loop,
  // a fast supervisor): gateway 0 must still see a new epoch and drop that pair (§3.7).
  w.at(t + 1_100, async () => {
    await w.traffic(1, 0, 7003);
  });
  w.at(t + 1_600 + randomBelow(r, 300), () => w.restart(1));
  // Both sides need SAs again afterwards.
  w.at(t + 10_000, () => void w.traffic(1, 0, 7002));
  w.at(t + 12_000, () => w.command(0, { kind: "up", peer: "gw1" }));
  await w.runFor(20_000);
  return finish(w, "restart", r);
};

const kdcScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x0cdc);
  const gws = [0, 1].map((i) => gateway(i, r));
  const w = await World.create({
    seed,
    engine,
    gateways: gws,
    pairs: [pair(0, 1, r, [8001, 8002, 8003])],
  });
  const t = w.now;
  w.at(t, () => w.kdc.setAvailable(false));
  w.at(t + 10, () => void w.traffic(0, 1, 8001));
  w.at(t + 20 + randomBelow(r, 100), () => void w.traffic(1, 0, 8002));
  w.at(t + 5_000 + randomBelow(r, 30_000), () => w.kdc.setAvailable(true));
  w.at(t + 40_000, () => w.command(0, { kind: "up", peer: "gw1" }));
  w.at(t + 41_000, () => void w.traffic(1, 0, 8003));
  await w.runFor(60_000);
  const res = await finish(w, "kdc", r);
  if (res.saUp === 0) res.violations.push("kdc: no SA came up after the KDC was back");
  return res;
};

const skewScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x5e3);
  const offset = (randomBelow(r, 2) ? 1 : -1) * (301_000 + randomBelow(r, 600_000));
  const gws = [gateway(0, r), gateway(1, r, { clockOffsetMs: offset }), gateway(2, r)];
  const w = await World.create({
    seed,
    engine,
    gateways: gws,
    pairs: [pair(0, 1, r, [9001, 9002]), pair(0, 2, r, [9003])],
  });
  const t = w.now;
  w.at(t, () => void w.traffic(0, 1, 9001));
  w.at(t + randomBelow(r, 100), () => void w.traffic(1, 0, 9002));
  w.at(t + randomBelow(r, 100), () => void w.traffic(0, 2, 9003));
  await w.runFor(60_000);
  const res = await finish(w, "skew", r);
  // gw0's CREATE reaches gw1, whose clock is off: gw1 answers with a
  // Cksum-protected KRB_AP_ERR_SKEW, and gw0 must correct and succeed (§3.5)
  // — when gw1's clock is ahead. Behind by more than the skew, gw1 sees every
  // ticket the KDC issues as not yet valid (KRB_AP_ERR_TKT_NYV): no cure.
  const ok01 = w.events.some((e) =>
    e.event.type === "sa-up" && e.gateway === 0 && e.event.peer === "gw1" && e.event.initiator
  );
  if (!ok01 && offset > 0) {
    res.gaps.push(
      "skew: gw0's CREATE to gw1 (clock beyond the window) did not succeed after the protected KRB_AP_ERR_SKEW",
    );
  }
  // The unskewed pair must not suffer.
  const ok02 = w.events.some((e) =>
    e.event.type === "sa-up" && e.gateway === 0 && e.event.peer === "gw2"
  );
  if (!ok02) res.violations.push("skew: gw0-gw2 (clocks in step) got no SA");
  return res;
};

const rekeyScenario: Scenario = async (seed, engine) => {
  const r = new SeededRandom(seed ^ 0x4e6e);
  const n = 2 + randomBelow(r, 3);
  const gws = Array.from({ length: n }, (_, i) => gateway(i, r));
  const pairs: PairSpec[] = [];
  let port = 10_000;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const p = pair(a, b, r, [port++, port++]);
      p.extra = { lifetime: { seconds: 28_800, kilobytes: 64 } };
      pairs.push(p);
    }
  }
  const w = await World.create({ seed, engine, gateways: gws, pairs });
  const t = w.now;
  for (const p of pairs) {
    w.at(t + randomBelow(r, 100), () => void w.traffic(p.a, p.b, p.ports[0]!));
    w.at(t + randomBelow(r, 100), () => void w.traffic(p.b, p.a, p.ports[1]!));
  }
  // The storm: rekeys from both sides within 50 ms, several per pair.
  for (let k = 0; k < 6 * pairs.length; k++) {
    const p = pick(r, pairs);
    const [me, peer] = randomBelow(r, 2) ? [p.a, p.b] : [p.b, p.a];
    w.at(
      t + 10_000 + randomBelow(r, 50),
      () => w.command(me, { kind: "rekey", peer: `gw${peer}` }),
    );
  }
  // Volume: enough bytes to pass a 64 KiB soft limit on some SAs (kernel soft EXPIRE).
  for (const p of pairs) {
    w.at(t + 30_000 + randomBelow(r, 100), () => void w.traffic(p.a, p.b, p.ports[0]!, 60_000));
  }
  await w.runFor(60_000);
  return finish(w, "rekey", r);
};

const manyScenario: Scenario = async (seed, engine, o) => {
  const r = new SeededRandom(seed ^ 0x3a3a);
  const peers = o.peers ?? 1000;
  const k = o.sasPerPeer ?? 10;
  const gws = Array.from({ length: peers + 1 }, (_, i) => gateway(i, r));
  const pairs: PairSpec[] = [];
  for (let i = 1; i <= peers; i++) {
    pairs.push(pair(0, i, r, Array.from({ length: k }, (_, j) => 20_000 + j), { pfs: false }));
  }
  const w = await World.create({ seed, engine, gateways: gws, pairs, record: peers <= 100 });
  const t = w.now;
  for (let i = 1; i <= peers; i++) {
    for (let j = 0; j < k; j++) {
      const [a, b] = j % 2 ? [0, i] : [i, 0];
      w.at(t + randomBelow(r, 10_000), () => void w.traffic(a, b, 20_000 + j));
    }
  }
  await w.runFor(30_000);
  const res = await finish(w, "many", r, { replay: peers <= 100 ? 8 : 0 });
  // Every peer must get SAs; each of its K selectors should get its own pair.
  const withSa = new Set(
    w.events.filter((e) => e.event.type === "sa-up" && e.gateway === 0).map((e) =>
      e.event.type === "sa-up" ? e.event.peer : ""
    ),
  );
  if (withSa.size < peers) {
    res.violations.push(`many: ${withSa.size} of ${peers} peers got SAs with the hub`);
  }
  if (res.saUp / 2 < peers * k) {
    res.gaps.push(
      `many: ${
        res.saUp / 2
      } SA pairs for ${peers} peers × ${k} selectors (one pair per selector expected)`,
    );
  }
  return res;
};

/** Every scenario by name. */
export const SCENARIOS: Record<string, Scenario> = {
  pair: pairScenario,
  lossy: lossyScenario,
  restart: restartScenario,
  kdc: kdcScenario,
  skew: skewScenario,
  rekey: rekeyScenario,
  many: manyScenario,
};

/** The scenarios a mixed run rotates through (all but the heavy `many`). */
export const MIXED = ["pair", "lossy", "restart", "kdc", "skew", "rekey"];

/** The scenario a mixed run gives `seed`. */
export function scenarioFor(seed: number): string {
  return MIXED[seed % MIXED.length]!;
}

const current: { features?: EngineFeatures } = {};

/** Runs one scenario for one seed; engine exceptions and driver problems become violations. */
export async function runScenario(
  name: string,
  seed: number,
  engine: EngineCtor,
  o: ScenarioOptions = {},
): Promise<RunResult> {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`unknown scenario ${name} (known: ${Object.keys(SCENARIOS).join(", ")})`);
  if (o.features) current.features = o.features;
  else delete current.features;
  try {
    return await s(seed, engine, o);
  } catch (e) {
    return {
      scenario: name,
      seed,
      violations: [`the run threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`],
      gaps: [],
      digest: "",
      saUp: 0,
      failed: 0,
      stats: {} as World["stats"],
      virtualMs: 0,
    };
  }
}

/** The one command that reproduces a run. */
export function reproduceCommand(name: string, seed: number): string {
  return `deno task sim --seeds 1 --start ${seed} --scenario ${name}`;
}
