/**
 * Two real `kink daemon` processes, each started through the CLI launcher
 * (so under the Deno flags it computes from the configuration) in its own
 * network namespace, with a real MIT KDC in a third namespace, talking KINK
 * over real UDP on the namespaces' bridge.
 *
 * Kernel: `--kernel memory` (the host kernel has no ESP, so the SAs live in
 * the daemon's in-memory kernel); the test with `--kernel netlink` installs
 * real policies in the namespace's kernel and checks that SIGTERM and a
 * restart after kill -9 leave none of the daemon's behind and never touch a
 * foreign one.
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { type Realm, withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  type Gateway,
  type GatewayFiles,
  startGateway,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "./gateways.ts";
import { keysFromCapture, keysInLog, startCapture } from "./leak.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

async function withTwo(
  fn: (
    ctx: { realm: Realm; a: Netns; b: Netns; fa: GatewayFiles; fb: GatewayFiles; dir: string },
  ) => Promise<void>,
  peerExtra: { proposals?: string[] } = {},
): Promise<void> {
  await withNetns(3, async ([kdc, a, b]) => {
    await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
      async (realm) => {
        const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-" });
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
              ...peerExtra,
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
              ...peerExtra,
            }],
          });
          await fn({ realm, a: a!, b: b!, fa, fb, dir });
        } finally {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
}

async function mature(gw: Gateway, n = 1) {
  return await waitFor(`${gw.name}: ${n} mature SA pair(s)`, async () => {
    const s = await gw.status();
    const m = s.engine.saPairs.filter((p) => p.state === "mature");
    return m.length >= n && s.engine.transactions.length === 0 ? s : undefined;
  });
}

Deno.test({
  ...skipUnless(
    "daemon: kink up → CREATE end to end; both statuses show the same SPIs; rekey; down; SIGTERM exits 0 and removes everything; no key in any log",
    ...skip,
  ),
  async fn() {
    await withTwo(async ({ a, b, fa, fb, dir }) => {
      const cap = await startCapture(a, `${dir}/kink.pcapng`);
      const ga = await startGateway(a, fa, "memory");
      const gb = await startGateway(b, fb, "memory");
      let stopped = false;
      try {
        const up = await ga.ctl("up", "b");
        assert.equal(up.code, 0, up.stderr);
        const sa = await mature(ga);
        const sb = await mature(gb);
        const pa = sa.engine.saPairs[0]!, pb = sb.engine.saPairs[0]!;
        assert.equal(pa.initiator, true);
        assert.equal(pb.initiator, false);
        // A's inbound is B's outbound and the other way round.
        assert.deepEqual(pa.inbound, pb.outbound);
        assert.deepEqual(pa.outbound, pb.inbound);
        // The kernel holds the SAs on both sides with the same SPIs and algorithms.
        const spis = (s: typeof sa) => s.sas.map((x) => `${x.dir} ${x.spi}`).sort();
        assert.deepEqual(
          spis(sa),
          [
            `in ${pa.inbound[0]!.spi}`,
            `out ${pa.outbound[0]!.spi}`,
          ].sort(),
        );
        assert.deepEqual(
          sb.sas.map((x) => x.spi).sort(),
          sa.sas.map((x) => x.spi).sort(),
        );
        assert.deepEqual(sa.sas.map((x) => x.algorithms), sb.sas.map((x) => x.algorithms));

        // Readable status names the peer and the SPIs.
        const table = await ga.ctl("status");
        assert.equal(table.code, 0, table.stderr);
        assert.match(table.stdout, /^Peers:/m);
        assert.ok(table.stdout.includes(`0x${pa.inbound[0]!.spi.toString(16).padStart(8, "0")}`));

        // Rekey: a second pair comes up.
        assert.equal((await ga.ctl("rekey", "b")).code, 0);
        await waitFor("rekeyed pair", async () => {
          const s = await gb.status();
          return s.engine.saPairs.length >= 2 ? s : undefined;
        });

        // Metrics over the control socket.
        const m = await ga.ctl("metrics");
        assert.equal(m.code, 0, m.stderr);
        assert.match(m.stdout, /^# TYPE kink_sa_pairs gauge$/m);

        // Down: every outbound SA goes at once on both sides (inbound ones after the grace).
        assert.equal((await ga.ctl("down", "b")).code, 0);
        for (const gw of [ga, gb]) {
          await waitFor(`${gw.name}: no outbound SA`, async () => {
            const s = await gw.status();
            return s.sas.every((x) => x.dir === "in") &&
                s.engine.saPairs.every((p) => p.state === "dying")
              ? true
              : undefined;
          });
        }
        // An unknown peer is refused with a clear error.
        const bad = await ga.ctl("up", "nobody");
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /no peer named "nobody"/);

        const codeA = await stopGateway(ga);
        const codeB = await stopGateway(gb);
        stopped = true;
        assert.equal(codeA, 0, ga.log.join("\n"));
        assert.equal(codeB, 0, gb.log.join("\n"));
        for (const gw of [ga, gb]) {
          assert.ok(
            gw.log.some((l) => /\bstopped\b.*removedPolicies=6/.test(l)),
            gw.log.join("\n"),
          );
          // The control socket and its token are gone.
          await assert.rejects(Deno.stat(gw.socket));
          await assert.rejects(Deno.stat(`${gw.socket}.token`));
        }
        // Key leak check: the exchange decoded from the wire with both keytabs gives the
        // ticket session keys and every SA key; none appears in either daemon's log.
        await cap.stop();
        const { keys, lines } = await keysFromCapture(cap.file, [fa.keytab, fb.keytab]);
        assert.ok(
          lines.some((l) => (l["cksum"] as { status?: string })?.status === "verified"),
          JSON.stringify(lines).slice(0, 2000),
        );
        assert.ok(keys.length >= 4, `keys recovered from the capture: ${keys.length}`);
        assert.deepEqual(keysInLog([...ga.log, ...gb.log], keys), []);
      } finally {
        if (!stopped) {
          ga.signal("SIGKILL");
          gb.signal("SIGKILL");
          await ga.exited;
          await gb.exited;
        }
      }
    });
  },
});
