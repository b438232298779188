/**
 * Engine throughput: complete optimistic CREATE/REPLY exchanges with two
 * engines in one process (both sides' CPU: AP-REQ/AP-REP, Cksum,
 * KINK_ENCRYPT, KEYMAT, SPI allocation and SA installation in an in-memory
 * kernel, no network), next to the crypto floor of one exchange measured in
 * the same run: the crypto operations an exchange cannot avoid and nothing
 * else, on the sizes the engine's own first exchange shows (authenticator
 * encryption and decryption, ticket decryption, session key import, AP-REP
 * encryption and decryption, two KINK_ENCRYPT seals and opens, four Cksums,
 * four KEYMATs).
 *
 * A second floor leaves out what a responder that already knows the ticket
 * need not do (ticket decryption, session key import and derivation).
 *
 * Target: exchange ≤ 2× its crypto floor. A third case runs the same
 * exchange with a no-op kernel, separating the engine from the in-memory
 * kernel's cost.
 *
 *   deno bench --allow-read=. --allow-env=TMPDIR bench/engine_bench.ts
 */
import { decrypt, encrypt, getMic, Key, keymat, verifyMic } from "../core/crypto/mod.ts";
import {
  AuthenticatorTimes,
  decodeApReq,
  encodeEncApRepPart,
  makeApReq,
} from "../core/kerberos/mod.ts";
import { decodeKinkMessage } from "../core/wire/mod.ts";
import { MemoryKernel } from "../core/kernel/mod.ts";
import { SeededRandom } from "../core/util/random.ts";
import { Engine, type EngineOutput, type KernelResult } from "../core/engine/mod.ts";
import { TicketOffice } from "../tests/unit/engine/harness.ts";

const A = "kink/a.kink.test@KINK.TEST";
const B = "kink/b.kink.test@KINK.TEST";
const START = Date.UTC(2026, 10, 27);
const ESP = [{
  protocols: [{
    protocol: "esp" as const,
    transforms: [{ id: 12, keyBits: 128, authAlgorithm: 2 }],
  }],
}];

const random = new SeededRandom(1);
const office = new TicketOffice(random.fork());
const keyA = office.addService(A);
const keyB = office.addService(B);
const limits = { maxSaPairs: 1e8, maxSaPairsPerPeer: 1e8 };
const engA = new Engine({
  identity: { principal: A, serviceKeys: [keyA] },
  epoch: START / 1000,
  peers: [{
    name: "b",
    address: "10.0.0.2",
    localAddress: "10.0.0.1",
    principal: B,
    proposals: ESP,
    mode: "transport",
  }],
  limits,
  firstStart: true,
}, { random: random.fork() });
const engB = new Engine({
  identity: { principal: B, serviceKeys: [keyB] },
  epoch: START / 1000,
  peers: [{
    name: "a",
    address: "10.0.0.1",
    localAddress: "10.0.0.2",
    principal: A,
    proposals: ESP,
    mode: "transport",
  }],
  limits,
  firstStart: true,
}, { random: random.fork() });
const kA = new MemoryKernel();
const kB = new MemoryKernel();
let now = START;
let nextSpi = 0x1000;
let ups = 0;
/** Collects the datagrams of one exchange while set (to learn message sizes). */
let learning: Uint8Array[] | undefined;

/** Runs both engines until quiet; `memory` selects the in-memory kernel or a no-op one. */
async function pump(memory: boolean): Promise<void> {
  for (let guard = 0; guard < 100; guard++) {
    let any = false;
    for (const [e, other, k] of [[engA, engB, kA], [engB, engA, kB]] as const) {
      for (let o: EngineOutput | undefined = e.poll(); o; o = e.poll()) {
        any = true;
        if (o.kind === "send") {
          learning?.push(o.data);
          other.handleDatagram(now, {
            data: o.data,
            remote: { address: e === engA ? "10.0.0.1" : "10.0.0.2", port: 910 },
          });
        } else if (o.kind === "ticket") {
          e.handleTicket(now, o.id, { ok: true, credentials: office.issue(A, B, START) });
        } else if (o.kind === "event") {
          if (o.event.type === "sa-up") ups++;
        } else {
          let r: KernelResult = { ok: true };
          if (memory) {
            const op = o.op;
            if (op.kind === "allocSpi") r = { ok: true, spi: await k.allocSpi(op.request) };
            else if (op.kind === "addSa") await k.addSa(op.sa);
            else if (op.kind === "updateSa") await k.updateSa(op.sa);
            else if (op.kind === "deleteSa") await k.deleteSa(op.id);
          } else if (o.op.kind === "allocSpi") r = { ok: true, spi: nextSpi++ };
          e.handleKernelResult(now, o.id, r);
        }
      }
    }
    if (!any) return;
  }
  throw new Error("exchange did not settle");
}

async function exchange(memory: boolean): Promise<void> {
  const before = ups;
  now += 1;
  engA.command(now, { kind: "up", peer: "b", force: true });
  await pump(memory);
  if (ups !== before + 2) throw new Error("exchange did not complete");
}

// One exchange first: the ticket is cached from then on (as in a daemon), and sizes are learnt.
const sent: Uint8Array[] = [];
learning = sent;
await exchange(true);
learning = undefined;

/** Octets of KINK_ENCRYPT plaintext and the message length of a KINK datagram. */
function sizes(datagram: Uint8Array): { message: number; sealed: number } {
  const m = decodeKinkMessage(datagram).message;
  const enc = m.payloads.find((p) => p.kind === "encrypt");
  return {
    message: datagram.length,
    sealed: enc?.kind === "encrypt" && enc.ciphertext ? enc.ciphertext.length - 28 : 0,
  };
}
const create = sizes(sent[0]!);
const reply = sizes(sent[1]!);

// Crypto floor material, sized as in a real exchange (ticket, authenticator, AP-REP
// enc-part, KINK_ENCRYPT plaintexts and messages as the engine sends them).
const cred = office.issue(A, B, START);
const session = cred.sessionKey;
const sessionBytes = session.exportBytes();
const svcKey = Key.random(18, random);
const ticketCipher = encrypt(
  svcKey,
  2,
  new Uint8Array(cred.ticket.encPart.cipher.length - 28),
  random,
);
const floorTimes = new AuthenticatorTimes();
const apSample = decodeApReq(
  makeApReq(cred.client, cred.ticket, session, { random, now: () => START, times: floorTimes })
    .apReq,
);
const authPlain = new Uint8Array(apSample.authenticator.cipher.length - 28);
const authCipher = encrypt(session, 11, authPlain, random);
const repPlain = new Uint8Array(
  encodeEncApRepPart({ ctime: new Date(START), cusec: 999_999 }).length,
);
const seed = { protocol: 3, spi: 0x1234, ni: new Uint8Array(16) };
const createMsg = new Uint8Array(create.message - 12);
const replyMsg = new Uint8Array(reply.message - 12);
const qmCreate = new Uint8Array(create.sealed);
const qmReply = new Uint8Array(reply.sealed);
const noMic = new Uint8Array(12);

/**
 * The crypto floor of one optimistic exchange: every crypto operation it
 * needs and nothing else (no DER, no KINK codec), on the engine's sizes.
 * A Cksum checked against zeros costs what a valid one does.
 */
function cryptoFloor(): void {
  // Initiator: authenticator, CREATE seal + Cksum, 2 KEYMATs (inbound now, outbound later).
  encrypt(session, 11, authPlain, random);
  const ctC = encrypt(session, 39, qmCreate, random);
  getMic(session, 40, createMsg);
  keymat(session, seed, 36);
  keymat(session, { ...seed, spi: 0x5678 }, 36);
  // Responder: ticket, session key import, authenticator, Cksum, open, 2 KEYMATs,
  // AP-REP, REPLY seal + Cksum.
  decrypt(svcKey, 2, ticketCipher);
  const k = Key.fromBytes(18, sessionBytes);
  respond(k, ctC);
  k.dispose();
}

function respond(k: Key, ctC: Uint8Array): void {
  decrypt(k, 11, authCipher);
  verifyMic(k, 40, createMsg, noMic);
  decrypt(k, 39, ctC);
  keymat(k, seed, 36);
  keymat(k, { ...seed, spi: 0x4321 }, 36);
  const rep = encrypt(k, 12, repPlain, random);
  const ctR = encrypt(k, 39, qmReply, random);
  getMic(k, 40, replyMsg);
  // Initiator: AP-REP, Cksum, open.
  decrypt(session, 12, rep);
  verifyMic(session, 40, replyMsg, noMic);
  decrypt(session, 39, ctR);
}

// The responder's session key when it knows the ticket already (its ticket cache):
// no ticket decryption, no key import, the key-usage keys derived once.
const cachedSession = Key.fromBytes(18, sessionBytes);

/**
 * The crypto floor of an exchange whose ticket the responder has seen before
 * (every exchange after a peer's first with a ticket): {@link cryptoFloor}
 * without the ticket decryption, the session key import and the key
 * derivations that come with a new key.
 */
function floorCachedTicket(): void {
  encrypt(session, 11, authPlain, random);
  const ctC = encrypt(session, 39, qmCreate, random);
  getMic(session, 40, createMsg);
  keymat(session, seed, 36);
  keymat(session, { ...seed, spi: 0x5678 }, 36);
  respond(cachedSession, ctC);
}

/** Empties both in-memory kernels (between timed batches). */
async function flushKernels(): Promise<void> {
  await kA.flushSas();
  await kB.flushSas();
}

/**
 * Between timed batches: brings both engines back to a steady state instead
 * of letting them hold every pair ever made (each exchange adds one). A
 * deletes every pair with B (DELETE exchanges), the clock jumps 61 s so the
 * DELETE grace period (10 s) and the reply cache (60 s) run out, and every
 * timer due is run; the replay caches shed entries as the jumps pass their
 * 5-minute window. Untimed. Returns the pairs A still holds (0 expected).
 */
async function settle(memory = true): Promise<number> {
  engA.command(now, { kind: "down", peer: "b" });
  await pump(memory);
  now += 61_000;
  for (let round = 0; round < 100; round++) {
    let due = false;
    for (const e of [engA, engB]) {
      const t = e.nextTimeout();
      if (t !== undefined && t <= now) {
        e.handleTimeout(now);
        due = true;
      }
    }
    await pump(memory);
    if (!due) break;
  }
  await flushKernels();
  return engA.status().peers.reduce((n, p) => n + p.saPairs, 0);
}

const group = "optimistic exchange";
Deno.bench("crypto floor of one exchange", { group, baseline: true, n: 2000, warmup: 100 }, () => {
  cryptoFloor();
});
Deno.bench("crypto floor, ticket known to the responder", { group, n: 2000, warmup: 100 }, () => {
  floorCachedTicket();
});
Deno.bench("engine exchange, in-memory kernel", { group, n: 2000, warmup: 100 }, async (b) => {
  await kA.flushSas();
  await kB.flushSas();
  b.start();
  await exchange(true);
  b.end();
});
Deno.bench("engine exchange, no-op kernel", { group, n: 2000, warmup: 100 }, async () => {
  await exchange(false);
});

/** One exchange and the crypto floors (for engine_ratio.ts and profiling with --cpu-prof). */
export { cryptoFloor, exchange, floorCachedTicket, flushKernels, settle };
