/**
 * The crypto core against racoon2 kinkd's real traffic
 * (tests/fixtures/racoon2): with the ticket session key from its README,
 * every checksummed KINK message in frames #7–#21 verifies with usage 40
 * under the Length rule, every KINK_ENCRYPT decrypts with usage 39, and
 * KEYMAT reproduces every enc/auth key kinkd installed (A-sadb.log,
 * B-sadb.log), 2-way (no Nr) and 3-way (with Nr), AES and 3DES — while the
 * 16-octet MIT PRF reproduces none of them.
 *
 * The capture is walked with a minimal classic-pcap / SLL2 / IPv4 / UDP
 * reader here, so this test depends on nothing but the crypto core.
 */
import { assertEquals } from "./assert.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import {
  checksumSize,
  decrypt,
  getMic,
  Key,
  keymat,
  type PrfMode,
  verifyMic,
} from "../../../core/crypto/mod.ts";

const fx = (p: string) => new URL(`../../fixtures/racoon2/${p}`, import.meta.url);
const SESSION_KEY = "67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90";

interface Frame {
  no: number;
  src: string;
  dst: string;
  kink: Uint8Array;
}

/** Classic pcap (LINKTYPE_LINUX_SLL2 = 276 or Ethernet) → UDP/910 payloads. */
function kinkFrames(): Frame[] {
  const d = Deno.readFileSync(fx("kink.pcap"));
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== 0xa1b2c3d4) throw new Error(`not a little-endian classic pcap: ${magic}`);
  const linktype = v.getUint32(20, true);
  const l2 = linktype === 276 ? 20 : linktype === 1 ? 14 : -1;
  if (l2 < 0) throw new Error(`unexpected link type ${linktype}`);
  const out: Frame[] = [];
  let o = 24;
  for (let no = 1; o + 16 <= d.length; no++) {
    const incl = v.getUint32(o + 8, true);
    const p = d.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    const ip = p.subarray(l2);
    if (ip[0]! >> 4 !== 4 || ip[9] !== 17) continue; // IPv4 UDP only
    const ihl = (ip[0]! & 15) * 4;
    const udp = ip.subarray(ihl);
    const sport = (udp[0]! << 8) | udp[1]!, dport = (udp[2]! << 8) | udp[3]!;
    const ulen = (udp[4]! << 8) | udp[5]!;
    if (sport !== 910 && dport !== 910) continue;
    out.push({
      no,
      src: ip.subarray(12, 16).join("."),
      dst: ip.subarray(16, 20).join("."),
      kink: udp.subarray(8, ulen),
    });
  }
  return out;
}

interface Payload {
  type: number;
  body: Uint8Array;
}

/** Walks a KINK payload chain (generic 4-octet headers, 4-aligned). */
function payloads(first: number, b: Uint8Array): Payload[] {
  const out: Payload[] = [];
  let next = first, o = 0;
  while (next !== 0) {
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    if (len < 4 || o + len > b.length) throw new Error(`bad payload length ${len} at ${o}`);
    out.push({ type: next, body: b.subarray(o + 4, o + len) });
    next = b[o]!;
    o += (len + 3) & ~3;
  }
  return out;
}

/** ISAKMP payloads inside a KINK_ISAKMP body: { nonce, spi } of the SA/Nonce. */
function quickMode(isakmp: Uint8Array): { nonce?: Uint8Array; spi?: number } {
  let next = isakmp[0]!, o = 4;
  const r: { nonce?: Uint8Array; spi?: number } = {};
  while (next !== 0) {
    const len = (isakmp[o + 2]! << 8) | isakmp[o + 3]!;
    const body = isakmp.subarray(o + 4, o + len);
    if (next === 10) r.nonce = body; // Nonce
    if (next === 1) {
      // SA: DOI(4) Situation(4), then the first Proposal: hdr(4) #, proto, spisize, #t, SPI
      const prop = body.subarray(8);
      if (prop[5] === 3 && prop[6] === 4) {
        r.spi = new DataView(prop.buffer, prop.byteOffset).getUint32(8);
      }
    }
    next = isakmp[o]!;
    o += len;
  }
  return r;
}

interface Decoded {
  frame: Frame;
  type: number;
  xid: number;
  cksumLen: number;
  inner: Payload[];
}

const key = () => Key.fromBytes(18, fromHex(SESSION_KEY));

function decode(f: Frame, k: Key): Decoded {
  const m = f.kink;
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const length = dv.getUint16(2), cksumLen = dv.getUint16(14);
  const outer = payloads(m[12]!, m.subarray(16, length - cksumLen));
  const inner: Payload[] = [];
  for (const p of outer) {
    if (p.type === 7) {
      const pt = decrypt(k, 39, p.body);
      inner.push(...payloads(pt[0]!, pt.subarray(4)));
    } else inner.push(p);
  }
  return { frame: f, type: m[0]!, xid: dv.getUint32(8), cksumLen, inner };
}

Deno.test("racoon2 #7–#21: every Cksum verifies with usage 40 under the Length rule", () => {
  const k = key();
  const frames = kinkFrames().filter((f) => f.no >= 7 && f.no <= 21);
  let checked = 0;
  for (const f of frames) {
    const m = f.kink;
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const length = dv.getUint16(2), cksumLen = dv.getUint16(14);
    if (cksumLen === 0) continue;
    assertEquals(cksumLen, checksumSize(18), `frame ${f.no}`);
    const lp = length - cksumLen;
    const signed = m.slice(0, lp);
    const sdv = new DataView(signed.buffer);
    sdv.setUint16(2, lp);
    sdv.setUint16(14, 0);
    const cksum = m.subarray(lp, length);
    assertEquals(verifyMic(k, 40, signed, cksum), true, `frame ${f.no}`);
    assertEquals(toHex(getMic(k, 40, signed)), toHex(cksum), `frame ${f.no}`);
    // The header as sent does not verify (the rule is not vacuous).
    assertEquals(verifyMic(k, 40, m.subarray(0, lp), cksum), false, `frame ${f.no}`);
    checked++;
  }
  // #7–#16 and #19–#21 are KINK; #17/#18 are Kerberos (port 88).
  assertEquals(checked, 13);
  k.dispose();
});

Deno.test("racoon2 #7–#21: every KINK_ENCRYPT decrypts with usage 39", () => {
  const k = key();
  let encrypted = 0;
  for (const f of kinkFrames().filter((f) => f.no >= 7 && f.no <= 21)) {
    const m = f.kink;
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const outer = payloads(m[12]!, m.subarray(16, dv.getUint16(2) - dv.getUint16(14)));
    for (const p of outer.filter((p) => p.type === 7)) {
      const pt = decrypt(k, 39, p.body);
      // Plaintext = InnerNextPload ‖ 00 00 00 ‖ a well-formed inner chain.
      assertEquals(toHex(pt.subarray(1, 4)), "000000", `frame ${f.no}`);
      const inner = payloads(pt[0]!, pt.subarray(4));
      assertEquals(inner.length > 0, true);
      encrypted++;
    }
  }
  assertEquals(encrypted > 0, true);
  k.dispose();
});

interface SadbEntry {
  src: string;
  dst: string;
  spi: number;
  encAlg: number;
  encKey: string;
  authKey: string;
}

function sadb(name: string): SadbEntry[] {
  const out: SadbEntry[] = [];
  const re =
    /SA (?:ADD|UPDATE) satype=3 src (\S+) dst (\S+) spi 0x([0-9a-f]+) .*auth_alg=3 auth_key=([0-9a-f]+) enc_alg=(\d+) enc_key=([0-9a-f]+)/;
  for (const line of Deno.readTextFileSync(fx(name)).split("\n")) {
    const m = re.exec(line);
    if (m) {
      out.push({
        src: m[1]!,
        dst: m[2]!,
        spi: Number.parseInt(m[3]!, 16),
        authKey: m[4]!,
        encAlg: Number(m[5]),
        encKey: m[6]!,
      });
    }
  }
  return out;
}

/** The (CREATE, REPLY) pairs of frames #7–#21 with their nonces and SPIs. */
function exchanges(k: Key) {
  const decoded = kinkFrames().filter((f) => f.no >= 7 && f.no <= 21).map((f) => decode(f, k));
  const res: { ni: Uint8Array; nr?: Uint8Array; spiI: number; spiR: number }[] = [];
  for (const c of decoded.filter((d) => d.type === 1)) {
    const r = decoded.find((d) => d.type === 3 && d.xid === c.xid && d.frame.no > c.frame.no)!;
    const qc = quickMode(c.inner.find((p) => p.type === 6)!.body);
    const qr = quickMode(r.inner.find((p) => p.type === 6)!.body);
    const e: { ni: Uint8Array; nr?: Uint8Array; spiI: number; spiR: number } = {
      ni: qc.nonce!,
      spiI: qc.spi!,
      spiR: qr.spi!,
    };
    if (qr.nonce) e.nr = qr.nonce;
    res.push(e);
  }
  return res;
}

function derive(
  k: Key,
  spi: number,
  ni: Uint8Array,
  nr: Uint8Array | undefined,
  encAlg: number,
  mode: PrfMode,
) {
  const encLen = encAlg === 3 ? 24 : 16; // 3DES or AES-128-CBC (Key Length 128)
  const seed = nr ? { protocol: 3, spi, ni, nr } : { protocol: 3, spi, ni };
  const km = keymat(k, seed, encLen + 20, mode);
  return { encKey: toHex(km.subarray(0, encLen)), authKey: toHex(km.subarray(encLen)) };
}

Deno.test("racoon2: KEYMAT reproduces every SA key in A-sadb.log and B-sadb.log", () => {
  const k = key();
  const ex = exchanges(k);
  assertEquals(ex.length, 3); // #7/#8, #11/#12, #19/#20
  assertEquals(ex.filter((e) => e.nr !== undefined).length, 1);
  const entries = [...sadb("A-sadb.log"), ...sadb("B-sadb.log")];
  assertEquals(entries.length, 14);
  // A's last SA (spi 0x0759981f) belongs to scenario 6 (#26–#33), whose
  // tickets carry another session key; every other SA is keyed in #7–#21.
  const outside = entries.filter((s) => !ex.some((e) => e.spiI === s.spi || e.spiR === s.spi));
  assertEquals(outside.map((s) => s.spi), [0x0759981f]);
  let twoWay = 0, threeWay = 0, des = 0;
  for (const s of entries.filter((s) => !outside.includes(s))) {
    const e = ex.find((e) => e.spiI === s.spi || e.spiR === s.spi)!;
    const twoWayKeys = derive(k, s.spi, e.ni, undefined, s.encAlg, "racoon2");
    const threeWayKeys = e.nr ? derive(k, s.spi, e.ni, e.nr, s.encAlg, "racoon2") : undefined;
    const is2 = twoWayKeys.encKey === s.encKey && twoWayKeys.authKey === s.authKey;
    const is3 = threeWayKeys !== undefined && threeWayKeys.encKey === s.encKey &&
      threeWayKeys.authKey === s.authKey;
    assertEquals(is2 || is3, true, `SA spi ${s.spi.toString(16)} ${s.src}->${s.dst}`);
    if (is3) threeWay++;
    else twoWay++;
    if (s.encAlg === 3) des++;
    // The MIT/Heimdal 16-octet PRF reproduces none of them.
    for (const nr of e.nr ? [undefined, e.nr] : [undefined]) {
      const d = derive(k, s.spi, e.ni, nr, s.encAlg, "mit");
      assertEquals(d.encKey === s.encKey || d.authKey === s.authKey, false);
    }
  }
  // #7/#8 and #11/#12: 4 SAs each side pair keyed 2-way (AES); #19–#21: A's
  // optimistic AES inbound SA keyed 2-way, then all four 3DES SAs with Nr.
  assertEquals([twoWay, threeWay, des], [9, 4, 4]);
  k.dispose();
});
