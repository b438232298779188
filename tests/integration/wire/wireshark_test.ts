/**
 * contrib/wireshark/kink.lua, the RFC 4430 dissector, judged against `kink decode --json`:
 * tshark runs the dissector (`-X lua_script:…`, `-T json`) over a capture, the real `kink`
 * launcher decodes the same capture, and every field the dissector shows must equal what decode
 * reports for that datagram, field by field. Two captures:
 *
 * - racoon2's kinkd traffic (tests/fixtures/racoon2/kink.pcap);
 * - kink's own traffic: every message form kink's wire builders make (CREATE with a plain
 *   KINK_ISAKMP carrying SA/TV+TLV attributes, Nonce, KE, ID, Notify; REPLY with ACKREQ;
 *   DELETE; STATUS with KINK_ENCRYPT; ACK; GETTGT and its TGT REPLY; the lone error REPLY with
 *   KINK_KRB_ERROR and KINK_ERROR), written into a pcap here. Its Kerberos parts (AP-REQ,
 *   AP-REP, KRB-ERROR, ticket) are racoon2's, so that decode can key it from B.keytab.
 *
 * Fields decode does not print are compared with what follows from its report: each Next
 * Payload is the type of the payload after it in decode's list (0 for the last); the lengths
 * of Quick Mode payloads, proposals and transforms follow from their reported contents and
 * attribute formats (RFC 2408 §3); a Notify/Delete DOI is the header's (the decoder rejects any
 * other).
 *
 * Needs tshark (scripts/apt-packages.txt) and `--allow-run`.
 */
import assert from "node:assert/strict";
import { commandsSkipReason, skipUnless } from "../../harness/tiers.ts";
import { run } from "../../harness/exec.ts";
import { concat, fromHex } from "../../../core/util/bytes.ts";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import {
  decodeApReq,
  decodeEncTicketPart,
  encodeTicket,
  readKeytab,
} from "../../../core/kerberos/mod.ts";
import {
  buildAck,
  buildCreate,
  buildDelete,
  buildErrorReply,
  buildGetTgt,
  buildReply,
  buildStatus,
  buildTgtReply,
  decodeKinkMessage,
  extractUdp,
  type IsakmpPayload,
  keyOps,
  KinkErrorCode,
  MessageType,
  NotifyType,
  ProtocolId,
  readCapture,
} from "../../../core/wire/mod.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const LUA = `${ROOT}contrib/wireshark/kink.lua`;
const RACOON2 = `${ROOT}tests/fixtures/racoon2/kink.pcap`;
const KEYTAB_B = `${ROOT}tests/fixtures/racoon2/B.keytab`;
const KEYTAB_A = `${ROOT}tests/fixtures/racoon2/A.keytab`;

type J = string | J[] | { [k: string]: J };
type Obj = { [k: string]: J };

// ---- running the two sides ----

/** The kink4430 layer of every packet tshark dissected, by frame number. */
async function dissect(pcap: string): Promise<Map<number, Obj>> {
  const r = await run([
    "tshark",
    "-n",
    "-X",
    `lua_script:${LUA}`,
    "-r",
    pcap,
    "-Y",
    "kink4430",
    "-T",
    "json",
    "--no-duplicate-keys",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Lua: Error|lua_script/i, r.stderr);
  const out = new Map<number, Obj>();
  for (const p of JSON.parse(r.stdout) as { _source: { layers: Obj } }[]) {
    const layers = p._source.layers;
    const frame = Number((layers.frame as Obj)["frame.number"]);
    assert.ok(!("_ws.malformed" in layers), `frame ${frame}: tshark reports it malformed`);
    out.set(frame, layers.kink4430 as Obj);
  }
  return out;
}

/** `kink decode --json` through the real launcher, one report per KINK datagram. */
async function decode(pcap: string): Promise<Map<number, Obj>> {
  const r = await run([
    Deno.execPath(),
    "run",
    "--quiet",
    "--allow-run=deno",
    `${ROOT}core/cli/launch.ts`,
    "decode",
    pcap,
    "--keytab",
    KEYTAB_B,
    "--keytab",
    KEYTAB_A,
    "--show-keys",
    "--json",
  ], { cwd: ROOT, env: { NO_COLOR: "1" } });
  // 0: every message decoded, every Cksum verified, every KINK_ENCRYPT opened.
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<number, Obj>();
  for (const line of r.stdout.trim().split("\n")) {
    const m = JSON.parse(line) as Obj & { frame: number };
    out.set(m.frame, m);
  }
  return out;
}

// ---- reading tshark's JSON ----

const list = (v: J | undefined): J[] => v === undefined ? [] : Array.isArray(v) ? v : [v];
/** The subtrees of a node (the dissector adds each payload, proposal… as a kink4430 item). */
const children = (o: Obj): Obj[] => list(o.kink4430) as Obj[];
function one(o: Obj, key: string, where: string): string {
  const v = o[key];
  assert.equal(typeof v, "string", `${where}: ${key} shown once (got ${JSON.stringify(v)})`);
  return v as string;
}
const num = (o: Obj, key: string, where: string) => Number(one(o, key, where));
/** tshark prints bytes as "aa:bb:…". */
const hex = (o: Obj, key: string, where: string) => one(o, key, where).replaceAll(":", "");
/** First value of `key` anywhere below `o` (for the Kerberos dissector's fields). */
function find(o: J, key: string): J | undefined {
  if (typeof o === "string") return undefined;
  if (Array.isArray(o)) {
    for (const x of o) {
      const f = find(x, key);
      if (f !== undefined) return f;
    }
    return undefined;
  }
  if (key in o) return o[key];
  for (const v of Object.values(o)) {
    const f = find(v, key);
    if (f !== undefined) return f;
  }
  return undefined;
}
/** The keys of `o` that are dissector fields (not subtrees, not other protocols). */
const fieldKeys = (o: Obj) => Object.keys(o).filter((k) => k.startsWith("kink4430."));

/** Asserts that the dissector showed exactly `keys` (no field left unchecked). */
function shown(o: Obj, keys: string[], where: string): void {
  assert.deepEqual(
    fieldKeys(o).sort(),
    keys.map((k) => `kink4430.${k}`).sort(),
    `${where}: fields shown`,
  );
}

// ---- the comparison ----

function compareMessage(frame: number, w: Obj, d: Obj, counts: Map<string, number>): void {
  const where = `frame ${frame}`;
  const h = d.header as Obj & Record<string, unknown>;
  assert.ok(h, `${where}: decode read the header`);
  const cksum = d.cksum as unknown as { length: number };
  const keys = [
    "type",
    "version",
    "length",
    "doi",
    "xid",
    "next_payload",
    "ackreq",
    "cksum_len",
  ];
  if (cksum.length > 0) keys.push("cksum");
  if ((h.trailing as unknown as number) > 0) keys.push("trailing");
  shown(w, keys, where);
  assert.equal(num(w, "kink4430.type", where), h.type);
  assert.equal(num(w, "kink4430.version", where), h.majorVersion);
  assert.equal(num(w, "kink4430.length", where), h.length);
  assert.equal(num(w, "kink4430.doi", where), h.doi);
  assert.equal(num(w, "kink4430.xid", where), h.xid);
  assert.equal(num(w, "kink4430.next_payload", where), h.nextPayload);
  assert.equal(one(w, "kink4430.ackreq", where) === "1", h.ackReq);
  assert.equal(num(w, "kink4430.cksum_len", where), h.cksumLen);
  if (cksum.length > 0) assert.equal(hex(w, "kink4430.cksum", where).length / 2, cksum.length);
  if ((h.trailing as unknown as number) > 0) {
    assert.equal(hex(w, "kink4430.trailing", where).length / 2, h.trailing);
  }
  const payloads = d.payloads as Obj[];
  const subs = children(w);
  assert.equal(subs.length, payloads.length, `${where}: number of payloads`);
  payloads.forEach((p, i) => {
    const next = i + 1 < payloads.length ? Number(payloads[i + 1]!.type) : 0;
    comparePayload(`${where} payload ${i + 1}`, subs[i]!, p, next, Number(h.doi), counts);
  });
}

function comparePayload(
  where: string,
  w: Obj,
  p: Obj,
  next: number,
  doi: number,
  counts: Map<string, number>,
): void {
  const type = Number(p.type);
  counts.set(p.name as string, (counts.get(p.name as string) ?? 0) + 1);
  assert.equal(num(w, "kink4430.payload", where), type, `${where}: type`);
  assert.equal(num(w, "kink4430.payload.next", where), next, `${where}: Next Payload`);
  assert.equal(num(w, "kink4430.payload.length", where), Number(p.length), `${where}: length`);
  const base = ["payload", "payload.next", "payload.length"];
  const n = (k: string) => num(w, k, where);
  switch (type) {
    case 1: { // KINK_AP_REQ: EPOCH; the ticket as Wireshark's Kerberos dissector reads it
      shown(w, [...base, "epoch"], where);
      assert.equal(n("kink4430.epoch"), Number(p.epoch));
      const t = p.ticket as Obj;
      const sname = list(find(w, "kerberos.SNameString")).join("/");
      assert.equal(`${sname}@${find(w, "kerberos.realm")}`, t.server, `${where}: ticket server`);
      assert.equal(Number(find(w, "kerberos.kvno")), Number(t.kvno), `${where}: kvno`);
      assert.equal(Number(find(w, "kerberos.etype")), Number(t.etype), `${where}: etype`);
      const opts = String(find(w, "kerberos.ap_options")).replaceAll(":", "");
      assert.equal(`0x${opts}`, p.apOptions, `${where}: ap-options`);
      break;
    }
    case 2: // KINK_AP_REP
      shown(w, [...base, "epoch"], where);
      assert.equal(n("kink4430.epoch"), Number(p.epoch));
      assert.equal(Number(find(w, "kerberos.msg_type")), 15, `${where}: an AP-REP inside`);
      break;
    case 3: { // KINK_KRB_ERROR
      shown(w, base, where);
      assert.equal(Number(find(w, "kerberos.error_code")), Number(p.errorCode), where);
      assert.equal(find(w, "kerberos.realm"), p.realm, where);
      const sname = list(find(w, "kerberos.SNameString")).join("/");
      assert.equal(`${sname}@${p.realm}`, p.sname, where);
      assert.equal(find(w, "kerberos.e_text"), p.eText, where);
      assert.equal(wiresharkTime(String(find(w, "kerberos.stime"))), p.stime, where);
      break;
    }
    case 4: // KINK_TGT_REQ
      shown(w, [...base, "princ_name"], where);
      assert.equal(one(w, "kink4430.princ_name", where), p.princName);
      break;
    case 5: { // KINK_TGT_REP
      shown(w, base, where);
      const sname = list(find(w, "kerberos.SNameString")).join("/");
      assert.equal(`${sname}@${find(w, "kerberos.realm")}`, p.server, where);
      assert.equal(Number(find(w, "kerberos.kvno")), Number(p.kvno), where);
      assert.equal(Number(find(w, "kerberos.etype")), Number(p.etype), where);
      break;
    }
    case 6: { // KINK_ISAKMP
      shown(w, [...base, "isakmp.inner_next", "isakmp.qm_major", "isakmp.qm_minor"], where);
      const qm = p.payloads as Obj[];
      assert.equal(n("kink4430.isakmp.inner_next"), qm.length ? Number(qm[0]!.type) : 0);
      assert.equal(
        `${n("kink4430.isakmp.qm_major")}.${n("kink4430.isakmp.qm_minor")}`,
        p.qmVersion,
      );
      const subs = children(w);
      assert.equal(subs.length, qm.length, `${where}: Quick Mode payloads`);
      qm.forEach((q, i) => {
        const qnext = i + 1 < qm.length ? Number(qm[i + 1]!.type) : 0;
        compareQm(`${where} QM ${i + 1} (${q.name})`, subs[i]!, q, qnext, doi, counts);
      });
      break;
    }
    case 7: // KINK_ENCRYPT: ciphertext only
      shown(w, [...base, "encrypt.ciphertext"], where);
      assert.equal(hex(w, "kink4430.encrypt.ciphertext", where).length / 2, p.ciphertextLength);
      break;
    case 8: // KINK_ERROR
      shown(w, [...base, "error_code"], where);
      assert.equal(n("kink4430.error_code"), Number(p.code));
      break;
    default:
      assert.fail(`${where}: payload type ${type}`);
  }
}

/** "Nov 27, 2026 00:39:33.000000000 UTC" → "2026-11-27T00:39:33Z" (decode's form). */
function wiresharkTime(s: string): string {
  const m = /^(\w{3}) +(\d+), (\d{4}) (\d\d:\d\d:\d\d)\.(\d+) UTC$/.exec(s);
  assert.ok(m, `Wireshark time ${s}`);
  const month = "JanFebMarAprMayJunJulAugSepOctNovDec".indexOf(m[1]!) / 3 + 1;
  const ms = Number(m[5]!.slice(0, 3));
  return `${m[3]}-${String(month).padStart(2, "0")}-${m[2]!.padStart(2, "0")}T${m[4]}${
    ms ? `.${m[5]!.slice(0, 3)}` : ""
  }Z`;
}

/** Octets of an attribute as reported (RFC 2408 §3.3): TV 4, TLV 4 + value. */
function attrSize(a: Obj): number {
  if (a.format === "TV") return 4;
  return 4 + attrValueOctets(a);
}
function attrValueOctets(a: Obj): number {
  const v = a.value as unknown;
  const big = typeof v === "string" ? BigInt(v) : BigInt(v as number);
  let n = 0;
  for (let x = big; x > 0n; x >>= 8n) n++;
  // kink's encoder and racoon2 send LIFE_DURATION as 4 octets; nothing else in these captures
  // is TLV, so the minimal length is 4 (a 32-bit value) as long as the value fits.
  return Math.max(n, 4);
}

function compareQm(
  where: string,
  w: Obj,
  q: Obj,
  next: number,
  doi: number,
  counts: Map<string, number>,
): void {
  const type = Number(q.type);
  counts.set(`QM ${q.name}`, (counts.get(`QM ${q.name}`) ?? 0) + 1);
  const n = (k: string, o: Obj = w) => num(o, `kink4430.${k}`, where);
  assert.equal(n("qm.payload"), type, `${where}: type`);
  assert.equal(n("qm.next"), next, `${where}: Next Payload`);
  const base = ["qm.payload", "qm.next", "qm.length"];
  switch (type) {
    case 1: { // SA
      shown(w, [...base, "sa.doi", "sa.situation"], where);
      assert.equal(n("sa.doi"), Number(q.doi));
      assert.equal(n("sa.situation"), Number(q.situation));
      const props = q.proposals as Obj[];
      const ws = children(w);
      assert.equal(ws.length, props.length, `${where}: proposals`);
      let saLen = 12;
      props.forEach((p, i) => {
        const pw = ws[i]!;
        const pwhere = `${where} proposal ${i + 1}`;
        const spi = String(p.spi).slice(2);
        const transforms = p.transforms as Obj[];
        shown(pw, [
          "prop.next",
          "prop.length",
          "prop.number",
          "prop.protocol",
          "prop.spi_size",
          "prop.transforms",
          ...(spi.length ? ["prop.spi"] : []),
        ], pwhere);
        assert.equal(n("prop.next", pw), i + 1 < props.length ? 2 : 0, `${pwhere}: next`);
        assert.equal(n("prop.number", pw), Number(p.number));
        assert.equal(n("prop.protocol", pw), Number(p.protocol));
        assert.equal(n("prop.spi_size", pw), spi.length / 2);
        assert.equal(n("prop.transforms", pw), transforms.length);
        if (spi.length) assert.equal(hex(pw, "kink4430.prop.spi", pwhere), spi);
        const tws = children(pw);
        assert.equal(tws.length, transforms.length, `${pwhere}: transforms`);
        let propLen = 8 + spi.length / 2;
        transforms.forEach((t, j) => {
          const tw = tws[j]!;
          const twhere = `${pwhere} transform ${j + 1}`;
          shown(tw, ["trans.next", "trans.length", "trans.number", "trans.id"], twhere);
          assert.equal(n("trans.next", tw), j + 1 < transforms.length ? 3 : 0, `${twhere}: next`);
          assert.equal(n("trans.number", tw), Number(t.number));
          assert.equal(n("trans.id", tw), Number(t.id));
          const attrs = t.attributes as Obj[];
          const aws = children(tw);
          assert.equal(aws.length, attrs.length, `${twhere}: attributes`);
          let tLen = 8;
          attrs.forEach((a, k) => {
            const aw = aws[k]!;
            const awhere = `${twhere} attribute ${k + 1} (${a.name})`;
            const tv = a.format === "TV";
            const big = attrValueOctets(a) > 8;
            shown(aw, [
              "attr.tv",
              "attr.type",
              ...(tv ? [] : ["attr.length"]),
              big ? "attr.value_bytes" : "attr.value",
            ], awhere);
            assert.equal(one(aw, "kink4430.attr.tv", awhere) === "1", tv, `${awhere}: format`);
            assert.equal(n("attr.type", aw), Number(a.type));
            if (!tv) assert.equal(n("attr.length", aw), attrValueOctets(a));
            if (big) {
              assert.equal(`0x${hex(aw, "kink4430.attr.value_bytes", awhere)}`, a.value);
            } else assert.equal(one(aw, "kink4430.attr.value", awhere), String(a.value));
            tLen += attrSize(a);
          });
          assert.equal(n("trans.length", tw), tLen, `${twhere}: length`);
          propLen += tLen;
        });
        assert.equal(n("prop.length", pw), propLen, `${pwhere}: length`);
        saLen += propLen;
      });
      assert.equal(n("qm.length"), saLen, `${where}: length`);
      break;
    }
    case 4: // KE
      shown(w, [...base, "ke.data"], where);
      assert.equal(hex(w, "kink4430.ke.data", where).length / 2, Number(q.length));
      assert.equal(n("qm.length"), 4 + Number(q.length));
      break;
    case 5: { // ID
      const data = String(q.data);
      shown(w, [...base, "id.type", "id.protocol", "id.port", ...(data ? ["id.data"] : [])], where);
      assert.equal(n("id.type"), Number(q.idType));
      assert.equal(n("id.protocol"), Number(q.protocol));
      assert.equal(n("id.port"), Number(q.port));
      if (data) assert.equal(hex(w, "kink4430.id.data", where), data);
      assert.equal(n("qm.length"), 8 + data.length / 2);
      break;
    }
    case 10: // NONCE (decode shows the data with --show-keys)
      shown(w, [...base, "nonce"], where);
      assert.equal(hex(w, "kink4430.nonce", where), q.data);
      assert.equal(n("qm.length"), 4 + Number(q.length));
      break;
    case 11: { // NOTIFY
      const spi = String(q.spi).slice(2);
      const data = String(q.data);
      shown(w, [
        ...base,
        "notify.doi",
        "notify.protocol",
        "notify.spi_size",
        "notify.type",
        ...(spi ? ["notify.spi"] : []),
        ...(data ? ["notify.data"] : []),
      ], where);
      assert.equal(n("notify.doi"), doi);
      assert.equal(n("notify.protocol"), Number(q.protocol));
      assert.equal(n("notify.spi_size"), spi.length / 2);
      assert.equal(n("notify.type"), Number(q.notifyType));
      if (spi) assert.equal(hex(w, "kink4430.notify.spi", where), spi);
      if (data) assert.equal(hex(w, "kink4430.notify.data", where), data);
      assert.equal(n("qm.length"), 12 + spi.length / 2 + data.length / 2);
      break;
    }
    case 12: { // DELETE
      const spis = (q.spis as string[]).map((s) => s.slice(2));
      shown(w, [
        ...base,
        "delete.doi",
        "delete.protocol",
        "delete.spi_size",
        "delete.count",
        ...(spis.length ? ["delete.spi"] : []),
      ], where);
      assert.equal(n("delete.doi"), doi);
      assert.equal(n("delete.protocol"), Number(q.protocol));
      assert.equal(n("delete.spi_size"), Number(q.spiSize));
      assert.equal(n("delete.count"), spis.length);
      assert.deepEqual(
        list(w["kink4430.delete.spi"]).map((s) => String(s).replaceAll(":", "")),
        spis,
      );
      assert.equal(n("qm.length"), 12 + Number(q.spiSize) * spis.length);
      break;
    }
    default:
      assert.fail(`${where}: Quick Mode payload type ${type}`);
  }
}

/** Compares every KINK datagram of `pcap`; returns how many payloads of each kind were checked. */
async function compareCapture(pcap: string): Promise<Map<string, number>> {
  const [shownByWs, decoded] = await Promise.all([dissect(pcap), decode(pcap)]);
  assert.deepEqual([...shownByWs.keys()], [...decoded.keys()], "the same KINK datagrams");
  const counts = new Map<string, number>();
  for (const [frame, d] of decoded) {
    assert.deepEqual(
      (d.problems as string[]).filter((p) => /not decodable/.test(p)),
      [],
      `frame ${frame}: decode read it`,
    );
    compareMessage(frame, shownByWs.get(frame)!, d, counts);
  }
  return counts;
}

// ---- kink's own traffic ----

/** A classic pcap (LINKTYPE_RAW) of IPv4/UDP datagrams between 10.0.0.1:910 and 10.0.0.2:910. */
function writePcap(datagrams: { fromA: boolean; payload: Uint8Array }[]): Uint8Array {
  const head = new Uint8Array(24);
  const h = new DataView(head.buffer);
  h.setUint32(0, 0xa1b2c3d4, true);
  h.setUint16(4, 2, true);
  h.setUint16(6, 4, true);
  h.setUint32(16, 65535, true);
  h.setUint32(20, 101, true); // LINKTYPE_RAW
  const parts = [head];
  datagrams.forEach(({ fromA, payload }, i) => {
    const ip = new Uint8Array(28 + payload.length);
    const v = new DataView(ip.buffer);
    ip[0] = 0x45;
    v.setUint16(2, ip.length);
    ip[8] = 64;
    ip[9] = 17;
    ip.set(fromA ? [10, 0, 0, 1, 10, 0, 0, 2] : [10, 0, 0, 2, 10, 0, 0, 1], 12);
    let sum = 0;
    for (let j = 0; j < 20; j += 2) sum += v.getUint16(j);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    v.setUint16(10, ~sum & 0xffff);
    v.setUint16(20, 910);
    v.setUint16(22, 910);
    v.setUint16(24, 8 + payload.length);
    ip.set(payload, 28);
    const rec = new Uint8Array(16);
    const r = new DataView(rec.buffer);
    r.setUint32(0, 1_800_000_000 + i, true);
    r.setUint32(8, ip.length, true);
    r.setUint32(12, ip.length, true);
    parts.push(rec, ip);
  });
  return concat(...parts);
}

/** The KINK datagram of a frame of the racoon2 capture. */
function racoon2Frame(frame: number): Uint8Array {
  for (const p of readCapture(Deno.readFileSync(RACOON2))) {
    const u = extractUdp(p);
    if ("payload" in u && u.frame === frame) return u.payload;
  }
  throw new Error(`no frame ${frame}`);
}

/** kink's own traffic, every message form its builders make. */
function kinkTraffic(): Uint8Array {
  const create = decodeKinkMessage(racoon2Frame(7)).message.payloads[0]!;
  const reply = decodeKinkMessage(racoon2Frame(8)).message.payloads[0]!;
  const krbErr = decodeKinkMessage(racoon2Frame(27)).message.payloads[0]!;
  assert.ok(create.kind === "ap-req" && reply.kind === "ap-rep" && krbErr.kind === "krb-error");
  const apReq = decodeApReq(create.apReq);
  // The ticket session key, recovered with B's keytab as decode will.
  const entry = readKeytab(Deno.readFileSync(KEYTAB_B)).find((e) =>
    e.kvno === apReq.ticket.encPart.kvno && e.enctype === apReq.ticket.encPart.etype
  )!;
  const lt = Key.fromBytes(entry.enctype, entry.key);
  const etp = decodeEncTicketPart(decrypt(lt, 2, apReq.ticket.encPart.cipher));
  lt.dispose();
  const session = Key.fromBytes(etp.key.keytype, etp.key.keyvalue);
  const key = keyOps(session);
  const epoch = 1_800_000_000;
  const nonce = (b: number) => new Uint8Array(16).fill(b);
  const sa = (spi: number): IsakmpPayload => ({
    kind: "sa",
    doi: 1,
    situation: 1,
    proposals: [
      {
        number: 1,
        protocol: ProtocolId.ESP,
        spi: fromHex(spi.toString(16).padStart(8, "0")),
        transforms: [
          {
            number: 1,
            id: 12, // ESP_AES
            attributes: [
              { type: 1, value: 1 }, // LIFE_TYPE seconds (TV)
              { type: 2, value: fromHex("00007080") }, // LIFE_DURATION 28800 (TLV, 4 octets)
              { type: 4, value: 1 }, // tunnel
              { type: 6, value: 256 },
              { type: 5, value: 2 }, // HMAC_SHA
            ],
          },
          { number: 2, id: 3, attributes: [{ type: 4, value: 1 }, { type: 5, value: 2 }] },
        ],
      },
      {
        number: 2,
        protocol: ProtocolId.ESP,
        spi: fromHex(spi.toString(16).padStart(8, "0")),
        transforms: [{ number: 1, id: 20, attributes: [{ type: 6, value: 128 }] }],
      },
    ],
  });
  const ids: IsakmpPayload[] = [
    { kind: "id", idType: 4, protocol: 0, port: 0, data: fromHex("0a000000ffffff00") },
    { kind: "id", idType: 1, protocol: 17, port: 910, data: fromHex("0a000002") },
  ];
  const msgs: { fromA: boolean; payload: Uint8Array }[] = [
    {
      fromA: true,
      payload: buildCreate({
        xid: 100,
        epoch,
        apReq: create.apReq,
        key,
        encrypt: false,
        transactions: [[
          sa(0x11112222),
          { kind: "nonce", nonce: nonce(0xa1) },
          { kind: "ke", data: new Uint8Array(128).fill(7) },
          ...ids,
          {
            kind: "notify",
            doi: 1,
            protocol: ProtocolId.ESP,
            notifyType: NotifyType.INITIAL_CONTACT,
            spi: new Uint8Array(0),
            data: new Uint8Array(0),
          },
        ]],
      }),
    },
    {
      fromA: false,
      payload: buildReply({
        xid: 100,
        command: MessageType.CREATE,
        epoch,
        apRep: reply.apRep,
        key,
        ackReq: true,
        encrypt: false,
        transactions: [[
          {
            kind: "sa",
            doi: 1,
            situation: 1,
            proposals: [{
              number: 1,
              protocol: ProtocolId.ESP,
              spi: fromHex("33334444"),
              transforms: [{
                number: 2,
                id: 3, // ESP_3DES, the responder's choice
                attributes: [{ type: 4, value: 1 }, { type: 5, value: 2 }],
              }],
            }],
          },
          { kind: "nonce", nonce: nonce(0xb2) },
        ]],
      }),
    },
    { fromA: true, payload: buildAck({ xid: 100, epoch, apReq: create.apReq, key }) },
    {
      fromA: true,
      payload: buildDelete({
        xid: 101,
        epoch,
        apReq: create.apReq,
        key,
        encrypt: false,
        transactions: [[{
          kind: "delete",
          doi: 1,
          protocol: ProtocolId.ESP,
          spiSize: 4,
          spis: [fromHex("11112222"), fromHex("0a0b0c0d")],
        }]],
      }),
    },
    {
      fromA: true,
      payload: buildStatus({
        xid: 102,
        epoch,
        apReq: create.apReq,
        key,
        transactions: [[{
          kind: "notify",
          doi: 1,
          protocol: ProtocolId.ESP,
          notifyType: NotifyType.INVALID_SPI,
          spi: fromHex("0a0b0c0d"),
          data: fromHex("c0ffee"),
        }]],
      }),
    },
    { fromA: true, payload: buildGetTgt({ xid: 103, princName: "kink/a.kink.test@KINK.TEST" }) },
    { fromA: false, payload: buildTgtReply({ xid: 103, tgt: encodeTicket(apReq.ticket) }) },
    {
      fromA: false,
      payload: buildErrorReply({
        xid: 104,
        krbError: krbErr.krbError,
        errorCode: KinkErrorCode.PROTOERR,
      }),
    },
  ];
  session.dispose();
  // Octets after Length are legal (ignored): the dissector must show them as decode counts them.
  msgs.push({ fromA: false, payload: concat(msgs[7]!.payload, fromHex("deadbeef")) });
  return writePcap(msgs);
}

const noTshark = commandsSkipReason("tshark");

Deno.test({
  ...skipUnless(
    "wireshark: kink.lua shows racoon2's RFC 4430 traffic field for field as kink decode --json",
    noTshark,
  ),
  async fn() {
    const counts = await compareCapture(RACOON2);
    // Every outer payload kind kinkd sent was checked.
    for (const k of ["KINK_AP_REQ", "KINK_AP_REP", "KINK_ENCRYPT", "KINK_KRB_ERROR"]) {
      assert.ok((counts.get(k) ?? 0) > 0, `${k} checked`);
    }
  },
});

Deno.test({
  ...skipUnless(
    "wireshark: kink.lua shows kink's own traffic (every builder's message) as kink decode --json",
    noTshark,
  ),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kink-wireshark-" });
    try {
      const pcap = `${dir}/kink-own.pcap`;
      await Deno.writeFile(pcap, kinkTraffic());
      const counts = await compareCapture(pcap);
      for (
        const k of [
          "KINK_AP_REQ",
          "KINK_AP_REP",
          "KINK_KRB_ERROR",
          "KINK_TGT_REQ",
          "KINK_TGT_REP",
          "KINK_ISAKMP",
          "KINK_ENCRYPT",
          "KINK_ERROR",
          "QM SA",
          "QM NONCE",
          "QM KE",
          "QM ID",
          "QM NOTIFY",
          "QM DELETE",
        ]
      ) assert.ok((counts.get(k) ?? 0) > 0, `${k} checked (${JSON.stringify([...counts])})`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
