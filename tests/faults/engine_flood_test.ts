/**
 * Hostile traffic at the engine boundary, in-process and deterministic: a
 * responder engine is fed every hostile class of `hostile.ts` (from an
 * unknown sender and with the configured peer's address spoofed, as any host
 * on the path can do with UDP), and must reject each datagram without
 * installing, removing or holding anything; a legitimate exchange between
 * the two gateways still completes while the flood goes on.
 *
 * The CPU spent per rejected datagram is measured (process CPU time, not
 * wall time) and printed as a table; it is reported, never asserted (speed
 * goals are benchmarks' business: `bench/flood_bench.ts`).
 *
 * The last test floods from the peer's (spoofed) address with forged
 * tickets: the responder's front door (core/engine/admission.ts) must
 * verify one forged ticket once, spend at most a source's budget on distinct
 * ones, answer a handful and never with more octets than received.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { type Gateway, matchingSas, Net, sas, transportPair } from "../unit/engine/harness.ts";
import {
  buildDistinctForged,
  buildHostileSet,
  HOSTILE_CLASSES,
  type HostileClass,
  officeTarget,
} from "./hostile.ts";
import { DEFAULT_ADMISSION } from "../../core/engine/mod.ts";

const A = "10.77.0.1";
const B = "10.77.0.2";
const STRANGER = "10.77.0.66";

/** Feeds `data` to `g` from `from`; returns the outputs it produced (sends, events). */
function feed(net: Net, g: Gateway, from: string, data: Uint8Array) {
  g.engine.handleDatagram(net.now, {
    data,
    remote: { address: from, port: 910 },
    local: { address: g.address, port: 910 },
  });
  let sends = 0, sentOctets = 0, kernelOps = 0, tickets = 0;
  const reasons: string[] = [];
  for (let o = g.engine.poll(); o; o = g.engine.poll()) {
    if (o.kind === "send") {
      sends++;
      sentOctets += o.data.length;
    } else if (o.kind === "kernel") kernelOps++;
    else if (o.kind === "ticket") tickets++;
    else if (o.event.type === "dropped") reasons.push(o.event.reason);
  }
  return { sends, sentOctets, kernelOps, tickets, reasons };
}

/** Process CPU time in microseconds (user + system). */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

interface Row {
  cls: string;
  from: string;
  n: number;
  usPer: number;
  replies: number;
  replyOctets: number;
  reasons: string;
}

async function setUp(seed: number) {
  const net = new Net(seed);
  const [a, b] = transportPair(net);
  // One genuine exchange, to have real SAs to keep and a real CREATE to replay.
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 5_000);
  const created = a.sent.filter((d) => d[0] === 1);
  assert.equal(created.length, 1);
  const target = officeTarget(
    net.office,
    "kink/b.kink.test@KINK.TEST",
    "kink/a.kink.test@KINK.TEST",
    created,
  );
  return { net, a, b, target };
}

async function snapshot(g: Gateway) {
  const st = g.engine.status();
  return {
    sas: (await sas(g.kernel)).map((s) => `${s.proto}/${s.spi}`).sort().join(","),
    pairs: st.saPairs.map((p) => `${p.state}:${p.inbound[0]?.spi}`).join(","),
    transactions: st.transactions.length,
    replyCache: st.replyCache,
  };
}

Deno.test("flood, in-process: every hostile class from a stranger and from a spoofed peer address is rejected; nothing installed, removed or held; CPU per rejected datagram reported", async () => {
  const { net, a, b, target } = await setUp(15);
  const before = await snapshot(b);
  const perClass = Number(Deno.env.get("KINK_FAULTS_FLOOD_N") ?? "200");
  const set = buildHostileSet(target, net.now, perClass);
  const rows: Row[] = [];
  for (const cls of HOSTILE_CLASSES) {
    for (const from of [STRANGER, A]) {
      const pool = set[cls];
      const n = cls === "huge" || cls === "replay" ? perClass : pool.length;
      let replies = 0, replyOctets = 0;
      const reasons = new Map<string, number>();
      const t0 = cpuMicros();
      for (let i = 0; i < n; i++) {
        const r = feed(net, b, from, pool[i % pool.length]!);
        replies += r.sends;
        replyOctets += r.sentOctets;
        assert.equal(r.kernelOps, 0, `${cls} from ${from}: a kernel operation`);
        assert.equal(r.tickets, 0, `${cls} from ${from}: a ticket request`);
        for (const x of r.reasons) reasons.set(x, (reasons.get(x) ?? 0) + 1);
      }
      const t1 = cpuMicros();
      rows.push({
        cls,
        from: from === A ? "spoofed peer" : "stranger",
        n,
        usPer: (t1 - t0) / n,
        replies,
        replyOctets,
        reasons: [...reasons].map(([k, v]) => `${k}×${v}`).join(" "),
      });
      // Every datagram was refused (a dropped event), and nothing changed.
      const refused = [...reasons.values()].reduce((x, y) => x + y, 0);
      assert.equal(refused, n, `${cls} from ${from}: ${refused} of ${n} refused`);
      assert.deepEqual(await snapshot(b), before, `${cls} from ${from} changed state`);
      if (from === STRANGER) assert.equal(replies, 0, `${cls}: answered a stranger`);
    }
  }
  console.log(
    "\nCPU per rejected datagram (responder engine, in-process):\n" +
      rows.map((r) =>
        `  ${r.cls.padEnd(14)} ${r.from.padEnd(13)} ${r.usPer.toFixed(1).padStart(8)} µs` +
        `  replies ${r.replies} (${r.replyOctets} octets)  ${r.reasons}`
      ).join("\n"),
  );
  // The SAs of the genuine exchange are intact on both sides.
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 2);
  assert.deepEqual(m.a, m.b);
  target.dispose();
  await net.close();
});

Deno.test("flood, in-process: a legitimate CREATE completes while every datagram to the responder is preceded by hundreds of hostile ones; memory stays bounded", async () => {
  const { net, a, b, target } = await setUp(16);
  const set = buildHostileSet(target, net.now, 50);
  const burst = Number(Deno.env.get("KINK_FAULTS_FLOOD_BURST") ?? "400");
  let injected = 0;
  const classes: HostileClass[] = [...HOSTILE_CLASSES];
  net.tap = (_from, to, data) => {
    if (to === B) {
      for (let i = 0; i < burst; i++) {
        const cls = classes[i % classes.length]!;
        const pool = set[cls];
        const x = pool[(injected + i) % pool.length]!;
        b.engine.handleDatagram(net.now, {
          data: x,
          remote: { address: i % 2 ? A : STRANGER, port: 910 },
          local: { address: B, port: 910 },
        });
        injected++;
      }
    }
    return data;
  };
  a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  await net.run(net.now + 30_000);
  net.tap = undefined;
  assert.ok(injected >= burst, "the flood ran");
  const upA = a.events.filter((e) => e.type === "sa-up");
  const upB = b.events.filter((e) => e.type === "sa-up");
  assert.equal(upA.length, 2, "the second CREATE completed under the flood");
  assert.equal(upB.length, 2);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 4);
  assert.deepEqual(m.a, m.b);
  const st = b.engine.status();
  // Bounded: the flood left no transactions and at most the genuine REPLYs cached.
  assert.equal(st.transactions.length, 0);
  assert.ok(st.replyCache <= 2, `reply cache ${st.replyCache}`);
  // The replay cache holds only the genuine authenticators that passed their Cksum.
  assert.ok(b.replay.size <= 4, `replay cache ${b.replay.size}`);
  console.log(
    `\n${injected} hostile datagrams interleaved; counters: ${
      JSON.stringify(
        Object.fromEntries(Object.entries(st.counters).filter(([k]) => k.startsWith("dropped"))),
      )
    }`,
  );
  target.dispose();
  await net.close();
});

Deno.test("flood from a spoofed peer address: ticket verifications and unauthenticated answers are limited per source; the peer's own exchanges still complete", async () => {
  const { net, a, b, target } = await setUp(17);
  const sameTicket = buildHostileSet(target, net.now, 1000)["wrong-key"];
  const distinct = buildDistinctForged(target, net.now, 1000);
  const run = (pool: Uint8Array[]) => {
    const c0 = { ...b.engine.status().counters };
    let replies = 0, larger = 0;
    const t0 = cpuMicros();
    for (const x of pool) {
      const r = feed(net, b, A, x);
      replies += r.sends;
      if (r.sentOctets > x.length) larger++;
      assert.equal(r.kernelOps + r.tickets, 0);
      assert.equal(r.reasons.length, 1, "every datagram refused");
    }
    const usPer = (cpuMicros() - t0) / pool.length;
    const c = b.engine.status().counters;
    const d = (k: string) => (c[k] ?? 0) - (c0[k] ?? 0);
    return { replies, larger, usPer, verified: d("ap-verifications"), rate: d("dropped-rate") };
  };
  // 1000 copies of one forged ticket (fresh authenticators), all within the same instant:
  // one decryption, then the verdict on that ticket is looked up.
  const same = run(sameTicket);
  assert.equal(same.verified, 1, `${same.verified} ticket verifications for one forged ticket`);
  // 1000 distinct forged tickets: the source's budget of failed verifications is spent
  // after a burst, and the rest is dropped before any decryption.
  const many = run(distinct);
  const burst = DEFAULT_ADMISSION.verifyBurst;
  assert.ok(many.verified <= burst, `${many.verified} verifications, budget ${burst}`);
  assert.ok(many.rate >= 1000 - burst, `${many.rate} dropped for the source's budget`);
  // Reflection: a handful of KRB-ERRORs over both floods, none larger than what it answers.
  const answers = same.replies + many.replies;
  assert.ok(answers <= DEFAULT_ADMISSION.answerBurst, `${answers} answers to 2000 forgeries`);
  assert.equal(same.larger + many.larger, 0, "an answer larger than the datagram it answers");
  console.log(
    `\nspoofed peer address, 1000 × one forged ticket: ${same.usPer.toFixed(1)} µs each, ` +
      `${same.verified} verification(s), ${same.replies} answers; 1000 distinct forged tickets: ` +
      `${
        many.usPer.toFixed(1)
      } µs each, ${many.verified} verifications, ${many.rate} over budget, ` +
      `${many.replies} answers`,
  );
  // The real peer's ticket verified before from its address: its exchanges go on.
  a.engine.command(net.now, { kind: "up", peer: "b", force: true });
  await net.run(net.now + 10_000);
  const m = await matchingSas(a, b);
  assert.equal(m.a.length, 4, "the peer's CREATE did not complete after the flood");
  assert.deepEqual(m.a, m.b);
  target.dispose();
  await net.close();
});
