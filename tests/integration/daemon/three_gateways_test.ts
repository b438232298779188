/**
 * Three `kink daemon` processes in their own namespaces (memory kernel, real
 * MIT KDC in a fourth): gateway A has B and C as peers with `start =
 * "always"`, so it negotiates with both as soon as it starts, without any
 * traffic or `kink up`; B and C only answer. A talks to B over IPv4 and to C
 * over IPv6 (A listens on both).
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
    "daemon: three gateways (IPv4 and IPv6 peers); start = always negotiates with both peers at start, each pair seen the same from both ends",
    netnsSkipReason(),
    realmSkipReason(),
  ),
  async fn() {
    await withNetns(4, async ([kdc, a, b, c]) => {
      await withRealm({
        principals: ["kink/a.kink.test", "kink/b.kink.test", "kink/c.kink.test"],
        netns: kdc!.name,
      }, async (realm) => {
        const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon3-" });
        const gws: Gateway[] = [];
        try {
          const p = (name: string, address: string, start: string) => ({
            name,
            address,
            principal: realm.principal(`kink/${name}.kink.test`),
            start,
          });
          const fb = await writeGatewayConfig({
            name: "b",
            dir: `${dir}/b`,
            realm,
            local: b!.addr4,
            peers: [p("a", a!.addr4, "passive")],
          });
          const fc = await writeGatewayConfig({
            name: "c",
            dir: `${dir}/c`,
            realm,
            local: c!.addr6,
            peers: [p("a", a!.addr6, "passive")],
          });
          const fa = await writeGatewayConfig({
            name: "a",
            dir: `${dir}/a`,
            realm,
            local: a!.addr4,
            alsoListen: [a!.addr6],
            peers: [
              p("b", b!.addr4, "always"),
              { ...p("c", c!.addr6, "always"), localAddress: a!.addr6 },
            ],
          });
          const [gb, gc] = await Promise.all([
            startGateway(b!, fb, "memory", 30_000, ["--log-format", "json"]),
            startGateway(c!, fc, "memory"),
          ]);
          gws.push(gb, gc);
          const ga = await startGateway(a!, fa, "memory");
          gws.push(ga);
          const sa = await waitFor("A: two mature pairs", async () => {
            const s = await ga.status();
            return s.engine.saPairs.filter((x) => x.state === "mature").length === 2
              ? s
              : undefined;
          });
          for (const [gw, name] of [[gb, "b"], [gc, "c"]] as const) {
            const s = await waitFor(`${name}: one mature pair`, async () => {
              const st = await gw.status();
              return st.engine.saPairs.some((x) => x.state === "mature") ? st : undefined;
            });
            const mine = sa.engine.saPairs.find((x) => x.peer === name)!;
            const theirs = s.engine.saPairs[0]!;
            assert.equal(mine.initiator, true);
            assert.equal(theirs.initiator, false);
            assert.deepEqual(mine.inbound, theirs.outbound);
            assert.deepEqual(mine.outbound, theirs.inbound);
            // The kernel SAs are between the addresses of the peer's family.
            const v6 = name === "c";
            for (const k of s.sas) assert.equal(k.src.includes(":"), v6, JSON.stringify(k));
          }
          for (const gw of gws.splice(0)) assert.equal(await stopGateway(gw), 0, gw.log.join("\n"));
          // B logged JSON lines (--log-format json): every line is one object with ts, level, event.
          const events = gb.log.map((l) => JSON.parse(l) as Record<string, unknown>);
          assert.ok(
            events.every((e) => typeof e["ts"] === "string" && typeof e["event"] === "string"),
          );
          assert.ok(
            events.some((e) => e["event"] === "sa-up" && e["peer"] === "a"),
            gb.log.join("\n"),
          );
        } finally {
          for (const gw of gws) gw.signal("SIGKILL");
          await Promise.all(gws.map((g) => g.exited));
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      });
    });
  },
});
