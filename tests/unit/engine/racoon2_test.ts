/**
 * The engine against racoon2's kinkd, from its captured traffic
 * (tests/fixtures/racoon2/kink.pcap, B.keytab, *-sadb.log), with the clock
 * set to each frame's capture time:
 *
 * - our responder (as B, with B's keytab) accepts kinkd's CREATE, STATUS,
 *   rekey CREATE, DELETEs and the 3-way CREATE + ACK; installs exactly the SA
 *   keys kinkd's B installed (B-sadb.log); answers with the Quick Mode
 *   content kinkd's B answered; ignores a byte-identical replay;
 * - our initiator (as A, given the capture's ticket, SPIs, nonce and
 *   authenticator time through its seams) sends kinkd's CREATE content,
 *   accepts kinkd's REPLYs (2-way and 3-way with Nr/ACKREQ) and installs
 *   exactly A's keys (A-sadb.log); reacts to the unauthenticated
 *   KRB_AP_ERR_BADKEYVER with one fresh ticket, then a per-peer failure.
 */
import assert from "node:assert/strict";
import { kinkDatagrams, parseSadb, racoon2Path, type SadbEntry } from "../wire/capture.ts";
import {
  type Credentials,
  decodeApReq,
  KerberosService,
  parsePrincipal,
  readKeytab,
  type ServiceKeyEntry,
  verifyApRep,
} from "../../../core/kerberos/mod.ts";
import {
  type IsakmpPayload,
  keyOps,
  type KinkPayload,
  receiveKinkMessage,
} from "../../../core/wire/mod.ts";
import type { SaConfig } from "../../../core/kernel/mod.ts";
import { NO_REPLAY_CACHE_FOR_TESTS } from "../../../core/kerberos/service.ts";
import { type RandomSource, SeededRandom } from "../../../core/util/random.ts";
import { toHex } from "../../../core/util/bytes.ts";
import {
  Engine,
  type EngineEvent,
  type EngineOutput,
  type KernelOp,
  type PeerConfig,
} from "../../../core/engine/mod.ts";

const D = kinkDatagrams();
const B_SADB = parseSadb("B-sadb.log");
const A_SADB = parseSadb("A-sadb.log");
const KT_B = readKeytab(Deno.readFileSync(racoon2Path("B.keytab")));
const KEYS_B: ServiceKeyEntry[] = KT_B.map((e) => ({
  principal: e.principal,
  kvno: e.kvno,
  enctype: e.enctype,
  key: e.key,
}));
const A = "kink/a.kink.test@KINK.TEST";
const B = "kink/b.kink.test@KINK.TEST";
const ms = (i: number) => Math.round(D[i]!.time * 1000);
const ESP = [{
  protocols: [{
    protocol: "esp" as const,
    transforms: [{ id: 12, keyBits: 128, authAlgorithm: 2 }, { id: 3, authAlgorithm: 2 }],
  }],
}];

/** The verified AP-REQ of capture frame index `i` (ticket session key, authenticator). */
function apReqOf(i: number) {
  const svc = new KerberosService({
    keys: KEYS_B,
    now: () => ms(i),
    replayCache: NO_REPLAY_CACHE_FOR_TESTS, // the same AP-REQ is verified more than once
  });
  const m = receiveKinkMessage(D[i]!.payload, {
    authenticate: (d) => {
      const p = d.message.payloads.find((x) => x.kind === "ap-req");
      if (!p || p.kind !== "ap-req") return undefined;
      return keyOps(svc.verifyApReq(p.apReq).sessionKey);
    },
  });
  const p = m.message.payloads.find((x) => x.kind === "ap-req")!;
  if (p.kind !== "ap-req") throw new Error("unreachable");
  return svc.verifyApReq(p.apReq.slice()); // a second verification (no replay cache here)
}

/** Opens a KINK message with the session key of frame `i`'s ticket; returns the inner QM payloads. */
function qmOf(
  data: Uint8Array,
  sessionFrom: number,
): { payloads: KinkPayload[]; qm: IsakmpPayload[] } {
  const v = apReqOf(sessionFrom);
  const m = receiveKinkMessage(data, {
    authenticate: (d) =>
      d.message.payloads.some((x) => x.kind === "ap-req" || x.kind === "ap-rep")
        ? keyOps(v.sessionKey)
        : undefined,
  });
  const payloads: KinkPayload[] = [];
  for (const p of m.message.payloads) {
    if (p.kind === "encrypt") payloads.push(...p.inner!);
    else payloads.push(p);
  }
  return { payloads, qm: payloads.flatMap((p) => p.kind === "isakmp" ? p.payloads : []) };
}

function json(x: unknown): string {
  return JSON.stringify(x, (_k, v) => v instanceof Uint8Array ? toHex(v) : v);
}

function sadbMatches(sa: SaConfig, e: SadbEntry): void {
  assert.equal(sa.src, e.src);
  assert.equal(sa.dst, e.dst);
  assert.equal(sa.spi, e.spi);
  assert.equal(toHex(sa.auth!.key), e.authKey, `auth key of SPI ${e.spi.toString(16)}`);
  assert.equal(toHex(sa.enc!.key), e.encKey, `enc key of SPI ${e.spi.toString(16)}`);
  assert.equal(sa.enc!.name, e.encAlg === 12 ? "cbc(aes)" : "cbc(des3_ede)");
}

function sadb(log: SadbEntry[], op: string, spi: number): SadbEntry {
  const e = log.find((x) => x.op === op && x.spi === spi);
  if (!e) throw new Error(`no ${op} of ${spi.toString(16)}`);
  return e;
}

/** Drives an engine by hand: runs its outputs with scripted kernel answers. */
class Driver {
  readonly sent: Uint8Array[] = [];
  readonly events: EngineEvent[] = [];
  readonly ops: KernelOp[] = [];
  readonly tickets: { id: number; fresh: boolean }[] = [];
  /** SPIs that allocSpi returns, in order. */
  spis: number[] = [];
  constructor(readonly engine: Engine) {}

  pump(now: number): void {
    for (let i = 0; i < 1000; i++) {
      const o: EngineOutput | undefined = this.engine.poll();
      if (!o) return;
      if (o.kind === "send") this.sent.push(o.data);
      else if (o.kind === "event") this.events.push(o.event);
      else if (o.kind === "ticket") {
        this.tickets.push({ id: o.id, fresh: o.request.fresh === true });
      } else {
        this.ops.push(structuredClone(o.op));
        const spi = o.op.kind === "allocSpi" ? this.spis.shift() : undefined;
        this.engine.handleKernelResult(
          now,
          o.id,
          spi === undefined ? { ok: true } : { ok: true, spi },
        );
      }
    }
  }

  deliver(now: number, i: number, data = D[i]!.payload): void {
    const d = D[i]!;
    this.engine.handleDatagram(now, {
      data,
      remote: { address: d.src, port: d.srcPort },
      local: { address: d.dst, port: d.dstPort },
    });
    this.pump(now);
  }

  take<K extends KernelOp["kind"]>(kind: K): Extract<KernelOp, { kind: K }>[] {
    const out = this.ops.filter((o) => o.kind === kind) as Extract<KernelOp, { kind: K }>[];
    this.ops.splice(0, this.ops.length, ...this.ops.filter((o) => o.kind !== kind));
    return out;
  }
}

function responder(proposals = ESP, epoch = 1795739940): Driver {
  const peer: PeerConfig = {
    name: "a",
    address: "10.77.0.1",
    localAddress: "10.77.0.2",
    principal: A,
    proposals,
    mode: "transport",
    prf: "racoon2",
  };
  return new Driver(
    new Engine({
      identity: { principal: B, serviceKeys: KEYS_B },
      epoch,
      peers: [peer],
      firstStart: true,
    }, {
      random: new SeededRandom(7),
    }),
  );
}

Deno.test("racoon2 → our responder: CREATE, STATUS, rekey CREATE, DELETE ×2 as kinkd's B answered them", () => {
  const b = responder();
  // #7 CREATE (optimistic): our inbound SPI is the one kinkd's B chose.
  b.spis = [0x017df76b];
  b.deliver(ms(0), 0);
  const [upd] = b.take("updateSa");
  const [add] = b.take("addSa");
  sadbMatches(upd!.sa, sadb(B_SADB, "UPDATE", 0x017df76b));
  sadbMatches(add!.sa, sadb(B_SADB, "ADD", 0x05974ab7));
  assert.equal(b.sent.length, 1);
  const ours = qmOf(b.sent[0]!, 0);
  const theirs = qmOf(D[1]!.payload, 0);
  assert.equal(json(ours.qm), json(theirs.qm), "same Quick Mode answer as kinkd's B");
  // Our AP-REP answers kinkd's authenticator; our REPLY carries no ACKREQ.
  const v = apReqOf(0);
  const rep = ours.payloads.find((p) => p.kind === "ap-rep")!;
  assert.ok(rep.kind === "ap-rep");
  verifyApRep(rep.apRep, v.sessionKey, [{
    ctime: v.authenticator.ctime,
    cusec: v.authenticator.cusec,
  }]);
  assert.equal(b.sent[0]![13]! & 0x80, 0);
  assert.ok(b.events.some((e) => e.type === "sa-up"));

  // The same datagram again (same authenticator): the replay cache refuses it; no answer (as kinkd).
  b.deliver(ms(0) + 100, 0);
  assert.equal(b.sent.length, 1);
  assert.ok(b.events.some((e) => e.type === "dropped" && e.reason === "replay"));

  // #9 STATUS → REPLY with just the AP-REP.
  b.deliver(ms(2), 2);
  assert.equal(b.sent.length, 2);
  const st = qmOf(b.sent[1]!, 2);
  assert.deepEqual(st.payloads.map((p) => p.kind), ["ap-rep"]);
  assert.deepEqual(qmOf(D[3]!.payload, 2).payloads.map((p) => p.kind), ["ap-rep"]);

  // #11 rekey CREATE.
  b.spis = [0x0c4679bd];
  b.deliver(ms(4), 4);
  sadbMatches(b.take("updateSa")[0]!.sa, sadb(B_SADB, "UPDATE", 0x0c4679bd));
  sadbMatches(b.take("addSa")[0]!.sa, sadb(B_SADB, "ADD", 0x0804bba2));
  assert.equal(json(qmOf(b.sent[2]!, 4).qm), json(qmOf(D[5]!.payload, 4).qm));

  // #13 DELETE of the first pair: outbound at once, REPLY lists our inbound SPI as kinkd's did.
  b.deliver(ms(6), 6);
  const del = b.take("deleteSa");
  assert.deepEqual(del.map((d) => [d.id.dst, d.id.spi]), [["10.77.0.1", 0x05974ab7]]);
  assert.equal(json(qmOf(b.sent[3]!, 6).qm), json(qmOf(D[7]!.payload, 6).qm));
  // The pair is down for traffic once its outbound SA is gone: reported now, not after the grace.
  const downs = () => b.events.filter((e) => e.type === "sa-down");
  assert.deepEqual(downs().map((e) => e.type === "sa-down" && e.reason), ["deleted-by-peer"]);
  // The inbound SA goes after the grace period (10 s).
  b.engine.handleTimeout(ms(6) + 10_001);
  b.pump(ms(6) + 10_001);
  assert.deepEqual(b.take("deleteSa").map((d) => [d.id.dst, d.id.spi]), [[
    "10.77.0.2",
    0x017df76b,
  ]]);

  // #15 DELETE of the second pair.
  b.deliver(ms(8), 8);
  assert.deepEqual(b.take("deleteSa").map((d) => d.id.spi), [0x0804bba2]);
  assert.equal(json(qmOf(b.sent[4]!, 8).qm), json(qmOf(D[9]!.payload, 8).qm));
  assert.equal(downs().length, 2, "each pair reported down once, when its DELETE arrived");
});

Deno.test("racoon2 → our responder: 3-way CREATE (3DES only) with Nr and ACKREQ, then kinkd's ACK", () => {
  const b = responder([{
    protocols: [{ protocol: "esp", transforms: [{ id: 3, authAlgorithm: 2 }] }],
  }], 1795739962);
  b.spis = [0x04e23fb1];
  b.deliver(ms(10), 10);
  const [upd] = b.take("updateSa");
  assert.equal(upd!.sa.spi, 0x04e23fb1);
  assert.equal(upd!.sa.enc!.name, "cbc(des3_ede)");
  assert.equal(b.take("addSa").length, 0, "outbound only on ACK");
  assert.equal(b.sent.length, 1);
  assert.equal(b.sent[0]![13]! & 0x80, 0x80, "ACKREQ set");
  const ours = qmOf(b.sent[0]!, 10);
  const theirs = qmOf(D[11]!.payload, 10);
  const sa = (x: IsakmpPayload[]) => x.filter((p) => p.kind === "sa");
  assert.equal(json(sa(ours.qm)), json(sa(theirs.qm)), "same choice as kinkd's 3DES-only B");
  assert.ok(ours.qm.some((p) => p.kind === "nonce"), "Nr sent");
  // kinkd's ACK (#21): the outbound SA follows.
  b.deliver(ms(12), 12);
  const [add] = b.take("addSa");
  assert.equal(add!.sa.spi, 0x0213ec69);
  assert.equal(add!.sa.enc!.name, "cbc(des3_ede)");
  assert.ok(b.events.some((e) => e.type === "sa-up"));
  assert.equal(b.engine.status().transactions.length, 0);
});

/**
 * Random octets from a script first (XID, nonce Ni, the sub-millisecond part
 * of the authenticator time), then from a seeded generator.
 */
class ScriptedRandom implements RandomSource {
  readonly #rest = new SeededRandom(3);
  constructor(readonly script: Uint8Array[]) {}
  fill(out: Uint8Array): Uint8Array {
    const head = this.script[0];
    if (head && head.length === out.length) {
      out.set(head);
      this.script.shift();
      return out;
    }
    return this.#rest.fill(out);
  }
}

function le32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

/** Our initiator set up to reproduce kinkd's CREATE of frame `i`. */
function initiator(i: number): { d: Driver; cred: Credentials; now: number } {
  const v = apReqOf(i);
  const qm = qmOf(D[i]!.payload, i).qm;
  const ni = qm.find((p) => p.kind === "nonce")!;
  assert.ok(ni.kind === "nonce");
  const xid = new DataView(D[i]!.payload.buffer, D[i]!.payload.byteOffset).getUint32(8);
  const random = new ScriptedRandom([le32(xid), ni.nonce, le32(v.authenticator.cusec % 1000)]);
  const peer: PeerConfig = {
    name: "b",
    address: "10.77.0.2",
    localAddress: "10.77.0.1",
    principal: B,
    proposals: ESP,
    mode: "transport",
    prf: "racoon2",
    lifetime: { seconds: 3600 },
  };
  const engine = new Engine({
    identity: { principal: A },
    epoch: 1795739942,
    peers: [peer],
    firstStart: true,
  }, {
    random,
  });
  const ticket = decodeApReq(
    (receiveKinkMessage(D[i]!.payload, { authenticate: () => keyOps(v.sessionKey) }).message
      .payloads[0] as { apReq: Uint8Array }).apReq,
  ).ticket;
  const cred: Credentials = {
    client: parsePrincipal(A),
    server: parsePrincipal(B),
    ticket,
    sessionKey: v.sessionKey,
    flags: v.encTicketPart.flags,
    authtime: v.encTicketPart.authtime,
    endtime: v.encTicketPart.endtime,
  };
  const now = v.authenticator.ctime.getTime() + Math.floor(v.authenticator.cusec / 1000);
  return { d: new Driver(engine), cred, now };
}

Deno.test("our initiator → racoon2: kinkd's CREATE content, and its 2-way REPLY accepted with A's keys", () => {
  const { d, cred, now } = initiator(0);
  d.spis = [0x05974ab7];
  d.engine.command(now, { kind: "up", peer: "b" });
  d.pump(now);
  assert.equal(d.tickets.length, 1);
  d.engine.handleTicket(now, d.tickets[0]!.id, { ok: true, credentials: cred });
  d.pump(now);
  // Optimistic inbound SA before the CREATE, keyed as kinkd's A keyed it.
  sadbMatches(d.take("updateSa")[0]!.sa, sadb(A_SADB, "UPDATE", 0x05974ab7));
  assert.equal(d.sent.length, 1);
  assert.equal(
    json(qmOf(d.sent[0]!, 0).qm),
    json(qmOf(D[0]!.payload, 0).qm),
    "kinkd's CREATE content",
  );
  // Our authenticator time is kinkd's, so kinkd's REPLY answers it.
  d.deliver(ms(1), 1);
  sadbMatches(d.take("addSa")[0]!.sa, sadb(A_SADB, "ADD", 0x017df76b));
  assert.equal(d.sent.length, 1, "no ACK in the 2-way case");
  const up = d.events.find((e) => e.type === "sa-up");
  assert.ok(up && up.type === "sa-up" && up.optimistic);
});

Deno.test("our initiator → racoon2: 3-way REPLY (3DES, Nr, ACKREQ): outbound added, inbound deleted and re-added with Nr keys, ACK sent", () => {
  const { d, cred, now } = initiator(10);
  d.spis = [0x0213ec69];
  d.engine.command(now, { kind: "up", peer: "b" });
  d.pump(now);
  d.engine.handleTicket(now, d.tickets[0]!.id, { ok: true, credentials: cred });
  d.pump(now);
  sadbMatches(
    d.take("updateSa")[0]!.sa,
    A_SADB.find((e) => e.spi === 0x0213ec69 && e.encAlg === 12)!,
  );
  assert.equal(json(qmOf(d.sent[0]!, 10).qm), json(qmOf(D[10]!.payload, 10).qm));
  d.deliver(ms(11), 11);
  const adds = d.take("addSa");
  const dels = d.take("deleteSa");
  sadbMatches(adds.find((a) => a.sa.spi === 0x04e23fb1)!.sa, sadb(A_SADB, "ADD", 0x04e23fb1));
  // kinkd's A did a second UPDATE here (which Linux ignores); we delete and add for real.
  assert.deepEqual(dels.map((x) => x.id.spi), [0x0213ec69]);
  sadbMatches(
    adds.find((a) => a.sa.spi === 0x0213ec69)!.sa,
    A_SADB.find((e) => e.spi === 0x0213ec69 && e.encAlg === 3)!,
  );
  assert.equal(d.sent.length, 2, "CREATE then ACK");
  const ack = d.sent[1]!;
  assert.equal(ack[0], 5, "ACK");
  assert.equal(new DataView(ack.buffer, ack.byteOffset).getUint32(8), 5, "same XID");
  // The ACK verifies at a responder holding B's keys (AP-REQ, Cksum).
  const svc = new KerberosService({
    keys: KEYS_B,
    now: () => ms(11),
    replayCache: NO_REPLAY_CACHE_FOR_TESTS,
  });
  const m = receiveKinkMessage(ack, {
    authenticate: (x) => {
      const p = x.message.payloads[0]!;
      return p.kind === "ap-req" ? keyOps(svc.verifyApReq(p.apReq).sessionKey) : undefined;
    },
  });
  assert.ok(m.authenticated);
});

/** Runs the engine's timers (retransmissions) until `stop()` or none is left. */
function runTimers(d: Driver, stop: () => boolean): number {
  let t = 0;
  for (let i = 0; i < 100 && !stop(); i++) {
    const at = d.engine.nextTimeout();
    if (at === undefined) break;
    t = at;
    d.engine.handleTimeout(at);
    d.pump(at);
  }
  return t;
}

Deno.test("our initiator → racoon2: unauthenticated KRB_AP_ERR_BADKEYVER is a hint: the CREATE retransmits to the end, then one fresh ticket, new XID; again → per-peer failure", () => {
  const { d, cred, now } = initiator(0);
  d.spis = [0x05974ab7, 0x05974ab8];
  d.engine.command(now, { kind: "up", peer: "b" });
  d.pump(now);
  d.engine.handleTicket(now, d.tickets[0]!.id, { ok: true, credentials: cred });
  d.pump(now);
  // #27: kinkd's lone KRB-ERROR 44 for XID 0 (no Cksum: anyone could have sent it).
  d.deliver(now + 5, 14);
  assert.equal(d.tickets.length, 1, "not acted on at once");
  const t1 = runTimers(d, () => d.tickets.length === 2);
  assert.equal(d.tickets.length, 2);
  assert.equal(d.tickets[1]!.fresh, true, "a fresh ticket is asked for");
  const xidOf = (x: Uint8Array) => new DataView(x.buffer, x.byteOffset).getUint32(8);
  assert.ok(d.sent.length > 1 && d.sent.every((x) => x[0] === 1 && xidOf(x) === 0));
  assert.equal(d.events.filter((e) => e.type === "exchange-failed").length, 0);
  const before = d.sent.length;
  d.engine.handleTicket(t1 + 1, d.tickets[1]!.id, { ok: true, credentials: cred });
  d.pump(t1 + 1);
  assert.equal(d.sent.length, before + 1);
  const xid2 = xidOf(d.sent[before]!);
  assert.equal(xid2, 1, "a new transaction");
  // The same error for the new XID: after its retransmissions, a clear failure, nothing left.
  const err = D[16]!.payload.slice();
  new DataView(err.buffer).setUint32(8, xid2);
  d.deliver(t1 + 10, 16, err);
  runTimers(d, () => d.events.some((e) => e.type === "exchange-failed"));
  const f = d.events.filter((e) => e.type === "exchange-failed");
  assert.equal(f.length, 1);
  assert.ok(f[0]!.type === "exchange-failed" && f[0]!.reason === "krb-error");
  assert.match(f[0]!.type === "exchange-failed" ? f[0]!.detail : "", /BADKEYVER.*fresh ticket/);
  assert.equal(d.tickets.length, 2, "exactly one fresh ticket");
  assert.equal(d.engine.status().transactions.length, 0);
});
