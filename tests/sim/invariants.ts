/**
 * The invariants every simulated run must satisfy once quiet:
 *
 * - **pairs**: every SA in any kernel exists, identical (SPI, protocol, mode,
 *   algorithms, keys), in the kernels of both its endpoints — nothing
 *   half-open, nothing orphaned; no larval SA left;
 * - **engine = kernel**: the SPIs each engine reports in its status are
 *   exactly the SAs in its kernel;
 * - **quiet**: no transaction open;
 * - **one SA per transaction**: no two `sa-up` events for one (gateway, peer, XID, role);
 * - **ACQUIRE bound**: every ACQUIRE ends in an SA with that peer or a reported
 *   failure within a bound;
 * - **secrets**: no key octets (hex, either case, or base64) in any event
 *   line or status snapshot;
 * - **no engine exceptions** (the driver records them as problems).
 *
 * The replay/tamper invariant is {@link checkReplayAndTamper}: it snapshots
 * the world, injects recorded and mutated datagrams, runs to quiet again and
 * requires the snapshot to be unchanged.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { stableJson, type World } from "./world.ts";
import { fromHex, toHex } from "../../core/util/bytes.ts";
import type { SaState } from "../../core/kernel/mod.ts";
import { randomBelow, type SeededRandom } from "../../core/util/random.ts";

/** Options of {@link checkInvariants}. */
export interface InvariantOptions {
  /** Bound within which an ACQUIRE must end in an SA or a failure, ms. Default 120 000. */
  acquireBoundMs?: number;
  /** Gateways whose SAs may legitimately be missing a counterpart (none by default). */
  skipPairsOf?: ReadonlySet<number>;
}

function isLarval(s: SaState): boolean {
  return !s.enc && !s.auth && !s.aead;
}

function saText(s: SaState): string {
  return stableJson({
    src: s.src,
    dst: s.dst,
    proto: s.proto,
    spi: s.spi,
    mode: s.mode,
    enc: s.enc ? { name: s.enc.name, key: toHex(s.enc.key) } : null,
    auth: s.auth ? { name: s.auth.name, key: toHex(s.auth.key), t: s.auth.truncBits } : null,
    aead: s.aead ? { name: s.aead.name, key: toHex(s.aead.key), icv: s.aead.icvBits } : null,
  });
}

/** Checks every invariant of the module documentation; returns the violations. */
export async function checkInvariants(w: World, o: InvariantOptions = {}): Promise<string[]> {
  const v: string[] = [...w.problems];
  const bound = o.acquireBoundMs ?? 120_000;
  // --- pairs
  const kernels = await Promise.all(w.gateways.map((_, i) => w.sas(i)));
  const index = kernels.map((list) =>
    new Map(list.map((s) => [`${s.proto}|${s.dst}|${s.spi}`, s]))
  );
  for (const [i, list] of kernels.entries()) {
    for (const s of list) {
      if (isLarval(s)) {
        v.push(`gw${i}: larval SA left (${s.proto} spi ${hexSpi(s.spi)} ${s.src}->${s.dst})`);
        continue;
      }
      const other = s.src === w.gateways[i]!.spec.address ? w.gatewayAt(s.dst) : w.gatewayAt(s.src);
      if (other === undefined) {
        v.push(`gw${i}: SA ${hexSpi(s.spi)} ${s.src}->${s.dst} with an unknown address`);
        continue;
      }
      if (o.skipPairsOf?.has(i) || o.skipPairsOf?.has(other)) continue;
      const twin = index[other]!.get(`${s.proto}|${s.dst}|${s.spi}`);
      const dir = s.dst === w.gateways[i]!.spec.address ? "inbound" : "outbound";
      if (!twin) {
        v.push(
          `gw${i}: ${dir} ${s.proto} SA ${
            hexSpi(s.spi)
          } ${s.src}->${s.dst} has no counterpart at gw${other}`,
        );
      } else if (saText(twin) !== saText(s)) {
        v.push(
          `gw${i}/gw${other}: ${s.proto} SA ${
            hexSpi(s.spi)
          } differs between the two kernels (algorithms or keys)`,
        );
      }
    }
  }
  // --- engine status = kernel, quiet, secrets in status
  for (const [i, g] of w.gateways.entries()) {
    const st = g.engine.status();
    if (st.transactions.length > 0) {
      v.push(
        `gw${i}: ${st.transactions.length} transaction(s) still open once quiet: ${
          st.transactions.slice(0, 3).map((t) => `${t.command}/${t.role}/${t.state} xid ${t.xid}`)
            .join(", ")
        }`,
      );
    }
    const engineSpis = new Set<string>();
    const me = g.spec.address;
    for (const p of st.saPairs) {
      const peer = w.gateways.find((x) => `gw${x.index}` === p.peer);
      const peerAddr = peer?.spec.address ?? "?";
      for (const x of p.inbound) engineSpis.add(`${x.protocol}|${me}|${x.spi}`);
      for (const x of p.outbound) engineSpis.add(`${x.protocol}|${peerAddr}|${x.spi}`);
    }
    const kernelSpis = new Set(
      kernels[i]!.filter((s) => !isLarval(s)).map((s) => `${s.proto}|${s.dst}|${s.spi}`),
    );
    for (const k of kernelSpis) {
      if (!engineSpis.has(k)) v.push(`gw${i}: kernel SA ${k} unknown to the engine (orphan)`);
    }
    for (const k of engineSpis) {
      if (!kernelSpis.has(k)) v.push(`gw${i}: engine reports SA ${k} the kernel does not hold`);
    }
    const leak = findSecret(w.secrets, Deno.inspect(st, { depth: 10 }) + stableJson(st));
    if (leak) v.push(`gw${i}: key octets in the status snapshot (${leak})`);
  }
  // --- one SA per transaction
  const ups = new Map<string, number>();
  for (const e of w.events) {
    if (e.event.type !== "sa-up") continue;
    const k = `gw${e.gateway}.${e.generation}|${e.event.peer}|${e.event.xid}|${e.event.initiator}`;
    ups.set(k, (ups.get(k) ?? 0) + 1);
  }
  for (const [k, n] of ups) if (n > 1) v.push(`${n} sa-up events for one transaction ${k}`);
  // --- ACQUIRE bound
  const byGw = new Map<number, { at: number; peer: string; ok: boolean }[]>();
  for (const e of w.events) {
    const t = e.event.type;
    if (t !== "sa-up" && t !== "exchange-failed" && t !== "limit") continue;
    const peer = "peer" in e.event ? e.event.peer : "*";
    const list = byGw.get(e.gateway) ?? [];
    list.push({ at: e.at, peer, ok: t === "sa-up" });
    byGw.set(e.gateway, list);
  }
  for (const a of w.acquires) {
    if (a.at + bound > w.now) continue; // too recent to judge
    const list = byGw.get(a.gateway) ?? [];
    const peerName = `gw${a.peer}`;
    const ended = list.some((e) =>
      (e.peer === peerName || e.peer === "*") && e.at >= a.at && e.at <= a.at + bound
    );
    if (!ended) {
      v.push(
        `gw${a.gateway}: ACQUIRE for gw${a.peer} port ${a.port} at ${a.at} ended in neither an SA nor a reported failure within ${bound} ms`,
      );
    }
  }
  // --- secrets in event lines
  for (const e of w.events) {
    const leak = findSecret(w.secrets, e.line);
    if (leak) {
      v.push(`gw${e.gateway}: key octets in an event line (${leak}): ${e.line.slice(0, 120)}`);
      break;
    }
  }
  return v;
}

function hexSpi(spi: number): string {
  return `0x${spi.toString(16).padStart(8, "0")}`;
}

/** Probes of every secret seen so far: 8-octet hex prefixes and 12-octet base64 prefixes. */
interface SecretIndex {
  count: number;
  readonly hex: Set<string>;
  readonly b64: Set<string>;
}

const HEX_PROBE = 16; // 8 octets as hex
const B64_PROBE = 16; // 12 octets as base64 (no padding)
const indexes = new WeakMap<ReadonlySet<string>, SecretIndex>();

/**
 * The probe index of `secrets`, extended with the secrets added since the last call (a Set
 * iterates in insertion order and the world only ever adds), so a check costs O(line length)
 * set lookups instead of one substring search per secret.
 */
function indexOf(secrets: ReadonlySet<string>): SecretIndex {
  let idx = indexes.get(secrets);
  if (!idx) {
    idx = { count: 0, hex: new Set(), b64: new Set() };
    indexes.set(secrets, idx);
  }
  if (idx.count !== secrets.size) {
    if (idx.count > secrets.size) {
      idx.count = 0;
      idx.hex.clear();
      idx.b64.clear();
    }
    let i = 0;
    for (const hex of secrets) {
      if (i++ < idx.count) continue;
      idx.hex.add(hex.slice(0, HEX_PROBE).toLowerCase());
      const b64 = Buffer.from(fromHex(hex).subarray(0, 12)).toString("base64");
      idx.b64.add(b64);
      idx.b64.add(b64.replaceAll("+", "-").replaceAll("/", "_"));
    }
    idx.count = secrets.size;
  }
  return idx;
}

/**
 * Returns how a secret appears in `text` (hex in either case, base64 or base64url), or
 * undefined. Any 8-octet window at the start of a key (16 hex digits) or its first 12 octets
 * in base64 is enough to call it a leak.
 */
export function findSecret(secrets: ReadonlySet<string>, text: string): string | undefined {
  if (secrets.size === 0) return undefined;
  const idx = indexOf(secrets);
  const lower = text.toLowerCase();
  for (let i = 0; i + HEX_PROBE <= lower.length; i++) {
    if (idx.hex.has(lower.slice(i, i + HEX_PROBE))) return "hex";
  }
  for (let i = 0; i + B64_PROBE <= text.length; i++) {
    if (idx.b64.has(text.slice(i, i + B64_PROBE))) return "base64";
  }
  return undefined;
}

/** A text of every kernel's SAs and every engine's SA pairs (the state replay must not change). */
export async function snapshot(w: World): Promise<string> {
  const parts: string[] = [];
  for (const [i, g] of w.gateways.entries()) {
    const sas = (await w.sas(i)).map(saText).sort();
    const pairs = g.engine.status().saPairs.map((p) =>
      stableJson({ peer: p.peer, in: p.inbound, out: p.outbound, state: p.state })
    ).sort();
    parts.push(`gw${i}\n${sas.join("\n")}\n${pairs.join("\n")}`);
  }
  return parts.join("\n");
}

/**
 * Replays `n` datagrams that were delivered to their destinations and injects `n`
 * tampered copies (one octet changed), runs until quiet, and returns a
 * violation when any kernel or engine SA state changed.
 */
export async function checkReplayAndTamper(
  w: World,
  random: SeededRandom,
  n: number,
): Promise<string[]> {
  if (w.delivered.length === 0) return [];
  const before = await snapshot(w);
  for (let k = 0; k < n; k++) {
    const d = w.delivered[randomBelow(random, w.delivered.length)]!;
    w.inject(d.from, d.to, d.data);
    const t = d.data.slice();
    const pos = randomBelow(random, t.length);
    t[pos] = t[pos]! ^ (1 + randomBelow(random, 255));
    w.inject(d.from, d.to, t);
  }
  const quiet = await w.runUntilQuiet(300_000);
  const after = await snapshot(w);
  const v: string[] = [];
  if (!quiet) v.push("replay/tamper: the world did not become quiet again");
  if (after !== before) {
    v.push(`replay/tamper: ${n} replayed and ${n} tampered datagrams changed SA state`);
  }
  return v;
}
