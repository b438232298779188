/**
 * Determinism and robustness of the engine: the same seed gives the same
 * datagrams bit for bit; tampered datagrams (any flipped bit) change
 * nothing — the exchange either completes with matching SAs from the
 * untouched retransmissions or fails cleanly, never installing a wrong SA;
 * garbage from a configured peer is dropped without an answer.
 */
import assert from "node:assert/strict";
import { ESP_3DES_ONLY, matchingSas, Net, transportPair } from "./harness.ts";
import type { PeerConfig } from "../../../core/engine/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";

function pair(net: Net, b: Partial<PeerConfig> = {}) {
  return transportPair(net, { b });
}

async function transcript(seed: number): Promise<string> {
  const net = new Net(seed);
  net.loss = 0.2;
  net.dup = 0.1;
  const [a, b] = pair(net, { proposals: ESP_3DES_ONLY });
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 60_000);
  a.engine.command(net.now, { kind: "down", peer: "b" });
  await net.run(net.now + 60_000);
  const hex = (d: Uint8Array) => [...d].map((x) => x.toString(16).padStart(2, "0")).join("");
  const out = [
    ...a.sent.map(hex),
    "|",
    ...b.sent.map(hex),
    "|",
    JSON.stringify(a.events),
    JSON.stringify(b.events),
  ].join("\n");
  await net.close();
  return out;
}

Deno.test("engine determinism: the same seed gives the same datagrams and events, bit for bit", async () => {
  for (const seed of [1, 2, 3]) {
    const x = await transcript(seed);
    const y = await transcript(seed);
    assert.equal(x, y, `seed ${seed}`);
  }
  assert.notEqual(await transcript(1), await transcript(2));
});

Deno.test("engine tampering: a flipped bit in any message never yields mismatched or extra SAs", async () => {
  for (let seed = 200; seed < 230; seed++) {
    const net = new Net(seed);
    const r = new SeededRandom(seed);
    const [a, b] = pair(net, seed % 2 ? { proposals: ESP_3DES_ONLY } : {});
    let n = 0;
    net.tap = (_f, _t, data) => {
      // Tamper with the first three datagrams, each at a random bit.
      if (n++ >= 3) return data;
      const d = data.slice();
      const bit = r.nextUint32() % (d.length * 8);
      d[bit >> 3]! ^= 1 << (bit & 7);
      return d;
    };
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 120_000);
    const m = await matchingSas(a, b);
    assert.deepEqual(m.a, m.b, `seed ${seed}`);
    assert.ok(m.a.length === 0 || m.a.length === 2, `seed ${seed}`);
    await net.close();
  }
});

Deno.test("engine garbage: random datagrams from a peer are dropped, nothing is sent or installed", async () => {
  const net = new Net(40);
  const [a, b] = pair(net);
  const r = new SeededRandom(40);
  for (let i = 0; i < 2000; i++) {
    const len = 16 + (r.nextUint32() % 300);
    const d = r.fill(new Uint8Array(len));
    d[1] = 0x10; // a valid version, so the decoders go deeper
    d[4] = 0, d[5] = 0, d[6] = 0, d[7] = 1;
    d[0] = 1 + (r.nextUint32() % 6);
    b.engine.handleDatagram(net.now, { data: d, remote: { address: "10.77.0.1", port: 910 } });
  }
  await net.drain();
  assert.equal(
    b.sent.filter((d) => d[0] !== 3 || d.length > 40).length,
    0,
    "at most lone error REPLYs",
  );
  assert.equal((await b.kernel.listSas()).length, 0);
  assert.equal(b.engine.status().transactions.length, 0);
  void a;
  await net.close();
});
