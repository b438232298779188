/**
 * Real IPsec traffic through SAs and policies kink installs: two network
 * namespaces joined by a veth pair, SAs and policies on both sides, then
 * `ping` must pass, `ip -s xfrm state` counters must rise on both sides and
 * equal kink's own (GETSA and the dump) exactly once the traffic has stopped,
 * `ip xfrm state` must show exactly our keys and parameters, and deleting the
 * SAs must stop the traffic. One test per algorithm family × mode × family
 * pairing (CBC+HMAC and GCM; transport and tunnel; IPv4 and IPv6).
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { NetlinkKernel } from "../../../core/kernel/mod.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { type SaConfig, selector, type XfrmMode } from "../../../core/kernel/mod.ts";
import { espSkipReason, parseIpXfrmState } from "../../integration/kernel/env.ts";
import { skipUnless } from "../../harness/tiers.ts";
import { testKey } from "../../unit/kernel/contract.ts";

const noEsp = await espSkipReason();

type Algs = Pick<SaConfig, "enc" | "auth" | "aead">;

/** Permanent neighbour entries, so IPv6 neighbour discovery never meets the policies. */
async function pinNeighbours(a: Netns, b: Netns): Promise<void> {
  const mac = async (n: Netns) =>
    /link\/ether (\S+)/.exec(await n.runOk(["ip", "link", "show", "eth0"]))![1]!;
  const [ma, mb] = [await mac(a), await mac(b)];
  for (const [n, peer, m] of [[a, b, mb], [b, a, ma]] as const) {
    for (const addr of [peer.addr4, peer.addr6]) {
      await n.runOk([
        "ip",
        "neigh",
        "replace",
        addr,
        "lladdr",
        m,
        "dev",
        "eth0",
        "nud",
        "permanent",
      ]);
    }
  }
}

async function ping(from: Netns, to: string, count = 3): Promise<boolean> {
  const r = await from.run(["ping", "-c", String(count), "-i", "0.2", "-W", "2", to]);
  return r.success;
}

function algsFor(family: "cbc" | "gcm", bits: number, seed: number): Algs {
  if (family === "gcm") {
    return { aead: { name: "rfc4106(gcm(aes))", key: testKey(bits / 8 + 4, seed), icvBits: 128 } };
  }
  return {
    enc: { name: "cbc(aes)", key: testKey(bits / 8, seed) },
    auth: bits === 128
      ? { name: "hmac(sha1)", key: testKey(20, seed + 1), truncBits: 96 }
      : { name: "hmac(sha256)", key: testKey(32, seed + 1), truncBits: 128 },
  };
}

const CASES: { name: string; alg: "cbc" | "gcm"; bits: number; mode: XfrmMode; v6: boolean }[] = [
  {
    name: "cbc(aes)-256 + hmac(sha256), transport, IPv4",
    alg: "cbc",
    bits: 256,
    mode: "transport",
    v6: false,
  },
  {
    name: "cbc(aes)-128 + hmac(sha1), tunnel, IPv6",
    alg: "cbc",
    bits: 128,
    mode: "tunnel",
    v6: true,
  },
  {
    name: "rfc4106(gcm(aes))-128, transport, IPv6",
    alg: "gcm",
    bits: 128,
    mode: "transport",
    v6: true,
  },
  { name: "rfc4106(gcm(aes))-256, tunnel, IPv4", alg: "gcm", bits: 256, mode: "tunnel", v6: false },
];

for (const c of CASES) {
  Deno.test({
    ...skipUnless(`kernel ESP traffic: ${c.name}`, noEsp),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withNetns(2, async ([a, b]) => {
        await pinNeighbours(a!, b!);
        const A = c.v6 ? a!.addr6 : a!.addr4, B = c.v6 ? b!.addr6 : b!.addr4;
        const ka = NetlinkKernel.open({ netns: `/run/netns/${a!.name}` });
        const kb = NetlinkKernel.open({ netns: `/run/netns/${b!.name}` });
        try {
          const ab: SaConfig = {
            src: A,
            dst: B,
            proto: "esp",
            spi: 0xa0001000,
            mode: c.mode,
            reqid: 11,
            replayWindow: 32,
            ...algsFor(c.alg, c.bits, 1),
          };
          const ba: SaConfig = {
            ...ab,
            src: B,
            dst: A,
            spi: 0xb0002000,
            reqid: 12,
            ...algsFor(c.alg, c.bits, 50),
          };
          const tmpl = (sa: SaConfig) =>
            c.mode === "tunnel"
              ? { proto: "esp" as const, mode: c.mode, src: sa.src, dst: sa.dst, reqid: sa.reqid! }
              : { proto: "esp" as const, mode: c.mode, reqid: sa.reqid! };
          for (const [k, out, inn] of [[ka, ab, ba], [kb, ba, ab]] as const) {
            await k.addSa(out);
            await k.addSa(inn);
            await k.addPolicy({
              selector: selector(out.src, out.dst),
              dir: "out",
              templates: [tmpl(out)],
            });
            await k.addPolicy({
              selector: selector(inn.src, inn.dst),
              dir: "in",
              templates: [tmpl(inn)],
            });
          }
          assert.ok(await ping(a!, B), "ping passes through the SAs");

          for (const [n, label] of [[a!, "A"], [b!, "B"]] as const) {
            const states = parseIpXfrmState(await n.runOk(["ip", "-s", "xfrm", "state"]));
            assert.equal(states.length, 2, `${label} holds exactly our two SAs`);
            for (const sa of [ab, ba]) {
              const s = states.find((x) => x.spi === sa.spi);
              assert.ok(s, `${label} shows SPI 0x${sa.spi.toString(16)}`);
              assert.equal(s.src, sa.src);
              assert.equal(s.dst, sa.dst);
              assert.equal(s.proto, "esp");
              assert.equal(s.reqid, sa.reqid);
              assert.equal(s.mode, c.mode);
              assert.equal(s.replayWindow, 32);
              const want: Record<string, string[]> = {};
              if (sa.aead) {
                want.aead = [sa.aead.name, `0x${toHex(sa.aead.key)}`, String(sa.aead.icvBits)];
              }
              if (sa.enc) {
                want.enc = [sa.enc.name, `0x${toHex(sa.enc.key)}`];
              }
              if (sa.auth) {
                want["auth-trunc"] = [
                  sa.auth.name,
                  `0x${toHex(sa.auth.key)}`,
                  String(sa.auth.truncBits),
                ];
              }
              assert.deepEqual(
                s.algs,
                want,
                `${label} SPI 0x${sa.spi.toString(16)} algorithms and keys`,
              );
              assert.ok(
                (s.packets ?? 0) >= 3,
                `${label} SPI 0x${sa.spi.toString(16)} counted ${s.packets} packets`,
              );
              assert.ok((s.bytes ?? 0) > 0);
            }
          }
          // Our own counters equal ip's, exactly, for every SA on both sides. The traffic has
          // stopped (ping returned; neighbours are pinned, so nothing else matches the
          // policies): ip is asked before and after we read, and must not have moved.
          for (const [k, n, label] of [[ka, a!, "A"], [kb, b!, "B"]] as const) {
            const ip = async () =>
              parseIpXfrmState(await n.runOk(["ip", "-s", "xfrm", "state"])).map((x) => ({
                spi: x.spi,
                bytes: x.bytes,
                packets: x.packets,
              })).sort((x, y) => x.spi - y.spi);
            const before = await ip();
            const mine = [];
            for (const sa of [ab, ba]) {
              const st = await k.getSa({ dst: sa.dst, spi: sa.spi, proto: "esp" });
              mine.push({ spi: sa.spi, bytes: st.current.bytes, packets: st.current.packets });
            }
            mine.sort((x, y) => x.spi - y.spi);
            const after = await ip();
            assert.deepEqual(after, before, `${label}: quiescent while compared`);
            assert.deepEqual(mine, before, `${label}: kink's counters equal ip -s xfrm state's`);
            const listed = (await k.listSas()).map((st) => ({
              spi: st.spi,
              bytes: st.current.bytes,
              packets: st.current.packets,
            })).sort((x, y) => x.spi - y.spi);
            assert.deepEqual(listed, before, `${label}: the dump's counters too`);
          }

          await ka.deleteSa({ dst: B, spi: ab.spi, proto: "esp" });
          await ka.deleteSa({ dst: A, spi: ba.spi, proto: "esp" });
          assert.equal(await ping(a!, B, 1), false, "no SA, no traffic");
        } finally {
          await ka.close();
          await kb.close();
        }
      }),
  });
}
