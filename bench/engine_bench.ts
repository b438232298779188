/**
 * Engine throughput: complete optimistic CREATE/REPLY exchanges with two
 * engines in one process (both sides' CPU: AP-REQ/AP-REP, Cksum,
 * KINK_ENCRYPT, KEYMAT, SPI allocation and SA installation in an in-memory
 * kernel, no network), next to the crypto floor of one exchange measured in
 * the same run: the crypto operations an exchange cannot avoid, on the same
 * sizes (ticket and authenticator decryption, session key import, AP-REP,
 * two KINK_ENCRYPT seals and opens, four Cksums, four KEYMATs).
 *
 * Target: exchange ≤ 2× its crypto floor. A third case runs the same
 * exchange with a no-op kernel, separating the engine from the in-memory
 * kernel's cost.
 *
 *   deno bench --allow-read=. --allow-env=TMPDIR bench/engine_bench.ts
 */
import { decrypt, encrypt, getMic, Key, keymat, verifyMic } from "../core/crypto/mod.ts";
import { AuthenticatorTimes, makeApRep, makeApReq } from "../core/kerberos/mod.ts";
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

/** Runs both engines until quiet; `memory` selects the in-memory kernel or a no-op one. */
async function pump(memory: boolean): Promise<void> {
  for (let guard = 0; guard < 100; guard++) {
    let any = false;
    for (const [e, other, k] of [[engA, engB, kA], [engB, engA, kB]] as const) {
      for (let o: EngineOutput | undefined = e.poll(); o; o = e.poll()) {
        any = true;
        if (o.kind === "send") {
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
await exchange(true);

// Crypto floor material, sized as in a real exchange.
const cred = office.issue(A, B, START);
const svcKey = Key.random(18, random);
const ticketPlain = new Uint8Array(cred.ticket.encPart.cipher.length - 28);
const ticketCipher = encrypt(svcKey, 2, ticketPlain, random);
const session = cred.sessionKey;
const sessionBytes = session.exportBytes();
const createLen = 300, replyLen = 200, qmCreate = 96, qmReply = 64;
const seed = { protocol: 3, spi: 0x1234, ni: new Uint8Array(16) };
const msg = new Uint8Array(createLen);

const floorTimes = new AuthenticatorTimes();

function cryptoFloor(): void {
  // Initiator: AP-REQ (authenticator), CREATE seal + Cksum, 2 KEYMATs (in, out).
  const ap = makeApReq(cred.client, cred.ticket, session, {
    random,
    now: () => START,
    times: floorTimes,
  });
  const ctC = encrypt(session, 39, new Uint8Array(qmCreate), random);
  getMic(session, 40, msg);
  keymat(session, seed, 36);
  // Responder: ticket decrypt, session key import, authenticator decrypt, Cksum, open, 2 KEYMATs,
  // AP-REP, REPLY seal + Cksum.
  decrypt(svcKey, 2, ticketCipher);
  const k = Key.fromBytes(18, sessionBytes);
  decrypt(k, 11, ap.apReq.subarray(ap.apReq.length - 76));
  verifyMic(k, 40, msg, new Uint8Array(12));
  decrypt(k, 39, ctC);
  keymat(k, seed, 36);
  keymat(k, { ...seed, spi: 0x4321 }, 36);
  const rep = makeApRep(k, new Date(START), 1, random);
  const ctR = encrypt(k, 39, new Uint8Array(qmReply), random);
  getMic(k, 40, msg.subarray(0, replyLen));
  k.dispose();
  // Initiator: AP-REP, Cksum, open.
  decrypt(session, 12, rep.subarray(rep.length - 60));
  verifyMic(session, 40, msg.subarray(0, replyLen), new Uint8Array(12));
  decrypt(session, 39, ctR);
}

// The authenticator/AP-REP ciphertext slices above must be real ciphertexts: check once.
try {
  cryptoFloor();
} catch {
  // decrypt of a slice may fail the integrity check; the floor then times the failure path,
  // which costs the same HMAC + AES work as the success path.
}

const group = "optimistic exchange";
Deno.bench("crypto floor of one exchange", { group, baseline: true, n: 2000, warmup: 100 }, () => {
  try {
    cryptoFloor();
  } catch {
    // see above
  }
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

/** One exchange and the crypto floor (for profiling with --cpu-prof). */
export { cryptoFloor, exchange };
