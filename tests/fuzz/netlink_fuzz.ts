/**
 * Fuzzes the netlink and XFRM parsers with mutated real kernel replies
 * (tests/fixtures/netlink/replies.json, recorded from a Linux kernel): bit
 * flips, byte overwrites, truncation, length-field edits, message-type swaps
 * (so every XFRM decoder, events included, sees every payload) and splices.
 * Every input must either decode or fail with a KernelError — anything else
 * (TypeError, RangeError, a hang) is a bug.
 *
 * Run: deno run --allow-read=. tests/fuzz/netlink_fuzz.ts --iterations N [--seed S]
 *
 * @module
 */
import { KernelError } from "../../core/kernel/mod.ts";
import { NLMSG_ERROR, parseNlError, parseNlMsgs } from "../../ffi/netlink.ts";
import { decodeEvent, decodePolicy, decodeSa } from "../../core/kernel/xfrm/decode.ts";
import { XFRM_MSG } from "../../ffi/xfrm/layout.ts";
import { fromHex } from "../../core/util/bytes.ts";

/** Loads the recorded kernel datagrams. */
export async function loadSeeds(): Promise<Uint8Array[]> {
  const url = new URL("../fixtures/netlink/replies.json", import.meta.url);
  const j = JSON.parse(await Deno.readTextFile(url)) as { replies: { hex: string[] }[] };
  return j.replies.flatMap((r) => r.hex.map((h) => fromHex(h)));
}

/** Parses one datagram the way the socket layer and the XFRM decoders do. */
export function parseAll(buf: Uint8Array): number {
  let decoded = 0;
  for (const m of parseNlMsgs(buf)) {
    if (m.type === NLMSG_ERROR) {
      parseNlError(m.payload, m.flags);
    } else if (m.type === XFRM_MSG.NEWSA || m.type === XFRM_MSG.UPDSA) {
      decodeSa(m.payload);
    } else if (m.type === XFRM_MSG.NEWPOLICY || m.type === XFRM_MSG.UPDPOLICY) {
      decodePolicy(m.payload);
    } else {
      decodeEvent(m.type, m.payload);
    }
    decoded++;
  }
  return decoded;
}

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const TYPES = [2, 3, 16, 19, 23, 24, 27, 26, 25];

function mutate(seeds: Uint8Array[], r: () => number): Uint8Array {
  const base = seeds[r() % seeds.length]!;
  let b = base.slice();
  const n = 1 + (r() % 4);
  for (let i = 0; i < n; i++) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (r() % 8) {
      case 0: // bit flip
        if (b.length) b[r() % b.length]! ^= 1 << (r() % 8);
        break;
      case 1: // random byte
        if (b.length) b[r() % b.length] = r() & 0xff;
        break;
      case 2: // truncate
        b = b.slice(0, r() % (b.length + 1));
        break;
      case 3: // edit the nlmsg_len
        if (b.length >= 4) {
          dv.setUint32(0, [0, 15, 16, 17, b.length, b.length + 4, r()][r() % 7]! >>> 0, true);
        }
        break;
      case 4: // swap the message type, so other decoders see this payload
        if (b.length >= 6) dv.setUint16(4, TYPES[r() % TYPES.length]!, true);
        break;
      case 5: { // edit an attribute-length-looking u16 somewhere
        if (b.length >= 4) {
          const o = (r() % (b.length - 2)) & ~3;
          dv.setUint16(o, [0, 3, 4, 5, 0xffff, r() & 0xffff][r() % 6]!, true);
        }
        break;
      }
      case 6: { // splice in a piece of another seed
        const other = seeds[r() % seeds.length]!;
        const at = r() % (b.length + 1);
        const from = r() % (other.length + 1);
        const piece = other.subarray(from, from + (r() % 64));
        const nb = new Uint8Array(b.length + piece.length);
        nb.set(b.subarray(0, at));
        nb.set(piece, at);
        nb.set(b.subarray(at), at + piece.length);
        b = nb;
        break;
      }
      case 7: // extreme value in a 32-bit field
        if (b.length >= 4) {
          dv.setUint32((r() % (b.length - 3)) & ~3, [0, 0xffffffff, 0x80000000, 1][r() % 4]!, true);
        }
        break;
    }
  }
  return b;
}

/** Outcome of a fuzz run. */
export interface FuzzStats {
  /** Inputs tried. */
  inputs: number;
  /** Inputs that decoded completely. */
  decoded: number;
  /** Inputs rejected with a KernelError. */
  rejected: number;
}

/** Runs `iterations` mutated inputs; throws on the first untyped failure. */
export function fuzzNetlink(seeds: Uint8Array[], iterations: number, seed = 1): FuzzStats {
  const r = rng(seed);
  const st: FuzzStats = { inputs: 0, decoded: 0, rejected: 0 };
  for (const s of seeds) parseAll(s); // the unmutated seeds must all decode
  for (let i = 0; i < iterations; i++) {
    const input = mutate(seeds, r);
    st.inputs++;
    try {
      parseAll(input);
      st.decoded++;
    } catch (e) {
      if (!(e instanceof KernelError)) {
        const hex = Array.from(input, (x) => x.toString(16).padStart(2, "0")).join("");
        throw new Error(
          `untyped failure on input ${i} (seed ${seed}): ${String(e)}\ninput: ${hex}`,
          { cause: e },
        );
      }
      st.rejected++;
    }
  }
  return st;
}

if (import.meta.main) {
  const arg = (name: string, dflt: number) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
  };
  const iterations = arg("iterations", 1_000_000);
  const seed = arg("seed", Date.now() & 0x7fffffff);
  const t0 = performance.now();
  const st = fuzzNetlink(await loadSeeds(), iterations, seed);
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `netlink fuzz: ${st.inputs} inputs (seed ${seed}) in ${s} s: ${st.decoded} decoded, ${st.rejected} typed rejections, 0 untyped failures`,
  );
}
