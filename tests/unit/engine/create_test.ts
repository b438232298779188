/**
 * Two engines negotiate SAs in-process (MemoryKernel, tickets issued by an
 * in-test KDC with real DER and encryption): optimistic 2-way CREATE, 3-way
 * CREATE with Nr and ACK, AH and AH+ESP bundles, tunnel mode, and what each
 * kernel ends up holding — the same SAs, key for key, in both directions.
 */
import assert from "node:assert/strict";
import {
  ESP_3DES_ONLY,
  ESP_AES_3DES,
  type Gateway,
  matchingSas,
  Net,
  sas,
  transportPair,
} from "./harness.ts";
import type { PeerConfig } from "../../../core/engine/mod.ts";

function pair(net: Net, a: Partial<PeerConfig> = {}, b: Partial<PeerConfig> = {}) {
  return transportPair(net, { a, b });
}

function ev<T extends string>(g: Gateway, type: T) {
  return g.events.filter((e) => e.type === type);
}

Deno.test("engine CREATE: optimistic 2-way installs matching SAs both ways, no ACK", async () => {
  const net = new Net(1);
  const [a, b] = pair(net);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.ok(m.a.every((s) => s.includes("cbc(aes)") && s.includes("hmac(sha1)")));
  const up = ev(a, "sa-up");
  assert.equal(up.length, 1);
  assert.equal(up[0]!.type === "sa-up" && up[0]!.optimistic, true);
  assert.equal(ev(b, "sa-up").length, 1);
  // Two messages only: CREATE and REPLY.
  assert.equal(a.sent.length, 1);
  assert.equal(b.sent.length, 1);
  assert.equal(a.engine.status().transactions.length, 0);
  assert.equal(b.engine.status().transactions.length, 0);
  await net.close();
});

Deno.test("engine CREATE: 3-way when the responder picks another transform (Nr, ACKREQ, ACK); the initiator's inbound SA is really re-keyed", async () => {
  const net = new Net(2);
  const [a, b] = pair(net, {}, { proposals: ESP_3DES_ONLY });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.ok(m.a.every((s) => s.includes("cbc(des3_ede)")), m.a.join("\n"));
  const up = ev(a, "sa-up")[0]!;
  assert.equal(up.type === "sa-up" && up.optimistic, false);
  assert.equal(a.sent.length, 2, "CREATE and ACK");
  assert.equal(b.sent.length, 1, "REPLY");
  await net.close();
});

Deno.test("engine CREATE: AH, AH+ESP bundle and tunnel mode", async () => {
  for (
    const [label, proposals, mode] of [
      ["ah", [{ protocols: [{ protocol: "ah" as const, transforms: [{ id: 3 }] }] }], "transport"],
      [
        "ah+esp",
        [{
          protocols: [
            { protocol: "ah" as const, transforms: [{ id: 5 }] },
            { protocol: "esp" as const, transforms: [{ id: 12, keyBits: 256, authAlgorithm: 5 }] },
          ],
        }],
        "transport",
      ],
      ["tunnel", ESP_AES_3DES, "tunnel"],
      [
        "gcm",
        [{ protocols: [{ protocol: "esp" as const, transforms: [{ id: 20, keyBits: 256 }] }] }],
        "transport",
      ],
    ] as const
  ) {
    const net = new Net(3);
    const [a, b] = pair(
      net,
      { proposals: [...proposals], mode },
      { proposals: [...proposals], mode },
    );
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 5_000);
    const m = await matchingSas(a, b);
    const want = label === "ah+esp" ? 4 : 2;
    assert.equal(m.a.length, want, `${label}: ${m.a.join("\n")}`);
    assert.deepEqual(m.a, m.b, label);
    if (label === "tunnel") assert.ok(m.a.every((s) => s.includes("tunnel")));
    if (label === "gcm") assert.ok(m.a.every((s) => s.includes("rfc4106")));
    await net.close();
  }
});

Deno.test("engine CREATE: no acceptable proposal → NO-PROPOSAL-CHOSEN, nothing left in either kernel", async () => {
  const net = new Net(4);
  const [a, b] = pair(net, { proposals: ESP_3DES_ONLY }, {
    proposals: [{
      protocols: [{ protocol: "esp", transforms: [{ id: 12, keyBits: 256, authAlgorithm: 2 }] }],
    }],
  });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const f = ev(a, "exchange-failed");
  assert.equal(f.length, 1);
  assert.equal(f[0]!.type === "exchange-failed" && f[0]!.reason, "no-proposal-chosen");
  assert.equal((await sas(a.kernel)).length, 0);
  assert.equal((await b.kernel.listSas()).length, 0);
  assert.equal((await a.kernel.listSas()).length, 0, "larval SA released");
  await net.close();
});

Deno.test("engine CREATE: a lowered lifetime is accepted and used by both (A-9)", async () => {
  const net = new Net(5);
  const [a, b] = pair(net, { lifetime: { seconds: 3600 } }, { lifetime: { seconds: 600 } });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  for (const g of [a, b]) {
    const s = await sas(g.kernel);
    assert.equal(s.length, 2);
    assert.ok(
      s.every((x) => x.lifetime.hardAddSeconds === 600),
      JSON.stringify(s.map((x) => x.lifetime)),
    );
  }
  await net.close();
});

Deno.test("engine CREATE with KE (PFS), groups 14 and 19: 3-way exchange, matching SAs both ways", async () => {
  for (const group of [19, 14]) {
    const net = new Net(6);
    const [a, b] = pair(net, { pfsGroup: group }, { pfsGroup: group });
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 5_000);
    const m = await matchingSas(a, b);
    assert.equal(m.a.length, 2, `group ${group}: ${m.a.join("\n")}`);
    assert.deepEqual(m.a, m.b);
    const up = ev(a, "sa-up")[0]!;
    assert.equal(up.type === "sa-up" && up.optimistic, false);
    assert.equal(a.sent.length, 2, "CREATE and ACK");
    await net.close();
  }
});

Deno.test("engine CREATE with KE to a peer without PFS: INVALID-PAYLOAD-TYPE(KE), retried without KE", async () => {
  const net = new Net(7);
  const [a, b] = pair(net, { pfsGroup: 19 }, {});
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2);
  assert.deepEqual(m.a, m.b);
  assert.equal(b.engine.status().counters["notify-sent-1"], 1);
  const up = ev(a, "sa-up")[0]!;
  assert.equal(up.type === "sa-up" && up.optimistic, true, "the retry is optimistic");
  await net.close();
});

Deno.test("engine CREATE with pfsRequired and a peer without PFS: a failure, nothing installed", async () => {
  const net = new Net(8);
  const [a, b] = pair(net, { pfsGroup: 19, pfsRequired: true }, {});
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const f = ev(a, "exchange-failed")[0]!;
  assert.equal(f.type === "exchange-failed" && f.reason, "invalid-payload-type");
  assert.equal((await a.kernel.listSas()).length, 0);
  assert.equal((await b.kernel.listSas()).length, 0);
  await net.close();
});
