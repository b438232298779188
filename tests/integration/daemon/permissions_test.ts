/**
 * `kink daemon`'s Deno flags, as the launcher computes them from a real
 * configuration (through its read-only helper): they name exactly the
 * configuration's files, directories and addresses (and `peer_networks` on
 * KINK's port only), and a program run under them is refused everything else.
 */
import assert from "node:assert/strict";
import { launchArgs } from "../../../core/cli/launch.ts";
import { LIBC_PATH } from "../../../core/kernel/mod.ts";
import { run } from "../../harness/exec.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { kink, writeGatewayConfig } from "./gateways.ts";

Deno.test({
  ...skipUnless(
    "daemon permissions: computed from the configuration; anything else is denied",
    realmSkipReason(),
  ),
  async fn() {
    await withRealm({ principals: ["kink/a.kink.test", "kink/b.kink.test"] }, async (realm) => {
      const dir = await Deno.makeTempDir({ prefix: "kink-test-daemon-perm-" });
      try {
        const f = await writeGatewayConfig({
          name: "a",
          dir,
          realm,
          local: "127.0.0.1",
          peers: [{
            name: "b",
            address: "127.0.0.2",
            principal: realm.principal("kink/b.kink.test"),
          }],
          daemonExtra: ['metrics_listen = "127.0.0.1:9917"', 'peer_networks = ["127.0.2.0/24"]'],
        });
        const args = launchArgs(["daemon", "--config", f.config, "--kernel", "netlink"]);
        const flags = args.filter((a) => a.startsWith("--allow-"));
        const get = (k: string) =>
          flags.find((x) => x.startsWith(`--allow-${k}=`))?.slice(`--allow-${k}=`.length).split(
            ",",
          ) ?? [];
        assert.deepEqual(
          get("read").sort(),
          [
            f.config,
            realm.krb5Conf,
            `${dir}/state`,
            `${dir}/run`,
            f.keytab,
          ].sort(),
        );
        assert.deepEqual(get("write").sort(), [`${dir}/state`, `${dir}/run`].sort());
        assert.deepEqual(
          get("net").sort(),
          [
            "127.0.0.1:910",
            "127.0.0.2:910",
            `127.0.0.1:${realm.kdc.port}`,
            "127.0.0.1:0",
            "127.0.0.1:9917",
            "127.0.2.0/24:910",
            `unix:${dir}/run/kink.sock`,
          ].sort(),
        );
        assert.deepEqual(get("ffi"), [LIBC_PATH]);
        assert.deepEqual(get("sys"), ["uid"]);
        assert.ok(!flags.some((x) => /^--allow-(run|env|all)\b/.test(x)), flags.join(" "));
        // --kernel memory: no FFI at all.
        const mem = launchArgs(["daemon", "--config", f.config, "--kernel", "memory"]);
        assert.ok(!mem.some((a) => a.startsWith("--allow-ffi")), mem.join(" "));
        // --kernel memory --socket-libc: libc alone, for the KINK sockets' receive path.
        const memLibc = launchArgs([
          "daemon",
          "--config",
          f.config,
          "--kernel",
          "memory",
          "--socket-libc",
        ]);
        assert.deepEqual(
          memLibc.filter((a) => a.startsWith("--allow-ffi")),
          [`--allow-ffi=${LIBC_PATH}`],
        );

        // A program under exactly these flags: what the configuration names is allowed,
        // everything else is refused.
        const probe = `${dir}/probe.ts`;
        await Deno.writeTextFile(
          probe,
          `
const out = {};
const tryIt = async (k, fn) => { try { await fn(); out[k] = "ok"; } catch (e) { out[k] = e.name; } };
await tryIt("readConfig", () => Deno.readTextFile(${JSON.stringify(f.config)}));
await tryIt("readKeytab", () => Deno.readFile(${JSON.stringify(f.keytab)}));
await tryIt("readKdcConf", () => Deno.readTextFile(${JSON.stringify(realm.kdcConf)}));
await tryIt("readEtcShadow", () => Deno.readTextFile("/etc/shadow"));
await tryIt("writeState", () => Deno.writeTextFile(${JSON.stringify(`${dir}/state-probe`)}, "x"));
await tryIt("writeTmp", () => Deno.writeTextFile("/tmp/kink-probe", "x"));
await tryIt("connectElsewhere", () => Deno.connect({ hostname: "127.0.0.3", port: 22 }));
// UDP from the KDC client's bind address: to KINK's port in peer_networks, to another port there.
const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
await tryIt("udpPeerNetwork", () => udp.send(new Uint8Array(1), { transport: "udp", hostname: "127.0.2.77", port: 910 }));
await tryIt("udpPeerNetworkOtherPort", () => udp.send(new Uint8Array(1), { transport: "udp", hostname: "127.0.2.77", port: 911 }));
await tryIt("udpOutsidePeerNetwork", () => udp.send(new Uint8Array(1), { transport: "udp", hostname: "127.0.3.77", port: 910 }));
udp.close();
await tryIt("openOtherLib", () => Deno.dlopen("/lib/x86_64-linux-gnu/libm.so.6", {}));
await tryIt("run", () => new Deno.Command("true").output());
await tryIt("env", () => Deno.env.get("HOME"));
console.log(JSON.stringify(out));
`,
        );
        const flagsWithProbe = flags.map((x) =>
          x.startsWith("--allow-read=") ? `${x},${probe}` : x
        );
        const r = await run([
          Deno.execPath(),
          "run",
          "--quiet",
          "--no-prompt",
          "--unstable-net", // the daemon's flags carry it too (UDP sockets)
          ...flagsWithProbe,
          probe,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const got = JSON.parse(r.stdout) as Record<string, string>;
        assert.equal(got["readConfig"], "ok");
        assert.equal(got["readKeytab"], "ok");
        assert.equal(got["udpPeerNetwork"], "ok", JSON.stringify(got));
        for (
          const k of [
            "readKdcConf",
            "readEtcShadow",
            "writeState",
            "writeTmp",
            "connectElsewhere",
            "udpPeerNetworkOtherPort",
            "udpOutsidePeerNetwork",
            "openOtherLib",
            "run",
            "env",
          ]
        ) {
          assert.equal(got[k], "NotCapable", `${k}: ${JSON.stringify(got)}`);
        }
        // An invalid configuration: read access to itself only, and every problem reported
        // on its own line with file, line and key; exit 1.
        const bad = `${dir}/bad.toml`;
        await Deno.writeTextFile(bad, '[daemon]\nlisten = ["127.0.0.1:99999"]\n');
        const badFlags = launchArgs(["daemon", "--config", bad]).filter((a) =>
          a.startsWith("--allow-")
        );
        assert.deepEqual(badFlags, [`--allow-read=${bad}`]);
        const r2 = await kink("daemon", "--config", bad);
        assert.equal(r2.code, 1, r2.stderr);
        assert.match(r2.stderr, /bad\.toml:2: daemon\.listen\[0\]: port in "127\.0\.0\.1:99999"/);
        assert.match(r2.stderr, /^ {2}.*bad\.toml: identity: is required$/m);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
