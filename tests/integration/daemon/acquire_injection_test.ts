/**
 * The test-and-benchmark switch `daemon.inject_acquires` (how bench:load
 * starts exchanges) and the control socket's `probe` (a STATUS exchange):
 * two real `kink daemon` processes in network namespaces, a real MIT KDC,
 * real UDP.
 *
 * - With the switch and `--kernel memory`, `acquire` sends a packet of the
 *   flow through the daemon's in-memory kernel: its policy raises an ACQUIRE
 *   and both daemons end with one SA pair; the same flow again is protected
 *   (no ACQUIRE). Without the switch the command is refused; with the
 *   netlink kernel the daemon refuses to start.
 * - `probe` makes the initiator send one STATUS and the responder answer it.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { controlCall } from "./control_call.ts";
import { startGateway, stopGateway, waitFor, writeGatewayConfig } from "./gateways.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

Deno.test({
  ...skipUnless(
    "daemon inject_acquires: `acquire` raises a kernel ACQUIRE that brings up one SA pair on both daemons; refused without the switch and with the netlink kernel; `probe` is one STATUS exchange",
    ...skip,
  ),
  async fn() {
    await withNetns(3, async ([kdc, a, b]) => {
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
        async (realm) => {
          const dir = await Deno.makeTempDir({ prefix: "kink-test-acquire-" });
          try {
            const cfg = (name: "a" | "b", extra: string[]) =>
              writeGatewayConfig({
                name,
                dir: `${dir}/${name}`,
                realm,
                local: name === "a" ? a!.addr4 : b!.addr4,
                peers: [{
                  name: name === "a" ? "b" : "a",
                  address: name === "a" ? b!.addr4 : a!.addr4,
                  principal: realm.principal(`kink/${name === "a" ? "b" : "a"}.kink.test`),
                }],
                daemonExtra: extra,
              });
            // the netlink kernel with the switch: refused at start, naming the key
            const fn = await cfg("a", ["inject_acquires = true"]);
            await assert.rejects(
              () => startGateway(a!, fn, "netlink"),
              /inject_acquires/,
            );
            const fa = await cfg("a", ["inject_acquires = true"]);
            const fb = await cfg("b", []);
            const ga = await startGateway(a!, fa, "memory");
            const gb = await startGateway(b!, fb, "memory");
            try {
              const flow = { src: a!.addr4, dst: b!.addr4, proto: 6, sport: 40000, dport: 22 };
              const r1 = await controlCall(fa.socket, "acquire", { flows: [flow] }) as {
                acquires: number;
              };
              assert.equal(r1.acquires, 1);
              for (const gw of [ga, gb]) {
                await waitFor(`${gw.name}: one mature pair`, async () => {
                  const s = await gw.status();
                  const m = s.engine.saPairs.filter((p) => p.state === "mature");
                  return m.length === 1 && s.kernel.sas === 2 ? s : undefined;
                });
              }
              const r2 = await controlCall(fa.socket, "acquire", { flows: [flow] }) as {
                acquires: number;
              };
              assert.equal(r2.acquires, 0, "the flow is protected now: no ACQUIRE");
              // B has no switch: refused, with the reason
              await assert.rejects(
                () => controlCall(fb.socket, "acquire", { flows: [flow] }),
                /DaemonError: .*inject_acquires/,
              );
              // probe: one STATUS from A, answered by B
              const counters = async () =>
                ((await ga.status()).engine as unknown as { counters: Record<string, number> })
                  .counters;
              const before = await counters();
              await controlCall(fa.socket, "probe", { peer: "b" });
              const after = await waitFor("A: the STATUS REPLY", async () => {
                const c = await counters();
                return (c["received"] ?? 0) > (before["received"] ?? 0) ? c : undefined;
              });
              assert.equal((after["sent"] ?? 0) - (before["sent"] ?? 0), 1, "one STATUS sent");
              assert.equal((after["received"] ?? 0) - (before["received"] ?? 0), 1);
              assert.ok(!ga.log.some((l) => l.includes("exchange-failed")), ga.log.join("\n"));
              await assert.rejects(
                () => controlCall(fa.socket, "probe", { peer: "nobody" }),
                /no peer named/,
              );
            } finally {
              await stopGateway(ga);
              await stopGateway(gb);
            }
          } finally {
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
