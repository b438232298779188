/**
 * Two `kink daemon` processes (started through the CLI launcher, netlink
 * kernel) on a kernel with ESP, a real MIT KDC in a third namespace, and two
 * hosts behind the gateways (host A ─ gateway A ═ gateway B ─ host B). One
 * realm, one pair of daemons and one VM boot serve every case: each gateway
 * has one peer entry per case, at its own pair of outer addresses.
 *
 * | peer | family | mode      | proposal          | ping between           |
 * | ---- | ------ | --------- | ----------------- | ---------------------- |
 * | t4   | IPv4   | transport | AES-CBC+HMAC-SHA2 | the gateways           |
 * | t6   | IPv6   | transport | AES-GCM           | the gateways           |
 * | n4   | IPv4   | tunnel    | AES-GCM           | the hosts behind them  |
 * | n6   | IPv6   | tunnel    | AES-CBC+HMAC-SHA2 | the hosts behind them  |
 *
 * - Before any SA a ping fails (the daemons' policies make the kernel drop it
 *   and ACQUIRE; the hosts reached each other in clear before the daemons
 *   started); once the daemons have negotiated, it passes, and both kernels
 *   hold the same SPIs with the same keys, in the case's mode and algorithm,
 *   with packet counters that rose on both sides.
 * - `kink down n6` on A: the SAs of that peer go at both ends (after the
 *   DELETE grace) and a ping from host A to host B fails; the policies stay,
 *   so that ping's ACQUIRE brings the peer up again on demand.
 * - kill -9 leaves A's SAs and policies in the kernel; the next start removes
 *   every one of them (reconciliation, counted against `ip xfrm`) before
 *   installing its own, and t4 negotiates again.
 * - SIGTERM leaves no SA and no policy behind, on both gateways.
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { runOk } from "../../harness/exec.ts";
import {
  espSkipReason,
  type IpXfrmState,
  parseIpXfrmPolicy,
  parseIpXfrmState,
} from "../../integration/kernel/env.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  type Gateway,
  type GatewayConfigOptions,
  startGateway,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "../../integration/daemon/gateways.ts";

const noEsp = await espSkipReason();

/** One peer entry per case, the same name on both gateways. */
interface Case {
  peer: string;
  family: 4 | 6;
  mode: "transport" | "tunnel";
  proposal: string;
  /** The kernel's algorithm for it, as `ip xfrm state` names it. */
  alg: { kind: "enc" | "aead"; name: string };
}

const CASES: Case[] = [
  {
    peer: "t4",
    family: 4,
    mode: "transport",
    proposal: "esp-aes128-sha256",
    alg: { kind: "enc", name: "cbc(aes)" },
  },
  {
    peer: "t6",
    family: 6,
    mode: "transport",
    proposal: "esp-aes128gcm16",
    alg: { kind: "aead", name: "rfc4106(gcm(aes))" },
  },
  {
    peer: "n4",
    family: 4,
    mode: "tunnel",
    proposal: "esp-aes128gcm16",
    alg: { kind: "aead", name: "rfc4106(gcm(aes))" },
  },
  {
    peer: "n6",
    family: 6,
    mode: "tunnel",
    proposal: "esp-aes256-sha256",
    alg: { kind: "enc", name: "cbc(aes)" },
  },
];

/** The LANs behind the gateways (tunnel cases). */
const LAN = {
  a: { v4: "10.1.0", v6: "fd01:6b69:6e6b:a" },
  b: { v4: "10.2.0", v6: "fd01:6b69:6e6b:b" },
};

/** A second address on the gateways' shared link: the tunnels' outer addresses. */
function tunnelAddr(ns: Netns, family: 4 | 6): string {
  return family === 4
    ? ns.addr4.replace(/\d+$/, (x) => String(Number(x) + 100))
    : ns.addr6.replace(/[0-9a-f]+$/, (x) => (parseInt(x, 16) + 0x100).toString(16));
}

/** The outer (gateway) addresses of a case: [A's, B's]. */
function outer(c: Case, a: Netns, b: Netns): [string, string] {
  if (c.mode === "tunnel") return [tunnelAddr(a, c.family), tunnelAddr(b, c.family)];
  return c.family === 4 ? [a.addr4, b.addr4] : [a.addr6, b.addr6];
}

/** Wires a host namespace behind a gateway: its own veth, no longer on the shared bridge. */
async function wireHost(host: Netns, gw: Netns, lan: { v4: string; v6: string }, far: {
  lan: { v4: string; v6: string };
  via4: string;
  via6: string;
}): Promise<void> {
  const ipn = (ns: Netns, ...a: string[]) => runOk(["ip", "-n", ns.name, ...a]);
  await ipn(host, "link", "del", "eth0");
  await runOk([
    "ip",
    "link",
    "add",
    "lan",
    "netns",
    gw.name,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    host.name,
  ]);
  await ipn(gw, "addr", "add", `${lan.v4}.1/24`, "dev", "lan");
  await ipn(gw, "addr", "add", `${lan.v6}::1/64`, "dev", "lan", "nodad");
  await ipn(gw, "link", "set", "lan", "up");
  await ipn(host, "addr", "add", `${lan.v4}.2/24`, "dev", "eth0");
  await ipn(host, "addr", "add", `${lan.v6}::2/64`, "dev", "eth0", "nodad");
  await ipn(host, "link", "set", "eth0", "up");
  await ipn(host, "route", "add", "default", "via", `${lan.v4}.1`);
  await ipn(host, "-6", "route", "add", "default", "via", `${lan.v6}::1`);
  await gw.runOk(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
  await ipn(gw, "addr", "add", `${tunnelAddr(gw, 4)}/24`, "dev", "eth0");
  await ipn(gw, "addr", "add", `${tunnelAddr(gw, 6)}/64`, "dev", "eth0", "nodad");
  await ipn(gw, "route", "add", `${far.lan.v4}.0/24`, "via", far.via4);
  await ipn(gw, "-6", "route", "add", `${far.lan.v6}::/64`, "via", far.via6);
}

/** One ping (1 s timeout) for a case: gateway to gateway (transport) or host to host (tunnel). */
function ping(c: Case, nss: { a: Netns; b: Netns; ha: Netns }) {
  if (c.mode === "tunnel") {
    const dst = c.family === 4 ? `${LAN.b.v4}.2` : `${LAN.b.v6}::2`;
    return nss.ha.run(["ping", `-${c.family}`, "-c", "1", "-W", "1", dst]);
  }
  const [src, dst] = outer(c, nss.a, nss.b);
  return nss.a.run(["ping", `-${c.family}`, "-c", "1", "-W", "1", "-I", src, dst]);
}

async function states(ns: Netns): Promise<IpXfrmState[]> {
  return parseIpXfrmState(await ns.runOk(["ip", "-s", "xfrm", "state"]));
}

/** The SAs of a case in one kernel (either direction between its outer addresses). */
function ofCase(all: IpXfrmState[], c: Case, a: Netns, b: Netns): IpXfrmState[] {
  const [x, y] = outer(c, a, b);
  return all.filter((s) => (s.src === x && s.dst === y) || (s.src === y && s.dst === x));
}

Deno.test({
  ...skipUnless(
    "daemons on an ESP kernel: IPv4/IPv6 × transport/tunnel × CBC+HMAC/GCM — ping fails before and passes after negotiation, equal keys; kink down stops the traffic; kill -9 then restart reconciles; SIGTERM leaves nothing",
    noEsp,
    realmSkipReason(),
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Where the time goes (printed at the end; the VM tier's budget is tight).
    const laps: string[] = [];
    let t = Date.now();
    const lap = (what: string) => {
      laps.push(`${what} ${((Date.now() - t) / 1000).toFixed(1)} s`);
      t = Date.now();
    };
    await withNetns(5, async ([kdc, a, b, ha, hb]) => {
      const nss = { a: a!, b: b!, ha: ha! };
      // The hosts behind the gateways, wired while the realm is created.
      const wired = (async () => {
        await wireHost(ha!, a!, LAN.a, {
          lan: LAN.b,
          via4: tunnelAddr(b!, 4),
          via6: tunnelAddr(b!, 6),
        });
        await wireHost(hb!, b!, LAN.b, {
          lan: LAN.a,
          via4: tunnelAddr(a!, 4),
          via6: tunnelAddr(a!, 6),
        });
      })();
      wired.catch(() => {}); // awaited below
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
        async (realm) => {
          await wired;
          lap("namespaces, wiring and realm");
          // Without the daemons the hosts reach each other in clear: the wiring works (IPv6's
          // first echo requests may go unanswered while the new links settle).
          for (const c of CASES.filter((c) => c.mode === "tunnel")) {
            await waitFor(`plain ping (${c.peer}) before the daemons`, async () => {
              const r = await ping(c, nss);
              return r.success ? true : undefined;
            }, 20_000);
          }
          const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-vm-" });
          const config = (me: "a" | "b"): GatewayConfigOptions => {
            const mine = me === "a" ? a! : b!;
            const lans = me === "a" ? [LAN.a, LAN.b] : [LAN.b, LAN.a];
            return {
              name: me,
              dir: `${dir}/${me}`,
              realm,
              local: mine.addr4,
              alsoListen: [mine.addr6, tunnelAddr(mine, 4), tunnelAddr(mine, 6)],
              peers: CASES.map((c) => {
                const [oa, ob] = outer(c, a!, b!);
                const [local, remote] = me === "a" ? [oa, ob] : [ob, oa];
                const v = c.family === 4 ? "v4" : "v6";
                const bits = c.family === 4 ? 24 : 64;
                return {
                  name: c.peer,
                  address: remote,
                  localAddress: local,
                  principal: realm.principal(`kink/${me === "a" ? "b" : "a"}.kink.test`),
                  mode: c.mode,
                  proposals: [c.proposal],
                  ...(c.mode === "tunnel"
                    ? {
                      traffic: [{
                        local: `${lans[0]![v]}${c.family === 4 ? ".0" : "::"}/${bits}`,
                        remote: `${lans[1]![v]}${c.family === 4 ? ".0" : "::"}/${bits}`,
                      }],
                    }
                    : {}),
                  extra: ['timers = { delete_grace = "1s" }'],
                };
              }),
            };
          };
          const fa = await writeGatewayConfig(config("a"));
          const fb = await writeGatewayConfig(config("b"));
          const gws: Gateway[] = [];
          try {
            const started = await Promise.all([
              startGateway(a!, fa, "netlink", 120_000),
              startGateway(b!, fb, "netlink", 120_000),
            ]);
            gws.push(...started);
            let [ga, gb] = started as [Gateway, Gateway];
            lap("daemons started");
            const fail = (what: string) => (e: Error) => {
              throw new Error(
                `${what}: ${e.message}\nA's log:\n${ga.log.join("\n")}\nB's log:\n${
                  gb.log.join("\n")
                }`,
              );
            };
            // Waiting on the daemons' logs (in memory) rather than on repeated pings keeps the
            // one vCPU for the daemons while they negotiate.
            const negotiated = async (c: Case, from: [number, number]) => {
              const re = new RegExp(` sa-up peer=${c.peer} `);
              await waitFor(`${c.peer}: sa-up at both ends`, () =>
                Promise.resolve(
                  ga.log.slice(from[0]).some((l) => re.test(l)) &&
                    gb.log.slice(from[1]).some((l) => re.test(l))
                    ? true
                    : undefined,
                ), 90_000).catch(fail(c.peer));
              await waitFor(`${c.peer}: ping through the negotiated SAs`, async () => {
                const r = await ping(c, nss);
                return r.success ? true : undefined;
              }, 20_000).catch(fail(c.peer));
            };

            // Every case at once: no SA, the ping fails (ACQUIRE); then it passes.
            const before = await states(a!);
            await Promise.all(CASES.map(async (c) => {
              assert.equal(ofCase(before, c, a!, b!).length, 0, c.peer);
              const r = await ping(c, nss);
              assert.ok(!r.success, `${c.peer}: a ping passed before any SA:\n${r.stdout}`);
              await negotiated(c, [0, 0]);
            }));
            lap("four negotiations");
            const sa = await states(a!);
            const sb = await states(b!);
            for (const c of CASES) {
              const mine = ofCase(sa, c, a!, b!);
              const theirs = ofCase(sb, c, a!, b!);
              assert.equal(mine.length, 2, `${c.peer}: ${JSON.stringify(mine)}`);
              assert.equal(theirs.length, 2, `${c.peer}: ${JSON.stringify(theirs)}`);
              for (const s of mine) {
                const twin = theirs.find((t) => t.spi === s.spi && t.dst === s.dst);
                assert.ok(twin, `${c.peer}: SPI ${s.spi} on both`);
                assert.deepEqual(twin.algs, s.algs, c.peer); // same algorithm, same key
                assert.equal(s.algs[c.alg.kind]?.[0], c.alg.name, `${c.peer}: ${s.text}`);
                assert.equal(s.mode, c.mode, c.peer);
                // The echo request and reply went through ESP: counters rose at both ends.
                assert.ok((s.packets ?? 0) > 0, `${c.peer}: ${s.text}`);
                assert.ok((twin.packets ?? 0) > 0, `${c.peer}: ${twin.text}`);
              }
            }

            // kink down n6: its SAs go at both ends, and host A no longer reaches host B.
            const n6 = CASES.find((c) => c.peer === "n6")!;
            const marks = (): [number, number] => [ga.log.length, gb.log.length];
            let from = marks();
            const down = await ga.ctl("down", "n6");
            assert.equal(down.code, 0, down.stderr);
            await waitFor("n6: sa-down at both ends", () =>
              Promise.resolve(
                ga.log.slice(from[0]).some((l) => / sa-down peer=n6 /.test(l)) &&
                  gb.log.slice(from[1]).some((l) => / sa-down peer=n6 /.test(l))
                  ? true
                  : undefined,
              ), 30_000).catch(fail("kink down n6"));
            await waitFor("n6: no SA left at either end", async () => {
              const left = ofCase(await states(a!), n6, a!, b!).length +
                ofCase(await states(b!), n6, a!, b!).length;
              return left === 0 ? true : undefined;
            }, 30_000).catch(fail("kink down n6"));
            from = marks();
            const after = await ping(n6, nss);
            assert.ok(!after.success, `a ping passed after kink down:\n${after.stdout}`);
            // The others are untouched.
            assert.ok((await ping(CASES[2]!, nss)).success, "n4 after kink down n6");
            // The policies stay: that ping's ACQUIRE brings n6 up again (on demand, as after
            // strongSwan's terminate of a trap policy).
            await negotiated(n6, from);
            lap("kink down, and n6 again");

            // kill -9: the SAs and policies stay; the next start removes them all first.
            ga.signal("SIGKILL");
            await ga.exited;
            const staleSas = (await states(a!)).length;
            const stalePolicies = parseIpXfrmPolicy(await a!.runOk(["ip", "xfrm", "policy"]))
              .length;
            assert.equal(staleSas, 2 * CASES.length, "one pair per case");
            assert.ok(stalePolicies > 0);
            ga = await startGateway(a!, fa, "netlink", 120_000);
            gws[0] = ga;
            lap("kill -9 and restart");
            assert.ok(
              ga.log.some((l) =>
                l.includes(`reconciled staleSas=${staleSas} stalePolicies=${stalePolicies}`)
              ),
              `expected staleSas=${staleSas} stalePolicies=${stalePolicies}:\n${ga.log.join("\n")}`,
            );
            assert.equal((await states(a!)).length, 0);

            // A new negotiation (B still holds the old pair: A's new epoch tells it A restarted).
            from = [0, gb.log.length];
            const r = await ping(CASES[0]!, nss);
            assert.ok(
              !r.success,
              `t4: a ping passed after the restart before any SA:\n${r.stdout}`,
            );
            await negotiated(CASES[0]!, from);
            lap("t4 after the restart");

            // SIGTERM on both: nothing left.
            for (const gw of gws.splice(0)) {
              assert.equal(await stopGateway(gw, 30_000), 0, gw.log.join("\n"));
            }
            for (const n of [a!, b!]) {
              assert.equal((await n.runOk(["ip", "xfrm", "state"])).trim(), "");
              assert.equal((await n.runOk(["ip", "xfrm", "policy"])).trim(), "");
            }
            lap("SIGTERM");
            console.log(`phases: ${laps.join(", ")}`);
          } finally {
            for (const gw of gws) gw.signal("SIGKILL");
            await Promise.all(gws.map((g) => g.exited));
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
