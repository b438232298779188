/**
 * Fuzzer of the KINK engine: random and mutated input sequences into a live
 * engine that holds peers, SAs and a reply cache.
 *
 * Set-up: a simulated world (tests/sim/world.ts) of three gateways that
 * establish SAs with each other; the datagrams they exchanged and the KINK
 * messages of racoon2's capture (tests/fixtures/racoon2/kink.pcap) are the
 * seed corpus. Then, per input, one of: a mutated corpus datagram from a
 * configured peer's address or from a stranger; a replayed genuine
 * datagram; random octets; an authenticated command from a peer holding a
 * valid ticket (fresh AP-REQ, correct Cksum) with mutated Quick Mode
 * octets, type, flags, epoch or payload list; a bogus kernel event (ACQUIRE for no peer,
 * EXPIRE of an unknown SPI); a kernel or ticket result for an id never
 * issued; an operator command naming an unknown peer or SPI; a timer call.
 *
 * Asserts: the engine throws nothing but typed `KinkError`s (the driver
 * records anything else); unauthenticated datagram input changes no SA state (a snapshot of
 * every kernel and engine taken before is equal after the world is quiet
 * again, and the pair invariants hold); the tables stay within the engine's
 * limits and the heap stays bounded (no growth driven by input).
 *
 * Run: `deno run --allow-read=. tests/fuzz/engine_fuzz.ts --iterations N [--seed S]`
 * (`deno task fuzz:engine` runs 1,000,000).
 *
 * @module
 */
import { extractUdp, readCapture } from "../../core/wire/pcap.ts";
import { randomBelow, randomUint32, SeededRandom } from "../../core/util/random.ts";
import type { EngineCtor } from "../sim/world.ts";
import { loadEngine, World } from "../sim/world.ts";
import { checkInvariants, findSecret, snapshot } from "../sim/invariants.ts";
import { mutate } from "./wire_fuzz.ts";
import {
  decodeKinkMessage,
  encodeKinkMessage,
  keyOps,
  type KinkKeyOps,
  type KinkMessage,
  openKinkMessage,
} from "../../core/wire/mod.ts";
import {
  AuthenticatorTimes,
  type Credentials,
  decodeApReq,
  makeApReq,
} from "../../core/kerberos/mod.ts";
import { toHex } from "../../core/util/bytes.ts";
import { rng } from "./prng.ts";

/** What one fuzz run found. */
export interface EngineFuzzResult {
  iterations: number;
  /** Inputs by kind. */
  kinds: Record<string, number>;
  /** Events of the target engine during the fuzz run, by type and reason. */
  targetEvents: Record<string, number>;
  /** Typed errors thrown by the engine, by category. */
  typedErrors: Record<string, number>;
  /** Violations (untyped throws, state changes, unbounded growth). */
  violations: string[];
  /** Largest heap seen, MiB. */
  maxHeapMiB: number;
  /** Heap after set-up, MiB. */
  baseHeapMiB: number;
  /** Largest transaction count / reply cache seen on the target. */
  maxTransactions: number;
  maxReplyCache: number;
  perSecond: number;
}

function racoon2Corpus(): Uint8Array[] {
  const capture = Deno.readFileSync(new URL("../fixtures/racoon2/kink.pcap", import.meta.url));
  const out: Uint8Array[] = [];
  for (const p of readCapture(capture)) {
    const u = extractUdp(p);
    if ("payload" in u && (u.srcPort === 910 || u.dstPort === 910)) out.push(u.payload.slice());
  }
  return out;
}

/**
 * Builds authenticated, mutated commands from gw0 to gw1: a genuine command
 * gw0 sent (decoded with its ticket's session key), a fresh XID and AP-REQ,
 * one mutation (a Quick Mode chain's octets, the message type, ACKREQ, the
 * epoch, a payload dropped or repeated), sealed and Cksummed again.
 */
function authenticatedSigner(w: World, random: SeededRandom) {
  const gw0 = w.gateways[0]!;
  const templates: { msg: KinkMessage; ops: KinkKeyOps; cred: Credentials }[] = [];
  for (const d of w.delivered) {
    if (d.from !== 0 || d.to !== 1 || ![1, 2, 5, 6].includes(d.data[0]!)) continue;
    let msg: KinkMessage;
    try {
      msg = decodeKinkMessage(d.data, { deferIsakmp: true }).message;
    } catch {
      continue;
    }
    const ap = msg.payloads.find((p) => p.kind === "ap-req");
    if (!ap || ap.kind !== "ap-req") continue;
    const cipher = toHex(decodeApReq(ap.apReq).ticket.encPart.cipher);
    const cred = gw0.tickets.credentials().find((c) => toHex(c.ticket.encPart.cipher) === cipher);
    if (!cred) continue;
    const ops = keyOps(cred.sessionKey, random);
    templates.push({ msg: openKinkMessage(msg, ops, true), ops, cred });
  }
  if (templates.length === 0) return undefined;
  const times = new AuthenticatorTimes();
  return {
    next(r: () => number, corpus: Uint8Array[]): Uint8Array | undefined {
      const t = templates[Math.floor(r() * templates.length)]!;
      const msg = structuredClone(t.msg) as KinkMessage;
      msg.xid = randomUint32(random);
      const built = makeApReq(t.cred.client, t.cred.ticket, t.cred.sessionKey, {
        now: () => w.localNow(0),
        random,
        times,
      });
      const chains: { deferred?: Uint8Array }[] = [];
      for (const p of msg.payloads) {
        if (p.kind === "ap-req") p.apReq = built.apReq;
        if (p.kind === "isakmp") chains.push(p);
        if (p.kind === "encrypt") {
          delete p.ciphertext;
          for (const q of p.inner ?? []) if (q.kind === "isakmp") chains.push(q);
        }
      }
      switch (Math.floor(r() * 6)) {
        case 0:
        case 1:
        case 2: {
          const c = chains[Math.floor(r() * chains.length)];
          if (c?.deferred) c.deferred = mutate(c.deferred, r, corpus);
          break;
        }
        case 3:
          msg.type = [1, 2, 3, 4, 5, 6, 0, 7, 200][Math.floor(r() * 9)]!;
          break;
        case 4:
          msg.ackReq = !msg.ackReq;
          for (const p of msg.payloads) {
            if (p.kind === "ap-req" && r() < 0.5) p.epoch = randomUint32(random);
          }
          break;
        default: {
          const k = Math.floor(r() * msg.payloads.length);
          if (r() < 0.5 && msg.payloads.length > 1) msg.payloads.splice(k, 1);
          else msg.payloads.splice(k, 0, structuredClone(msg.payloads[k]!));
        }
      }
      try {
        return encodeKinkMessage(msg, { key: t.ops });
      } catch {
        return undefined;
      }
    },
  };
}

/** Runs `iterations` inputs with `seed`; see the module documentation. */
export async function runEngineFuzz(
  engine: EngineCtor,
  iterations: number,
  seed = 1,
  progress?: (done: number) => void,
): Promise<EngineFuzzResult> {
  const r = rng(seed);
  const sr = new SeededRandom(seed);
  const gateways = [0, 1, 2].map((i) => ({
    host: `gw${i}.sim.test`,
    address: `10.0.${i}.1`,
    enctypes: [[18], [17, 20], [19]][i]!,
  }));
  const esp = {
    protocols: [{
      protocol: "esp" as const,
      transforms: [{ id: 12, keyBits: 128, authAlgorithm: 2 }],
    }],
  };
  const w = await World.create({
    seed,
    engine,
    gateways,
    pairs: [
      { a: 0, b: 1, proposalsA: [esp], proposalsB: [esp], ports: [1, 2] },
      { a: 1, b: 2, proposalsA: [esp], proposalsB: [esp], ports: [3] },
    ],
  });
  await w.traffic(0, 1, 1);
  await w.traffic(1, 0, 2);
  await w.traffic(2, 1, 3);
  await w.runUntilQuiet(120_000);
  const violations: string[] = [];
  violations.push(...await checkInvariants(w));
  const corpus = [...w.sent.map((s) => s.data), ...racoon2Corpus()];
  const genuine = w.delivered.slice();
  // The set-up was judged above; the final check judges what the fuzz did.
  w.events.length = 0;
  w.acquires.length = 0;
  w.record = false;
  const before = await snapshot(w);
  const target = 1;
  const kinds: Record<string, number> = {};
  const targetEvents: Record<string, number> = {};
  const count = (k: string) => (kinds[k] = (kinds[k] ?? 0) + 1);
  const heap = () => Deno.memoryUsage().heapUsed / (1 << 20);
  const baseHeapMiB = heap();
  let maxHeapMiB = baseHeapMiB;
  let maxTransactions = 0;
  let maxReplyCache = 0;
  const t0 = performance.now();
  // Phase 1: unauthenticated datagrams — nothing may change.
  const datagramShare = Math.ceil(iterations * 0.6);
  // Phase 2: authenticated mutations — gw0 (a peer with a valid ticket) sends
  // commands with fresh AP-REQs, correct Cksums and mutated content.
  const authShare = Math.ceil(iterations * 0.9);
  const signer = authenticatedSigner(w, sr);
  for (let i = 0; i < iterations; i++) {
    const from = randomBelow(sr, 3) === 0 ? 2 : 0;
    if (i < datagramShare) {
      const k = Math.floor(r() * 10);
      if (k < 6) {
        count("mutated");
        const src = corpus[Math.floor(r() * corpus.length)]!;
        w.inject(from, target, mutate(src, r, corpus));
      } else if (k < 8) {
        count("replayed");
        const g = genuine[Math.floor(r() * genuine.length)]!;
        w.inject(g.from, g.to, g.data);
      } else {
        count("random");
        const b = new Uint8Array(Math.floor(r() * 200));
        for (let j = 0; j < b.length; j++) b[j] = Math.floor(r() * 256);
        if (b.length >= 2 && r() < 0.5) b[1] = 0x10; // KINK version 1, to get past the header
        w.inject(from, target, b);
      }
    } else if (i < authShare && signer) {
      count("authenticated");
      const b = signer.next(r, corpus);
      if (b) w.inject(0, target, b);
      else count("authenticated-unencodable");
    } else {
      // Phase 3: other inputs — typed errors only, invariants at the end.
      const k = Math.floor(r() * 6);
      switch (k) {
        case 0:
          count("kernel-result-unknown-id");
          await w.input(
            target,
            "handleKernelResult",
            (e, n) =>
              e.handleKernelResult(n, 1_000_000 + Math.floor(r() * 1e6), { ok: true, spi: 0x1234 }),
          );
          break;
        case 1:
          count("ticket-result-unknown-id");
          await w.input(
            target,
            "handleTicket",
            (e, n) =>
              e.handleTicket(n, 1_000_000 + Math.floor(r() * 1e6), { ok: false, message: "x" }),
          );
          break;
        case 2:
          count("command-unknown");
          await w.input(target, "command", (e, n) =>
            e.command(
              n,
              r() < 0.5
                ? { kind: "delete", peer: "gw0", spi: Math.floor(r() * 0xffffffff) }
                : { kind: "up", peer: `nobody${Math.floor(r() * 10)}` },
            ));
          break;
        case 3:
          count("expire-unknown");
          await w.input(target, "handleKernelEvent", (e, n) =>
            e.handleKernelEvent(n, {
              type: "expire",
              hard: r() < 0.5,
              sa: {
                src: "10.0.0.1",
                dst: "10.0.1.1",
                family: "inet",
                proto: "esp",
                spi: 0xdead0000 + Math.floor(r() * 0xffff),
                mode: "transport",
                reqid: 0,
                replayWindow: 0,
                esn: false,
                lifetime: {},
                selector: {
                  family: "inet",
                  src: "0.0.0.0",
                  srcPrefixLen: 0,
                  dst: "0.0.0.0",
                  dstPrefixLen: 0,
                  proto: 0,
                  sport: 0,
                  dport: 0,
                  ifindex: 0,
                },
                current: { bytes: 0, packets: 0, addTime: 0, useTime: 0 },
                stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
                replay: { oseq: 0, seq: 0, oseqHi: 0, seqHi: 0 },
              } as never,
            }));
          break;
        case 4:
          // A spurious wake-up (the clock itself only moves with the world).
          count("timeout");
          await w.input(target, "handleTimeout", (e, n) => e.handleTimeout(n));
          break;
        default:
          count("traffic-unknown-peer");
          await w.traffic(target, 0, 9999);
      }
    }
    if ((i & 255) === 255 || i === iterations - 1) {
      await w.runFor(50);
      const st = w.gateways[target]!.engine.status();
      maxTransactions = Math.max(maxTransactions, st.transactions.length);
      maxReplyCache = Math.max(maxReplyCache, st.replyCache);
      for (const e of w.events) {
        if (e.gateway === target) {
          const ev = e.event;
          const k = ev.type + ("reason" in ev ? `:${ev.reason}` : "");
          targetEvents[k] = (targetEvents[k] ?? 0) + 1;
        }
        const leak = findSecret(w.secrets, e.line);
        if (leak && violations.length < 20) violations.push(`key octets (${leak}) in: ${e.line}`);
      }
      w.events.length = 0; // checked: keep memory flat
    }
    if ((i & 8191) === 8191) {
      maxHeapMiB = Math.max(maxHeapMiB, heap());
      progress?.(i + 1);
    }
    if (i === datagramShare - 1) {
      await w.runUntilQuiet(400_000);
      const after = await snapshot(w);
      if (after !== before) violations.push("datagram fuzz changed SA state");
    }
  }
  if (!signer) violations.push("no genuine command from gw0 to gw1 to mutate");
  await w.runUntilQuiet(400_000);
  // gw0 sent commands it holds no state for: gw1 may keep SAs gw0 does not
  // know (half-open by construction), so the pair check leaves gw0 out.
  violations.push(...await checkInvariants(w, { skipPairsOf: new Set([0]) }));
  violations.push(...w.problems.filter((p) => !violations.includes(p)));
  const limit = 65_536;
  if (maxTransactions > 64) violations.push(`target held ${maxTransactions} transactions`);
  if (maxReplyCache > limit) violations.push(`reply cache grew to ${maxReplyCache}`);
  if (maxHeapMiB - baseHeapMiB > 256) {
    violations.push(`heap grew by ${(maxHeapMiB - baseHeapMiB).toFixed(0)} MiB`);
  }
  const secs = (performance.now() - t0) / 1000;
  await w.close();
  return {
    iterations,
    kinds,
    targetEvents,
    typedErrors: Object.fromEntries(w.typedErrors),
    violations,
    maxHeapMiB,
    baseHeapMiB,
    maxTransactions,
    maxReplyCache,
    perSecond: iterations / secs,
  };
}

if (import.meta.main) {
  const args = Deno.args;
  const it = args.indexOf("--iterations");
  const sd = args.indexOf("--seed");
  const iterations = it >= 0 ? Number(args[it + 1]) : 100_000;
  const seed = sd >= 0 ? Number(args[sd + 1]) : 1;
  if (!Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(seed)) {
    console.error("usage: engine_fuzz.ts --iterations N [--seed S]");
    Deno.exit(2);
  }
  const engine = await loadEngine();
  if (typeof engine === "string") {
    console.error(`fuzz:engine: ${engine}`);
    Deno.exit(1);
  }
  const res = await runEngineFuzz(engine, iterations, seed, (n) => {
    if (n % 65536 < 8192) console.error(`  ${n} inputs…`);
  });
  console.log(JSON.stringify({ ...res, violations: res.violations.slice(0, 20) }, null, 2));
  Deno.exit(res.violations.length ? 1 : 0);
}
