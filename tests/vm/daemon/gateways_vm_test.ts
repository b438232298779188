/**
 * Two `kink daemon` processes (started through the CLI launcher, netlink
 * kernel) on a kernel with ESP: transport mode between the gateways with
 * AES-CBC + HMAC-SHA-256, a real MIT KDC in a third namespace.
 *
 * - Before any SA, A's ping to B triggers the kernel's ACQUIRE; once the
 *   daemons have negotiated, the ping passes and both kernels hold the
 *   same SPIs with the same keys.
 * - kill -9 leaves A's SAs and policies in the kernel; the next start
 *   removes every one of them (reconciliation) before installing its own.
 * - SIGTERM leaves no SA and no policy behind.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { espSkipReason, parseIpXfrmState } from "../../integration/kernel/env.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  startGateway,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "../../integration/daemon/gateways.ts";

const noEsp = await espSkipReason();

Deno.test({
  ...skipUnless(
    "daemons on an ESP kernel: ACQUIRE → SAs with equal keys, ping passes; kill -9 then restart reconciles; SIGTERM leaves nothing",
    noEsp,
    realmSkipReason(),
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withNetns(3, async ([kdc, a, b]) => {
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
        async (realm) => {
          const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-vm-" });
          const peer = (name: string, address: string, p: string) => ({
            name,
            address,
            principal: realm.principal(p),
            proposals: ["esp-aes128-sha256"],
          });
          const fa = await writeGatewayConfig({
            name: "a",
            dir: `${dir}/a`,
            realm,
            local: a!.addr4,
            peers: [peer("b", b!.addr4, "kink/b.kink.test")],
          });
          const fb = await writeGatewayConfig({
            name: "b",
            dir: `${dir}/b`,
            realm,
            local: b!.addr4,
            peers: [peer("a", a!.addr4, "kink/a.kink.test")],
          });
          let ga = await startGateway(a!, fa, "netlink", 120_000);
          const gb = await startGateway(b!, fb, "netlink", 120_000);
          try {
            // The first packets fall on the policy with no SA: ACQUIRE, CREATE, then traffic.
            await waitFor("ping through the negotiated SAs", async () => {
              const r = await a!.run(["ping", "-c", "1", "-W", "1", b!.addr4]);
              return r.success ? true : undefined;
            }, 90_000);
            const sa = parseIpXfrmState(await a!.runOk(["ip", "xfrm", "state"]));
            const sb = parseIpXfrmState(await b!.runOk(["ip", "xfrm", "state"]));
            assert.equal(sa.length, 2, JSON.stringify(sa));
            for (const s of sa) {
              const twin = sb.find((t) => t.spi === s.spi && t.dst === s.dst);
              assert.ok(twin, `SPI ${s.spi} on both`);
              assert.deepEqual(twin.algs, s.algs);
              assert.equal(s.algs.enc?.[0], "cbc(aes)");
            }

            // kill -9: the SAs and policies stay; the next start removes them all first.
            ga.signal("SIGKILL");
            await ga.exited;
            assert.equal(parseIpXfrmState(await a!.runOk(["ip", "xfrm", "state"])).length, 2);
            ga = await startGateway(a!, fa, "netlink", 120_000);
            assert.ok(
              ga.log.some((l) => /reconciled staleSas=2 stalePolicies=6/.test(l)),
              ga.log.join("\n"),
            );
            assert.equal(parseIpXfrmState(await a!.runOk(["ip", "xfrm", "state"])).length, 0);

            // A new negotiation (B still holds the old pair: A's new epoch tells it A restarted).
            await waitFor("ping after the restart", async () => {
              const r = await a!.run(["ping", "-c", "1", "-W", "1", b!.addr4]);
              return r.success ? true : undefined;
            }, 90_000);

            // SIGTERM on both: nothing left.
            assert.equal(await stopGateway(ga, 30_000), 0, ga.log.join("\n"));
            assert.equal(await stopGateway(gb, 30_000), 0, gb.log.join("\n"));
            for (const n of [a!, b!]) {
              assert.equal((await n.runOk(["ip", "xfrm", "state"])).trim(), "");
              assert.equal((await n.runOk(["ip", "xfrm", "policy"])).trim(), "");
            }
          } finally {
            ga.signal("SIGKILL");
            gb.signal("SIGKILL");
            await Promise.all([ga.exited, gb.exited]);
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
