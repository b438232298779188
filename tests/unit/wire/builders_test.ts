import { assert, assertEquals, assertThrows } from "./assert.ts";
import { kinkDatagrams, racoon2Path } from "./capture.ts";
import {
  buildAck,
  buildCreate,
  buildDelete,
  buildErrorReply,
  buildGetTgt,
  buildReply,
  buildStatus,
  buildTgtReply,
} from "../../../core/wire/builders.ts";
import {
  decodeKinkMessage,
  encodeKinkMessage,
  type KinkMessage,
  type KinkPayload,
} from "../../../core/wire/kink.ts";
import { ReceiveError, receiveKinkMessage } from "../../../core/wire/receive.ts";
import { KinkErrorCode, WireError } from "../../../core/wire/errors.ts";
import type { IsakmpPayload } from "../../../core/wire/isakmp.ts";
import { spiBytes } from "../../../core/wire/isakmp.ts";
import { MessageType as M } from "../../../core/wire/constants.ts";
import { NotifyType } from "../../../core/wire/ipsec_doi.ts";
import { keyOps } from "../../../core/wire/session.ts";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { decodeApReq, decodeEncTicketPart } from "../../../core/kerberos/messages.ts";

// Real Kerberos parts from the racoon2 capture: frame 7's AP-REQ, frame 8's AP-REP, frame 27's
// KRB-ERROR, and the ticket session key (decrypted with B's keytab).
const dg = kinkDatagrams();
const f = (n: number) => decodeKinkMessage(dg.find((d) => d.frame === n)!.payload).message;
const apReqP = f(7).payloads[0]!;
const apRepP = f(8).payloads[0]!;
const krbP = f(27).payloads[0]!;
assert(apReqP.kind === "ap-req" && apRepP.kind === "ap-rep" && krbP.kind === "krb-error");
const apReq = apReqP.apReq;
const apRep = apRepP.apRep;
const krbError = krbP.krbError;
const ticket = decodeApReq(apReq).ticket;
const kt = readKeytab(Deno.readFileSync(racoon2Path("B.keytab"))).find((e) =>
  e.kvno === ticket.encPart.kvno && e.enctype === 18
)!;
const etp = decodeEncTicketPart(decrypt(Key.fromBytes(18, kt.key), 2, ticket.encPart.cipher));
const key = keyOps(Key.fromBytes(etp.key.keytype, etp.key.keyvalue));

const sa = (spi: number, transforms = 2): IsakmpPayload => ({
  kind: "sa",
  doi: 1,
  situation: 1,
  proposals: [{
    number: 1,
    protocol: 3,
    spi: spiBytes(spi),
    transforms: [
      {
        number: 1,
        id: 12,
        attributes: [{ type: 1, value: 1 }, { type: 2, value: 3600 }, { type: 4, value: 2 }, {
          type: 6,
          value: 128,
        }, { type: 5, value: 2 }],
      },
      { number: 2, id: 3, attributes: [{ type: 5, value: 2 }] },
    ].slice(0, transforms),
  }],
});
const ni: IsakmpPayload = { kind: "nonce", nonce: new Uint8Array(16).fill(0x11) };
const nr: IsakmpPayload = { kind: "nonce", nonce: new Uint8Array(16).fill(0x22) };
const del: IsakmpPayload = { kind: "delete", doi: 1, protocol: 3, spiSize: 4, spis: [spiBytes(5)] };
const notify = (t: number): IsakmpPayload => ({
  kind: "notify",
  doi: 1,
  protocol: 3,
  notifyType: t,
  spi: spiBytes(5),
  data: new Uint8Array(0),
});
const base = { xid: 42, epoch: 1795739942, apReq, key };
const rbase = { xid: 42, epoch: 1795739940, apRep, key };

/** Receives `b` with our key and returns the effective payloads (KINK_ENCRYPT opened). */
function receive(b: Uint8Array, command?: number): { msg: KinkMessage; eff: KinkPayload[] } {
  const r = receiveKinkMessage(b, {
    authenticate: (d) =>
      d.message.payloads.some((p) => p.kind === "ap-req" || p.kind === "ap-rep") ? key : undefined,
    rules: command === undefined ? {} : { command },
  });
  const eff: KinkPayload[] = [];
  for (const p of r.message.payloads) {
    if (p.kind === "encrypt") eff.push(...p.inner!);
    else eff.push(p);
  }
  return { msg: r.message, eff };
}

Deno.test("builders: CREATE, DELETE, STATUS, ACK decode back identically with a verified Cksum", () => {
  const create = buildCreate({ ...base, transactions: [[sa(0x05974ab7), ni]] });
  const r = receive(create);
  assertEquals(r.msg.type, M.CREATE);
  assertEquals(r.eff, [
    { kind: "ap-req", epoch: base.epoch, apReq },
    { kind: "isakmp", payloads: [sa(0x05974ab7), ni] },
  ]);
  assertEquals(decodeKinkMessage(create).header.cksumLen, 12);
  // unencrypted variant
  const plain = buildCreate({ ...base, encrypt: false, transactions: [[sa(1), ni]] });
  assertEquals(receive(plain).msg.payloads.map((p) => p.kind), ["ap-req", "isakmp"]);
  const d = buildDelete({ ...base, transactions: [[del, notify(24578)]] });
  assertEquals(receive(d).eff[1], { kind: "isakmp", payloads: [del, notify(24578)] });
  const s = buildStatus({ ...base });
  assertEquals(receive(s).eff.map((p) => p.kind), ["ap-req"]);
  const s2 = buildStatus({ ...base, transactions: [[notify(24578)]] });
  assertEquals(receive(s2).eff.map((p) => p.kind), ["ap-req", "isakmp"]);
  const ack = buildAck(base);
  assertEquals(receive(ack).msg.payloads, [{ kind: "ap-req", epoch: base.epoch, apReq }]);
});

Deno.test("builders: REPLY with/without ACKREQ and Nr, DOI error, Kerberos error, lone errors, TGT", () => {
  const opt = buildReply({ ...rbase, command: M.CREATE, transactions: [[sa(7, 1)]] });
  const o = receive(opt, M.CREATE);
  assertEquals(o.msg.ackReq, false);
  assertEquals(o.eff[1], { kind: "isakmp", payloads: [sa(7, 1)] });
  const three = buildReply({
    ...rbase,
    command: M.CREATE,
    ackReq: true,
    transactions: [[sa(7, 1), nr]],
  });
  const t = receive(three, M.CREATE);
  assertEquals([t.msg.ackReq, t.eff[1]], [true, { kind: "isakmp", payloads: [sa(7, 1), nr] }]);
  const ackNoNr = buildReply({
    ...rbase,
    command: M.CREATE,
    ackReq: true,
    transactions: [[sa(7, 1)]],
  });
  assertEquals(receive(ackNoNr, M.CREATE).msg.ackReq, true);
  const doiErr = buildReply({
    ...rbase,
    command: M.CREATE,
    errorCode: KinkErrorCode.INTERR,
    transactions: [[notify(NotifyType.NO_PROPOSAL_CHOSEN)]],
  });
  assertEquals(receive(doiErr, M.CREATE).eff.slice(1), [
    { kind: "error", code: 5 },
    { kind: "isakmp", payloads: [notify(14)] },
  ]);
  const krb = buildReply({ ...rbase, command: M.DELETE, krbError });
  assertEquals(receive(krb, M.DELETE).eff.slice(1), [{ kind: "krb-error", krbError }]);
  const delRep = buildReply({ ...rbase, command: M.DELETE, transactions: [[del]] });
  assertEquals(receive(delRep, M.DELETE).eff.length, 2);
  const statusRep = buildReply({ ...rbase, command: M.STATUS });
  assertEquals(receive(statusRep, M.STATUS).eff.map((p) => p.kind), ["ap-rep"]);
  const lone = buildErrorReply({ xid: 42, krbError });
  const l = decodeKinkMessage(lone);
  assertEquals([l.header.cksumLen, l.message.payloads], [0, [{ kind: "krb-error", krbError }]]);
  assertEquals(receive(lone).eff, [{ kind: "krb-error", krbError }]);
  const loneErr = buildErrorReply({ xid: 42, errorCode: KinkErrorCode.INVMAJ });
  assertEquals(receive(loneErr).eff, [{ kind: "error", code: 3 }]);
  const gettgt = buildGetTgt({ xid: 1, princName: "kink/b.kink.test@KINK.TEST" });
  assertEquals(receive(gettgt).eff, [{ kind: "tgt-req", princName: "kink/b.kink.test@KINK.TEST" }]);
  assertEquals(decodeKinkMessage(gettgt).header.cksumLen, 0);
  const tgt = ticket.raw!;
  const tgtRep = buildTgtReply({ xid: 1, tgt });
  assertEquals(receive(tgtRep, M.GETTGT).eff, [{ kind: "tgt-rep", tgt }]);
});

Deno.test("a lone KINK_TGT_REP answers any command (RFC 4430 §3.7.1), never an ACK", () => {
  // §3.7.1: a responder that cannot decrypt a user-to-user ticket with its current TGT
  // answers the command — CREATE, DELETE or STATUS, not only GETTGT — with its new TGT.
  const tgtRep = buildTgtReply({ xid: 7, tgt: ticket.raw! });
  for (const cmd of [M.CREATE, M.DELETE, M.STATUS, M.GETTGT, undefined]) {
    assertEquals(receive(tgtRep, cmd).eff, [{ kind: "tgt-rep", tgt: ticket.raw! }]);
  }
  assertEquals(reaction(tgtRep, M.ACK), "kink-error:1");
  // Still alone: after an AP_REP, or next to a KRB_ERROR, it is malformed.
  const withErr = raw({
    type: M.REPLY,
    ackReq: false,
    payloads: [{ kind: "tgt-rep", tgt: ticket.raw! }, { kind: "krb-error", krbError }],
  }, false);
  assertEquals(reaction(withErr, M.CREATE), "kink-error:1");
});

Deno.test("builders refuse messages that break the §6 rules", () => {
  const bad = (f: () => unknown) => {
    const e = assertThrows(f, WireError);
    assertEquals(e.category, "invalid-argument");
  };
  bad(() => buildCreate({ ...base, transactions: [] })); // no KINK_ISAKMP
  bad(() => buildCreate({ ...base, transactions: [[sa(1)]] })); // no Ni
  bad(() => buildCreate({ ...base, transactions: [[ni]] })); // no SA
  bad(() => buildCreate({ ...base, transactions: [[sa(1), ni, { ...ni, kind: "nonce" }]] }));
  bad(() =>
    buildCreate({
      ...base,
      transactions: [[sa(1), ni, {
        kind: "id",
        idType: 1,
        protocol: 0,
        port: 0,
        data: new Uint8Array(4),
      }]],
    })
  ); // IDci without IDcr
  bad(() => buildDelete({ ...base, transactions: [[notify(1)]] })); // no Delete
  bad(() => buildStatus({ ...base, transactions: [[del]] })); // STATUS: notify only
  bad(() => buildReply({ ...rbase, command: M.CREATE, transactions: [[sa(7, 1), nr]] })); // Nr, no ACKREQ
  bad(() => buildReply({ ...rbase, command: M.CREATE, transactions: [[sa(7, 2)]] })); // 2 transforms
  bad(() => buildReply({ ...rbase, command: M.STATUS, ackReq: true })); // ACKREQ on non-CREATE
  bad(() => buildReply({ ...rbase, command: M.CREATE, krbError, transactions: [[sa(7, 1)]] }));
  bad(() => buildErrorReply({ xid: 1 })); // empty REPLY
});

function reaction(b: Uint8Array, command?: number): string {
  try {
    receive(b, command);
  } catch (e) {
    assert(e instanceof WireError, String(e));
    const r = e.reaction;
    return r.action === "kink-error"
      ? `kink-error:${r.code}`
      : r.action === "notify"
      ? `notify:${r.notifyType}`
      : "drop";
  }
  return "accepted";
}

/** Encodes a message directly (no rule check) with a fresh Cksum. */
function raw(m: Omit<KinkMessage, "doi" | "xid"> & { doi?: number }, withKey = true): Uint8Array {
  return encodeKinkMessage({ doi: 1, xid: 9, ...m }, withKey ? { key } : {});
}

Deno.test("receive rejects each §6 violation with the RFC's reaction", () => {
  const ar: KinkPayload = { kind: "ap-req", epoch: 1, apReq };
  const ap: KinkPayload = { kind: "ap-rep", epoch: 1, apRep };
  const qm = (...p: IsakmpPayload[]): KinkPayload => ({ kind: "isakmp", payloads: p });
  const P = "kink-error:1";
  // CREATE
  assertEquals(
    reaction(raw({ type: 1, ackReq: false, payloads: [ar, qm(sa(1), ni)] })),
    "accepted",
  );
  assertEquals(reaction(raw({ type: 1, ackReq: true, payloads: [ar, qm(sa(1), ni)] })), P);
  assertEquals(reaction(raw({ type: 1, ackReq: false, payloads: [ar] })), P);
  assertEquals(reaction(raw({ type: 1, ackReq: false, payloads: [qm(sa(1), ni), ar] })), P);
  assertEquals(reaction(raw({ type: 1, ackReq: false, payloads: [ar, ar, qm(sa(1), ni)] })), P);
  assertEquals(reaction(raw({ type: 1, ackReq: false, payloads: [ar, qm(sa(1))] })), "notify:16");
  assertEquals(
    reaction(raw({ type: 1, ackReq: false, payloads: [ar, { kind: "encrypt", inner: [ap] }] })),
    P,
  );
  // Keyed message without Cksum, or with a wrong one: dropped silently
  assertEquals(
    reaction(raw({ type: 1, ackReq: false, payloads: [ar, qm(sa(1), ni)] }, false)),
    "drop",
  );
  const flipped = raw({ type: 6, ackReq: false, payloads: [ar] });
  flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
  assertEquals(reaction(flipped), "drop");
  // ACK carries exactly one AP_REQ
  assertEquals(reaction(raw({ type: 5, ackReq: false, payloads: [ar, qm(notify(24578))] })), P);
  // GETTGT: exactly one TGT_REQ, no Cksum
  const tr: KinkPayload = { kind: "tgt-req", princName: "kink/b@R" };
  assertEquals(reaction(raw({ type: 4, ackReq: false, payloads: [tr, tr] }, false)), P);
  // REPLY forms
  assertEquals(reaction(raw({ type: 3, ackReq: false, payloads: [] }, false)), P);
  assertEquals(reaction(raw({ type: 3, ackReq: false, payloads: [ap, qm(sa(1, 1), nr)] }), 1), P);
  assertEquals(
    reaction(raw({ type: 3, ackReq: true, payloads: [ap, qm(sa(1, 1), nr)] }), 1),
    "accepted",
  );
  assertEquals(
    reaction(
      raw({ type: 3, ackReq: false, payloads: [ap, qm(notify(14)), { kind: "error", code: 5 }] }),
      1,
    ),
    P,
  ); // KINK_ERROR after KINK_ISAKMP
  assertEquals(reaction(raw({ type: 3, ackReq: false, payloads: [ap, qm(del)] }), 1), "notify:16");
  assertEquals(
    reaction(
      raw({ type: 3, ackReq: false, payloads: [{ kind: "krb-error", krbError }, qm(del)] }, false),
    ),
    P,
  );
  assertEquals(reaction(raw({ type: 3, ackReq: true, payloads: [ap] }), M.STATUS), P);
  assertEquals(reaction(raw({ type: 9, ackReq: false, payloads: [ar] })), P); // unknown type
  // Header-level reactions come first, before any key is looked up.
  const v = raw({ type: 1, ackReq: false, payloads: [ar, qm(sa(1), ni)] });
  v[1] = 0x20;
  assertEquals(reaction(v), `kink-error:${KinkErrorCode.INVMAJ}`);
  const d = raw({ type: 1, ackReq: false, payloads: [ar, qm(sa(1), ni)] });
  d[7] = 9;
  assertEquals(reaction(d), `kink-error:${KinkErrorCode.INVDOI}`);
  // QM version 2.0 inside KINK_ENCRYPT: answered after authentication with KINK_BADQMVERS,
  // and the error carries the message so far (with the AP-REQ) for building the REPLY.
  const inner = encodeKinkMessage({
    type: 3,
    doi: 1,
    xid: 0,
    ackReq: false,
    payloads: [qm(sa(1), ni)],
  });
  inner[21] = 0x20; // QM version of the lone KINK_ISAKMP
  const dec = decodeKinkMessage(inner, { deferIsakmp: true }).message.payloads[0]!;
  const msg = raw({ type: 1, ackReq: false, payloads: [ar, { kind: "encrypt", inner: [dec] }] });
  assertEquals(reaction(msg), `kink-error:${KinkErrorCode.BADQMVERS}`);
  try {
    receive(msg);
  } catch (e) {
    assert(e instanceof ReceiveError);
    assertEquals(e.received.message.payloads[0], ar);
  }
  // §15 order: the Cksum is judged before the Quick Mode contents, so a forged message with a
  // bad QM version is dropped silently rather than answered.
  const forged = raw({ type: 1, ackReq: false, payloads: [ar, dec] });
  forged[forged.length - 1] = forged[forged.length - 1]! ^ 0xff;
  assertEquals(reaction(forged), "drop");
  assertEquals(reaction(raw({ type: 1, ackReq: false, payloads: [ar, dec] })), "kink-error:6");
});
