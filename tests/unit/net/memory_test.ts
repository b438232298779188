/**
 * The in-memory datagram transport: delivery by destination endpoint with
 * both ends reported, UDP's behaviour where nobody listens, bounded receive
 * queues, typed errors, and the loss/delay/duplication hook on virtual time.
 */
import assert from "node:assert/strict";
import { type Datagram, impairments, MemoryHub, NetError } from "../../../core/net/mod.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";

const te = new TextEncoder();

async function take(it: AsyncIterable<Datagram>, n: number): Promise<Datagram[]> {
  const out: Datagram[] = [];
  if (n === 0) return out;
  for await (const d of it) {
    out.push(d);
    if (out.length === n) break;
  }
  return out;
}

/**
 * Reads first octets of datagrams: the next one already queued, or
 * `undefined` when none is (delivery is synchronous on virtual time, so one
 * macrotask is enough to know). The pending read carries over.
 */
function reader(it: AsyncIterable<Datagram>): () => Promise<number | undefined> {
  const i = it[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<Datagram>> | undefined;
  return async () => {
    pending ??= i.next();
    const r = await Promise.race([
      pending,
      new Promise<"none">((res) => setTimeout(() => res("none"), 0)),
    ]);
    if (r === "none") return undefined;
    pending = undefined;
    return r.done ? undefined : r.value.data[0];
  };
}

async function rejectsNet(p: Promise<unknown>, category: string): Promise<void> {
  await assert.rejects(p, (e) => e instanceof NetError && e.category === category);
}

Deno.test("memory transport: datagrams reach the endpoint they are sent to, with both ends", async () => {
  const hub = new MemoryHub();
  const a = hub.transport([{ address: "192.0.2.1", port: 910 }, {
    address: "2001:db8::1",
    port: 910,
  }]);
  const b = hub.transport([{ address: "192.0.2.2", port: 910 }, {
    address: "2001:DB8:0::2",
    port: 910,
  }]);
  assert.deepEqual(b.locals, [{ address: "192.0.2.2", port: 910 }, {
    address: "2001:db8::2",
    port: 910,
  }]);
  const buf = te.encode("CREATE");
  await a.send(buf, { address: "192.0.2.2", port: 910 });
  buf.fill(0); // the hub copied it
  await a.send(te.encode("v6"), { address: "2001:db8:0:0::2", port: 910 });
  const [d4, d6] = await take(b.receive(), 2);
  assert.deepEqual(d4, {
    data: te.encode("CREATE"),
    local: { address: "192.0.2.2", port: 910 },
    remote: { address: "192.0.2.1", port: 910 },
  });
  assert.deepEqual(d6!.local, { address: "2001:db8::2", port: 910 });
  assert.deepEqual(d6!.remote, { address: "2001:db8::1", port: 910 });
  // the reply goes back to the datagram's remote, from its local
  await b.send(te.encode("REPLY"), d4!.remote, d4!.local);
  const [r] = await take(a.receive(), 1);
  assert.deepEqual([r!.remote, new TextDecoder().decode(r!.data)], [
    { address: "192.0.2.2", port: 910 },
    "REPLY",
  ]);
  // nobody at the destination: dropped in silence, as UDP is, and counted
  await a.send(te.encode("x"), { address: "192.0.2.9", port: 910 });
  assert.equal(hub.stats.unroutable, 1);
  assert.equal(hub.stats.delivered, 3);
  await a.close();
  await b.close();
});

Deno.test("memory transport: binding, send and close errors are typed", async () => {
  const hub = new MemoryHub();
  const a = hub.transport([{ address: "10.0.0.1", port: 0 }]);
  assert.ok(a.locals[0]!.port >= 49152, "port 0 gets an ephemeral port");
  assert.throws(() => hub.transport([{ address: "10.0.0.1", port: a.locals[0]!.port }]), NetError);
  assert.throws(() => hub.transport([{ address: "10.0.0.999", port: 1 }]), NetError);
  assert.throws(() => hub.transport([{ address: "10.0.0.2", port: 70000 }]), NetError);
  await rejectsNet(a.send(new Uint8Array(1), { address: "nope", port: 910 }), "invalid");
  await rejectsNet(a.send(new Uint8Array(1), { address: "10.0.0.2", port: 0 }), "invalid");
  await rejectsNet(a.send(new Uint8Array(65508), { address: "10.0.0.2", port: 910 }), "invalid");
  await rejectsNet(a.send(new Uint8Array(1), { address: "fd00::2", port: 910 }), "invalid");
  await rejectsNet(
    a.send(new Uint8Array(1), { address: "10.0.0.2", port: 910 }, { address: "10.0.0.3", port: 1 }),
    "invalid",
  );
  const it = a.receive()[Symbol.asyncIterator]();
  const pending = it.next();
  await a.close();
  assert.deepEqual(await pending, { done: true, value: undefined }, "close ends the iteration");
  await rejectsNet(a.send(new Uint8Array(1), { address: "10.0.0.2", port: 910 }), "closed");
  // its endpoint is free again
  hub.transport([{ address: "10.0.0.1", port: a.locals[0]!.port }]);
});

Deno.test("memory transport: the receive queue is bounded; what does not fit is dropped and counted", async () => {
  const hub = new MemoryHub({ queueLimit: 4 });
  const a = hub.transport([{ address: "10.0.0.1", port: 1 }]);
  const b = hub.transport([{ address: "10.0.0.2", port: 1 }]);
  for (let i = 0; i < 10; i++) await a.send(Uint8Array.of(i), b.locals[0]!);
  assert.equal(b.dropped, 6);
  assert.equal(hub.stats.overflow, 6);
  const got = await take(b.receive(), 4);
  assert.deepEqual(got.map((d) => d.data[0]), [0, 1, 2, 3], "the first four, in order");
  await a.send(Uint8Array.of(10), b.locals[0]!);
  assert.deepEqual((await take(b.receive(), 1))[0]!.data, Uint8Array.of(10), "room again");
});

Deno.test("memory transport: the hook loses, delays (on the hub's clock) and duplicates datagrams", async () => {
  const clock = new ManualClock(0);
  const hub = new MemoryHub({ clock });
  const a = hub.transport([{ address: "10.0.0.1", port: 1 }]);
  const b = hub.transport([{ address: "10.0.0.2", port: 1 }]);
  hub.hook = (d) => {
    const n = d.data[0]!;
    if (n === 1) return { drop: true };
    if (n === 2) return { delayMs: 100 };
    if (n === 3) return { delayMs: 50, duplicates: [150] };
    return undefined;
  };
  for (const n of [1, 2, 3, 4]) await a.send(Uint8Array.of(n), b.locals[0]!);
  const next = reader(b.receive());
  assert.deepEqual(await next(), 4, "an undelayed datagram arrives at once");
  assert.equal(await next(), undefined);
  clock.advance(49);
  assert.equal(await next(), undefined, "nothing before 50 ms");
  clock.advance(1);
  assert.equal(await next(), 3, "3 at 50 ms");
  clock.advance(50);
  assert.equal(await next(), 2, "2 at 100 ms");
  clock.advance(49);
  assert.equal(await next(), undefined);
  clock.advance(1);
  assert.equal(await next(), 3, "the copy of 3 at 150 ms");
  assert.deepEqual(hub.stats, { delivered: 4, lost: 1, unroutable: 0, overflow: 0 });
});

Deno.test("memory transport: seeded impairments reproduce the same losses and order", async () => {
  const run = async (seed: number) => {
    const clock = new ManualClock(0);
    const hub = new MemoryHub({
      clock,
      hook: impairments({
        loss: 0.3,
        duplicate: 0.1,
        delayMs: 10,
        jitterMs: 40,
        random: new SeededRandom(seed),
      }),
    });
    const a = hub.transport([{ address: "10.0.0.1", port: 1 }]);
    const b = hub.transport([{ address: "10.0.0.2", port: 1 }]);
    for (let i = 0; i < 200; i++) await a.send(Uint8Array.of(i), b.locals[0]!);
    clock.advance(1000);
    const n = hub.stats.delivered;
    const got = (await take(b.receive(), n)).map((d) => d.data[0]!);
    return { got, stats: { ...hub.stats } };
  };
  const x = await run(7), y = await run(7), z = await run(8);
  assert.deepEqual(x, y);
  assert.notDeepEqual(x.got, z.got);
  assert.ok(x.stats.lost > 30 && x.stats.lost < 90, `~30% lost: ${x.stats.lost}`);
  const sorted = [...x.got].sort((p, q) => p - q);
  assert.notDeepEqual(x.got, sorted, "jitter reorders");
});
