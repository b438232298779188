import { assert, assertEquals } from "./assert.ts";
import { kinkDatagrams, kinkdDumps, parseSadb, racoon2Path } from "./capture.ts";
import {
  decodeKinkMessage,
  encodeKinkMessage,
  type KinkMessage,
  openEncryptPayload,
  verifyKinkChecksum,
} from "../../../core/wire/kink.ts";
import { keyOps } from "../../../core/wire/session.ts";
import { receiveKinkMessage } from "../../../core/wire/receive.ts";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { decodeApReq, decodeEncTicketPart } from "../../../core/kerberos/messages.ts";
import { bytesEqual, toHex } from "../../../core/util/bytes.ts";
import { analyzeCapture } from "../../../core/cli/decode/analyze.ts";

const dgrams = kinkDatagrams();
const keytabB = readKeytab(Deno.readFileSync(racoon2Path("B.keytab")));
const keytabA = readKeytab(Deno.readFileSync(racoon2Path("A.keytab")));

/** The session key of frame 7's ticket, recovered with B's keytab (kvno 3). */
function sessionKey(): Key {
  const m = decodeKinkMessage(dgrams.find((d) => d.frame === 7)!.payload).message;
  const ap = m.payloads[0]!;
  assert(ap.kind === "ap-req");
  const t = decodeApReq(ap.apReq).ticket;
  const e = keytabB.find((k) => k.kvno === t.encPart.kvno && k.enctype === t.encPart.etype)!;
  const lt = Key.fromBytes(e.enctype, e.key);
  const etp = decodeEncTicketPart(decrypt(lt, 2, t.encPart.cipher));
  lt.dispose();
  return Key.fromBytes(etp.key.keytype, etp.key.keyvalue);
}

Deno.test("racoon2: the ticket session key is the one the fixture README states", () => {
  const k = sessionKey();
  assertEquals(
    toHex(k.exportBytes()),
    "67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90",
  );
  k.dispose();
});

Deno.test("racoon2: every Cksum in frames #7–#21 verifies (usage 40, Length rule) and fails when altered", () => {
  const ops = keyOps(sessionKey());
  const keyed = dgrams.filter((d) => d.frame >= 7 && d.frame <= 21);
  assertEquals(keyed.length, 13);
  for (const d of keyed) {
    assert(verifyKinkChecksum(d.payload, ops), `frame ${d.frame}`);
    const x = d.payload.slice();
    x[9] = x[9]! ^ 1; // XID
    assert(!verifyKinkChecksum(x, ops), `frame ${d.frame} altered`);
  }
});

Deno.test("racoon2: every KINK_ENCRYPT opens; DELETE plaintexts equal kinkd's logged ones", () => {
  const ops = keyOps(sessionKey());
  let opened = 0;
  for (const d of dgrams.filter((x) => x.frame <= 21)) {
    const m = decodeKinkMessage(d.payload).message;
    for (const p of m.payloads) {
      if (p.kind !== "encrypt") continue;
      const inner = openEncryptPayload(p.ciphertext!, 1, ops);
      assert(inner.length >= 1 && inner.every((x) => x.kind === "isakmp"), `frame ${d.frame}`);
      opened++;
    }
  }
  assertEquals(opened, 10);
  // kinkd logged the DELETE plaintexts; decrypting the wire bytes must give exactly those.
  const logged = [
    ...kinkdDumps("A-kinkd.log", "KINK_ENCRYPT before encryption"),
    ...kinkdDumps("B-kinkd.log", "KINK_ENCRYPT before encryption"),
  ].map(toHex);
  for (const f of [13, 14, 15, 16]) {
    const m = decodeKinkMessage(dgrams.find((d) => d.frame === f)!.payload).message;
    const enc = m.payloads[1]!;
    assert(enc.kind === "encrypt");
    const pt = decrypt(sessionKey(), 39, enc.ciphertext!);
    assert(logged.includes(toHex(pt)), `frame ${f}`);
  }
});

Deno.test("racoon2: receive path (§15 order) accepts frames 7–21 with their §6 forms", () => {
  const ops = keyOps(sessionKey());
  const cmdOf: Record<number, number> = {};
  for (const d of dgrams.filter((x) => x.frame <= 21)) {
    const xid = decodeKinkMessage(d.payload).message.xid;
    const r = receiveKinkMessage(d.payload, {
      authenticate: () => ops,
      rules: cmdOf[xid] === undefined ? {} : { command: cmdOf[xid]! },
    });
    assert(r.authenticated);
    if (r.message.type !== 3 && r.message.type !== 5) cmdOf[xid] = r.message.type;
  }
});

// Named for what it checks: racoon2's own receiving code is not involved here (the unit tier runs
// no subprocess and no network; kinkd judging kink's messages live is the interop tests' job).
// What stands in for racoon2 is its bytes: the plaintext kinkd encrypted (recovered from its
// ciphertext, and for the DELETE frames equal to what kinkd logged), its message lengths, and
// the Cksum rule that reproduces every Cksum kinkd sent (the test above).
Deno.test("racoon2: re-sealing every KINK_ENCRYPT gives kinkd's plaintext octets and message length, with a Cksum that verifies by kinkd's rule", () => {
  const k = sessionKey();
  const ops = keyOps(k);
  const logged = [
    ...kinkdDumps("A-kinkd.log", "KINK_ENCRYPT before encryption"),
    ...kinkdDumps("B-kinkd.log", "KINK_ENCRYPT before encryption"),
  ].map(toHex);
  let resealed = 0;
  let matchedLog = 0;
  for (const d of dgrams.filter((x) => x.frame <= 21)) {
    const m = decodeKinkMessage(d.payload).message;
    const enc = m.payloads.at(-1)!;
    if (enc.kind !== "encrypt") continue;
    const kinkdPlaintext = toHex(decrypt(k, 39, enc.ciphertext!));
    const inner = openEncryptPayload(enc.ciphertext!, 1, ops);
    const fresh: KinkMessage = {
      ...m,
      payloads: [...m.payloads.slice(0, -1), { kind: "encrypt", inner }],
    };
    const b = encodeKinkMessage(fresh, { key: ops });
    assertEquals(b.length, d.payload.length, `frame ${d.frame}: kinkd's length`);
    assert(verifyKinkChecksum(b, ops), `frame ${d.frame}: Cksum`);
    const back = decodeKinkMessage(b).message.payloads.at(-1)!;
    assert(back.kind === "encrypt");
    assert(!bytesEqual(back.ciphertext!, enc.ciphertext!), `frame ${d.frame}: fresh confounder`);
    const ours = toHex(decrypt(k, 39, back.ciphertext!));
    assertEquals(ours, kinkdPlaintext, `frame ${d.frame}: kinkd's plaintext octets`);
    if (logged.includes(ours)) matchedLog++;
    resealed++;
  }
  assertEquals(resealed, 10);
  assertEquals(matchedLog, 4); // the four DELETE/REPLY plaintexts kinkd logged in full
  k.dispose();
});

Deno.test("racoon2: derived KEYMAT equals every keyed SA in A-sadb.log and B-sadb.log", () => {
  const report = analyzeCapture(Deno.readFileSync(racoon2Path("kink.pcap")), {
    keytab: [...keytabB, ...keytabA],
    prf: "racoon2",
    showKeys: true,
  });
  const derived = new Set(
    report.sas.map((s) => `${s.src}>${s.dst} ${s.spi} ${s.encKey} ${s.authKey}`),
  );
  const entries = [...parseSadb("A-sadb.log"), ...parseSadb("B-sadb.log")];
  assertEquals(entries.length, 14); // 8 keyed SA lines in A-sadb.log, 6 in B-sadb.log
  const missing = entries.filter((e) =>
    !derived.has(
      `${e.src}>${e.dst} 0x${e.spi.toString(16).padStart(8, "0")} ${e.encKey} ${e.authKey}`,
    )
  );
  // Including A's optimistic inbound SA 0x0759981f of the kvno-4 CREATE (scenario 6): B's keytab
  // lacks kvno 4, so its session key comes from the FAST-armored TGS exchange (frames 24/25)
  // decrypted through A's AS-REP with A's keytab.
  assertEquals(missing.map((e) => e.spi.toString(16)), []);
  // Auth algorithm 3 in PF_KEY = HMAC-SHA1 (20-octet key), enc 12 = AES-CBC, 3 = 3DES.
  for (const e of entries) assertEquals(e.authKey.length, 40);
});

Deno.test("racoon2: with the MIT PRF reading no SA key matches (the 20-octet PRF is racoon2's)", () => {
  const report = analyzeCapture(Deno.readFileSync(racoon2Path("kink.pcap")), {
    keytab: keytabB,
    prf: "mit",
    showKeys: true,
  });
  const keys = new Set(report.sas.map((s) => s.encKey));
  for (const e of parseSadb("B-sadb.log")) assert(!keys.has(e.encKey));
});

Deno.test("racoon2: the kvno-4 CREATEs are reported as undecryptable", () => {
  const report = analyzeCapture(Deno.readFileSync(racoon2Path("kink.pcap")), {
    keytab: keytabB,
    prf: "racoon2",
    showKeys: false,
  });
  for (const f of [26, 28, 30, 32]) {
    const m = report.messages.find((x) => x.frame === f)!;
    assert(
      m.problems.some((p) => p.includes("no key for kink/b.kink.test@KINK.TEST kvno 4")),
      `frame ${f}: ${m.problems}`,
    );
    assertEquals(m.cksum?.status, "no-key");
  }
  for (const s of report.sas) assertEquals(s.encKey, undefined); // no --show-keys
  assert(!JSON.stringify(report).includes("67373e19427b"));
});
