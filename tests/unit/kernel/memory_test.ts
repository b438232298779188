/**
 * The in-memory backend's traffic model (which the kernel contract cannot
 * exercise without packets): ACQUIRE on a policy without SA, once per flow
 * until answered; counters and byte/packet lifetimes; block and bypass;
 * and that its direct SA normalization equals the XFRM codec's round trip.
 */
import assert from "node:assert/strict";
import {
  MemoryKernel,
  type SaConfig,
  selector,
  socketBypassPolicies,
  type XfrmEvent,
} from "../../../core/kernel/mod.ts";
import { normalizeSa } from "../../../core/kernel/memory.ts";
import { decodeSa } from "../../../core/kernel/xfrm/decode.ts";
import { encodeSa } from "../../../core/kernel/xfrm/encode.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { eventReader, saCases, testKey } from "./contract.ts";

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
  // The event shares the kernel's policy (no copy per ACQUIRE): a receiver cannot change it.
  assert.throws(() => {
    a.policy.templates[0]!.reqid = 99;
  }, TypeError);
  assert.throws(() => {
    a.policy.selector.dst = "0.0.0.0";
  }, TypeError);
  const stored = await k.listPolicies();
  assert.equal(stored.find((p) => p.dir === "out" && p.action === "allow")!.templates[0]!.reqid, 4);
  assert.equal(stored.find((p) => p.action === "allow")!.selector.dst, "10.0.1.0");
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

Deno.test("memory backend: an SA stored directly equals the XFRM encode/decode round trip, for every contract case", () => {
  const cases: SaConfig[] = [
    ...saCases(),
    ...saCases().map((c) => ({
      ...c,
      dst: c.dst.includes(":") ? "FD00:0:0::0002" : c.dst, // normal form differs from the input
      lifetime: { softBytes: 0, hardBytes: 10, softAddSeconds: 0, hardUseSeconds: 9 },
      mark: { value: 0, mask: 0 },
      acquireSeq: 77,
      flags: 1,
    })),
  ];
  for (const c of cases) {
    const direct = normalizeSa(c, 1234);
    const wire = decodeSa(encodeSa(c));
    if (wire.mark && !wire.mark.value && !wire.mark.mask) delete wire.mark; // the kernel drops a zero mark
    wire.current.addTime = 1234;
    wire.replay = { oseq: 0, seq: 0, oseqHi: 0, seqHi: 0 };
    assert.deepEqual(direct, wire, `SA 0x${c.spi.toString(16)}`);
    // and its keys are copies: wiping the caller's leaves the stored ones
    assert.notEqual(
      direct.enc?.key ?? direct.aead?.key ?? direct.auth?.key,
      c.enc?.key ?? c.aead?.key ?? c.auth?.key,
    );
  }
});

Deno.test("memory backend on virtual time: larval SAs die after 30 s, ACQUIREs repeat only after 30 s", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const k = new MemoryKernel({ clock, random: new SeededRandom(1) });
  const sub = await k.subscribe();
  const next = eventReader(sub, "acquire");
  await k.allocSpi({ src: "10.0.0.1", dst: "10.0.0.2", proto: "esp" });
  assert.equal(k.saCount, 1);
  clock.advance(29_999);
  assert.equal(k.saCount, 1);
  clock.advance(1);
  assert.equal(k.saCount, 0, "the larval SA expired at 30 s (xfrm_acq_expires)");
  await k.addPolicy({
    selector: selector("10.0.0.0/24", "10.0.1.0/24"),
    dir: "out",
    templates: [{ proto: "esp", mode: "transport", reqid: 2 }],
  });
  const pkt = { src: "10.0.0.5", dst: "10.0.1.9" };
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal((await next(0))?.seq, 1);
  clock.advance(29_000);
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal(await next(0), undefined, "no second ACQUIRE while one is pending");
  clock.advance(1_001);
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal((await next(0))?.seq, 2, "a new ACQUIRE once the first timed out");
  await sub.close();
  await k.close();
});

Deno.test("memory backend: SPI allocation from a seeded source reproduces; allow without templates is a bypass", async () => {
  const spis = async () => {
    const k = new MemoryKernel({ clock: new ManualClock(0), random: new SeededRandom(42) });
    const out: number[] = [];
    for (let i = 0; i < 5; i++) {
      out.push(await k.allocSpi({ src: "10.0.0.1", dst: "10.0.0.2", proto: "esp", reqid: i }));
    }
    await k.close();
    return out;
  };
  const a = await spis();
  assert.deepEqual(await spis(), a);
  assert.equal(new Set(a).size, 5);
  const k = new MemoryKernel();
  await k.addPolicies(socketBypassPolicies(910));
  await k.addPolicy({
    selector: selector("0.0.0.0/0", "0.0.0.0/0"),
    dir: "out",
    priority: 10,
    templates: [{ proto: "esp", mode: "transport" }],
  });
  const kink = { src: "192.0.2.1", dst: "192.0.2.2", proto: 17, sport: 910, dport: 910 };
  assert.equal(k.sendPacket(kink), "bypass");
  assert.equal(k.sendPacket({ ...kink, sport: 5000 }), "acquire");
  await k.close();
});

Deno.test("memory backend: SA selectors are honoured as xfrm_state_find does — one SA pair per selector, the others' flows ACQUIRE", async () => {
  const k = new MemoryKernel({ clock: new ManualClock(1_000_000) });
  const sub = await k.subscribe();
  const next = eventReader(sub, "acquire");
  // One policy for the whole host pair; SAs negotiated per UDP port (as kink does for a peer
  // whose traffic selectors differ only in ports).
  await k.addPolicy({
    selector: selector("192.0.2.1/32", "192.0.2.2/32"),
    dir: "out",
    templates: [{ proto: "esp", mode: "transport", reqid: 9 }],
  });
  const sa = (spi: number, dport: number): SaConfig => ({
    src: "192.0.2.1",
    dst: "192.0.2.2",
    proto: "esp",
    spi,
    mode: "transport",
    reqid: 9,
    aead: { name: "rfc4106(gcm(aes))", key: testKey(20, spi), icvBits: 128 },
    selector: selector("192.0.2.1/32", "192.0.2.2/32", { proto: 17, dport }),
  });
  await k.addSa(sa(0x1001, 5001));
  await k.addSa(sa(0x1002, 5002));
  const pkt = (dport: number) => ({ src: "192.0.2.1", dst: "192.0.2.2", proto: 17, dport });
  assert.equal(k.sendPacket(pkt(5001)), "protected");
  assert.equal(k.sendPacket(pkt(5002)), "protected");
  assert.equal(k.sendPacket(pkt(5002)), "protected");
  const used = async (spi: number) =>
    (await k.getSa({ dst: "192.0.2.2", spi, proto: "esp" })).current.packets;
  assert.deepEqual([await used(0x1001), await used(0x1002)], [1, 2], "each flow on its own SA");
  // A third port has no SA of its own: the newer SA of another port does not carry it.
  assert.equal(k.sendPacket(pkt(5003)), "acquire");
  const a = await next(1000);
  assert.equal(a?.selector.dport, 5003);
  // A fourth flow raises its own ACQUIRE while the third's is pending.
  assert.equal(k.sendPacket(pkt(5004)), "acquire");
  const b = await next(1000);
  assert.equal(b?.selector.dport, 5004);
  // An SA without a selector carries every flow of the policy.
  const { selector: _s, ...bare } = sa(0x1003, 0);
  await k.addSa(bare);
  assert.equal(k.sendPacket(pkt(5003)), "protected");
  await sub.close();
  await k.close();
});

Deno.test("memory backend on virtual time: 600 SAs' lifetimes expire in time order, deleted and updated ones as the kernel says, on one clock timer", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const k = new MemoryKernel({ clock, random: new SeededRandom(3) });
  const sub = await k.subscribe();
  const events: { spi: number; hard: boolean }[] = [];
  const pump = (async () => {
    for await (const e of sub) {
      if (e.type === "expire") {
        events.push({ spi: e.sa.spi, hard: e.hard });
      }
    }
  })();
  const [base] = saCases();
  const t0 = clock.now();
  const fired: { at: number; spi: number; hard: boolean }[] = [];
  const expected: { at: number; spi: number; hard: boolean }[] = [];
  for (let i = 0; i < 600; i++) {
    const soft = 10 + (i * 7) % 50, hard = soft + 1 + (i * 13) % 40;
    const spi = 0x10000 + i;
    await k.addSa({ ...base!, spi, lifetime: { softAddSeconds: soft, hardAddSeconds: hard } });
    if (i % 3 === 0) continue; // deleted below: never expires
    if (i % 3 === 1) {
      // UPDSA of a complete SA: new lifetimes (counted from now), the old deadlines gone.
      expected.push({ at: t0 + 1000 + 5000 * 1000, spi, hard: true });
      continue;
    }
    expected.push({ at: t0 + soft * 1000, spi, hard: false });
    expected.push({ at: t0 + hard * 1000, spi, hard: true });
  }
  assert.ok(
    clock.pending <= 1,
    `the model sets one clock timer, not one per SA (${clock.pending})`,
  );
  clock.advance(1000);
  for (let i = 0; i < 600; i++) {
    const id = { dst: base!.dst, spi: 0x10000 + i, proto: "esp" as const };
    if (i % 3 === 0) await k.deleteSa(id);
    if (i % 3 === 1) {
      await k.updateSa({ ...base!, spi: 0x10000 + i, lifetime: { hardAddSeconds: 5000 } });
    }
  }
  // Step through time, noting when each EXPIRE shows: one second at a time up
  // to the last original lifetime, then to 1 ms before the updated hard limit
  // and onto it.
  const step = async (ms: number) => {
    const seen = events.length;
    clock.advance(ms);
    await new Promise((r) => setTimeout(r, 0));
    for (const e of events.slice(seen)) fired.push({ at: clock.now(), spi: e.spi, hard: e.hard });
  };
  for (let s = 1; s < 100; s++) await step(1000);
  await step(t0 + 5_001_000 - 1 - clock.now());
  assert.equal(fired.filter((f) => f.at > t0 + 100_000).length, 0, "nothing early");
  await step(1);
  const order = (a: { at: number; spi: number; hard: boolean }, b: typeof a) =>
    a.at - b.at || a.spi - b.spi || Number(a.hard) - Number(b.hard);
  assert.deepEqual(fired.sort(order), expected.sort(order));
  assert.equal(k.saCount, 0);
  assert.ok(clock.pending <= 1);
  await sub.close();
  await pump;
  await k.close();
  assert.equal(clock.pending, 0, "close() leaves no timer behind");
});

Deno.test("memory backend on virtual time: an installed SA ends its flow's pending ACQUIRE (as xfrm_state_add removes the larval state), so once the SA is deleted the flow ACQUIREs again at once", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const k = new MemoryKernel({ clock, random: new SeededRandom(3) });
  const sub = await k.subscribe();
  const next = eventReader(sub, "acquire");
  await k.addPolicy({
    selector: selector("10.0.0.1/32", "10.0.1.1/32"),
    dir: "out",
    templates: [{ proto: "esp", mode: "transport", reqid: 7 }],
  });
  const pkt = { src: "10.0.0.1", dst: "10.0.1.1" };
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal((await next(0))?.seq, 1);
  const sa: SaConfig = {
    src: "10.0.0.1",
    dst: "10.0.1.1",
    proto: "esp",
    spi: 0x1234,
    mode: "transport",
    reqid: 7,
    aead: { name: "rfc4106(gcm(aes))", key: new Uint8Array(20).fill(1), icvBits: 128 },
  };
  clock.advance(1000);
  await k.addSa(sa);
  assert.equal(k.sendPacket(pkt), "protected");
  await k.deleteSa({ dst: sa.dst, proto: "esp", spi: sa.spi });
  clock.advance(1000); // 2 s after the first ACQUIRE: its 30 s would still run
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal((await next(0))?.seq, 2, "a new ACQUIRE at once: the SA replaced the larval state");
  assert.equal(k.sendPacket(pkt), "acquire");
  assert.equal(await next(0), undefined, "and only one while it is pending");
  await sub.close();
  await k.close();
});

Deno.test("memory backend: a packet's policy is the lowest priority value (oldest on a tie) among host-pair and subnet policies alike, and a removed one no longer matches", async () => {
  const k = new MemoryKernel({ clock: new ManualClock(0) });
  const tmpl = (reqid: number) => [{ proto: "esp" as const, mode: "transport" as const, reqid }];
  // 1,000 host-pair policies (one per peer) and two subnet policies over them
  for (let i = 0; i < 1000; i++) {
    await k.addPolicy({
      selector: selector(`10.0.${i >> 8}.${i & 255}/32`, `10.1.${i >> 8}.${i & 255}/32`),
      dir: "out",
      priority: 100,
      templates: tmpl(i + 1),
    });
  }
  await k.addPolicy({
    selector: selector("10.0.0.0/16", "10.1.0.0/16"),
    dir: "out",
    priority: 100,
    templates: tmpl(5000),
  });
  await k.addPolicy({
    selector: selector("10.0.3.0/24", "10.1.3.0/24"),
    dir: "out",
    priority: 50,
    templates: tmpl(6000),
  });
  const reqid = async (src: string, dst: string) =>
    (await k.matchPolicy("out", { src, dst }))?.templates[0]?.reqid;
  assert.equal(await reqid("10.0.1.44", "10.1.1.44"), 301, "host pair, older than the /16");
  assert.equal(await reqid("10.0.1.44", "10.1.1.45"), 5000, "no host pair: the /16");
  assert.equal(await reqid("10.0.3.1", "10.1.3.1"), 6000, "the /24's lower priority value wins");
  assert.equal(await k.matchPolicy("in", { src: "10.0.1.44", dst: "10.1.1.44" }), undefined);
  await k.deletePolicy({ dir: "out", selector: selector("10.0.1.44/32", "10.1.1.44/32") });
  assert.equal(await reqid("10.0.1.44", "10.1.1.44"), 5000, "the removed host pair is gone");
  await k.close();
});
