/**
 * Helpers of the fault tests that run real `kink daemon` processes: two
 * gateways `a` and `b` in their own namespaces, an MIT KDC in a third, a
 * fourth namespace for an attacker; control requests made in-process on
 * the control socket (no CLI start-up in the measurement); checks that both
 * sides hold exactly matching SAs; netem; and the key-leak scan of logs:
 * `withGateways` scans the log of every daemon started in its set-up at the
 * end, for the keytab keys and every session and SA key of the captured
 * exchanges ({@link scanRunLogs}).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../harness/netns.ts";
import { type Realm, withRealm } from "../harness/krb5_realm.ts";
import { RUN_PREFIX } from "../harness/cleanup.ts";
import {
  type Gateway,
  type GatewayFiles,
  onGatewayStarted,
  type StatusJson,
  waitFor,
  writeGatewayConfig,
} from "../integration/daemon/gateways.ts";
import { hexOf, keysFromCapture, keysInLog, startCapture } from "../integration/daemon/leak.ts";
import { sleep } from "../harness/exec.ts";
import { controlRequest } from "../../core/daemon/control.ts";
import { readKeytab } from "../../core/kerberos/mod.ts";

/** The namespaces, realm and files of a two-gateway set-up. */
export interface Ctx {
  realm: Realm;
  kdc: Netns;
  a: Netns;
  b: Netns;
  m: Netns;
  fa: GatewayFiles;
  fb: GatewayFiles;
  dir: string;
  /** Hex of every keytab key of both gateways. */
  keytabKeys: string[];
}

/** Four namespaces (KDC, a, b, attacker), a realm, and both gateways' configurations. */
export async function withGateways(
  fn: (c: Ctx) => Promise<void>,
  o: { extra?: string[]; startA?: "on-demand" | "always" } = {},
): Promise<void> {
  const daemonExtra = o.extra ?? [];
  await withNetns(4, async ([kdc, a, b, m]) => {
    await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
      async (realm) => {
        const dir = await Deno.makeTempDir({ prefix: `${RUN_PREFIX}faults-` });
        try {
          const cfg = (name: string, me: Netns, other: Netns, otherName: string) =>
            writeGatewayConfig({
              name,
              dir: `${dir}/${name}`,
              realm,
              local: me.addr4,
              daemonExtra,
              peers: [{
                name: otherName,
                address: other.addr4,
                principal: realm.principal(`kink/${otherName}.kink.test`),
                start: name === "a" ? o.startA ?? "on-demand" : "on-demand",
              }],
            });
          const fa = await cfg("a", a!, b!, "b");
          const fb = await cfg("b", b!, a!, "a");
          const keytabKeys: string[] = [];
          for (const f of [fa, fb]) {
            for (const e of readKeytab(await Deno.readFile(f.keytab))) {
              keytabKeys.push(hexOf(e.key));
            }
          }
          // Every daemon started in this set-up (restarts included) has its log scanned
          // at the end for every key known: keytab keys, and the ticket session keys and
          // SA keys of every exchange on A's link (captured, opened by `kink decode`).
          const started: Gateway[] = [];
          const off = onGatewayStarted((gw) => started.push(gw));
          const capture = await startCapture(a!, `${dir}/a-link.pcapng`).catch(() => undefined);
          let ok = false;
          try {
            await fn({ realm, kdc: kdc!, a: a!, b: b!, m: m!, fa, fb, dir, keytabKeys });
            ok = true;
          } finally {
            off();
            await capture?.stop();
          }
          if (ok) await scanRunLogs(started, keytabKeys, capture?.file, [fa.keytab, fb.keytab]);
        } finally {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
}

/**
 * The log-wide key-leak scan of one set-up: every line every daemon wrote
 * is searched for every key known (hex in any case, base64, byte lists,
 * colon-separated hex): the keytabs' keys, and the session and SA keys that
 * `kink decode --show-keys` recovers from the capture with both keytabs.
 * Prints what was searched, so a scan that knew few keys shows it.
 */
export async function scanRunLogs(
  gateways: Gateway[],
  keytabKeys: string[],
  capture: string | undefined,
  keytabs: string[],
): Promise<void> {
  for (const gw of gateways) await Promise.race([gw.exited, sleep(5_000)]);
  const lines = gateways.flatMap((g) => g.log);
  let exchangeKeys: string[] = [];
  if (capture) {
    try {
      await Deno.stat(capture);
      exchangeKeys = (await keysFromCapture(capture, keytabs)).keys;
    } catch {
      exchangeKeys = []; // nothing captured (no traffic on A's link)
    }
  }
  const keys = [...new Set([...keytabKeys, ...exchangeKeys].map((k) => k.toLowerCase()))];
  assert.ok(lines.length > 0 && gateways.length > 0, "key scan: no daemon log to scan");
  assertNoKeys(lines, keys, `key scan of ${gateways.length} daemon run(s)`);
  console.log(
    `key scan: ${lines.length} log lines of ${gateways.length} daemon run(s), ` +
      `${keytabKeys.length} keytab keys and ${exchangeKeys.length} session/SA keys ` +
      `${capture ? "from the capture" : "(no capture: dumpcap unavailable)"}: none found`,
  );
}

/** A control request on the gateway's socket, in-process. */
export async function ctl(
  gw: GatewayFiles,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 10_000,
): Promise<unknown> {
  return await controlRequest(gw.socket, cmd, args, timeoutMs);
}

/** `status` over the control socket, with how long it took (ms). */
export async function timedStatus(gw: GatewayFiles): Promise<{ s: StatusJson; ms: number }> {
  const t0 = performance.now();
  const s = await ctl(gw, "status") as StatusJson;
  return { s, ms: performance.now() - t0 };
}

/** The engine's counters in a status. */
export function counters(s: StatusJson): Record<string, number> {
  return (s.engine as unknown as { counters: Record<string, number> }).counters;
}

/** A peer's status entry (with lastFailure). */
export function peerOf(
  s: StatusJson,
  name: string,
): {
  state: string;
  saPairs: number;
  lastFailure?: { reason: string; detail: string; at?: number };
} {
  const p = (s.engine.peers as unknown as {
    name: string;
    state: string;
    saPairs: number;
    lastFailure?: { reason: string; detail: string; at?: number };
  }[]).find((x) => x.name === name);
  assert.ok(p, `no peer ${name}`);
  return p;
}

/**
 * Both sides hold the same live pairs (A's inbound = B's outbound), `pairs`
 * of them, and the same kernel SAs, none twice.
 */
export function assertMatching(sa: StatusJson, sb: StatusJson, pairs: number, what: string): void {
  const live = (s: StatusJson) => s.engine.saPairs.filter((p) => p.state !== "dying");
  const key = (x: { protocol: string; spi: number }[]) =>
    x.map((y) => `${y.protocol}:${y.spi}`).join("+");
  const pa = live(sa).map((p) => `${key(p.inbound)}|${key(p.outbound)}`).sort();
  const pb = live(sb).map((p) => `${key(p.outbound)}|${key(p.inbound)}`).sort();
  assert.equal(pa.length, pairs, `${what}: A holds ${pa.length} pairs, not ${pairs}`);
  assert.deepEqual(pa, pb, `${what}: the pairs differ`);
  // Kernel: every SA belongs to a pair the engine holds (live or in its DELETE grace) — none
  // leaked — none is there twice, and the live pairs' SAs are the same on both sides.
  for (const [s, name] of [[sa, "A"], [sb, "B"]] as const) {
    const owned = new Set(
      s.engine.saPairs.flatMap((p) => [...p.inbound, ...p.outbound].map((x) => x.spi)),
    );
    const leaked = s.sas.filter((x) => !owned.has(x.spi));
    assert.deepEqual(leaked, [], `${what}: ${name} holds SAs of no pair`);
    const ids = s.sas.map((x) => `${x.src}>${x.dst}:${x.spi}`);
    assert.equal(new Set(ids).size, ids.length, `${what}: ${name} holds an SA twice`);
  }
  const liveSpis = (s: StatusJson) =>
    new Set(live(s).flatMap((p) => [...p.inbound, ...p.outbound].map((x) => x.spi)));
  const spis = (s: StatusJson) => {
    const l = liveSpis(s);
    return s.sas.filter((x) => l.has(x.spi)).map((x) => `${x.src}>${x.dst}:${x.spi}`).sort();
  };
  assert.deepEqual(spis(sa), spis(sb), `${what}: the kernel SAs differ`);
}

/** Waits until `gw` holds `pairs` mature pairs and no transaction. */
export async function settled(gw: Gateway, pairs: number, timeoutMs = 60_000): Promise<StatusJson> {
  return await waitFor(`${gw.name}: ${pairs} mature pair(s), no transaction`, async () => {
    const s = await ctl(gw, "status") as StatusJson;
    const m = s.engine.saPairs.filter((p) => p.state === "mature");
    const others = s.engine.saPairs.filter((p) => p.state !== "mature" && p.state !== "dying");
    return m.length === pairs && others.length === 0 && s.engine.transactions.length === 0
      ? s
      : undefined;
  }, timeoutMs);
}

/** `up` on A, then both settle with one matching pair. */
export async function upAndMatch(ga: Gateway, gb: Gateway, what: string, timeoutMs = 60_000) {
  const failedAt = (s: StatusJson) => peerOf(s, "b").lastFailure?.at;
  const before = failedAt(await ctl(ga, "status") as StatusJson);
  await ctl(ga, "up", { peer: "b" });
  try {
    // A's pair, or a new failure reported for the peer (then no use waiting).
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await ctl(ga, "status") as StatusJson;
      if (s.engine.transactions.length === 0) {
        if (s.engine.saPairs.some((p) => p.state === "mature")) break;
        const at = failedAt(s);
        if (at !== undefined && at !== before) {
          throw new Error(`failed: ${JSON.stringify(peerOf(s, "b").lastFailure)}`);
        }
      }
      if (Date.now() > deadline) throw new Error(`${ga.name}: neither a pair nor a failure`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const sa = await settled(ga, 1, timeoutMs);
    const sb = await settled(gb, 1, timeoutMs);
    assertMatching(sa, sb, 1, what);
    return { sa, sb };
  } catch (e) {
    const show = async (g: Gateway) => {
      const s = await ctl(g, "status").catch((x) => String(x)) as StatusJson;
      return `${g.name}: ${JSON.stringify(s.engine ?? s).slice(0, 3000)}\n` +
        g.log.slice(-15).join("\n");
    };
    throw new Error(`${what}: ${(e as Error).message}\n${await show(ga)}\n${await show(gb)}`);
  }
}

/** `down` on A, then waits until neither side holds a pair, an SA or a transaction. */
export async function downAndEmpty(
  ga: Gateway,
  gb: Gateway,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
  await ctl(ga, "down", { peer: "b" });
  await bothEmpty(ga, gb, what, timeoutMs);
}

/** `down` on A, then waits until neither side holds a live pair or a transaction (pairs in their DELETE grace may stay). */
export async function downLive(ga: Gateway, gb: Gateway, what: string, timeoutMs = 60_000) {
  await ctl(ga, "down", { peer: "b" });
  for (const gw of [ga, gb]) {
    await waitFor(`${what}: ${gw.name} without live pairs`, async () => {
      const s = await ctl(gw, "status") as StatusJson;
      return s.engine.saPairs.every((p) => p.state === "dying") &&
          s.engine.transactions.length === 0
        ? true
        : undefined;
    }, timeoutMs);
  }
}

/** Waits until neither side holds a pair, an SA or a transaction. */
export async function bothEmpty(
  ga: Gateway,
  gb: Gateway,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
  for (const gw of [ga, gb]) {
    await waitFor(`${what}: ${gw.name} without SAs`, async () => {
      const s = await ctl(gw, "status") as StatusJson;
      return s.engine.saPairs.length === 0 && s.sas.length === 0 &&
          s.engine.transactions.length === 0
        ? true
        : undefined;
    }, timeoutMs);
  }
}

/** Replaces the root qdisc of `eth0` in `ns` with netem `spec` (none: removes it). */
export async function netem(ns: Netns, spec: string | undefined): Promise<void> {
  await ns.run(["tc", "qdisc", "del", "dev", "eth0", "root"]);
  if (spec) {
    await ns.runOk(["tc", "qdisc", "add", "dev", "eth0", "root", "netem", ...spec.split(" ")]);
  }
}

let netemProbe: string | undefined | null = null;

/** Why netem cannot be used here (the kernel lacks sch_netem), or undefined when it can. */
export function netemSkipReason(): string | undefined {
  if (netemProbe !== null) return netemProbe;
  try {
    const o = new Deno.Command("unshare", {
      args: ["--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    netemProbe = o.success ? undefined : "the kernel has no sch_netem (runs in the VM tier)";
  } catch {
    netemProbe = "cannot probe netem (no unshare or not root)";
  }
  return netemProbe;
}

/** Asserts that none of `keys` (hex) appears in `lines` (hex, base64, byte lists). */
export function assertNoKeys(lines: string[], keys: string[], what: string): void {
  const known = [...new Set(keys.map((k) => k.toLowerCase()))].filter((k) => k.length >= 16);
  assert.ok(known.length > 0, `${what}: no keys to search for`);
  assert.deepEqual(keysInLog(lines, known), [], `${what}: key material in the logs`);
}
