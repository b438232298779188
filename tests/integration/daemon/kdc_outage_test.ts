/**
 * The KDC goes away and comes back: `kink up` while the KDC does not answer
 * fails with a ticket error the operator sees in `kink status` (the daemon
 * keeps running); once the KDC answers again, `kink up` negotiates.
 * The KDC is stopped with SIGSTOP (so it neither answers nor refuses) and
 * resumed with SIGCONT.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  type Gateway,
  startGateway,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "./gateways.ts";

Deno.test({
  ...skipUnless(
    "daemon: KDC down → kink up fails with a ticket error shown in status; KDC up → kink up negotiates",
    netnsSkipReason(),
    realmSkipReason(),
  ),
  async fn() {
    await withNetns(3, async ([kdc, a, b]) => {
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
        async (realm) => {
          const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-kdc-" });
          const gws: Gateway[] = [];
          let stopped = false;
          try {
            const fa = await writeGatewayConfig({
              name: "a",
              dir: `${dir}/a`,
              realm,
              local: a!.addr4,
              peers: [{
                name: "b",
                address: b!.addr4,
                principal: realm.principal("kink/b.kink.test"),
              }],
            });
            const fb = await writeGatewayConfig({
              name: "b",
              dir: `${dir}/b`,
              realm,
              local: b!.addr4,
              peers: [{
                name: "a",
                address: a!.addr4,
                principal: realm.principal("kink/a.kink.test"),
              }],
            });
            const ga = await startGateway(a!, fa, "memory");
            gws.push(ga);
            const gb = await startGateway(b!, fb, "memory");
            gws.push(gb);

            Deno.kill(realm.kdcPid, "SIGSTOP");
            stopped = true;
            assert.equal((await ga.ctl("up", "b")).code, 0);
            const st = await waitFor("the ticket failure in A's status", async () => {
              const s = await ga.status();
              const p = s.engine.peers.find((x) => x.name === "b") as
                | { lastFailure?: { reason: string; detail: string } }
                | undefined;
              return p?.lastFailure ? p.lastFailure : undefined;
            }, 60_000);
            assert.equal(st.reason, "ticket", JSON.stringify(st));
            assert.match(st.detail, /KDC|unreachable|timeout/i);

            Deno.kill(realm.kdcPid, "SIGCONT");
            stopped = false;
            assert.equal((await ga.ctl("up", "b")).code, 0);
            await waitFor("a mature pair after the KDC is back", async () => {
              const s = await ga.status();
              return s.engine.saPairs.some((x) => x.state === "mature") ? true : undefined;
            }, 60_000);
            for (const gw of gws.splice(0)) {
              assert.equal(await stopGateway(gw), 0, gw.log.join("\n"));
            }
          } finally {
            if (stopped) Deno.kill(realm.kdcPid, "SIGCONT");
            for (const gw of gws) gw.signal("SIGKILL");
            await Promise.all(gws.map((g) => g.exited));
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
