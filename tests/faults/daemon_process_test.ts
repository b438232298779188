/**
 * Process faults with real `kink daemon`s (memory kernel; the host kernel
 * has no ESP) and a real MIT KDC:
 *
 * - KDC outage (the KDC process stopped with SIGSTOP, so requests go
 *   unanswered): a new negotiation fails with a per-peer reason in the
 *   status, the control socket keeps answering (latency printed), the SAs
 *   already established stay, a rekey of them works from the cached ticket,
 *   and once the KDC answers again a new negotiation succeeds;
 * - peer restart (SIGKILL, new epoch) while idle and in the middle of an
 *   exchange: the surviving side notices (dead-peer probe) and drops the
 *   stale pair, and a new `up` gives exactly matching SAs;
 * - own SIGKILL at random points of a busy run (during CREATE, right after
 *   it, during a rekey), restart: the peer ends with exactly the pairs the
 *   restarted side holds, nothing leaked or duplicated.
 *
 * Every restart must announce a newer epoch, also one within the same second
 * as the previous start (both tests once failed by chance when it did not).
 * Every daemon log line of each test is searched for every keytab key.
 * `KINK_FAULTS_LONG=1`: 20 own-kill rounds instead of 4. `KINK_FAULTS_LOGDIR=DIR`
 * keeps the daemons' logs and final statuses of the restart tests there.
 */
import assert from "node:assert/strict";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../harness/tiers.ts";
import { sleep } from "../harness/exec.ts";
import {
  type Gateway,
  startGateway,
  type StatusJson,
  stopGateway,
  waitFor,
} from "../integration/daemon/gateways.ts";
import {
  assertMatching,
  assertNoKeys,
  ctl,
  type Ctx,
  downAndEmpty,
  peerOf,
  settled,
  timedStatus,
  upAndMatch,
  withGateways,
} from "./daemons.ts";

const LONG = Deno.env.get("KINK_FAULTS_LONG") === "1";
const skip = [netnsSkipReason(), realmSkipReason()];
/** Short dead-peer interval so a restarted peer is noticed within the test. */
const DPD = ["", "[defaults.timers]", 'dead_peer_interval = "3s"'];

async function status(gw: Gateway): Promise<StatusJson> {
  return await ctl(gw, "status") as StatusJson;
}

const epochOf = async (gw: Gateway) => (await status(gw)).engine.epoch;

/**
 * SIGKILL, then a new start. The new daemon must announce an epoch after the
 * old one (32-bit serial order), also when it starts within the same second
 * (these restarts take well under a second): the epoch is all that tells the
 * peer its SAs are gone (RFC 4430 §3.7).
 */
async function restart(c: Ctx, gw: Gateway, which: "a" | "b"): Promise<Gateway> {
  const before = await epochOf(gw);
  gw.signal("SIGKILL");
  await gw.exited;
  const next = await startGateway(which === "a" ? c.a : c.b, which === "a" ? c.fa : c.fb, "memory");
  const after = await epochOf(next);
  assert.ok(((after - before) | 0) > 0, `epoch after the restart ${after}, before ${before}`);
  return next;
}

/** `KINK_FAULTS_LOGDIR=DIR`: each gateway's log and both final statuses are written there. */
async function keepLogs(name: string, ga: Gateway, gb: Gateway, logs: string[][]): Promise<void> {
  const dir = Deno.env.get("KINK_FAULTS_LOGDIR");
  if (!dir) return;
  const st = async (g: Gateway) =>
    JSON.stringify(await ctl(g, "status").catch((e) => String(e)), null, 1);
  await Deno.writeTextFile(`${dir}/${name}.status`, `A:\n${await st(ga)}\nB:\n${await st(gb)}\n`);
  for (const [i, l] of logs.entries()) {
    await Deno.writeTextFile(`${dir}/${name}.${i}.log`, l.join("\n") + "\n");
  }
}

Deno.test({
  ...skipUnless(
    "faults, real daemons: KDC outage — a new negotiation fails with a per-peer reason, the control socket keeps answering, established SAs stay and rekey from the cached ticket, recovery once the KDC is back",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const ga = await startGateway(c.a, c.fa, "memory");
      const gb = await startGateway(c.b, c.fb, "memory");
      const logs: string[][] = [ga.log, gb.log];
      const kdc = c.realm.kdcPid;
      let stopped = false;
      const lat: number[] = [];
      try {
        // 1. Outage before any ticket: the negotiation fails, per peer, and says why.
        Deno.kill(kdc, "SIGSTOP");
        stopped = true;
        await ctl(ga, "up", { peer: "b" });
        const t0 = Date.now();
        const failed = await waitFor("a per-peer failure in A's status", async () => {
          const { s, ms } = await timedStatus(ga);
          lat.push(ms);
          const p = peerOf(s, "b");
          return p.lastFailure ? { s, p } : undefined;
        }, 120_000);
        const failMs = Date.now() - t0;
        assert.equal(failed.s.engine.saPairs.length, 0);
        assert.equal(failed.s.sas.length, 0, "SAs left by a failed negotiation");
        assert.equal(failed.p.lastFailure!.reason, "ticket", JSON.stringify(failed.p));
        // 2. The KDC is back: a new negotiation succeeds (the operator asks again).
        Deno.kill(kdc, "SIGCONT");
        stopped = false;
        await upAndMatch(ga, gb, "after the outage");
        // 3. Outage with SAs established: they stay, and a rekey works from the cached ticket.
        Deno.kill(kdc, "SIGSTOP");
        stopped = true;
        for (let i = 0; i < 20; i++) {
          const { s, ms } = await timedStatus(ga);
          lat.push(ms);
          assert.equal(s.engine.saPairs.filter((p) => p.state === "mature").length, 1);
          await sleep(100);
        }
        await ctl(ga, "rekey", { peer: "b" });
        await waitFor("the rekeyed pair on both sides", async () => {
          const [sa, sb] = [await status(ga), await status(gb)];
          const mature = (s: StatusJson) => s.engine.saPairs.filter((p) => p.state === "mature");
          return mature(sa).length === 1 && mature(sb).length === 1 &&
              sa.engine.transactions.length === 0 &&
              sa.engine.saPairs.some((p) => p.state === "dying")
            ? true
            : undefined;
        }, 60_000);
        assertMatching(await status(ga), await status(gb), 1, "rekey during the outage");
        Deno.kill(kdc, "SIGCONT");
        stopped = false;
        await downAndEmpty(ga, gb, "end");
        lat.sort((x, y) => x - y);
        console.log(
          `\nKDC outage: failure reported after ${failMs} ms ("${
            failed.p.lastFailure!.detail
          }"); ` +
            `control socket status latency over ${lat.length} samples: median ` +
            `${lat[lat.length >> 1]!.toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms`,
        );
      } finally {
        if (stopped) Deno.kill(kdc, "SIGCONT");
        await stopGateway(ga);
        await stopGateway(gb);
      }
      assertNoKeys(logs.flat(), c.keytabKeys, "KDC outage run");
    });
  },
});

Deno.test({
  ...skipUnless(
    "faults, real daemons: peer restart (SIGKILL, new epoch) while idle and in the middle of a CREATE — the survivor drops the stale pair by itself, and a new up gives exactly matching SAs",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const ga = await startGateway(c.a, c.fa, "memory");
      let gb = await startGateway(c.b, c.fb, "memory");
      const logs: string[][] = [ga.log, gb.log];
      try {
        // Idle: a pair, then B dies and comes back empty.
        await upAndMatch(ga, gb, "before the restart");
        gb = await restart(c, gb, "b");
        logs.push(gb.log);
        const t0 = Date.now();
        await waitFor("A drops the pair of the restarted B", async () => {
          const s = await status(ga);
          return s.engine.saPairs.length === 0 && s.sas.length === 0 ? true : undefined;
        }, 60_000);
        const noticedMs = Date.now() - t0;
        await upAndMatch(ga, gb, "after the idle restart");
        // Mid-exchange: B dies just after A sent a CREATE.
        await downAndEmpty(ga, gb, "before the second restart");
        await ctl(ga, "up", { peer: "b" });
        await sleep(30);
        gb = await restart(c, gb, "b");
        logs.push(gb.log);
        // Whatever became of that CREATE (answered by the dead B or by the new one), both
        // sides converge by themselves to the same live pairs (a stale one is probed away).
        const t1 = Date.now();
        const agreed = await waitFor("A and B agree after the mid-exchange restart", async () => {
          const [sa, sb] = [await status(ga), await status(gb)];
          const live = (s: StatusJson) => s.engine.saPairs.filter((p) => p.state !== "dying");
          if (sa.engine.transactions.length || sb.engine.transactions.length) return undefined;
          if (live(sa).length !== live(sb).length) return undefined;
          assertMatching(sa, sb, live(sa).length, "mid-exchange restart");
          return live(sa).length;
        }, 90_000);
        const convergedMs = Date.now() - t1;
        if (agreed === 0) await upAndMatch(ga, gb, "up after the mid-exchange restart");
        await downAndEmpty(ga, gb, "end");
        console.log(
          `\npeer restart while idle noticed and cleaned up after ${noticedMs} ms; ` +
            `mid-exchange restart converged after ${convergedMs} ms with ${agreed} pair(s)`,
        );
      } finally {
        await keepLogs("peer-restart", ga, gb, logs);
        await stopGateway(ga);
        await stopGateway(gb);
      }
      assertNoKeys(logs.flat(), c.keytabKeys, "peer restart run");
    }, { extra: DPD });
  },
});

Deno.test({
  ...skipUnless(
    `faults, real daemons: own SIGKILL at random points (during CREATE, after it, during a rekey), ${
      LONG ? 20 : 4
    } times — after each restart both sides converge to exactly matching SAs, nothing leaked or duplicated`,
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      let ga = await startGateway(c.a, c.fa, "memory");
      const gb = await startGateway(c.b, c.fb, "memory");
      const logs: string[][] = [ga.log, gb.log];
      const rounds = LONG ? 20 : 4;
      const where: string[] = [];
      let seed = 12345;
      const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
      try {
        for (let r = 0; r < rounds; r++) {
          const point = ["during CREATE", "after CREATE", "during rekey"][r % 3]!;
          await ctl(ga, "up", { peer: "b" });
          if (point === "during CREATE") {
            await sleep(rand(150));
          } else {
            await settled(ga, 1);
            if (point === "during rekey") {
              await ctl(ga, "rekey", { peer: "b" });
              await sleep(rand(150));
            }
          }
          ga = await restart(c, ga, "a");
          logs.push(ga.log);
          where.push(point);
          // The restarted A holds nothing; B must end up agreeing once A talks again.
          await ctl(ga, "up", { peer: "b" });
          const sa = await settled(ga, 1, 90_000);
          const sb = await waitFor("B agrees with the restarted A", async () => {
            const s = await status(gb);
            return s.engine.saPairs.filter((p) => p.state !== "dying").length === 1 &&
                s.engine.transactions.length === 0
              ? s
              : undefined;
          }, 90_000);
          assertMatching(sa, sb, 1, `own kill ${r} (${point})`);
        }
        await downAndEmpty(ga, gb, "end");
        console.log(`\nown SIGKILL + restart survived ${rounds}×: ${where.join(", ")}`);
      } finally {
        await keepLogs("own-kill", ga, gb, logs);
        await stopGateway(ga);
        await stopGateway(gb);
      }
      assertNoKeys(logs.flat(), c.keytabKeys, "own kill run");
    });
  },
});
