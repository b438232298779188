/**
 * The simulator's own machinery, checked with a tiny stand-in protocol (not
 * KINK: the real engine is judged by sim_test.ts): the driver runs kernel
 * operations on the MemoryKernel, gets tickets from the SimKdc, delivers
 * datagrams with loss, duplication and partitions as configured, fires
 * timers on each gateway's own clock, and a seed reproduces the same digest.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type {
  Datagram,
  EngineApi,
  EngineCommand,
  EngineConfig,
  EngineOutput,
  EngineSeams,
  EngineStatus,
  KernelResult,
  ReconfigureResult,
  TicketResult,
} from "../../../core/engine/api.ts";
import type { XfrmEvent } from "../../../core/kernel/mod.ts";
import { randomUint32 } from "../../../core/util/random.ts";
import { type EngineCtor, SIM_T0, World } from "../../sim/world.ts";
import { checkInvariants, findSecret } from "../../sim/invariants.ts";
import { Buffer } from "node:buffer";
import { fromHex } from "../../../core/util/bytes.ts";

/**
 * Stand-in: on "up" it gets a ticket, allocates an SPI, installs an inbound
 * SA, then sends "HELLO" every second (3 tries) until the peer answers
 * "ACK"; on ACQUIRE it does the same. Counts what it saw.
 */
class EchoEngine implements EngineApi {
  readonly out: EngineOutput[] = [];
  readonly cfg: EngineConfig;
  readonly seams: EngineSeams;
  nextId = 1;
  timer: number | undefined;
  tries = 0;
  peer = "";
  acked = 0;
  hellos = 0;
  timeouts: number[] = [];
  constructor(cfg: EngineConfig, seams: EngineSeams) {
    this.cfg = cfg;
    this.seams = seams;
  }
  #peerAddr(): string {
    return this.cfg.peers.find((p) => p.name === this.peer)!.address;
  }
  #hello(now: number): void {
    this.out.push({
      kind: "send",
      remote: { address: this.#peerAddr(), port: 910 },
      data: new TextEncoder().encode(`HELLO ${randomUint32(this.seams.random)}`),
    });
    this.tries++;
    this.timer = this.tries < 3 ? now + 1000 : undefined;
  }
  handleDatagram(now: number, d: Datagram): void {
    const text = new TextDecoder().decode(d.data);
    if (text.startsWith("HELLO")) {
      this.hellos++;
      this.out.push({ kind: "send", remote: d.remote, data: new TextEncoder().encode("ACK") });
    } else if (text === "ACK" && this.timer !== undefined) {
      this.acked++;
      this.timer = undefined;
      this.out.push({
        kind: "event",
        event: { type: "peer-alive", peer: this.peer },
      });
    }
    void now;
  }
  handleKernelEvent(now: number, e: XfrmEvent): void {
    if (e.type === "acquire") {
      this.peer = this.cfg.peers.find((p) => p.address === e.dst)!.name;
      this.command(now, { kind: "up", peer: this.peer });
    }
  }
  handleKernelResult(now: number, _id: number, r: KernelResult): void {
    if (r.ok && r.spi !== undefined) {
      const key = this.seams.random.fill(new Uint8Array(20));
      this.out.push({
        kind: "kernel",
        id: this.nextId++,
        op: {
          kind: "updateSa",
          sa: {
            src: this.#peerAddr(),
            dst: this.cfg.peers[0]!.localAddress,
            proto: "esp",
            spi: r.spi,
            mode: "transport",
            aead: { name: "rfc4106(gcm(aes))", key, icvBits: 128 },
          },
        },
      });
    } else if (r.ok) {
      this.#hello(now);
    }
  }
  handleTicket(_now: number, _id: number, r: TicketResult): void {
    if (!r.ok) return;
    this.out.push({
      kind: "kernel",
      id: this.nextId++,
      op: {
        kind: "allocSpi",
        request: {
          src: this.#peerAddr(),
          dst: this.cfg.peers[0]!.localAddress,
          proto: "esp",
          min: 0x1000,
          max: 0xffff,
        },
      },
    });
  }
  handleTimeout(now: number): void {
    this.timeouts.push(now);
    if (this.timer !== undefined && now >= this.timer) this.#hello(now);
  }
  command(_now: number, c: EngineCommand): void {
    if (c.kind !== "up") return;
    this.peer = c.peer;
    const pc = this.cfg.peers.find((p) => p.name === c.peer)!;
    this.out.push({ kind: "ticket", id: this.nextId++, request: { server: pc.principal } });
  }
  poll(): EngineOutput | undefined {
    return this.out.shift();
  }
  nextTimeout(): number | undefined {
    return this.timer;
  }
  reconfigure(): ReconfigureResult {
    throw new Error("the stand-in protocol has no reconfiguration");
  }
  deletesInFlight(): { peer: string; xid: number }[] {
    return [];
  }
  status(): EngineStatus {
    return {
      epoch: this.cfg.epoch,
      now: 0,
      peers: [],
      saPairs: [],
      transactions: [],
      replyCache: 0,
      counters: {},
    };
  }
}

const esp = { protocols: [{ protocol: "esp" as const, transforms: [{ id: 20, keyBits: 256 }] }] };

async function world(seed: number, link = {}, offset = 0): Promise<World> {
  return await World.create({
    seed,
    engine: EchoEngine as unknown as EngineCtor,
    gateways: [
      { host: "a.sim.test", address: "10.0.0.1", enctypes: [18] },
      { host: "b.sim.test", address: "10.0.1.1", enctypes: [20], clockOffsetMs: offset },
    ],
    pairs: [{ a: 0, b: 1, proposalsA: [esp], proposalsB: [esp], ports: [7] }],
    link,
  });
}

const echo = (w: World, i: number) => w.gateways[i]!.engine as unknown as EchoEngine;

Deno.test("sim world: ACQUIRE from the kernel policy, ticket, kernel ops, datagrams, timers", async () => {
  const w = await world(1);
  assertEquals(await w.traffic(0, 1, 7), "acquire");
  await w.runFor(10_000);
  assertEquals(w.acquires.length, 1);
  assertEquals(w.kdc.counters.tgsReps, 1);
  assertEquals(echo(w, 0).acked, 1);
  assertEquals(echo(w, 1).hellos, 1);
  const sas = await w.sas(0);
  assertEquals(sas.length, 1);
  assert(sas[0]!.aead && sas[0]!.spi >= 0x1000 && sas[0]!.spi <= 0xffff);
  assert(w.secrets.size >= 3); // two service keys, the session key, the SA key
  assertEquals(w.problems, []);
  await w.close();
});

Deno.test("sim world: the invariants catch a half-open SA, an orphan and leaked key octets", async () => {
  const w = await world(1);
  await w.traffic(0, 1, 7);
  await w.runFor(10_000);
  const v = await checkInvariants(w);
  assert(v.some((x) => /inbound esp SA .* has no counterpart at gw1/.test(x)), v.join("\n"));
  assert(v.some((x) => /unknown to the engine \(orphan\)/.test(x)), v.join("\n"));
  const [hex] = [...w.secrets];
  assertEquals(findSecret(w.secrets, `sa-up key=${hex!.toUpperCase()}`), "hex");
  const b64 = Buffer.from(fromHex(hex!)).toString("base64");
  assertEquals(findSecret(w.secrets, `{"k":"${b64}"}`), "base64");
  assertEquals(findSecret(w.secrets, "sa-up spi=0x1234"), undefined);
  await w.close();
});

Deno.test("sim world: partitions and loss drop datagrams; retries run on the engine's timer", async () => {
  const w = await world(2);
  w.partition(0, 1, true);
  await w.command(0, { kind: "up", peer: "gw1" });
  await w.runFor(10_000);
  assertEquals(echo(w, 0).tries, 3);
  assertEquals(echo(w, 0).timeouts.map((t) => t - SIM_T0), [1002, 2002]);
  assertEquals(w.stats.partitioned, 3);
  assertEquals(echo(w, 1).hellos, 0);
  await w.close();
  const lossy = await world(3, { loss: 1 });
  await lossy.command(0, { kind: "up", peer: "gw1" });
  await lossy.runFor(10_000);
  assertEquals(lossy.stats.lost, 3);
  await lossy.close();
  const dup = await world(4, { dup: 1 });
  await dup.command(0, { kind: "up", peer: "gw1" });
  await dup.runFor(10_000);
  assertEquals(echo(dup, 1).hellos, 2);
  assertEquals(dup.stats.duplicated, 3); // HELLO, then both ACKs
  await dup.close();
});

Deno.test("sim world: a gateway's timers follow its own clock", async () => {
  const w = await world(5, {}, 200_000);
  w.partition(0, 1, true);
  await w.command(1, { kind: "up", peer: "gw0" });
  await w.runFor(5_000);
  // gw1 reads true time + 200 s (within the KDC's skew window); its retries
  // fire 1 s apart in true time too.
  const t = echo(w, 1).timeouts;
  assertEquals(t.length, 2);
  assertEquals(t[1]! - t[0]!, 1000);
  assert(t[0]! - w.now > 190_000);
  await w.close();
});

Deno.test("sim world: a gateway beyond the KDC's skew window gets no ticket", async () => {
  const w = await world(6, {}, 400_000);
  await w.command(1, { kind: "up", peer: "gw0" });
  await w.runFor(5_000);
  assertEquals(w.stats.ticketFailures, 1);
  assertEquals(w.kdc.counters.asReps, 0);
  await w.close();
});

Deno.test("sim world: the same seed gives the same digest; another seed another", async () => {
  const run = async (seed: number) => {
    const w = await world(seed, { jitterMs: 50, dup: 0.5, loss: 0.2 });
    await w.traffic(0, 1, 7);
    await w.command(1, { kind: "up", peer: "gw0" });
    await w.runFor(20_000);
    const d = w.digest();
    await w.close();
    return d;
  };
  assertEquals(await run(9), await run(9));
  assert(await run(9) !== await run(10));
});
