/**
 * Clock steps on either gateway (engine level, deterministic): with a pair
 * established, one gateway's clock steps forward or back, within the skew
 * window (2 min) and beyond it (10 min). After each step a new exchange
 * converges (beyond the skew through the protected KRB_AP_ERR_SKEW
 * correction), the established pairs stay, and both kernels hold exactly
 * the same SAs — none leaked, none twice.
 *
 * (Real daemons cannot be given different wall clocks: Linux has no time
 * namespace for CLOCK_REALTIME, and the host's clock is not ours to step.)
 */
import assert from "node:assert/strict";
import { type Gateway, matchingSas, Net, transportPair } from "../unit/engine/harness.ts";

/**
 * Asks A for one more pair and waits; when the first attempt fails (a CREATE
 * refused as stale after a peer's clock stepped back: the engine refuses
 * those until the newest authenticator time it saw is 10 retransmission
 * spans old), retries every 5 minutes. Returns the attempts it took.
 */
async function onePairMore(net: Net, a: Gateway, b: Gateway, pairs: number): Promise<number> {
  for (let attempt = 1; attempt <= 4; attempt++) {
    a.engine.command(net.now + a.offset, { kind: "up", peer: "b", force: true });
    await net.run(net.now + (attempt === 1 ? 120_000 : 300_000));
    const m = await matchingSas(a, b);
    assert.deepEqual(m.a, m.b, "the SAs differ");
    if (m.a.length === 2 * (pairs + 1)) return attempt;
    assert.equal(m.a.length, 2 * pairs, "an SA appeared or vanished");
  }
  throw new Error("no new pair after 4 attempts over 17 minutes");
}

const STEPS = [
  ["a", 120_000],
  ["a", -120_000],
  ["b", 120_000],
  ["b", -120_000],
  ["a", 600_000],
  ["a", -600_000],
  ["b", 600_000],
  ["b", -600_000],
] as const;

Deno.test("clock steps forward and back on either gateway, within and beyond the skew window: new exchanges converge, established pairs stay, SAs match", async () => {
  const net = new Net(31);
  const [a, b] = transportPair(net);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  let pairs = 1;
  const log: string[] = [];
  for (const [who, step] of STEPS) {
    const g = who === "a" ? a : b;
    g.offset += step; // the stepped clock reaches the engine with its next input
    const n1 = await onePairMore(net, a, b, pairs++);
    g.offset -= step; // and steps back to the network's time
    const n2 = await onePairMore(net, a, b, pairs++);
    log.push(`${who} ${step > 0 ? "+" : ""}${step / 1000} s: attempts ${n1}, back: attempts ${n2}`);
  }
  console.log(log.join("\n"));
  await net.close();
});
