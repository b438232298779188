/**
 * The daemon's log is written asynchronously in batches (core/daemon/log.ts):
 * nothing logged may be lost when SIGTERM stops it. A real `kink daemon`
 * (memory kernel, debug level: one `dropped` line per rejected datagram) in
 * a network namespace receives a stream of junk datagrams from another
 * namespace and is sent SIGTERM the moment the stream ends, while its lines
 * are still being written. Its log must hold one `dropped` line for every
 * datagram the namespace's kernel delivered (its UDP `InDatagrams` counter,
 * not our own figure) and end with `stopped`.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import type { Netns } from "../../harness/netns.ts";
import { startGateway, stopGateway, writeGatewayConfig } from "./gateways.ts";

const N = 3000;

/** UDP datagrams the kernel of `ns` has delivered to sockets (`/proc/net/snmp` read inside it). */
async function inDatagrams(ns: Netns): Promise<number> {
  const out = await ns.spawn(["cat", "/proc/net/snmp"], { stdout: "piped", stderr: "null" })
    .output();
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
    l.startsWith("Udp:")
  );
  const names = lines[0]!.split(/\s+/), vals = lines[1]!.split(/\s+/).map(Number);
  return vals[names.indexOf("InDatagrams")]!;
}

Deno.test({
  ...skipUnless(
    "daemon log: SIGTERM right after a burst of rejected datagrams loses no line (one `dropped` line per datagram the kernel delivered, `stopped` last)",
    netnsSkipReason(),
    realmSkipReason(),
  ),
  async fn() {
    await withNetns(3, async ([kdc, a, b]) => {
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
        async (realm) => {
          const dir = await Deno.makeTempDir({ prefix: "kink-test-logterm-" });
          try {
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
            const gb = await startGateway(b!, fb, "memory");
            const before = await inDatagrams(b!);
            // N datagrams too short for a KINK header, from A's namespace
            const code = `
              const s = Deno.listenDatagram({ transport: "udp", hostname: "${a!.addr4}", port: 0 });
              const junk = new Uint8Array(6);
              for (let i = 0; i < ${N}; i++) {
                await s.send(junk, { transport: "udp", hostname: "${b!.addr4}", port: 910 });
                if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
              }
              s.close();`;
            const sender = a!.spawn([Deno.execPath(), "eval", code], {
              stdout: "null",
              stderr: "inherit",
              env: { NO_COLOR: "1" },
            });
            assert.equal((await sender.status).code, 0);
            const delivered = await inDatagrams(b!) - before;
            assert.equal(await stopGateway(gb), 0, gb.log.slice(-20).join("\n"));
            assert.ok(delivered > N / 2, `only ${delivered} of ${N} datagrams delivered`);
            const dropped = gb.log.filter((l) => / dropped /.test(l)).length;
            assert.equal(dropped, delivered, gb.log.slice(-5).join("\n"));
            assert.match(gb.log.at(-1)!, / stopped /);
            assert.ok(!gb.log.some((l) => / log-dropped /.test(l)));
          } finally {
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
