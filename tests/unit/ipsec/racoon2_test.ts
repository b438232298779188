/**
 * The IPsec keying layer against racoon2's kinkd: its negotiation and keying
 * functions, fed with the Quick Mode payloads of the racoon2 capture
 * (tests/fixtures/racoon2/kink.pcap), must reproduce what kinkd chose, what
 * it put in its REPLYs, and every key it installed (A-sadb.log, B-sadb.log).
 *
 * Frames: #7/#8 optimistic CREATE/REPLY (AES-128 first, 3DES second,
 * HMAC-SHA1); #11/#12 rekey; #19/#20 3-way (B accepts only 3DES: REPLY with
 * Nr and ACKREQ).
 */
import { assert, assertEquals, assertThrows } from "../wire/assert.ts";
import { kinkDatagrams, parseSadb, racoon2Path, type SadbEntry } from "../wire/capture.ts";
import {
  decodeKinkMessage,
  encodeIsakmpPayloads,
  EspTransformId,
  type IsakmpPayload,
  keyOps,
  openEncryptPayload,
  type Proposal,
  ProtocolId,
  type SaPayload,
} from "../../../core/wire/mod.ts";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import {
  decodeApReq,
  decodeEncTicketPart,
  KeyUsage,
  readKeytab,
} from "../../../core/kerberos/mod.ts";
import { toHex } from "../../../core/util/bytes.ts";
import {
  acceptReply,
  chooseProposal,
  IpsecError,
  type KeyedSa,
  keyQuickMode,
  optimisticProposal,
  type ProposalOffer,
  replyProposals,
  saConfigsFor,
  transformSpec,
  withResponderSpis,
} from "../../../core/ipsec/mod.ts";

const A = "10.77.0.1";
const B = "10.77.0.2";
const dgrams = kinkDatagrams();
const keytabB = readKeytab(Deno.readFileSync(racoon2Path("B.keytab")));

interface Qm {
  sa: SaPayload;
  nonce?: Uint8Array;
  all: IsakmpPayload[];
}

/** The session key of the CREATE in `frame` (its ticket opened with B's keytab). */
function sessionKeyOf(frame: number): Key {
  const m = decodeKinkMessage(dgrams.find((d) => d.frame === frame)!.payload).message;
  const ap = m.payloads.find((p) => p.kind === "ap-req");
  assert(ap && ap.kind === "ap-req");
  const t = decodeApReq(ap.apReq).ticket;
  const e = keytabB.find((k) =>
    (k.kvno & 0xff) === ((t.encPart.kvno ?? 0) & 0xff) && k.enctype === t.encPart.etype
  )!;
  const lt = Key.fromBytes(e.enctype, e.key);
  const etp = decodeEncTicketPart(decrypt(lt, KeyUsage.KDC_REP_TICKET, t.encPart.cipher));
  lt.dispose();
  return Key.fromBytes(etp.key.keytype, etp.key.keyvalue);
}

/** The (first) Quick Mode of a frame, KINK_ENCRYPT opened with `key`. */
function qmOf(frame: number, key: Key): Qm {
  const m = decodeKinkMessage(dgrams.find((d) => d.frame === frame)!.payload).message;
  const payloads = m.payloads.flatMap((p) =>
    p.kind === "encrypt" ? openEncryptPayload(p.ciphertext!, 1, keyOps(key)) : [p]
  );
  const isakmp = payloads.find((p) => p.kind === "isakmp");
  assert(isakmp && isakmp.kind === "isakmp", `frame ${frame} has a KINK_ISAKMP`);
  const sa = isakmp.payloads.find((p) => p.kind === "sa");
  assert(sa && sa.kind === "sa");
  const n = isakmp.payloads.find((p) => p.kind === "nonce");
  return n && n.kind === "nonce"
    ? { sa, nonce: n.nonce, all: isakmp.payloads }
    : { sa, all: isakmp.payloads };
}

const sadb = [...parseSadb("A-sadb.log"), ...parseSadb("B-sadb.log")];

/** The keys kinkd installed for (dst, SPI), last entry first (a later UPDATE wins on kinkd's side). */
function installed(dst: string, spi: number): SadbEntry[] {
  return sadb.filter((e) => e.dst === dst && e.spi === spi);
}

function keysOf(k: KeyedSa): { enc: string; auth: string } {
  return { enc: toHex(k.config!.enc!.key), auth: toHex(k.config!.auth!.key) };
}

const sha1 = 2;
/** B's responder-3des policy (racoon2's responder-3des.conf.in): 3DES + HMAC-SHA1, 3600 s. */
const only3des: ProposalOffer[] = [{
  protocols: [{
    protocol: ProtocolId.ESP,
    transforms: [{
      id: EspTransformId.ESP_3DES,
      authAlgorithm: sha1,
      mode: "transport",
      lifetime: { seconds: 3600 },
      esn: false,
    }],
  }],
}];
/** racoon2's default policy: AES-128-CBC then 3DES, HMAC-SHA1, 3600 s. */
const aesThen3des: ProposalOffer[] = [{
  protocols: [{
    protocol: ProtocolId.ESP,
    transforms: [
      {
        id: EspTransformId.ESP_AES,
        keyBits: 128,
        authAlgorithm: sha1,
        mode: "transport",
        lifetime: { seconds: 3600 },
        esn: false,
      },
      only3des[0]!.protocols[0]!.transforms[0]!,
    ],
  }],
}];

Deno.test("racoon2 optimistic CREATE #7: the optimistic SA keys equal A's first UPDATE; REPLY #8 accepted as optimistic, both SAs equal kinkd's", () => {
  const key = sessionKeyOf(7);
  const c = qmOf(7, key);
  const r = qmOf(8, key);
  const opt = optimisticProposal(c.sa.proposals);
  assertEquals(opt.sas.length, 1);
  assertEquals(opt.sas[0]!.transform.id, EspTransformId.ESP_AES);
  const [inbound] = keyQuickMode({
    sas: opt.sas,
    initiator: A,
    responder: B,
    ni: c.nonce!,
    sessionKey: key,
    prf: "racoon2",
  });
  assert(inbound && inbound.direction === "to-initiator");
  assertEquals([inbound.src, inbound.dst], [B, A]);
  const aUpdate = installed(A, inbound.spi).find((e) => e.op === "UPDATE")!;
  assertEquals(keysOf(inbound), { enc: aUpdate.encKey, auth: aUpdate.authKey });
  assertEquals(inbound.config!.enc!.name, "cbc(aes)");
  assertEquals(inbound.config!.auth!.truncBits, 96);
  assertEquals(inbound.config!.lifetime?.hardAddSeconds, 3600);

  assertEquals(r.nonce, undefined);
  const chosen = acceptReply(c.sa.proposals, r.sa.proposals);
  assert(chosen.optimistic);
  const keyed = keyQuickMode({
    sas: chosen.sas,
    initiator: A,
    responder: B,
    ni: c.nonce!,
    sessionKey: key,
    prf: "racoon2",
  });
  const { inbound: aIn, outbound: aOut } = saConfigsFor(keyed, "initiator");
  assertEquals([aIn.length, aOut.length], [1, 1]);
  for (const k of keyed) {
    const e = installed(k.dst, k.spi);
    assert(e.length >= 1, `kinkd installed SPI ${k.spi.toString(16)}`);
    for (const x of e) assertEquals(keysOf(k), { enc: x.encKey, auth: x.authKey });
  }
  key.dispose();
});

Deno.test("racoon2 optimistic CREATE #7 and rekey #11: our responder's choice is kinkd's and our REPLY proposal is byte-identical to its REPLY's", () => {
  for (const [cf, rf] of [[7, 8], [11, 12]] as const) {
    const key = sessionKeyOf(cf);
    const c = qmOf(cf, key);
    const r = qmOf(rf, key);
    const choice = chooseProposal(c.sa.proposals, aesThen3des);
    assert(choice.optimistic, `frame ${cf}`);
    const bSpi = new DataView(r.sa.proposals[0]!.spi.buffer, r.sa.proposals[0]!.spi.byteOffset)
      .getUint32(0);
    const ours = replyProposals(withResponderSpis(choice, { esp: bSpi }));
    const enc = (ps: Proposal[]) =>
      toHex(encodeIsakmpPayloads([{ kind: "sa", doi: 1, situation: 1, proposals: ps }]).bytes);
    assertEquals(enc(ours), enc(r.sa.proposals), `frame ${rf}`);
    key.dispose();
  }
});

Deno.test("racoon2 3-way #19/#20: a 3DES-only responder chooses 3DES (not optimistic), matching kinkd's REPLY byte for byte", () => {
  const key = sessionKeyOf(19);
  const c = qmOf(19, key);
  const r = qmOf(20, key);
  const choice = chooseProposal(c.sa.proposals, only3des);
  assertEquals(choice.optimistic, false);
  assertEquals(choice.sas[0]!.transform.id, EspTransformId.ESP_3DES);
  const bSpi = new DataView(r.sa.proposals[0]!.spi.buffer, r.sa.proposals[0]!.spi.byteOffset)
    .getUint32(0);
  const ours = replyProposals(withResponderSpis(choice, { esp: bSpi }));
  const enc = (ps: Proposal[]) =>
    toHex(encodeIsakmpPayloads([{ kind: "sa", doi: 1, situation: 1, proposals: ps }]).bytes);
  assertEquals(enc(ours), enc(r.sa.proposals));
  key.dispose();
});

Deno.test("racoon2 3-way #19/#20: the initiator accepts 3DES as non-optimistic; keys with Nr equal B's SAs and A's second UPDATE, not the first", () => {
  const key = sessionKeyOf(19);
  const c = qmOf(19, key);
  const r = qmOf(20, key);
  assert(r.nonce, "REPLY #20 carries Nr");
  const chosen = acceptReply(c.sa.proposals, r.sa.proposals);
  assertEquals(chosen.optimistic, false);
  const keyed = keyQuickMode({
    sas: chosen.sas,
    initiator: A,
    responder: B,
    ni: c.nonce!,
    nr: r.nonce,
    sessionKey: key,
    prf: "racoon2",
  });
  assertEquals(keyed.map((k) => k.direction), ["to-responder", "to-initiator"]);
  for (const k of keyed) {
    assertEquals(k.config!.enc!.name, "cbc(des3_ede)");
    // B's entry for the SPI (its outbound ADD or inbound UPDATE) has kinkd's 3DES keys.
    const b = parseSadb("B-sadb.log").filter((x) => x.dst === k.dst && x.spi === k.spi);
    assertEquals(b.length, 1);
    assertEquals(keysOf(k), { enc: b[0]!.encKey, auth: b[0]!.authKey });
    if (k.direction === "to-initiator") {
      const a = parseSadb("A-sadb.log").filter((x) => x.dst === A && x.spi === k.spi);
      assertEquals(a.map((x) => x.op), ["UPDATE", "UPDATE"]);
      assertEquals(keysOf(k), { enc: a[1]!.encKey, auth: a[1]!.authKey });
      assert(keysOf(k).enc !== a[0]!.encKey, "the first UPDATE had the optimistic keys");
    }
  }
  key.dispose();
});

Deno.test("acceptReply refuses a REPLY that raises a lifetime or picks a transform not offered (A-9)", () => {
  const key = sessionKeyOf(19);
  const c = qmOf(19, key);
  const r = qmOf(20, key);
  key.dispose();
  const t = r.sa.proposals[0]!.transforms[0]!;
  const raised: Proposal[] = [{
    ...r.sa.proposals[0]!,
    transforms: [{
      ...t,
      attributes: t.attributes.map((a) => a.type === 2 ? { type: 2, value: 7200 } : a),
    }],
  }];
  const e = assertThrows(() => acceptReply(c.sa.proposals, raised), IpsecError);
  assertEquals(e.category, "no-proposal-chosen");
  const lowered: Proposal[] = [{
    ...r.sa.proposals[0]!,
    transforms: [{
      ...t,
      attributes: t.attributes.map((a) => a.type === 2 ? { type: 2, value: 600 } : a),
    }],
  }];
  const ok = acceptReply(c.sa.proposals, lowered);
  assertEquals(ok.sas[0]!.transform.lifetime, { seconds: 600 });
  const other: Proposal[] = [{ ...r.sa.proposals[0]!, transforms: [{ ...t, id: 11 }] }];
  assertEquals(
    assertThrows(() => acceptReply(c.sa.proposals, other), IpsecError).category,
    "no-proposal-chosen",
  );
  // The transform kinkd chose reads as 3DES + HMAC-SHA1, transport, 3600 s.
  assertEquals(transformSpec(3, t), {
    id: 3,
    authAlgorithm: 2,
    mode: "transport",
    lifetime: { seconds: 3600 },
    esn: false,
  });
});
