/**
 * Fuzzer of the KINK wire decoders: the KINK message decoder (header,
 * payload chain, payload bodies, with and without deferred ISAKMP), the
 * KINK_ENCRYPT inner-chain decoder, the ISAKMP Quick Mode decoder, the
 * receive path with its §6 rules, and the capture reader. Inputs are
 * mutations of real racoon2 traffic (tests/fixtures/racoon2/kink.pcap) and
 * of its decrypted KINK_ENCRYPT plaintexts.
 *
 * Asserts for every input: the decoder returns or throws a `WireError`
 * (nothing untyped) and the heap stays bounded (no allocation driven by a
 * length field). That no input hangs a decoder is checked from outside:
 * tests/unit/wire/fuzz_short_test.ts runs this in a worker that reports each
 * input before decoding it (`onInput`), and a watchdog fails the test naming
 * the input that a decoder did not finish.
 *
 * Run: `deno run --allow-read=. tests/fuzz/wire_fuzz.ts --iterations N [--seed S]`
 * (N inputs per decoder; `deno task fuzz:wire` runs 1,000,000).
 *
 * @module
 */
import { extractUdp, readCapture } from "../../core/wire/pcap.ts";
import { decodeKinkMessage, type KinkKeyOps, openEncryptPayload } from "../../core/wire/kink.ts";
import { decodeIsakmpPayloads } from "../../core/wire/isakmp.ts";
import { receiveKinkMessage } from "../../core/wire/receive.ts";
import { WireError } from "../../core/wire/errors.ts";
import { keyOps } from "../../core/wire/session.ts";
import { decrypt, Key } from "../../core/crypto/mod.ts";
import { concat, fromHex } from "../../core/util/bytes.ts";
import { analyzeCapture } from "../../core/cli/decode/analyze.ts";
import { readKeytab } from "../../core/kerberos/keytab.ts";
import { rng } from "./prng.ts";

/** A one-packet classic pcap (raw IPv4 link type) carrying `payload` in udp/910. */
function classicPcap(payload: Uint8Array): Uint8Array {
  const ip = new Uint8Array(28 + payload.length);
  const v = new DataView(ip.buffer);
  ip[0] = 0x45;
  v.setUint16(2, ip.length & 0xffff);
  ip[8] = 64;
  ip[9] = 17;
  ip.set([10, 77, 0, 1, 10, 77, 0, 2], 12);
  v.setUint16(20, 910);
  v.setUint16(22, 910);
  v.setUint16(24, (8 + payload.length) & 0xffff);
  ip.set(payload, 28);
  const hdr = new Uint8Array(24 + 16);
  const h = new DataView(hdr.buffer);
  h.setUint32(0, 0xa1b2c3d4, true);
  h.setUint16(4, 2, true);
  h.setUint16(6, 4, true);
  h.setUint32(16, 65535, true);
  h.setUint32(20, 101, true);
  h.setUint32(32, ip.length, true);
  h.setUint32(36, ip.length, true);
  return concat(hdr, ip);
}

/** Statistics of one decoder's run. */
export interface FuzzStats {
  /** Decoder name. */
  decoder: string;
  /** Inputs tried. */
  iterations: number;
  /** Inputs accepted (decoded without error). */
  accepted: number;
  /** Rejections by error category. */
  rejected: Record<string, number>;
  /** Slowest single input, in milliseconds. */
  maxMillis: number;
  /** Largest heap seen (MiB). */
  maxHeapMiB: number;
  /** Inputs per second. */
  perSecond: number;
}

const INTERESTING = [0, 1, 2, 3, 4, 6, 7, 8, 0x0f, 0x10, 0x11, 0x20, 0x7f, 0x80, 0xfe, 0xff];

/** Returns a mutated copy of `src`. */
export function mutate(src: Uint8Array, r: () => number, corpus: Uint8Array[]): Uint8Array {
  let b: Uint8Array = src.slice();
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const pos = b.length ? Math.floor(r() * b.length) : 0;
    switch (Math.floor(r() * 10)) {
      case 0: // bit flip
        if (b.length) b[pos] = b[pos]! ^ (1 << Math.floor(r() * 8));
        break;
      case 1: // interesting byte
        if (b.length) b[pos] = INTERESTING[Math.floor(r() * INTERESTING.length)]!;
        break;
      case 2: // random byte
        if (b.length) b[pos] = Math.floor(r() * 256);
        break;
      case 3: { // 16-bit length-like field: small, large, off by one
        if (b.length < 2) break;
        const p = pos & ~1;
        const v = [0, 1, 3, 4, 5, 7, 8, 0x7fff, 0x8000, 0xffff, b.length, b.length + 1][
          Math.floor(r() * 12)
        ]!;
        b[p] = (v >> 8) & 0xff;
        if (p + 1 < b.length) b[p + 1] = v & 0xff;
        break;
      }
      case 4: // truncate
        b = b.subarray(0, Math.floor(r() * (b.length + 1))).slice();
        break;
      case 5: { // extend with junk
        const extra = new Uint8Array(1 + Math.floor(r() * 16));
        for (let k = 0; k < extra.length; k++) extra[k] = Math.floor(r() * 256);
        b = concat(b, extra);
        break;
      }
      case 6: { // delete a chunk
        const end = Math.min(b.length, pos + Math.floor(r() * 16));
        b = concat(b.subarray(0, pos), b.subarray(end));
        break;
      }
      case 7: { // duplicate a chunk
        const chunk = b.subarray(pos, pos + Math.floor(r() * 32));
        b = concat(b.subarray(0, pos), chunk, b.subarray(pos));
        break;
      }
      case 8: { // splice with another corpus entry
        const o = corpus[Math.floor(r() * corpus.length)]!;
        b = concat(b.subarray(0, pos), o.subarray(Math.floor(r() * (o.length + 1))));
        break;
      }
      default: { // 32-bit field
        if (b.length < 4) break;
        const p = pos & ~3;
        const v = [0, 1, 2, 0x7fffffff, 0xffffffff][Math.floor(r() * 5)]!;
        if (p + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(p, v >>> 0);
      }
    }
  }
  return b;
}

/** The seed corpora, from the racoon2 capture. */
export function corpora(): {
  kink: Uint8Array[];
  plaintexts: Uint8Array[];
  qm: [Uint8Array, number][];
  capture: Uint8Array;
} {
  const capture = Deno.readFileSync(new URL("../fixtures/racoon2/kink.pcap", import.meta.url));
  const kink: Uint8Array[] = [];
  for (const p of readCapture(capture)) {
    const u = extractUdp(p);
    if ("payload" in u && (u.srcPort === 910 || u.dstPort === 910)) kink.push(u.payload.slice());
  }
  // The ticket session key of frames 7–21 (given in the fixture README; the unit tests
  // recover it from the ticket with B's keytab).
  const key = Key.fromBytes(
    18,
    fromHex("67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90"),
  );
  const plaintexts: Uint8Array[] = [];
  const qm: [Uint8Array, number][] = [];
  for (const b of kink.slice(0, 13)) {
    const m = decodeKinkMessage(b).message;
    for (const p of m.payloads) {
      if (p.kind !== "encrypt") continue;
      const pt = decrypt(key, 39, p.ciphertext!);
      plaintexts.push(pt);
      // inner KINK_ISAKMP at offset 4: header(4) InnerNextPload QMver RESERVED(2) chain
      const len = (pt[6]! << 8) | pt[7]!;
      qm.push([pt.slice(12, 4 + len), pt[8]!]);
    }
  }
  key.dispose();
  return { kink, plaintexts, qm, capture };
}

/** An identity "decryption" so that mutated plaintexts reach the inner-chain decoder. */
const IDENTITY: KinkKeyOps = {
  checksumSize: 12,
  getMic: () => new Uint8Array(12),
  verifyMic: () => true,
  encrypt: (_u, p) => p,
  decrypt: (_u, c) => c.slice(),
};

/**
 * Runs `iterations` mutated inputs through each decoder. `onInput(decoder, i)`
 * is called before each input is decoded (the hang watchdog's heartbeat).
 */
export function runWireFuzz(
  iterations: number,
  seed = 1,
  onInput?: (decoder: string, i: number) => void,
): FuzzStats[] {
  const c = corpora();
  const keytab = ["B.keytab", "A.keytab"].flatMap((f) =>
    readKeytab(Deno.readFileSync(new URL(`../fixtures/racoon2/${f}`, import.meta.url)))
  );
  const realKey = keyOps(
    Key.fromBytes(18, fromHex("67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90")),
  );
  const decoders: {
    name: string;
    corpus: Uint8Array[];
    n: number;
    run: (b: Uint8Array) => void;
  }[] = [
    { name: "kink", corpus: c.kink, n: iterations, run: (b) => void decodeKinkMessage(b) },
    {
      name: "kink-deferred",
      corpus: c.kink,
      n: Math.ceil(iterations / 4),
      run: (b) => void decodeKinkMessage(b, { deferIsakmp: true }),
    },
    {
      name: "kink-encrypt-inner",
      corpus: c.plaintexts,
      n: Math.ceil(iterations / 2),
      run: (b) => void openEncryptPayload(b, 1, IDENTITY),
    },
    {
      name: "isakmp",
      corpus: c.qm.map(([b]) => b),
      n: iterations,
      run: (() => {
        const firsts = c.qm.map(([, f]) => f);
        let i = 0;
        return (b: Uint8Array) => void decodeIsakmpPayloads(b, firsts[i++ % firsts.length]!);
      })(),
    },
    {
      name: "receive",
      corpus: c.kink,
      n: Math.ceil(iterations / 20),
      run: (b) => void receiveKinkMessage(b, { authenticate: () => realKey }),
    },
    {
      name: "decode-analysis",
      corpus: c.kink,
      n: Math.ceil(iterations / 100),
      run: (b) => {
        const r = analyzeCapture(classicPcap(b), { keytab, prf: "racoon2", showKeys: false });
        // the analysis records problems per datagram; a stopped analysis is a decoder bug
        const stopped = r.messages.flatMap((m) => m.problems).find((p) =>
          p.startsWith("analysis stopped")
        );
        if (stopped) throw new Error(stopped);
      },
    },
    {
      name: "pcap",
      corpus: [c.capture],
      n: Math.ceil(iterations / 200),
      run: (b) => {
        for (const p of readCapture(b)) extractUdp(p);
      },
    },
  ];
  const out: FuzzStats[] = [];
  for (const d of decoders) {
    const r = rng(seed ^ d.name.length * 7919);
    const st: FuzzStats = {
      decoder: d.name,
      iterations: d.n,
      accepted: 0,
      rejected: {},
      maxMillis: 0,
      maxHeapMiB: 0,
      perSecond: 0,
    };
    const t0 = performance.now();
    for (let i = 0; i < d.n; i++) {
      const input = mutate(d.corpus[Math.floor(r() * d.corpus.length)]!, r, d.corpus);
      onInput?.(d.name, i);
      const s = performance.now();
      try {
        d.run(input);
        st.accepted++;
      } catch (e) {
        if (!(e instanceof WireError)) {
          throw new Error(
            `${d.name}: input ${i} threw a non-WireError: ${e instanceof Error ? e.stack : e}`,
          );
        }
        st.rejected[e.category] = (st.rejected[e.category] ?? 0) + 1;
      }
      const ms = performance.now() - s;
      if (ms > st.maxMillis) st.maxMillis = ms;
      if ((i & 4095) === 0) {
        const heap = Deno.memoryUsage().heapUsed / 1048576;
        if (heap > st.maxHeapMiB) st.maxHeapMiB = heap;
        if (heap > 1024) {
          throw new Error(`${d.name}: heap ${heap.toFixed(0)} MiB after ${i} inputs`);
        }
      }
    }
    st.perSecond = Math.round(d.n / ((performance.now() - t0) / 1000));
    st.maxHeapMiB = Math.round(st.maxHeapMiB);
    st.maxMillis = Math.round(st.maxMillis * 100) / 100;
    out.push(st);
  }
  return out;
}

if (import.meta.main) {
  const args = Deno.args;
  const it = args.indexOf("--iterations");
  const sd = args.indexOf("--seed");
  const n = it >= 0 ? Number(args[it + 1]) : 100_000;
  const seed = sd >= 0 ? Number(args[sd + 1]) : 1;
  if (!Number.isInteger(n) || n < 1) {
    console.error("usage: wire_fuzz.ts --iterations N [--seed S]");
    Deno.exit(2);
  }
  for (const s of runWireFuzz(n, seed)) {
    console.log(
      `${s.decoder.padEnd(20)} ${String(s.iterations).padStart(8)} inputs  accepted ${
        String(s.accepted).padStart(7)
      }  rejected ${
        JSON.stringify(s.rejected)
      }  max ${s.maxMillis} ms/input  heap ≤ ${s.maxHeapMiB} MiB  ${s.perSecond}/s`,
    );
  }
}
