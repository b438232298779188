/**
 * Per-peer reconfiguration (`Engine.reconfigure`) and the shutdown notices
 * (`sa-down` when `down` removes the outbound SAs, `delete-done` and
 * `deletesInFlight`), between real engines with in-memory kernels and the
 * in-test KDC.
 */
import assert from "node:assert/strict";
import { ESP_3DES_ONLY, ESP_AES_3DES, type Gateway, matchingSas, Net, sas } from "./harness.ts";
import { EngineError, type EngineEvent, type PeerConfig } from "../../../core/engine/mod.ts";

const A = "10.77.0.1", B = "10.77.0.2", C = "10.77.0.3", D = "10.77.0.4";

function peer(name: string, address: string, extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    name,
    address,
    localAddress: A,
    principal: `kink/${name}.kink.test@KINK.TEST`,
    proposals: ESP_AES_3DES,
    mode: "transport",
    ...extra,
  };
}

function back(): Omit<PeerConfig, "localAddress"> {
  return {
    name: "a",
    address: A,
    principal: "kink/a.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
  };
}

function of<T extends EngineEvent["type"]>(
  g: Gateway,
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return g.events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
}

function spisOf(g: Gateway, name: string): string[] {
  return g.engine.status().saPairs.filter((p) => p.peer === name && p.state !== "dying").map((p) =>
    `${p.inbound.map((s) => s.spi).join(",")}/${p.outbound.map((s) => s.spi).join(",")}`
  ).sort();
}

async function threeUp(net: Net): Promise<[Gateway, Gateway, Gateway]> {
  const a = net.add("a", A, [peer("b", B), peer("c", C)]);
  const b = net.add("b", B, [back()]);
  const c = net.add("c", C, [back()]);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  a.engine.command(net.now, { kind: "up", peer: "c" });
  await net.run(net.now + 5_000);
  assert.equal(of(a, "sa-up").length, 2);
  return [a, b, c];
}

Deno.test("engine reconfigure: a removed peer's SAs are DELETEd at both ends, a changed peer's replaced (make-before-break), an added peer negotiates, an unchanged one keeps its SPIs", async () => {
  const net = new Net(71);
  const [a, b, c] = await threeUp(net);
  const d = net.add("d", D, [back()]);
  const bBefore = spisOf(a, "b");
  const downsBefore = of(a, "sa-down").length;

  // b: only 3DES from now on; c: removed; d: added.
  const r = a.engine.reconfigure(net.now, [
    peer("b", B, { proposals: ESP_3DES_ONLY }),
    peer("d", D),
  ]);
  assert.deepEqual(r, {
    added: ["d"],
    removed: ["c"],
    recreated: ["b"],
    retuned: [],
    unchanged: [],
  });
  await net.drain();
  // c's pair is down for traffic at once (outbound SA gone), reported at once.
  const cDown = of(a, "sa-down").slice(downsBefore).filter((e) => e.peer === "c");
  assert.equal(cDown.length, 1);
  assert.equal(cDown[0]!.reason, "deleted");
  a.engine.command(net.now, { kind: "up", peer: "d" });
  await net.run(net.now + 30_000);

  // c: nothing left at either end, and a forgot the peer.
  assert.deepEqual(await sas(c.kernel), []);
  assert.deepEqual(spisOf(a, "c"), []);
  assert.ok(!a.engine.status().peers.some((p) => p.name === "c"));
  assert.ok(of(a, "delete-done").some((e) => e.peer === "c" && e.ok));
  // b: one pair, new SPIs, 3DES at both ends, keys equal.
  const bAfter = spisOf(a, "b");
  assert.equal(bAfter.length, 1);
  assert.notDeepEqual(bAfter, bBefore);
  const m = await matchingSas(a, b);
  assert.deepEqual(m.b, m.a.filter((x) => x.includes(B)), "a and b hold the same SAs");
  assert.equal(m.b.length, 2);
  for (const s of m.b) assert.match(s, /cbc\(des3_ede\)/);
  assert.ok(of(a, "sa-up").some((e) => e.peer === "b" && e.rekey), "b's new pair replaced the old");
  // d: up.
  assert.equal(spisOf(a, "d").length, 1);
  assert.equal((await sas(d.kernel)).length, 2);
  await net.close();
});

Deno.test("engine reconfigure: timers-only and unchanged peers keep their SAs and SPIs; a refused list changes nothing", async () => {
  const net = new Net(72);
  const [a, b] = await threeUp(net);
  const bSpis = spisOf(a, "b"), cSpis = spisOf(a, "c");
  const kernelB = (await sas(b.kernel)).map((s) => s.spi);
  const sent = a.sent.length;
  const r = a.engine.reconfigure(net.now, [
    peer("b", B, { timers: { retransmitInitialMs: 500, deleteGraceMs: 2_000 } }),
    peer("c", C),
  ]);
  assert.deepEqual(r, { added: [], removed: [], recreated: [], retuned: ["b"], unchanged: ["c"] });
  await net.run(net.now + 20_000);
  assert.equal(a.sent.length, sent, "nothing sent");
  assert.deepEqual(spisOf(a, "b"), bSpis);
  assert.deepEqual(spisOf(a, "c"), cSpis);
  assert.deepEqual((await sas(b.kernel)).map((s) => s.spi), kernelB);

  // Duplicate addresses: refused, nothing changed.
  assert.throws(
    () => a.engine.reconfigure(net.now, [peer("b", B), peer("x", B)]),
    EngineError,
  );
  assert.deepEqual(a.engine.status().peers.map((p) => p.name).sort(), ["b", "c"]);
  assert.deepEqual(spisOf(a, "b"), bSpis);
  // The new grace period applies: down, and the inbound SA goes 2 s later, not 10 s.
  a.engine.command(net.now, { kind: "down", peer: "b" });
  const t0 = net.now;
  await net.run(t0 + 2_500);
  assert.equal(spisOf(a, "b").length, 0);
  assert.equal(
    (await sas(a.kernel)).filter((s) => s.dst === A && s.src === B).length,
    0,
    "inbound gone after the 2 s grace",
  );
  await net.close();
});

Deno.test("engine down: sa-down when the outbound SAs go (not after the grace); delete-done ends exactly the DELETEs in flight", async () => {
  const net = new Net(73);
  const [a] = await threeUp(net);
  const t0 = net.now;
  a.engine.command(t0, { kind: "down", peer: "b" });
  a.engine.command(t0, { kind: "down", peer: "c" });
  const inFlight = a.engine.deletesInFlight();
  assert.deepEqual(inFlight.map((x) => x.peer).sort(), ["b", "c"]);
  await net.drain();
  const downs = of(a, "sa-down");
  assert.deepEqual(downs.map((e) => e.peer).sort(), ["b", "c"]);
  assert.ok(downs.every((e) => e.reason === "deleted"));
  const downAt = a.eventAt.filter((_, i) => a.events[i]!.type === "sa-down");
  assert.ok(downAt.every((t) => t === t0), "reported when down ran");
  await net.run(t0 + 1_000);
  const done = of(a, "delete-done");
  assert.deepEqual(
    done.map((e) => `${e.peer}/${e.xid}/${e.ok}`).sort(),
    inFlight.map((x) => `${x.peer}/${x.xid}/true`).sort(),
  );
  assert.deepEqual(a.engine.deletesInFlight(), []);
  await net.run(t0 + 20_000);
  assert.equal(of(a, "sa-down").length, 2, "not reported again when the grace ends");
  await net.close();
});
