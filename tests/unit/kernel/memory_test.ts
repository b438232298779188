/**
 * The in-memory backend's traffic model (which the kernel contract cannot
 * exercise without packets): ACQUIRE on a policy without SA, once per flow
 * until answered; counters and byte/packet lifetimes; block and bypass.
 */
import assert from "node:assert/strict";
import { MemoryKernel, selector, type XfrmEvent } from "../../../core/kernel/mod.ts";
import { testKey } from "./contract.ts";

Deno.test("memory backend: ACQUIRE, answer, counters, soft and hard packet expiry", async () => {
  const k = new MemoryKernel();
  const sub = await k.subscribe();
  const events: XfrmEvent[] = [];
  const pump = (async () => {
    for await (const e of sub) events.push(e);
  })();
  await k.addPolicy({
    selector: selector("10.0.0.0/24", "10.0.1.0/24"),
    dir: "out",
    templates: [{ proto: "esp", mode: "tunnel", src: "192.0.2.1", dst: "192.0.2.2", reqid: 4 }],
  });
  await k.addPolicy({
    selector: selector("10.0.0.0/24", "10.0.9.0/24"),
    dir: "out",
    action: "block",
  });
  assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.7.0.1" }), "bypass");
  assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.0.9.1" }), "blocked");
  assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.0.1.9", proto: 6, dport: 22 }), "acquire");
  assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.0.1.9", proto: 6, dport: 22 }), "acquire");
  await new Promise((r) => setTimeout(r, 0));
  const acqs = events.filter((e) => e.type === "acquire");
  assert.equal(acqs.length, 1, "one ACQUIRE per flow while it is pending");
  const a = acqs[0]!;
  if (a.type !== "acquire") throw new Error("unreachable");
  assert.deepEqual([a.src, a.dst, a.proto, a.policy.templates[0]!.reqid], [
    "192.0.2.1",
    "192.0.2.2",
    "esp",
    4,
  ]);
  assert.deepEqual([a.selector.src, a.selector.dst, a.selector.proto, a.selector.dport], [
    "10.0.0.5",
    "10.0.1.9",
    6,
    22,
  ]);
  await k.addSa({
    src: "192.0.2.1",
    dst: "192.0.2.2",
    proto: "esp",
    spi: 0x1234,
    mode: "tunnel",
    reqid: 4,
    aead: { name: "rfc4106(gcm(aes))", key: testKey(20, 1), icvBits: 128 },
    acquireSeq: a.seq,
    lifetime: { softPackets: 3, hardPackets: 5 },
  });
  for (let i = 0; i < 4; i++) {
    assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.0.1.9", bytes: 100 }), "protected");
  }
  const sa = await k.getSa({ dst: "192.0.2.2", spi: 0x1234, proto: "esp" });
  assert.deepEqual([sa.current.packets, sa.current.bytes, sa.seq], [4, 400, a.seq]);
  assert.equal(k.sendPacket({ src: "10.0.0.5", dst: "10.0.1.9" }), "protected");
  await new Promise((r) => setTimeout(r, 0));
  const exp = events.filter((e) => e.type === "expire").map((e) => e.type === "expire" && e.hard);
  assert.deepEqual(exp, [false, true], "soft at 3 packets, hard at 5");
  assert.equal(k.saCount, 0);
  await sub.close();
  await pump;
  await k.close();
});
