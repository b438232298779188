/**
 * KDC addresses in every krb5.conf form — host name, IPv4, IPv6, `tcp/` and
 * `udp/` prefixes — against a live MIT KDC, under exactly the permissions
 * the launcher grants `kink ticket`, and through the library with the
 * permissions a resolved name needs (issue 10 point 1: a host name over UDP
 * used to end the process with an uncaught RangeError from a socket callback).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { withRealm } from "../../harness/krb5_realm.ts";
import { run } from "../../harness/exec.ts";
import { launchArgs } from "../../../core/cli/launch.ts";

function kink(args: string[]) {
  return run(["deno", ...launchArgs(args)]);
}

/** UDP and TCP on [::1]:port relayed to the KDC on 127.0.0.1 (it listens on IPv4 only). */
async function v6Relay(kdcPort: number): Promise<{ port: number; close(): void }> {
  const tcp = net.createServer((c) => {
    const up = net.connect(kdcPort, "127.0.0.1");
    c.pipe(up).pipe(c);
    const end = () => (c.destroy(), up.destroy());
    c.on("error", end);
    up.on("error", end);
  });
  await new Promise<void>((r) => tcp.listen(0, "::1", () => r()));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket("udp6");
  udp.on("message", (m, from) => {
    const up = dgram.createSocket("udp4");
    up.on("message", (reply) => {
      udp.send(reply, from.port, from.address);
      up.close();
    });
    up.bind(0, "127.0.0.1", () => up.send(m, kdcPort, "127.0.0.1"));
  });
  await new Promise<void>((r) => udp.bind(port, "::1", () => r()));
  return { port, close: () => (tcp.close(), udp.close()) };
}

Deno.test("kink ticket: every KDC address form against a live KDC, with the launcher's permissions", async (t) => {
  await withRealm({ principals: ["kink/a.kink.test", "kink/b.kink.test"] }, async (realm) => {
    const relay = await v6Relay(realm.kdc.port);
    try {
      const P = realm.kdc.port, R = relay.port;
      const base = [
        "ticket",
        "--keytab",
        realm.keytab("kink/a.kink.test"),
        "--client",
        "kink/a.kink.test",
        "--service",
        "kink/b.kink.test",
        "--krb5-conf",
        realm.krb5Conf,
      ];
      for (
        const spec of [
          `localhost:${P}`,
          `tcp/localhost:${P}`,
          `127.0.0.1:${P}`,
          `tcp/127.0.0.1:${P}`,
          `[::1]:${R}`,
          `tcp/[::1]:${R}`,
        ]
      ) {
        await t.step(`--kdc ${spec}`, async () => {
          const r = await kink([...base, "--kdc", spec]);
          assertEquals(r.code, 0, r.stderr);
          assert(/^service {2}kink\/b\.kink\.test@KINK\.TEST$/m.test(r.stdout), r.stdout);
          assert(!/Uncaught|RangeError|at .*\.ts:/.test(r.stderr), r.stderr);
        });
      }

      await t.step(
        "kdc = localhost:PORT in krb5.conf (the launcher learns it from its helper)",
        async () => {
          const conf = `${realm.dir}/named.conf`;
          Deno.writeTextFileSync(
            conf,
            Deno.readTextFileSync(realm.krb5Conf).replace(
              /^(\s*)kdc = .*$/m,
              `$1kdc = localhost:${P}`,
            ),
          );
          const args = [...base.slice(0, -1), conf];
          const flags = launchArgs(args).filter((f) => f.startsWith("--allow-net"));
          assertEquals(flags, [`--allow-net=localhost:${P},127.0.0.1:0`]);
          const r = await kink(args);
          assertEquals(r.code, 0, r.stderr);
          assert(/^KDCs {5}localhost:\d+$/m.test(r.stdout), r.stdout);
        },
      );

      await t.step(
        "udp/localhost:PORT, which these permissions cannot resolve: a clear error",
        async () => {
          const r = await kink([...base, "--kdc", `udp/localhost:${P}`]);
          assertEquals(r.code, 1, r.stdout + r.stderr);
          assert(/resolving localhost needs --allow-net=localhost/.test(r.stderr), r.stderr);
          assert(!/Uncaught|RangeError/.test(r.stderr), r.stderr);
        },
      );
    } finally {
      relay.close();
    }
  });
});

Deno.test("KDC transport: a host name is resolved and asked over UDP when the process may resolve it", async () => {
  await withRealm({ principals: ["alice"] }, async (realm) => {
    const P = realm.kdc.port;
    const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `${realm.dir}/udp_name.ts`;
    Deno.writeTextFileSync(
      script,
      `import { sendToKdc } from ${mod("../../../core/kerberos/transport.ts")};
import { KerberosClient } from ${mod("../../../core/kerberos/client.ts")};
import { readKeytab } from ${mod("../../../core/kerberos/keytab.ts")};
import { parsePrincipal } from ${mod("../../../core/kerberos/principal.ts")};
const used = [];
const c = new KerberosClient(parsePrincipal(${JSON.stringify(realm.principal("alice"))}),
  { keytab: readKeytab(Deno.readFileSync(${JSON.stringify(realm.keytab("alice"))})) },
  { send: async (_r, req, signal) => {
      const r = await sendToKdc(req, [{ host: "localhost", port: ${P} }], { signal });
      used.push(r.protocol + " " + r.address);
      return r.reply;
  } });
const tgt = await c.getTgt();
console.log(JSON.stringify({ used, server: tgt.server.components }));
try {
  await sendToKdc(new Uint8Array(10), [{ host: "no-such-kdc.invalid", port: 88 }], { timeoutMs: 3000 });
} catch (e) { console.log(JSON.stringify({ category: e.category, message: e.message })); }
`,
    );
    const r = await run([
      "deno",
      "run",
      "--quiet",
      "--no-prompt",
      `--allow-read=${realm.dir}`,
      `--allow-net=localhost,127.0.0.1:${P},127.0.0.1:0,no-such-kdc.invalid`,
      script,
    ]);
    assertEquals(r.code, 0, r.stderr);
    const [first, second] = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(first.server, ["krbtgt", realm.realm]);
    assert(first.used.length > 0 && first.used.every((u: string) => u === `udp localhost:${P}`));
    assertEquals(second.category, "kdc-unreachable");
    assert(/cannot resolve no-such-kdc\.invalid/.test(second.message), second.message);
  });
});
