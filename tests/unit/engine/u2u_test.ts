/**
 * GETTGT and user-to-user (RFC 4430 §3.1, §3.7.1, §4.2.4): a gateway with
 * only a TGT (no keytab) answers GETTGT with its TGT and accepts AP-REQs
 * made with user-to-user tickets (encrypted in its TGT's session key, as the
 * in-test KDC issues them for enc-tkt-in-skey); an initiator uses U2U on
 * policy or when the KDC answers KDC_ERR_MUST_USE_USER2USER.
 */
import assert from "node:assert/strict";
import { ESP_AES_3DES, type Gateway, matchingSas, Net } from "./harness.ts";
import type { PeerConfig } from "../../../core/engine/mod.ts";

function u2uPair(net: Net, aPeer: Partial<PeerConfig>): [Gateway, Gateway] {
  const a = net.add("a", "10.77.0.1", [{
    name: "b",
    address: "10.77.0.2",
    principal: "kink/b.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
    ...aPeer,
  }]);
  const b = net.add("b", "10.77.0.2", [{
    name: "a",
    address: "10.77.0.1",
    principal: "kink/a.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
  }], { tgtOnly: true });
  return [a, b];
}

Deno.test("engine U2U on policy: GETTGT, a user-to-user ticket, SAs with a TGT-only responder", async () => {
  const net = new Net(30);
  const [a, b] = u2uPair(net, { userToUser: true });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  assert.equal(a.sent[0]![0], 4, "GETTGT first");
  assert.equal(b.sent[0]![0], 3, "REPLY with the TGT");
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.equal(b.engine.status().counters["gettgt-answered"], 1);
  await net.close();
});

Deno.test("engine U2U on KDC_ERR_MUST_USE_USER2USER: the initiator switches to GETTGT + U2U by itself", async () => {
  const net = new Net(31);
  const [a, b] = u2uPair(net, {});
  net.u2uOnly.add("kink/b.kink.test@KINK.TEST");
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  await net.close();
});

Deno.test("engine GETTGT to a gateway without a TGT: KINK_U2UDENIED, the initiator falls back to a normal ticket", async () => {
  const net = new Net(32);
  const a = net.add("a", "10.77.0.1", [{
    name: "b",
    address: "10.77.0.2",
    principal: "kink/b.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
    userToUser: true,
  }]);
  const b = net.add("b", "10.77.0.2", [{
    name: "a",
    address: "10.77.0.1",
    principal: "kink/a.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
  }]);
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.ok(a.events.some((e) => e.type === "exchange-failed" && /U2UDENIED/.test(e.detail)));
  await net.close();
});

Deno.test("engine U2U recovery (§3.7.1): the responder's TGT changed; it answers with its new TGT and the initiator retries", async () => {
  const net = new Net(33);
  const [a, b] = u2uPair(net, { userToUser: true });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  assert.equal((await matchingSas(a, b)).a.length, 2);
  // B renews its TGT: a new session key; A's cached U2U ticket no longer decrypts.
  net.now += 60_000;
  const tgt = net.office.issue(b.principal, "krbtgt/KINK.TEST@KINK.TEST", net.now);
  b.engine.command(net.now, { kind: "set-tgt", tgt });
  a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 4, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.equal(a.events.filter((e) => e.type === "sa-up").length, 2);
  await net.close();
});
