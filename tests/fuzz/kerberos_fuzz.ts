/**
 * Mutation fuzzing of every Kerberos decoder: the DER message decoders,
 * keytab, ccache and krb5.conf. Seeds are real inputs — MIT's reference
 * encodings and file fixtures, and every Kerberos message of the racoon2
 * capture. Each mutated input must either decode or fail with a typed
 * error (KerberosError, or ConfigError for krb5.conf); anything else is a
 * finding, reported with the input in hex. Every accepted DER message,
 * keytab and ccache must also survive encode → decode unchanged. The slowest single input is
 * reported so that a hang or a super-linear path shows up.
 *
 * Run: deno run --allow-read=. tests/fuzz/kerberos_fuzz.ts [--iterations N] [--seed S] [--only NAME]
 *
 * @module
 */
import { isDeepStrictEqual, parseArgs } from "node:util";
import { ConfigError } from "../../core/errors.ts";
import { readCcache, writeCcache } from "../../core/kerberos/ccache.ts";
import { KerberosError } from "../../core/kerberos/errors.ts";
import { readKeytab, writeKeytab } from "../../core/kerberos/keytab.ts";
import { parseKrb5Conf } from "../../core/kerberos/krb5conf.ts";
import * as M from "../../core/kerberos/messages.ts";
import * as SPC from "../../core/kerberos/messages/safe_priv_cred.ts";
import { concat, fromHex, toHex } from "../../core/util/bytes.ts";
import { decodeKinkMessage } from "../../core/wire/kink.ts";
import { extractUdp, readCapture, type UdpDatagram } from "../../core/wire/pcap.ts";
import { rng } from "./prng.ts";

const fixture = (p: string) => new URL(`../fixtures/${p}`, import.meta.url);
const unitData = (p: string) => new URL(`../unit/kerberos/data/${p}`, import.meta.url);

/** A decoder under test with its seed inputs. */
export interface FuzzTarget {
  /** Name used in reports and `--only`. */
  name: string;
  /** Seeds (real inputs). */
  seeds: Uint8Array[];
  /** Runs the decoder. */
  run: (b: Uint8Array) => unknown;
  /** Whether an error is an allowed (typed) rejection. */
  allowed: (e: unknown) => boolean;
}

/** Result for one target. */
export interface FuzzResult {
  /** Target name. */
  name: string;
  /** Inputs tried. */
  iterations: number;
  /** Inputs that decoded without error. */
  accepted: number;
  /** Inputs rejected with a typed error. */
  rejected: number;
  /** Untyped failures (first few), with the input in hex. */
  findings: { input: string; error: string }[];
  /** Slowest single input, milliseconds (may include a GC pause). */
  slowestMs: number;
  /** The slowest input timed again afterwards (best of 5), milliseconds. */
  slowestRetimedMs: number;
  /** Wall time, milliseconds. */
  elapsedMs: number;
}

const isKrb = (e: unknown) => e instanceof KerberosError;
const isConf = (e: unknown) => e instanceof ConfigError;

/** Drops decoder bookkeeping (`raw`, `reqBodyRaw`) before comparing values. */
function strip(v: unknown): unknown {
  if (v instanceof Uint8Array || v instanceof Date || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(strip);
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (k !== "raw" && k !== "reqBodyRaw") o[k] = strip(x);
  return o;
}

const INTERESTING = [
  0x00,
  0x01,
  0x02,
  0x03,
  0x04,
  0x05,
  0x1b,
  0x18,
  0x30,
  0x7f,
  0x80,
  0x81,
  0x82,
  0x83,
  0x84,
  0x85,
  0xa0,
  0xa1,
  0xff,
  0x1f,
  0x60,
  0x6e,
];

/** Applies 1–4 random mutations to a copy of `input`. */
export function mutate(input: Uint8Array, r: () => number, pool: Uint8Array[]): Uint8Array {
  let b: Uint8Array = input.slice();
  const n = 1 + Math.floor(r() * 4);
  const pos = (len: number) => Math.floor(r() * Math.max(1, len));
  for (let k = 0; k < n; k++) {
    const op = Math.floor(r() * 10);
    switch (op) {
      case 0: // bit flip
        if (b.length) b[pos(b.length)]! ^= 1 << Math.floor(r() * 8);
        break;
      case 1: // interesting byte
        if (b.length) b[pos(b.length)] = INTERESTING[Math.floor(r() * INTERESTING.length)]!;
        break;
      case 2: // random byte
        if (b.length) b[pos(b.length)] = Math.floor(r() * 256);
        break;
      case 3: { // truncate
        b = b.subarray(0, pos(b.length + 1));
        break;
      }
      case 4: { // delete a range
        const s = pos(b.length), l = 1 + pos(16);
        b = concat(b.subarray(0, s), b.subarray(s + l));
        break;
      }
      case 5: { // insert random bytes
        const s = pos(b.length + 1), l = 1 + pos(8);
        const ins = new Uint8Array(l);
        for (let i = 0; i < l; i++) ins[i] = Math.floor(r() * 256);
        b = concat(b.subarray(0, s), ins, b.subarray(s));
        break;
      }
      case 6: { // duplicate a range
        const s = pos(b.length), l = 1 + pos(32);
        const d = b.subarray(s, s + l);
        b = concat(b.subarray(0, s), d, d, b.subarray(s + l));
        break;
      }
      case 7: { // splice from another seed
        const o = pool[Math.floor(r() * pool.length)]!;
        const s = pos(b.length), os = pos(o.length), l = 1 + pos(64);
        b = concat(b.subarray(0, s), o.subarray(os, os + l), b.subarray(s));
        break;
      }
      case 8: { // big-endian length-like word
        if (b.length >= 4) {
          const s = pos(b.length - 3);
          const v = [0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0xffff, 0][Math.floor(r() * 6)]!;
          new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(s, v);
        }
        break;
      }
      default: // adjust a byte by ±1..4 (lengths, counts)
        if (b.length) {
          const i = pos(b.length);
          b[i] = (b[i]! + (r() < 0.5 ? -1 : 1) * (1 + Math.floor(r() * 4))) & 0xff;
        }
    }
  }
  return b;
}

function referenceLines(): Map<string, Uint8Array> {
  const text = Deno.readTextFileSync(fixture("vectors/mit-asn1/reference_encode.out"));
  const m = new Map<string, Uint8Array>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const i = line.indexOf(": ");
    m.set(line.slice(0, i), fromHex(line.slice(i + 2)));
  }
  return m;
}

/** Builds the fuzz targets and their seeds. */
export function kerberosTargets(): FuzzTarget[] {
  const ref = referenceLines();
  const lines = (prefix: string) =>
    [...ref].filter(([k]) =>
      k === prefix || k.startsWith(prefix + "(") || k.startsWith(prefix + " ")
    )
      .map(([, v]) => v);
  const udp = readCapture(Deno.readFileSync(fixture("racoon2/kink.pcap")))
    .map(extractUdp)
    .filter((d): d is UdpDatagram => "payload" in d);
  const kdc = udp.filter((d) => d.srcPort === 88 || d.dstPort === 88).map((d) => d.payload);
  const kink: { apReq: Uint8Array[]; apRep: Uint8Array[]; err: Uint8Array[] } = {
    apReq: [],
    apRep: [],
    err: [],
  };
  for (const d of udp.filter((d) => d.srcPort === 910 || d.dstPort === 910)) {
    for (const p of decodeKinkMessage(d.payload).message.payloads) {
      if (p.kind === "ap-req") kink.apReq.push(p.apReq);
      if (p.kind === "ap-rep") kink.apRep.push(p.apRep);
      if (p.kind === "krb-error") kink.err.push(p.krbError);
    }
  }
  const ofType = (t: number[]) => kdc.filter((b) => t.includes(M.peekMessageType(b) ?? -1));
  const uniq = (xs: Uint8Array[]) => {
    const seen = new Set<string>();
    return xs.filter((x) => {
      const h = toHex(x);
      if (seen.has(h)) return false;
      seen.add(h);
      return true;
    });
  };
  // A DER target decodes, and every value it accepts must encode and decode
  // back to the same value (an encoder failure or a mismatch is a finding).
  const der = <T>(
    name: string,
    decode: (b: Uint8Array) => T,
    seeds: Uint8Array[],
    encode: (v: T) => Uint8Array,
  ): FuzzTarget => ({
    name,
    seeds: uniq(seeds),
    run: (b) => {
      const v = decode(b);
      let again: T;
      try {
        again = decode(encode(v));
      } catch (e) {
        throw new Error(`round trip failed: ${(e as Error).message}`);
      }
      if (!isDeepStrictEqual(strip(again), strip(v))) {
        throw new Error("round trip changed the value");
      }
      return v;
    },
    allowed: isKrb,
  });
  const targets: FuzzTarget[] = [
    der(
      "AP-REQ",
      M.decodeApReq,
      [...lines("encode_krb5_ap_req"), ...kink.apReq.slice(0, 3)],
      M.encodeApReq,
    ),
    der(
      "AP-REP",
      M.decodeApRep,
      [...lines("encode_krb5_ap_rep"), ...kink.apRep.slice(0, 3)],
      M.encodeApRep,
    ),
    der(
      "KRB-ERROR",
      M.decodeKrbError,
      [...lines("encode_krb5_error"), ...kink.err],
      M.encodeKrbError,
    ),
    der("KDC-REQ", M.decodeKdcReq, [
      ...lines("encode_krb5_as_req"),
      ...lines("encode_krb5_tgs_req"),
      ...ofType([10, 12]),
    ], M.encodeKdcReq),
    der("KDC-REP", M.decodeKdcRep, [
      ...lines("encode_krb5_as_rep"),
      ...lines("encode_krb5_tgs_rep"),
      ...ofType([11, 13]),
    ], M.encodeKdcRep),
    der("KDC-REQ-BODY", M.decodeKdcReqBody, lines("encode_krb5_kdc_req_body"), M.encodeKdcReqBody),
    der("Ticket", M.decodeTicket, lines("encode_krb5_ticket"), M.encodeTicket),
    der(
      "EncTicketPart",
      M.decodeEncTicketPart,
      lines("encode_krb5_enc_tkt_part"),
      M.encodeEncTicketPart,
    ),
    der(
      "Authenticator",
      M.decodeAuthenticator,
      lines("encode_krb5_authenticator"),
      M.encodeAuthenticator,
    ),
    der(
      "EncAPRepPart",
      M.decodeEncApRepPart,
      lines("encode_krb5_ap_rep_enc_part"),
      M.encodeEncApRepPart,
    ),
    der(
      "EncKDCRepPart",
      M.decodeEncKdcRepPart,
      lines("encode_krb5_enc_kdc_rep_part"),
      M.encodeEncKdcRepPart,
    ),
    der(
      "METHOD-DATA",
      M.decodeMethodData,
      lines("encode_krb5_padata_sequence"),
      M.encodeMethodData,
    ),
    der("ETYPE-INFO2", M.decodeEtypeInfo2, lines("encode_krb5_etype_info2"), M.encodeEtypeInfo2),
    der("PA-ENC-TS-ENC", M.decodePaEncTsEnc, lines("encode_krb5_pa_enc_ts"), M.encodePaEncTsEnc),
    der(
      "EncryptedData",
      M.decodeEncryptedData,
      lines("encode_krb5_enc_data"),
      M.encodeEncryptedData,
    ),
    der(
      "EncryptionKey",
      M.decodeEncryptionKey,
      lines("encode_krb5_keyblock"),
      M.encodeEncryptionKey,
    ),
    der("KRB-SAFE", SPC.decodeKrbSafe, lines("encode_krb5_safe"), SPC.encodeKrbSafe),
    der("KRB-PRIV", SPC.decodeKrbPriv, lines("encode_krb5_priv"), SPC.encodeKrbPriv),
    der(
      "EncKrbPrivPart",
      SPC.decodeEncKrbPrivPart,
      lines("encode_krb5_enc_priv_part"),
      SPC.encodeEncKrbPrivPart,
    ),
    der("KRB-CRED", SPC.decodeKrbCred, lines("encode_krb5_cred"), SPC.encodeKrbCred),
    der(
      "EncKrbCredPart",
      SPC.decodeEncKrbCredPart,
      lines("encode_krb5_enc_cred_part"),
      SPC.encodeEncKrbCredPart,
    ),
  ];
  const files = (dir: string) => {
    const out: Uint8Array[] = [];
    for (const e of Deno.readDirSync(fixture(dir))) {
      if (e.isFile) out.push(Deno.readFileSync(fixture(`${dir}/${e.name}`)));
    }
    return out;
  };
  targets.push({
    name: "keytab",
    seeds: [
      ...files("vectors/mit-asn1/derived/keytab"),
      ...files("vectors/mit-asn1/fuzz-seeds/keytab"),
      Deno.readFileSync(fixture("racoon2/A.keytab")),
      Deno.readFileSync(fixture("racoon2/B.keytab")),
    ],
    run: (b) => {
      const v = readKeytab(b);
      let again: unknown;
      try {
        again = readKeytab(writeKeytab(v));
      } catch (e) {
        throw new Error(`round trip failed: ${(e as Error).message}`);
      }
      if (!isDeepStrictEqual(again, v)) throw new Error("round trip changed the value");
      return v;
    },
    allowed: isKrb,
  });
  targets.push({
    name: "ccache",
    seeds: [
      ...files("vectors/mit-asn1/derived/ccache"),
      ...files("vectors/mit-asn1/fuzz-seeds/ccache"),
    ],
    run: (b) => {
      const v = readCcache(b);
      let again: unknown;
      try {
        again = readCcache(writeCcache(v));
      } catch (e) {
        throw new Error(`round trip failed: ${(e as Error).message}`);
      }
      if (!isDeepStrictEqual(again, { ...v, version: 4 })) {
        throw new Error("round trip changed the value");
      }
      return v;
    },
    allowed: isKrb,
  });
  const td = new TextDecoder();
  const te = new TextEncoder();
  const confSeeds = [
    Deno.readFileSync(unitData("krb5conf/main.conf")),
    Deno.readFileSync(unitData("krb5conf/extra")),
    te.encode(
      "[libdefaults]\n default_realm = KINK.TEST\n default_tkt_enctypes = aes256-cts aes128-sha2 -des\n" +
        " clockskew = 5m\n udp_preference_limit = 1\n kdc_timeout = 1h2m3s\n" +
        '[realms]\n KINK.TEST = {\n  kdc = [::1]:88\n  kdc = tcp/k.test:750\n  x = { y = "q\\"z" }\n }*\n' +
        "[domain_realm]\n .kink.test = KINK.TEST\n# end\n",
    ),
  ];
  targets.push({
    name: "krb5.conf",
    seeds: confSeeds,
    run: (b) => parseKrb5Conf(td.decode(b)),
    allowed: isConf,
  });
  return targets;
}

/** Fuzzes one target for `iterations` inputs. */
export function fuzzTarget(t: FuzzTarget, iterations: number, seed = 1): FuzzResult {
  const r = rng(seed ^ hash(t.name));
  const res: FuzzResult = {
    name: t.name,
    iterations: 0,
    accepted: 0,
    rejected: 0,
    findings: [],
    slowestMs: 0,
    slowestRetimedMs: 0,
    elapsedMs: 0,
  };
  let slowest: Uint8Array | undefined;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const base = i < t.seeds.length ? t.seeds[i]! : t.seeds[Math.floor(r() * t.seeds.length)]!;
    const input = i < t.seeds.length ? base : mutate(base, r, t.seeds);
    const s = performance.now();
    try {
      t.run(input);
      res.accepted++;
    } catch (e) {
      if (t.allowed(e)) res.rejected++;
      else if (res.findings.length < 5) {
        res.findings.push({ input: toHex(input), error: String((e as Error)?.stack ?? e) });
      }
    }
    const d = performance.now() - s;
    if (d > res.slowestMs) {
      res.slowestMs = d;
      slowest = input;
    }
    res.iterations++;
  }
  res.elapsedMs = performance.now() - t0;
  if (slowest) {
    let best = Infinity;
    for (let k = 0; k < 5; k++) {
      const s = performance.now();
      try {
        t.run(slowest);
      } catch { /* already classified */ }
      best = Math.min(best, performance.now() - s);
    }
    res.slowestRetimedMs = best;
  }
  return res;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      iterations: { type: "string", default: "1000000" },
      seed: { type: "string", default: "1" },
      only: { type: "string" },
    },
  });
  const n = Number(values.iterations);
  if (!Number.isInteger(n) || n < 1) throw new Error("--iterations must be a positive integer");
  let bad = 0;
  let total = 0;
  const t0 = performance.now();
  for (const t of kerberosTargets()) {
    if (values.only && t.name !== values.only) continue;
    const res = fuzzTarget(t, n, Number(values.seed));
    total += res.iterations;
    console.log(
      `${res.name.padEnd(14)} ${res.iterations} inputs (${t.seeds.length} seeds): ` +
        `${res.accepted} decoded, ${res.rejected} typed errors, ${res.findings.length} findings; ` +
        `${(res.elapsedMs / 1000).toFixed(1)} s, ${
          Math.round(res.iterations / (res.elapsedMs / 1000))
        }/s, ` +
        `slowest input ${res.slowestMs.toFixed(2)} ms (re-timed ${
          res.slowestRetimedMs.toFixed(3)
        } ms)`,
    );
    for (const f of res.findings) console.log(`  FINDING input=${f.input}\n  ${f.error}`);
    bad += res.findings.length;
  }
  console.log(
    `total ${total} inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s; findings: ${bad}`,
  );
  if (bad > 0) Deno.exit(1);
}
