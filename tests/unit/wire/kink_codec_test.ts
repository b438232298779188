import { assert, assertEquals, assertThrows } from "./assert.ts";
import { kinkDatagrams, kinkdDumps, racoon2Path } from "./capture.ts";
import { decodeKinkMessage, encodeKinkMessage, type KinkMessage } from "../../../core/wire/kink.ts";
import { KinkErrorCode, WireError } from "../../../core/wire/errors.ts";
import { decodeIsakmpPayloads } from "../../../core/wire/isakmp.ts";
import { bytesEqual } from "../../../core/util/bytes.ts";
import { decodeKrbError } from "../../../core/kerberos/messages.ts";

const dgrams = kinkDatagrams();

function codeOf(f: () => unknown): number | string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) {
      return e.reaction.action === "kink-error"
        ? e.reaction.code
        : e.reaction.action === "notify"
        ? `notify:${e.reaction.notifyType}`
        : "drop";
    }
    throw e;
  }
  return undefined;
}

Deno.test("racoon2 capture: every KINK datagram decodes and re-encodes to the same octets", () => {
  // Frames on udp/910 in tshark numbering (see tests/fixtures/racoon2/README.md scenarios).
  const frames = dgrams.map((d) => d.frame);
  assertEquals(frames, [
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    19,
    20,
    21,
    26,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
  ]);
  for (const d of dgrams) {
    assert(!d.truncated, `frame ${d.frame} truncated`);
    const dec = decodeKinkMessage(d.payload);
    assertEquals(dec.trailing, 0);
    const re = encodeKinkMessage(dec.message);
    assert(bytesEqual(re, d.payload), `frame ${d.frame} re-encodes differently`);
  }
});

Deno.test("racoon2 capture: message types, XIDs, ACKREQ, payload chains and Cksum lengths", () => {
  const want: Record<number, [number, number, boolean, string, number]> = {
    7: [1, 0, false, "ap-req,encrypt", 12],
    8: [3, 0, false, "ap-rep,encrypt", 12],
    9: [6, 1, false, "ap-req", 12],
    10: [3, 1, false, "ap-rep", 12],
    11: [1, 2, false, "ap-req,encrypt", 12],
    12: [3, 2, false, "ap-rep,encrypt", 12],
    13: [2, 3, false, "ap-req,encrypt", 12],
    14: [3, 3, false, "ap-rep,encrypt", 12],
    15: [2, 4, false, "ap-req,encrypt", 12],
    16: [3, 4, false, "ap-rep,encrypt", 12],
    19: [1, 5, false, "ap-req,encrypt", 12],
    20: [3, 5, true, "ap-rep,encrypt", 12],
    21: [5, 5, false, "ap-req", 12],
    26: [1, 0, false, "ap-req,encrypt", 12],
    27: [3, 0, false, "krb-error", 0],
  };
  for (const d of dgrams) {
    const w = want[d.frame] ?? (d.frame % 2 === 0 ? want[26]! : want[27]!);
    const { message: m, header } = decodeKinkMessage(d.payload);
    assertEquals(
      [m.type, m.xid, m.ackReq, m.payloads.map((p) => p.kind).join(","), header.cksumLen],
      w,
      `frame ${d.frame}`,
    );
    assertEquals(m.doi, 1);
    assertEquals(header.majorVersion, 1);
  }
});

Deno.test("racoon2 capture: EPOCH values match the daemons' start times", () => {
  // kinkd A logs "dead peer detected (… old epoch=1795739940, new epoch=1795739962)" for B.
  const log = Deno.readTextFileSync(racoon2Path("A-kinkd.log"));
  const m = /old epoch=(\d+), new epoch=(\d+)/.exec(log)!;
  const [oldB, newB] = [Number(m[1]), Number(m[2])];
  const epochs = new Map<number, number>();
  for (const d of dgrams) {
    for (const p of decodeKinkMessage(d.payload).message.payloads) {
      if (p.kind === "ap-req" || p.kind === "ap-rep") epochs.set(d.frame, p.epoch);
    }
  }
  assertEquals(epochs.get(8), oldB);
  assertEquals(epochs.get(16), oldB);
  assertEquals(epochs.get(20), newB);
  // A's epoch: the first kinkd A started at 1795739942 (its fake PF_KEY socket in A-sadb.log),
  // the restarted one at 1795739970.
  const sadb = Deno.readTextFileSync(racoon2Path("A-sadb.log"));
  const starts = [...sadb.matchAll(/^(\d+)\.\d+ fake PF_KEY socket created/gm)].map((x) =>
    Number(x[1])
  );
  assertEquals(epochs.get(7), starts[0]);
  assertEquals(epochs.get(26), starts[1]);
});

Deno.test("racoon2 capture: lone KRB_ERROR replies are error 44 (KRB_AP_ERR_BADKEYVER), CksumLen 0", () => {
  for (const d of dgrams.filter((x) => [27, 29, 31, 33].includes(x.frame))) {
    const { message, header } = decodeKinkMessage(d.payload);
    assertEquals(header.cksumLen, 0);
    const p = message.payloads[0]!;
    assert(p.kind === "krb-error");
    assertEquals(decodeKrbError(p.krbError).errorCode, 44);
  }
});

Deno.test("ISAKMP: kinkd's logged KINK_ENCRYPT plaintexts of DELETE decode (Delete payloads)", () => {
  const spis = [];
  for (const pt of kinkdDumps("A-kinkd.log", "KINK_ENCRYPT before encryption")) {
    assertEquals(pt[0], 6); // InnerNextPload KINK_ISAKMP
    // inner KINK_ISAKMP: generic header (4) + InnerNextPload + QM version + RESERVED
    assertEquals(pt[9], 0x10);
    const qm = decodeIsakmpPayloads(pt.subarray(12), pt[8]!);
    assertEquals(qm.length, 1);
    const del = qm[0]!;
    assert(del.kind === "delete");
    assertEquals([del.doi, del.protocol, del.spiSize, del.spis.length], [1, 3, 4, 1]);
    spis.push(del.spis[0]!);
  }
  // A deletes its inbound SAs 0x05974ab7 then 0x0804bba2 (A-sadb.log UPDATE lines).
  assertEquals(spis.map((s) => new DataView(s.buffer).getUint32(0).toString(16)), [
    "5974ab7",
    "804bba2",
  ]);
});

function frame(n: number): Uint8Array {
  return dgrams.find((d) => d.frame === n)!.payload.slice();
}

Deno.test("header validation: MjVer, DOI, Length, CksumLen with the RFC's reactions", () => {
  const b = frame(10); // STATUS REPLY, AP_REP only
  const v = b.slice();
  v[1] = 0x20;
  assertEquals(codeOf(() => decodeKinkMessage(v)), KinkErrorCode.INVMAJ);
  const minor = b.slice();
  minor[1] = 0x11; // reserved nibble: ignored on receipt (RFC 4430 §4)
  assertEquals(codeOf(() => decodeKinkMessage(minor)), undefined);
  const doi = b.slice();
  doi[7] = 2;
  assertEquals(codeOf(() => decodeKinkMessage(doi)), KinkErrorCode.INVDOI);
  assertEquals(codeOf(() => decodeKinkMessage(b.subarray(0, 15))), KinkErrorCode.PROTOERR);
  assertEquals(
    codeOf(() => decodeKinkMessage(b.subarray(0, b.length - 1))),
    KinkErrorCode.PROTOERR,
  );
  const ck = b.slice();
  new DataView(ck.buffer).setUint16(14, 200);
  assertEquals(codeOf(() => decodeKinkMessage(ck)), KinkErrorCode.PROTOERR);
  const ck2 = b.slice();
  new DataView(ck2.buffer).setUint16(14, 13); // Cksum not 4-aligned
  assertEquals(codeOf(() => decodeKinkMessage(ck2)), KinkErrorCode.PROTOERR);
  // trailing octets after Length are tolerated and ignored
  const t = new Uint8Array(b.length + 5);
  t.set(b);
  const dec = decodeKinkMessage(t);
  assertEquals(dec.trailing, 5);
  assert(bytesEqual(encodeKinkMessage(dec.message), b));
});

Deno.test("payload chain validation: lengths, alignment, KINK_ENCRYPT last, unknown types", () => {
  const b = frame(8); // REPLY: AP_REP (93) @16, ENCRYPT @112
  const short = b.slice();
  new DataView(short.buffer).setUint16(18, 3);
  assertEquals(codeOf(() => decodeKinkMessage(short)), KinkErrorCode.PROTOERR);
  const long = b.slice();
  new DataView(long.buffer).setUint16(18, 2000);
  assertEquals(codeOf(() => decodeKinkMessage(long)), KinkErrorCode.PROTOERR);
  const notLast = b.slice();
  notLast[112] = 8; // ENCRYPT's Next Payload → KINK_ERROR
  assertEquals(codeOf(() => decodeKinkMessage(notLast)), KinkErrorCode.PROTOERR);
  const unknown = b.slice();
  unknown[16] = 9; // AP_REP's Next Payload → type 9 (reserved)
  assertEquals(codeOf(() => decodeKinkMessage(unknown)), KinkErrorCode.PROTOERR);
  const der = b.slice();
  der[20 + 4] = 0x6e; // AP-REP DER tag replaced by AP-REQ's
  assertEquals(codeOf(() => decodeKinkMessage(der)), KinkErrorCode.PROTOERR);
  // AP_REP length one octet shorter: DER length no longer matches
  const off = b.slice();
  new DataView(off.buffer).setUint16(18, 92);
  assertEquals(codeOf(() => decodeKinkMessage(off)), KinkErrorCode.PROTOERR);
});

Deno.test("KINK_ISAKMP: QM version other than 1.0 is KINK_BADQMVERS; bad content is a Notify", () => {
  const msg: KinkMessage = {
    type: 3,
    doi: 1,
    xid: 9,
    ackReq: false,
    payloads: [{
      kind: "isakmp",
      payloads: [{
        kind: "delete",
        doi: 1,
        protocol: 3,
        spiSize: 4,
        spis: [Uint8Array.of(1, 2, 3, 4)],
      }],
    }],
  };
  const b = encodeKinkMessage(msg);
  assertEquals(decodeKinkMessage(b).message.payloads, msg.payloads);
  const v = b.slice();
  v[21] = 0x20;
  assertEquals(codeOf(() => decodeKinkMessage(v)), KinkErrorCode.BADQMVERS);
  const v2 = b.slice();
  v2[21] = 0x11;
  assertEquals(codeOf(() => decodeKinkMessage(v2)), KinkErrorCode.BADQMVERS);
  const d = b.slice();
  d[24 + 7] = 2; // Delete DOI 2 ≠ header DOI 1
  assertEquals(codeOf(() => decodeKinkMessage(d)), "notify:16");
  const t = b.slice();
  t[20] = 8; // InnerNextPload HASH: not allowed in KINK
  assertEquals(codeOf(() => decodeKinkMessage(t)), "notify:1");
  // deferring leaves the value undecoded and re-encodes it verbatim
  const def = decodeKinkMessage(v, { deferIsakmp: true });
  assert(bytesEqual(encodeKinkMessage(def.message), v));
});

Deno.test("KINK_ERROR and KINK_TGT_REQ payload bodies", () => {
  const msg: KinkMessage = {
    type: 4,
    doi: 1,
    xid: 0x01020304,
    ackReq: false,
    payloads: [{ kind: "tgt-req", princName: "kink/b.kink.test@KINK.TEST" }],
  };
  const b = encodeKinkMessage(msg);
  assertEquals(b.length, 16 + 4 + 26 + 2);
  assertEquals(decodeKinkMessage(b).message, { ...msg, cksum: new Uint8Array(0) });
  const e: KinkMessage = { ...msg, type: 3, payloads: [{ kind: "error", code: 0xdeadbeef }] };
  const eb = encodeKinkMessage(e);
  assertEquals(decodeKinkMessage(eb).message.payloads, e.payloads);
  const bad = eb.slice();
  new DataView(bad.buffer).setUint16(18, 7);
  assertThrows(() => decodeKinkMessage(bad), WireError);
});

Deno.test("reserved fields are ignored on receipt and zero on send", () => {
  const b = frame(8).slice();
  b[13] = b[13]! | 0x7f; // RESERVED2 of the header
  b[17] = 0xaa; // RESERVED of KINK_AP_REP's generic header
  b[113] = 0x55; // RESERVED of KINK_ENCRYPT's generic header
  const d = decodeKinkMessage(b);
  assertEquals(d.header.reserved2, 0x7f);
  const re = encodeKinkMessage(d.message);
  assert(bytesEqual(re, frame(8)));
});
