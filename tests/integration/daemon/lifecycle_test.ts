/**
 * A `kink daemon`'s life on the host kernel: reload (valid and invalid
 * configurations, over the control socket and SIGHUP), and with
 * `--kernel netlink` its policies are real kernel policies in its namespace
 * (the host kernel has no ESP, so no SA is negotiated here; policies,
 * ACQUIRE and ownership are real): SIGTERM removes every policy it
 * installed and none it did not; after kill -9 the next start finds and
 * removes the stale ones before installing its own.
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { type Realm, withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { sleep } from "../../harness/exec.ts";
import {
  type GatewayFiles,
  startGateway,
  stopGateway,
  waitFor,
  writeGatewayConfig,
} from "./gateways.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

async function withOne(
  fn: (ctx: { realm: Realm; a: Netns; b: Netns; fa: GatewayFiles }) => Promise<void>,
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
            daemonExtra: ['metrics_listen = "127.0.0.1:9917"'],
            peers: [{
              name: "b",
              address: b!.addr4,
              principal: realm.principal("kink/b.kink.test"),
            }],
          });
          await fn({ realm, a: a!, b: b!, fa });
        } finally {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
}

Deno.test({
  ...skipUnless(
    "daemon: metrics over HTTP; an invalid configuration on reload (kink reload, SIGHUP) is refused with its errors and the running one stays",
    ...skip,
  ),
  async fn() {
    await withOne(async ({ a, fa }) => {
      const gw = await startGateway(a, fa, "memory");
      try {
        const good = await Deno.readTextFile(fa.config);
        // Metrics over HTTP on the loopback address of its namespace (Deno.serve).
        const scrape = await a.run([
          Deno.execPath(),
          "eval",
          'const r = await fetch("http://127.0.0.1:9917/metrics"); console.log(r.status, r.headers.get("content-type")); console.log(await r.text());',
        ]);
        assert.equal(scrape.code, 0, scrape.stderr);
        assert.match(scrape.stdout, /^200 text\/plain; version=0\.0\.4/);
        assert.match(scrape.stdout, /^kink_peers\{state="unknown"\} 1$/m);
        // Unchanged: accepted.
        const ok = await gw.ctl("reload");
        assert.equal(ok.code, 0, ok.stderr);
        // Log level only: applied.
        await Deno.writeTextFile(
          fa.config,
          good.replace('log_level = "debug"', 'log_level = "info"'),
        );
        const lvl = await gw.ctl("reload");
        assert.equal(lvl.code, 0, lvl.stderr);
        assert.ok(gw.log.some((l) => /reloaded .*logLevel=info/.test(l)), gw.log.join("\n"));
        // A changed peer: applied to that peer alone (reload_test.ts checks the SAs).
        await Deno.writeTextFile(fa.config, good.replace(/^lifetime = .*$/m, 'lifetime = "2h"'));
        const peerChange = await gw.ctl("reload");
        assert.equal(peerChange.code, 0, peerChange.stderr);
        assert.ok(gw.log.some((l) => /reloaded .*recreated=b/.test(l)), gw.log.join("\n"));
        // A changed identity: refused (keys are loaded at start), nothing changes.
        await Deno.writeTextFile(
          fa.config,
          good.replace(/(\[identity\]\nprincipal = ")kink\/a/, "$1kink/z"),
        );
        const idChange = await gw.ctl("reload");
        assert.equal(idChange.code, 1);
        assert.match(idChange.stderr, /\[identity\] changed: that needs a restart/);
        // Invalid: refused with file:line: key.
        await Deno.writeTextFile(fa.config, good.replace(/^mode = .*$/m, 'mode = "sideways"'));
        const bad = await gw.ctl("reload");
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /kink\.toml:\d+: peer\[0\]\.mode: must be one of/);
        gw.signal("SIGHUP");
        await waitFor("reload-rejected after SIGHUP", () =>
          Promise.resolve(
            gw.log.filter((l) => /reload-rejected/.test(l)).length >= 2 ? true : undefined,
          ));
        // Still running with the old configuration.
        const st = await gw.status();
        assert.deepEqual(st.engine.peers.map((p) => p.name), ["b"]);
        assert.equal(st.kernel.policies, 6);
        await Deno.writeTextFile(fa.config, good);
        assert.equal(await stopGateway(gw), 0);
      } finally {
        gw.signal("SIGKILL");
        await gw.exited;
      }
    });
  },
});

async function ownedPolicies(ns: Netns): Promise<string[]> {
  const out = await ns.runOk(["ip", "xfrm", "policy", "list"]);
  return out.split(/\n(?=src )/).filter((p) => /reqid 12630753\d\d|dport 910|sport 910/.test(p));
}

Deno.test({
  ...skipUnless(
    "daemon (netlink kernel): policies installed for real, ACQUIRE reaches the daemon, SIGTERM removes its own and only its own; kill -9 then restart reconciles",
    ...skip,
  ),
  async fn() {
    await withOne(async ({ a, b, fa }) => {
      // A foreign policy the daemon must never touch.
      await a.runOk([
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "192.0.2.1/32",
        "dst",
        "192.0.2.2/32",
        "dir",
        "out",
        "priority",
        "5",
        "action",
        "allow",
      ]);
      let gw = await startGateway(a, fa, "netlink");
      try {
        const pols = await ownedPolicies(a);
        assert.equal(pols.length, 6, pols.join("\n"));
        assert.ok(
          pols.some((p) =>
            /tmpl src 0\.0\.0\.0 dst 0\.0\.0\.0\s+proto esp reqid 1263075329 mode transport/.test(p)
          ),
          pols.join("\n"),
        );
        // Traffic to the peer makes the kernel ACQUIRE; the daemon receives the event and starts
        // a CREATE.
        await a.run(["ping", "-c", "1", "-W", "1", b.addr4]);
        const st = await waitFor("kernel event", async () => {
          const s = await gw.status();
          return (s.driver["kernelEvents"] ?? 0) > 0 ? s : undefined;
        }).catch((e) => {
          throw new Error(`${e}\n${gw.log.join("\n")}`);
        });
        // The host kernel has no ESP: the CREATE the ACQUIRE started fails installing its SA,
        // and the daemon says so (and keeps running).
        await waitFor("the CREATE's kernel failure in the log", () =>
          Promise.resolve(
            gw.log.some((l) => /exchange-failed peer=b .*command=CREATE reason=kernel/.test(l))
              ? true
              : undefined,
          ));
        assert.equal(st.kernel.backend, "netlink");

        assert.equal(await stopGateway(gw), 0, gw.log.join("\n"));
        assert.deepEqual(await ownedPolicies(a), []);
        assert.match(
          await a.runOk(["ip", "xfrm", "policy", "list"]),
          /src 192\.0\.2\.1\/32 dst 192\.0\.2\.2\/32/,
        );

        // kill -9: the policies stay behind…
        gw = await startGateway(a, fa, "netlink");
        gw.signal("SIGKILL");
        await gw.exited;
        await sleep(300);
        assert.equal((await ownedPolicies(a)).length, 6);
        // …and the next start removes them before installing its own (once, not twice).
        gw = await startGateway(a, fa, "netlink");
        assert.ok(gw.log.some((l) => /reconciled .*stalePolicies=6/.test(l)), gw.log.join("\n"));
        assert.equal((await ownedPolicies(a)).length, 6);
        assert.equal(await stopGateway(gw), 0);
        assert.deepEqual(await ownedPolicies(a), []);
        assert.match(await a.runOk(["ip", "xfrm", "policy", "list"]), /src 192\.0\.2\.1\/32/);
      } finally {
        gw.signal("SIGKILL");
        await gw.exited;
      }
    });
  },
});
