/**
 * `kink ticket` against a real MIT KDC, run as a subprocess with exactly the
 * Deno permissions the launcher computes; MIT's klist reads the ccache it
 * writes.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { withRealm } from "../../harness/krb5_realm.ts";
import { run } from "../../harness/exec.ts";
import { launchArgs } from "../../../core/cli/launch.ts";
import { main } from "../../../core/cli/main.ts";

function kink(args: string[]) {
  return run(["deno", ...launchArgs(args)]);
}

Deno.test("kink ticket: TGT + service ticket, ccache for klist, operator-grade errors", async (t) => {
  await withRealm({ principals: ["kink/a.kink.test", "kink/b.kink.test"] }, async (realm) => {
    const keytab = realm.keytab("kink/a.kink.test");
    const base = [
      "ticket",
      "--keytab",
      keytab,
      "--client",
      "kink/a.kink.test",
      "--service",
      "kink/b.kink.test",
      "--krb5-conf",
      realm.krb5Conf,
    ];

    await t.step("permissions are the named files and the KDC address only", () => {
      const cc = `${realm.dir}/a.ccache`;
      const a = launchArgs([...base, "--ccache", cc]);
      const flags = a.filter((x) => x.startsWith("--allow"));
      assertEquals(flags, [
        `--allow-read=${keytab},${realm.krb5Conf},${cc},${cc}.tmp`,
        `--allow-write=${cc},${cc}.tmp`,
        `--allow-net=${realm.kdc.host}:${realm.kdc.port},127.0.0.1:0`,
      ]);
    });

    await t.step("a launcher that may not read files still computes the KDC address", async () => {
      // What `deno task kink` runs: the launcher has --allow-run=deno only.
      const probe = `${realm.dir}/probe.ts`;
      const launch = new URL("../../../core/cli/launch.ts", import.meta.url).href;
      await Deno.writeTextFile(
        probe,
        `import { launchArgs } from ${JSON.stringify(launch)};\n` +
          `console.log(JSON.stringify(launchArgs(Deno.args)));\n`,
      );
      // The probe lives outside the checkout: name the project's configuration (its import
      // map), as `deno task kink` does by running from the checkout.
      const config = new URL("../../../deno.json", import.meta.url).pathname;
      const r = await run([
        "deno",
        "run",
        "--quiet",
        "--config",
        config,
        "--allow-run=deno",
        probe,
        ...base,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const flags = (JSON.parse(r.stdout) as string[]).filter((x) => x.startsWith("--allow"));
      assertEquals(flags, [
        `--allow-read=${keytab},${realm.krb5Conf}`,
        `--allow-net=${realm.kdc.host}:${realm.kdc.port},127.0.0.1:0`,
      ]);
      // And the real launcher runs the command with them.
      const full = await run([
        "deno",
        "run",
        "--quiet",
        "--allow-run=deno",
        new URL("../../../core/cli/launch.ts", import.meta.url).pathname,
        ...base,
      ]);
      assertEquals(full.code, 0, full.stderr);
      assert(full.stdout.includes("service  kink/b.kink.test@KINK.TEST"), full.stdout);
    });

    await t.step("obtains both tickets and writes a ccache klist lists", async () => {
      const cc = `${realm.dir}/a.ccache`;
      const r = await kink([...base, "--ccache", cc]);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes("TGT      krbtgt/KINK.TEST@KINK.TEST"), r.stdout);
      assert(r.stdout.includes("service  kink/b.kink.test@KINK.TEST"), r.stdout);
      assert(
        r.stdout.includes("session key aes256-cts-hmac-sha1-96, ticket aes256-cts-hmac-sha1-96"),
        r.stdout,
      );
      assert(r.stdout.includes("clock    in step with the KDC"), r.stdout);
      const kl = await realm.tool(["klist", "-c", `FILE:${cc}`]);
      assert(kl.success, kl.stderr);
      assert(kl.stdout.includes("Default principal: kink/a.kink.test@KINK.TEST"), kl.stdout);
      assert(kl.stdout.includes("kink/b.kink.test@KINK.TEST"), kl.stdout);
    });

    await t.step("unknown service principal", async () => {
      const args = [...base];
      args[6] = "kink/nowhere.kink.test";
      const r = await kink(args);
      assertEquals(r.code, 1);
      assert(
        r.stderr.includes(
          "service principal kink/nowhere.kink.test@KINK.TEST is unknown to the KDC of KINK.TEST",
        ),
        r.stderr,
      );
    });

    await t.step("client not in the keytab", async () => {
      const args = [...base];
      args[4] = "kink/c.kink.test";
      const r = await kink(args);
      assertEquals(r.code, 1);
      assert(
        r.stderr.includes(
          "holds no key for kink/c.kink.test@KINK.TEST (it holds kink/a.kink.test@KINK.TEST)",
        ),
        r.stderr,
      );
    });

    await t.step("KDC unreachable names the addresses tried", async () => {
      const r = await kink([...base, "--kdc", "127.0.0.1:9", "--kdc", "tcp/127.0.0.1:9"]);
      assertEquals(r.code, 1);
      assert(
        r.stderr.includes(
          "KDC unreachable: tried 127.0.0.1:9 (timeout 1000 ms), tcp/127.0.0.1:9 (connection refused), 127.0.0.1:9 (timeout 2000 ms)",
        ),
        r.stderr,
      );
    });

    await t.step("a clock 10 minutes ahead of the KDC is reported with the offset", async () => {
      // In-process run with this process's clock moved ahead; the KDC's
      // authtime in its reply measures the offset.
      const realNow = Date.now;
      const out: string[] = [];
      const err: string[] = [];
      Date.now = () => realNow() + 600_000;
      let code: number;
      try {
        code = await main(base, { out: (l) => out.push(l), err: (l) => err.push(l) });
      } finally {
        Date.now = realNow;
      }
      assertEquals(code, 1, out.join("\n"));
      assert(
        /our clock is (599|600|601) s ahead of the KDC, more than the allowed skew of 300 s/.test(
          err.join("\n"),
        ),
        err.join("\n"),
      );
      assert(err.join("\n").includes("fix the system time (NTP)"));
    });

    await t.step("an outdated keytab (key changed at the KDC) is named", async () => {
      const cpw = await realm.tool(["kadmin.local", "-q", "cpw -randkey kink/a.kink.test"]);
      assert(cpw.success, cpw.stderr);
      const r = await kink(base);
      assertEquals(r.code, 1);
      assert(r.stderr.includes("is not the one in the keytab (kvno 1)"), r.stderr);
      assert(r.stderr.includes("the keytab is outdated"), r.stderr);
    });
  });
});
