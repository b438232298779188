/**
 * Two engines through the rest of an SA's life: retransmission under loss
 * and duplication (never a second SA), the responder's reply cache and a
 * restarted peer reusing an XID, DELETE with grace and INVALID-SPI, STATUS,
 * epoch changes, idle-driven dead-peer detection, rekeying, KDC outages and
 * clock skew corrected from a protected KRB_AP_ERR_SKEW.
 */
import assert from "node:assert/strict";
import { ESP_3DES_ONLY, type Gateway, matchingSas, Net, sas, transportPair } from "./harness.ts";
import type { EngineEvent, PeerConfig, TimerConfig } from "../../../core/engine/mod.ts";
import { type RandomSource, SeededRandom } from "../../../core/util/random.ts";

function pair(
  net: Net,
  a: Partial<PeerConfig> = {},
  b: Partial<PeerConfig> = {},
  timers: Partial<TimerConfig> = {},
): [Gateway, Gateway] {
  return transportPair(net, { a, b, aEngine: { timers }, bEngine: { timers } });
}

function of<T extends EngineEvent["type"]>(
  g: Gateway,
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return g.events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
}

Deno.test("engine retransmission: every retry has a new authenticator and Cksum, same XID; kinkd's 0,1,3,7,15 s schedule; failure at 31 s", async () => {
  const net = new Net(10);
  const [a, b] = pair(net);
  b.up = false; // B never answers
  const t0 = net.now;
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(t0 + 60_000);
  assert.equal(a.sent.filter((d) => d[0] === 1).length, 5, "5 CREATEs");
  const creates = a.sent.filter((d) => d[0] === 1);
  const xids = new Set(creates.map((d) => new DataView(d.buffer, d.byteOffset).getUint32(8)));
  assert.equal(xids.size, 1, "same XID");
  assert.equal(new Set(creates.map((d) => d.join(","))).size, 5, "each retry rebuilt");
  assert.deepEqual(a.sentAt.filter((_, i) => a.sent[i]![0] === 1).map((t) => t - t0), [
    0,
    1000,
    3000,
    7000,
    15000,
  ]);
  const fi = a.events.findIndex((e) => e.type === "exchange-failed" && e.command === "CREATE");
  const f = a.events[fi]!;
  assert.ok(f.type === "exchange-failed" && f.reason === "timeout");
  assert.equal(a.eventAt[fi]! - t0, 31_000);
  assert.equal((await a.kernel.listSas()).length, 0, "larval/optimistic SA removed");
  await net.close();
});

Deno.test("engine reply cache: a lost REPLY is answered again from the cache, never a second SA", async () => {
  const net = new Net(11);
  const [a, b] = pair(net);
  let dropped = 0;
  net.tap = (from, _to, data) => {
    if (from === "10.77.0.2" && data[0] === 3 && dropped < 2) {
      dropped++;
      return undefined;
    }
    return data;
  };
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 10_000);
  assert.equal(dropped, 2);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2);
  assert.deepEqual(m.a, m.b);
  assert.equal(b.engine.status().counters["reply-cache-hits"], 2);
  assert.equal(of(b, "sa-up").length, 1, "one SA pair at the responder");
  await net.close();
});

Deno.test("engine under 30% loss and 20% duplication: each seed ends with matching SAs or none, never duplicates", async () => {
  let ok = 0;
  for (let seed = 100; seed < 140; seed++) {
    const net = new Net(seed);
    net.loss = 0.3;
    net.dup = 0.2;
    const [a, b] = pair(net, {}, seed % 2 ? { proposals: ESP_3DES_ONLY } : {});
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 120_000);
    const m = await matchingSas(a, b);
    assert.deepEqual(m.a, m.b, `seed ${seed}`);
    assert.ok(m.a.length === 0 || m.a.length === 2, `seed ${seed}: ${m.a.length} SAs`);
    if (m.a.length === 2) ok++;
    assert.ok(of(b, "sa-up").length - of(b, "sa-down").length <= 1, `seed ${seed}`);
    assert.equal(a.engine.status().transactions.length, 0, `seed ${seed}`);
    assert.equal(b.engine.status().transactions.length, 0, `seed ${seed}`);
    await net.close();
  }
  assert.ok(ok >= 30, `${ok} of 40 seeds set up SAs`);
});

class XidRandom implements RandomSource {
  #first: Uint8Array | undefined;
  readonly #rest = new SeededRandom(99);
  constructor(xid: number) {
    this.#first = Uint8Array.of(xid & 255, (xid >>> 8) & 255, (xid >>> 16) & 255, xid >>> 24);
  }
  fill(out: Uint8Array): Uint8Array {
    if (this.#first && out.length === 4) {
      out.set(this.#first);
      this.#first = undefined;
      return out;
    }
    return this.#rest.fill(out);
  }
}

Deno.test("engine epoch: a restarted initiator reusing the XID is not answered from the old cache; old SAs are torn down", async () => {
  const net = new Net(12);
  const [a, b] = pair(net);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  const xid = new DataView(a.sent[0]!.buffer, a.sent[0]!.byteOffset).getUint32(8);
  const before = await matchingSas(a, b);
  assert.equal(before.a.length, 2);
  net.now += 5_000; // a new epoch second
  await net.restart(a, { random: new XidRandom(xid) });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const xid2 = new DataView(a.sent.at(-1)!.buffer, a.sent.at(-1)!.byteOffset).getUint32(8);
  assert.equal(xid2, xid, "the restarted peer reused the XID");
  const changed = of(b, "peer-epoch-changed");
  assert.equal(changed.length, 1);
  const after = await matchingSas(a, b);
  assert.equal(after.a.length, 2, after.a.join("\n"));
  assert.deepEqual(after.a, after.b);
  assert.notDeepEqual(after.b, before.b, "new SAs, not the cached answer");
  assert.equal(of(b, "sa-down")[0]!.reason, "peer-restarted");
  await net.close();
});

Deno.test("engine DELETE: both sides remove both directions (inbound after the grace period)", async () => {
  const net = new Net(13);
  const [a, b] = pair(net, {}, {}, { deleteGraceMs: 2_000 });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  assert.equal((await sas(a.kernel)).length, 2);
  a.engine.command(net.now, { kind: "down", peer: "b" });
  await net.run(net.now + 100);
  // Outbound SAs are gone, inbound ones are in their grace period.
  assert.equal((await sas(a.kernel)).length, 1);
  assert.equal((await sas(b.kernel)).length, 1);
  await net.run(net.now + 5_000);
  assert.equal((await sas(a.kernel)).length, 0);
  assert.equal((await sas(b.kernel)).length, 0);
  assert.equal(of(a, "sa-down")[0]!.reason, "deleted");
  assert.equal(of(b, "sa-down")[0]!.reason, "deleted-by-peer");
  await net.close();
});

for (
  const [side, who] of [
    ["a", "a deleted pair (we sent the DELETE)"],
    ["b", "a pair the peer deleted"],
  ] as const
) {
  Deno.test(`engine DELETE: ${who} leaves no end-of-life timer behind to delete, hours later, the SA that now holds its SPI`, async () => {
    const net = new Net(side === "a" ? 15 : 16);
    const [a, b] = pair(net, {}, {}, { deleteGraceMs: 2_000 });
    const g = side === "a" ? a : b;
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 2_000);
    const spi = of(g, "sa-up")[0]!.inbound[0]!.spi;
    a.engine.command(net.now, { kind: "down", peer: "b" });
    await net.run(net.now + 10_000);
    assert.equal((await sas(g.kernel)).length, 0);
    // The kernel gives the freed SPI to a new SA (here added by hand).
    await g.kernel.addSa({
      src: side === "a" ? "10.77.0.2" : "10.77.0.1",
      dst: g.address,
      proto: "esp",
      spi,
      mode: "transport",
      enc: { name: "cbc(aes)", key: new Uint8Array(16).fill(7) },
      auth: { name: "hmac(sha1)", key: new Uint8Array(20).fill(9), truncBits: 96 },
    });
    // Past the deleted pair's hard lifetime (and the engine's second after it).
    await net.run(net.now + 9 * 3600_000); // its lifetime is 8 h
    assert.deepEqual((await sas(g.kernel)).map((s) => s.spi), [spi], "the new SA is still there");
    await net.close();
  });
}

Deno.test("engine DELETE of an SPI the peer does not know: INVALID-SPI, and our inbound SA goes too", async () => {
  const net = new Net(14);
  const [a, b] = pair(net, {}, {}, { deleteGraceMs: 0 });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  // B loses its state without a new epoch (same second): it cannot know the SPI.
  await net.restart(b, { epoch: b.config.epoch });
  a.engine.command(net.now, { kind: "down", peer: "b" });
  await net.run(net.now + 5_000);
  assert.equal(b.engine.status().counters["notify-sent-11"], 1);
  assert.equal((await a.kernel.listSas()).length, 0);
  await net.close();
});

Deno.test("engine STATUS: answered; the peer's epoch recorded on both sides", async () => {
  const net = new Net(15);
  const [a, b] = pair(net);
  a.engine.command(net.now, { kind: "status", peer: "b" });
  await net.run(net.now + 2_000);
  assert.equal(b.sent.length, 1);
  assert.equal(a.engine.status().peers[0]!.peerEpoch, b.config.epoch);
  assert.equal(b.engine.status().peers[0]!.peerEpoch, a.config.epoch);
  assert.equal(a.engine.status().transactions.length, 0);
  await net.close();
});

Deno.test("engine dead-peer detection: idle → STATUS → no answer → peer dead, its SAs removed", async () => {
  const net = new Net(16);
  const [a, b] = pair(net, {}, {}, { deadPeerIdleMs: 30_000 });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  assert.equal((await sas(a.kernel)).length, 2);
  b.up = false;
  await net.run(net.now + 120_000);
  assert.equal(of(a, "peer-dead").length, 1);
  assert.equal((await sas(a.kernel)).length, 0);
  assert.equal(a.engine.status().peers[0]!.state, "dead");
  await net.close();
});

Deno.test("engine dead-peer detection: an answering peer stays alive and keeps its SAs", async () => {
  const net = new Net(17);
  const [a, b] = pair(net, {}, {}, { deadPeerIdleMs: 30_000 });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 120_000);
  assert.equal(of(a, "peer-dead").length, 0);
  assert.ok(b.sent.length >= 3, "STATUS probes were answered");
  assert.equal((await sas(a.kernel)).length, 2);
  await net.close();
});

Deno.test("engine rekey: the initiator rekeys before expiry, the newest pair is installed, the old one deleted", async () => {
  const net = new Net(18);
  const timers = { rekeyMarginMinMs: 10_000, rekeyMarginMaxMs: 20_000, deleteGraceMs: 1_000 };
  const [a, b] = pair(net, { lifetime: { seconds: 120 } }, { lifetime: { seconds: 120 } }, timers);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 400_000);
  const ups = of(a, "sa-up");
  assert.ok(ups.length >= 3, `${ups.length} pairs`);
  assert.ok(ups.slice(1).every((u) => u.rekey));
  assert.equal(of(b, "sa-up").filter((u) => u.initiator).length, 0, "only the initiator rekeys");
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.ok(of(a, "sa-down").every((d) => d.reason === "rekeyed"));
  await net.close();
});

Deno.test("engine KDC unavailable: a per-peer failure, then success once the KDC is back", async () => {
  const net = new Net(19);
  const [a, b] = pair(net);
  net.ticketError = { message: "KDC unreachable" };
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  const f = of(a, "exchange-failed");
  assert.equal(f.length, 1);
  assert.equal(f[0]!.reason, "ticket");
  assert.equal(a.engine.status().peers[0]!.lastFailure?.reason, "ticket");
  net.ticketError = undefined;
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  assert.equal((await matchingSas(a, b)).a.length, 2);
  await net.close();
});

Deno.test("engine clock skew: a protected KRB_AP_ERR_SKEW corrects our authenticator time and the next transaction succeeds", async () => {
  const net = new Net(20);
  const [a, b] = pair(net);
  a.offset = 600_000; // A's clock is 10 minutes fast
  a.engine.command(net.now + a.offset, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const off = of(a, "clock-offset");
  assert.equal(off.length, 1);
  assert.ok(Math.abs(off[0]!.offsetMs + 600_000) < 2_000, String(off[0]!.offsetMs));
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2);
  assert.deepEqual(m.a, m.b);
  await net.close();
});

Deno.test("engine: a lost CREATE delivered late (after the initiator gave up and DELETEd its SPI) installs nothing", async () => {
  const net = new Net(21);
  const [a, b] = pair(net);
  let held: Uint8Array | undefined;
  net.tap = (_f, _t, data) => {
    if (data[0] === 1) {
      held = data;
      return undefined; // every CREATE is lost…
    }
    return data;
  };
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 60_000);
  assert.ok(held);
  assert.equal(b.engine.status().counters["notify-sent-11"], 1, "the DELETE of the unknown SPI");
  // …until one turns up late (or is replayed), still inside the skew window.
  net.tap = undefined;
  b.engine.handleDatagram(net.now, { data: held!, remote: { address: "10.77.0.1", port: 910 } });
  await net.run(net.now + 60_000);
  assert.equal((await b.kernel.listSas()).length, 0);
  assert.equal(b.engine.status().counters["notify-sent-11"], 2, "refused with INVALID-SPI");
  assert.equal((await a.kernel.listSas()).length, 0);
  await net.close();
});

Deno.test("engine replay cache lost on restart: every AP-REQ refused for one skew interval, then accepted (RFC 4120 §3.2.3)", async () => {
  const net = new Net(22);
  const [a, b] = pair(net);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  const create = a.sent.find((d) => d[0] === 1)!;
  net.now += 1_000;
  await net.restart(b, { lostReplayCache: true });
  // A replay of the CREATE the previous incarnation accepted is refused…
  b.engine.handleDatagram(net.now, { data: create, remote: { address: "10.77.0.1", port: 910 } });
  await net.drain();
  assert.equal((await b.kernel.listSas()).length, 0);
  assert.ok(b.events.some((e) => e.type === "dropped" && /recovering/.test(e.detail)));
  // …and so is everything else until the skew interval has passed.
  await net.run(net.now + 300_001);
  a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  await net.run(net.now + 5_000);
  assert.equal((await sas(b.kernel)).length, 2);
  await net.close();
});

Deno.test("engine ACK regeneration: a lost ACK brings the REPLY again, answered with a new ACK; both sides end with the pair", async () => {
  const net = new Net(23);
  const [a, b] = pair(net, {}, { proposals: ESP_3DES_ONLY });
  let acksDropped = 0;
  net.tap = (_f, _t, data) => {
    if (data[0] === 5 && acksDropped < 2) {
      acksDropped++;
      return undefined;
    }
    return data;
  };
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 10_000);
  assert.equal(acksDropped, 2);
  const acks = a.sent.filter((d) => d[0] === 5);
  assert.equal(acks.length, 3, "three ACKs");
  assert.equal(new Set(acks.map((d) => d.join(","))).size, 3, "each with a new authenticator");
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2);
  assert.deepEqual(m.a, m.b);
  await net.close();
});

Deno.test("engine epoch seen by the initiator: a restarted responder's new epoch in a REPLY tears down the old pairs", async () => {
  const net = new Net(24);
  const [a, b] = pair(net);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  net.now += 5_000;
  await net.restart(b);
  a.engine.command(net.now, { kind: "status", peer: "b" });
  await net.run(net.now + 2_000);
  assert.equal(of(a, "peer-epoch-changed").length, 1);
  assert.equal(of(a, "sa-down")[0]!.reason, "peer-restarted");
  assert.equal((await sas(a.kernel)).length, 0, "torn down, to be re-created on demand");
  await net.close();
});
