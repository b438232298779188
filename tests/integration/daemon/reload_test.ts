/**
 * SIGHUP applies a changed peer list peer by peer, with real `kink daemon`
 * processes (memory kernel) in their own namespaces and a real MIT KDC:
 * gateway A starts with B and C (`start = "always"`) and an idle peer X at an
 * unused address; its configuration then changes C's proposals, removes X and
 * adds D at an address its first configuration did not name. After SIGHUP, B
 * keeps its SPIs at both ends (untouched), C's pair is replaced by one under
 * the new proposal, D negotiates, and A's kernel holds D's policies instead of
 * X's. The daemon's --allow-net is computed at start: D's address is reachable
 * because A's `[daemon] peer_networks` names the namespaces' IPv4 network; a
 * peer outside it, and one at a new IPv6 address (Deno's --allow-net has no
 * IPv6 ranges), are refused on reload with a message that says what would
 * allow them, and nothing changes.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  type Gateway,
  startGateway,
  type StatusJson,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "./gateways.ts";

function pairOf(st: StatusJson, peer: string): string | undefined {
  const p = st.engine.saPairs.find((x) => x.peer === peer && x.state === "mature");
  return p
    ? `${p.inbound.map((s) => s.spi).join(",")}/${p.outbound.map((s) => s.spi).join(",")}`
    : undefined;
}

Deno.test({
  ...skipUnless(
    "daemon: SIGHUP with one peer changed and one added — the untouched peer keeps its SPIs at both ends, the changed one is re-created under its new proposal, the added one negotiates",
    netnsSkipReason(),
    realmSkipReason(),
  ),
  async fn() {
    await withNetns(5, async ([kdc, a, b, c, d]) => {
      await withRealm({
        principals: [
          "kink/a.kink.test",
          "kink/b.kink.test",
          "kink/c.kink.test",
          "kink/d.kink.test",
        ],
        netns: kdc!.name,
      }, async (realm) => {
        const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-reload-" });
        const gws: Gateway[] = [];
        try {
          const p = (name: string, address: string, start: string, proposals?: string[]) => ({
            name,
            address,
            principal: realm.principal(`kink/${name}.kink.test`),
            start,
            ...(proposals ? { proposals } : {}),
          });
          const responders = await Promise.all(
            ([["b", b!], ["c", c!], ["d", d!]] as const).map(async ([name, ns]) =>
              startGateway(
                ns,
                await writeGatewayConfig({
                  name,
                  dir: `${dir}/${name}`,
                  realm,
                  local: ns.addr4,
                  peers: [p("a", a!.addr4, "passive")],
                }),
                "memory",
              )
            ),
          );
          gws.push(...responders);
          const [gb, gc, gd] = responders as [Gateway, Gateway, Gateway];
          // The namespaces' IPv4 network (10.77.<k>.0/24); X sits at an address of it nobody
          // uses, so D's address appears in A's configuration only with the reload.
          const net24 = a!.addr4.replace(/\.\d+$/, "");
          const xAddr = `${net24}.200`;
          const aCfg = (peers: (ReturnType<typeof p> & { localAddress?: string })[]) =>
            writeGatewayConfig({
              name: "a",
              dir: `${dir}/a`,
              realm,
              local: a!.addr4,
              alsoListen: [a!.addr6],
              peers,
              daemonExtra: [`peer_networks = ["${net24}.0/24"]`],
            });
          const fa = await aCfg([
            p("b", b!.addr4, "always"),
            p("c", c!.addr4, "always"),
            { ...p("x", xAddr, "on-demand"), principal: realm.principal("kink/x.kink.test") },
          ]);
          const ga = await startGateway(a!, fa, "memory");
          gws.push(ga);
          const before = await waitFor("A: pairs with B and C", async () => {
            const s = await ga.status();
            return pairOf(s, "b") && pairOf(s, "c") ? s : undefined;
          });
          const bSpis = pairOf(before, "b")!;
          const cSpis = pairOf(before, "c")!;
          const bSide = pairOf(await gb.status(), "a");
          const policiesBefore = before.kernel.policies;
          const cAlgBefore = before.sas.filter((s) => s.dst === c!.addr4).map((s) => s.algorithms);
          assert.ok(
            cAlgBefore.every((x) => x.some((y) => /gcm/.test(y))),
            JSON.stringify(cAlgBefore),
          );

          // A peer outside peer_networks, and one at a new IPv6 address: refused, each with
          // what would allow it; nothing changes.
          for (
            const [y, why] of [
              [p("y", "198.51.100.9", "always"), /198\.51\.100\.9:910: .*peer_networks/],
              [
                { ...p("y", "fd00:6b69:6e6b:ff::9", "always"), localAddress: a!.addr6 },
                /\[fd00:6b69:6e6b:ff::9\]:910: .*no IPv6 ranges/,
              ],
            ] as const
          ) {
            await aCfg([
              p("b", b!.addr4, "always"),
              p("c", c!.addr4, "always"),
              { ...p("x", xAddr, "on-demand"), principal: realm.principal("kink/x.kink.test") },
              y,
            ]);
            const refused = await ga.ctl("reload");
            assert.equal(refused.code, 1, refused.stdout);
            assert.match(refused.stderr, /no network permission for /);
            assert.match(refused.stderr, why);
            assert.equal(pairOf(await ga.status(), "c"), cSpis);
          }

          // C: CBC + HMAC-SHA-256 only from now on; X removed; D added at X's address.
          await aCfg([
            p("b", b!.addr4, "always"),
            p("c", c!.addr4, "always", ["esp-aes256-sha256"]),
            p("d", d!.addr4, "always"),
          ]);
          ga.signal("SIGHUP");
          const after = await waitFor("A: C re-created, D up, the old C pair gone", async () => {
            const s = await ga.status();
            const cNow = pairOf(s, "c");
            return cNow && cNow !== cSpis && pairOf(s, "d") &&
                !s.engine.saPairs.some((x) => x.peer === "c" && x.state === "dying")
              ? s
              : undefined;
          }, 30_000).catch((e) => {
            throw new Error(`${e.message}\nA's log:\n${ga.log.join("\n")}`);
          });
          assert.ok(
            ga.log.some((l) =>
              /reloaded .*added=d .*removed=x .*recreated=c .*unchanged=b/.test(l)
            ),
            ga.log.join("\n"),
          );
          // B untouched, at both ends.
          assert.equal(pairOf(after, "b"), bSpis);
          assert.equal(pairOf(await gb.status(), "a"), bSide);
          assert.equal(after.engine.saPairs.filter((x) => x.peer === "b").length, 1);
          // C: one pair, under the new proposal, seen the same from C.
          const cAlg = after.sas.filter((s) => s.dst === c!.addr4).map((s) => s.algorithms);
          assert.ok(
            cAlg.length > 0 && cAlg.every((x) => x.some((y) => /cbc\(aes\) 256-bit/.test(y))),
            JSON.stringify(cAlg),
          );
          const cSide = await waitFor("C: only the new pair", async () => {
            const s = await gc.status();
            return s.engine.saPairs.length === 1 && pairOf(s, "a") ? s : undefined;
          });
          const mine = after.engine.saPairs.find((x) => x.peer === "c" && x.state === "mature")!;
          assert.deepEqual(cSide.engine.saPairs[0]!.inbound, mine.outbound);
          // D, at an address A's first configuration did not name: negotiated (A sent it a
          // CREATE and got its REPLY); its policies replace X's (6 per transport-mode peer:
          // the ESP pair and 4 UDP 910 bypasses).
          assert.ok(pairOf(await gd.status(), "a"));
          assert.ok(after.sas.some((s) => s.dst === d!.addr4), JSON.stringify(after.sas));
          assert.equal(after.kernel.policies, policiesBefore);
          assert.ok(
            ga.log.some((l) => /policies-changed removed=6 added=6/.test(l)),
            ga.log.join("\n"),
          );
          for (const gw of gws.splice(0)) assert.equal(await stopGateway(gw), 0, gw.log.join("\n"));
        } finally {
          for (const gw of gws) gw.signal("SIGKILL");
          await Promise.all(gws.map((g) => g.exited));
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      });
    });
  },
});
