/**
 * Every engine table is bounded and says so at its limit: transactions per
 * peer (a `limit` event and a failure, nothing sent), SA pairs per peer
 * (the responder answers NO-PROPOSAL-CHOSEN), the reply cache (oldest
 * evicted first); unknown senders and oversized datagrams are dropped.
 */
import assert from "node:assert/strict";
import { Net, transportPair } from "./harness.ts";
import type { EngineLimits } from "../../../core/engine/mod.ts";

function pair(net: Net, la: Partial<EngineLimits>, lb: Partial<EngineLimits>) {
  return transportPair(net, { aEngine: { limits: la }, bEngine: { limits: lb } });
}

Deno.test("engine limits: transactions per peer", async () => {
  const net = new Net(60);
  const [a] = pair(net, { maxTransactionsPerPeer: 2 }, {});
  for (let i = 0; i < 5; i++) a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  assert.equal(a.engine.status().transactions.length, 2);
  await net.drain();
  assert.equal(a.events.filter((e) => e.type === "limit").length, 3);
  assert.equal(
    a.events.filter((e) => e.type === "exchange-failed" && e.reason === "limit").length,
    3,
  );
  await net.run(net.now + 5_000);
  assert.equal(a.engine.status().saPairs.length, 2);
  await net.close();
});

Deno.test("engine limits: SA pairs per peer — the responder refuses with NO-PROPOSAL-CHOSEN", async () => {
  const net = new Net(61);
  const [a, b] = pair(net, {}, { maxSaPairsPerPeer: 1 });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  await net.run(net.now + 2_000);
  assert.equal(b.engine.status().saPairs.length, 1);
  assert.ok(
    a.events.some((e) => e.type === "exchange-failed" && e.reason === "no-proposal-chosen"),
  );
  assert.ok(b.events.some((e) => e.type === "limit" && e.table === "sa-pairs"));
  await net.close();
});

Deno.test("engine limits: the reply cache evicts its oldest entry", async () => {
  const net = new Net(62);
  const [a, b] = pair(net, {}, { maxReplyCache: 2 });
  for (let i = 0; i < 4; i++) a.engine.command(net.now, { kind: "status", peer: "b" });
  await net.run(net.now + 2_000);
  const st = b.engine.status();
  assert.equal(st.replyCache, 2);
  assert.equal(st.counters["reply-cache-evictions"], 2);
  await net.close();
});

Deno.test("engine limits: oversized datagrams and unknown senders are dropped unanswered", async () => {
  const net = new Net(63);
  const [, b] = pair(net, {}, { maxDatagram: 1000 });
  b.engine.handleDatagram(net.now, {
    data: new Uint8Array(2000),
    remote: { address: "10.77.0.1", port: 910 },
  });
  b.engine.handleDatagram(net.now, {
    data: new Uint8Array(100),
    remote: { address: "192.0.2.99", port: 910 },
  });
  await net.drain();
  assert.equal(b.sent.length, 0);
  assert.deepEqual(
    b.events.map((e) => e.type === "dropped" && e.reason),
    ["size", "unknown-peer"],
  );
  await net.close();
});
