/**
 * Policy-driven exchanges: a kernel ACQUIRE (from the in-memory kernel's
 * policy and a packet) starts a CREATE for the selector the packet falls
 * in; IDci/IDcr carry the traffic selectors and the responder checks them
 * against its own (INVALID-ID-INFORMATION otherwise); a kernel soft EXPIRE
 * makes the initiator rekey, a responder's soft EXPIRE does nothing.
 */
import assert from "node:assert/strict";
import { ESP_AES_3DES, type Gateway, matchingSas, Net, sas } from "./harness.ts";
import type { PeerConfig } from "../../../core/engine/mod.ts";
import { selector, type XfrmEvent } from "../../../core/kernel/mod.ts";

function tunnel(
  net: Net,
  aSel: NonNullable<PeerConfig["selectors"]>,
  bSel: NonNullable<PeerConfig["selectors"]>,
): [Gateway, Gateway] {
  const a = net.add("a", "192.0.2.1", [{
    name: "b",
    address: "192.0.2.2",
    principal: "kink/b.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "tunnel",
    selectors: aSel,
    reqid: 7,
  }]);
  const b = net.add("b", "192.0.2.2", [{
    name: "a",
    address: "192.0.2.1",
    principal: "kink/a.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "tunnel",
    selectors: bSel,
    reqid: 7,
  }]);
  return [a, b];
}

Deno.test("engine ACQUIRE → CREATE with IDci/IDcr for the packet's selector; tunnel SAs on both sides", async () => {
  const net = new Net(50);
  const [a, b] = tunnel(
    net,
    [{ local: "10.9.0.0/16", remote: "10.8.0.0/16" }, {
      local: "10.1.0.0/16",
      remote: "10.2.0.0/16",
    }],
    [{ local: "10.2.0.0/16", remote: "10.1.0.0/16" }],
  );
  await a.kernel.addPolicy({
    selector: selector("10.1.0.0/16", "10.2.0.0/16"),
    dir: "out",
    templates: [{ proto: "esp", mode: "tunnel", src: "192.0.2.1", dst: "192.0.2.2", reqid: 7 }],
  });
  const sub = await a.kernel.subscribe();
  const events: XfrmEvent[] = [];
  const pump = (async () => {
    for await (const e of sub) events.push(e);
  })();
  assert.equal(a.kernel.sendPacket({ src: "10.1.0.5", dst: "10.2.0.9" }), "acquire");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(events.length, 1);
  a.engine.handleKernelEvent(net.now, events[0]!);
  await net.run(net.now + 5_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, m.a.join("\n"));
  assert.deepEqual(m.a, m.b);
  assert.ok(m.a.every((s) => s.includes("tunnel")));
  // The packet now goes out protected.
  assert.equal(a.kernel.sendPacket({ src: "10.1.0.5", dst: "10.2.0.9" }), "protected");
  // The outbound SA carries the policy's reqid and is restricted to the selector's traffic
  // (so Linux raises a new ACQUIRE for another selector); the inbound one to the reverse.
  const out = (await sas(a.kernel)).find((s) => s.src === "192.0.2.1")!;
  assert.equal(out.reqid, 7);
  assert.deepEqual(
    [out.selector.src, out.selector.srcPrefixLen, out.selector.dst, out.selector.dstPrefixLen],
    ["10.1.0.0", 16, "10.2.0.0", 16],
  );
  const inb = (await sas(b.kernel)).find((s) => s.dst === "192.0.2.2")!;
  assert.deepEqual([inb.selector.src, inb.selector.dst], ["10.1.0.0", "10.2.0.0"]);
  await sub.close();
  await pump;
  await net.close();
});

Deno.test("engine IDs: selectors the responder does not have → INVALID-ID-INFORMATION, nothing installed", async () => {
  const net = new Net(51);
  const [a, b] = tunnel(
    net,
    [{ local: "10.1.0.0/16", remote: "10.2.0.0/16" }],
    [{ local: "10.2.0.0/24", remote: "10.1.0.0/16" }],
  );
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const f = a.events.find((e) => e.type === "exchange-failed");
  assert.ok(f && f.type === "exchange-failed" && f.reason === "invalid-id");
  assert.equal((await a.kernel.listSas()).length, 0);
  assert.equal((await b.kernel.listSas()).length, 0);
  await net.close();
});

Deno.test("engine kernel EXPIRE: a soft EXPIRE of the initiator's SA rekeys it; the responder ignores its own", async () => {
  const net = new Net(52);
  const a = net.add("a", "10.77.0.1", [{
    name: "b",
    address: "10.77.0.2",
    principal: "kink/b.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
  }], { timers: { deleteGraceMs: 500 } });
  const b = net.add("b", "10.77.0.2", [{
    name: "a",
    address: "10.77.0.1",
    principal: "kink/a.kink.test@KINK.TEST",
    proposals: ESP_AES_3DES,
    mode: "transport",
  }], { timers: { deleteGraceMs: 500 } });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 2_000);
  const [bIn] = (await sas(b.kernel)).filter((s) => s.dst === "10.77.0.2");
  b.engine.handleKernelEvent(net.now, { type: "expire", hard: false, sa: bIn! });
  await net.run(net.now + 2_000);
  assert.equal(a.events.filter((e) => e.type === "sa-up").length, 1, "responder does not rekey");
  const [aOut] = (await sas(a.kernel)).filter((s) => s.src === "10.77.0.1");
  a.engine.handleKernelEvent(net.now, { type: "expire", hard: false, sa: aOut! });
  await net.run(net.now + 5_000);
  const ups = a.events.filter((e) => e.type === "sa-up");
  assert.equal(ups.length, 2);
  assert.ok(ups[1]!.type === "sa-up" && ups[1]!.rekey);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2, "the old pair is gone after its grace period");
  assert.deepEqual(m.a, m.b);
  assert.ok(!m.a.some((s) => s.includes(aOut!.spi.toString(16) + " ")));
  // A hard EXPIRE of the new outbound SA removes its pair on both directions at A.
  const [aOut2] = (await sas(a.kernel)).filter((s) => s.src === "10.77.0.1");
  await a.kernel.deleteSa({ dst: aOut2!.dst, spi: aOut2!.spi, proto: "esp" });
  a.engine.handleKernelEvent(net.now, { type: "expire", hard: true, sa: aOut2! });
  await net.run(net.now + 100);
  assert.equal((await sas(a.kernel)).length, 0);
  const last = a.events.at(-1)!;
  assert.equal(last.type === "sa-down" && last.reason, "expired");
  await net.close();
});
