/**
 * The namespace harness works: namespaces it joins reach each other over IPv4
 * and IPv6 (the kernel's own ping), a KDC started inside one serves a client in
 * another, and nothing is left behind afterwards.
 */
import assert from "node:assert/strict";
import { createNetns, withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { runOk, sleep } from "../../harness/exec.ts";

async function listNetns(): Promise<string[]> {
  return (await runOk(["ip", "netns", "list"])).split("\n").map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

async function ping(from: { runOk(c: string[]): Promise<string> }, to: string): Promise<void> {
  const out = await from.runOk(["ping", "-c", "2", "-i", "0.2", "-W", "2", to]);
  assert.match(out, /2 packets transmitted, 2 received/);
}

Deno.test({
  ...skipUnless(
    "netns: two namespaces joined by veth ping each other over IPv4 and IPv6",
    netnsSkipReason(),
  ),
  fn: async () => {
    let names: string[] = [];
    await withNetns(2, async ([a, b]) => {
      assert.ok(a && b);
      names = [a.name, b.name];
      assert.notEqual(a.name, b.name);
      assert.notEqual(a.addr4, b.addr4);
      assert.notEqual(a.addr6, b.addr6);
      assert.deepEqual((await listNetns()).filter((n) => names.includes(n)).sort(), names.sort());

      // The kernel reports the addresses the harness promised.
      const addrs = JSON.parse(await a.runOk(["ip", "-j", "addr", "show", "dev", "eth0"])) as {
        addr_info: { local: string; prefixlen: number }[];
      }[];
      const locals = addrs[0]!.addr_info.map((x) => `${x.local}/${x.prefixlen}`);
      assert.ok(locals.includes(`${a.addr4}/24`), locals.join(" "));
      assert.ok(locals.includes(`${a.addr6}/64`), locals.join(" "));

      await ping(a, b.addr4);
      await ping(b, a.addr4);
      await ping(a, b.addr6);
      await ping(b, a.addr6);
    });
    const after = await listNetns();
    for (const n of names) assert.ok(!after.includes(n), `${n} still exists`);
  },
});

Deno.test({
  ...skipUnless(
    "netns: three namespaces on a bridge reach each other; teardown on error",
    netnsSkipReason(),
  ),
  fn: async () => {
    const group = await createNetns(3);
    const all = [...group.namespaces.map((n) => n.name), group.hub!];
    try {
      const [a, b, c] = group.namespaces;
      assert.ok(a && b && c && group.hub);
      await ping(a, c.addr4);
      await ping(c, b.addr6);
      await ping(b, a.addr4);
      // A process spawned inside runs in that namespace only.
      const child = c.spawn(["sleep", "30"], { stdout: "null", stderr: "null" });
      // (setpriv and `ip netns exec` need a moment before the PID is inside.)
      let inside = false;
      for (let i = 0; i < 100 && !inside; i++) {
        const pids = await runOk(["ip", "netns", "pids", c.name]);
        inside = pids.split(/\s+/).includes(String(child.pid));
        if (!inside) await sleep(20);
      }
      assert.ok(inside, `pid ${child.pid} not in ${c.name}`);
      // destroy() kills it.
      await group.destroy();
      const st = await child.status;
      assert.equal(st.signal, "SIGKILL");
    } finally {
      await group.destroy();
    }
    const after = await listNetns();
    for (const n of all) assert.ok(!after.includes(n), `${n} still exists`);

    let seen: string[] = [];
    await assert.rejects(
      withNetns(2, (nss) => {
        seen = nss.map((n) => n.name);
        throw new Error("body failed");
      }),
      /body failed/,
    );
    const after2 = await listNetns();
    assert.equal(seen.length, 2);
    for (const n of seen) assert.ok(!after2.includes(n), `${n} still exists`);
  },
});

Deno.test({
  ...skipUnless(
    "netns: a KDC inside one namespace issues tickets to a client in another",
    netnsSkipReason(),
    realmSkipReason(),
  ),
  fn: async () => {
    await withNetns(2, async ([kdcNs, client]) => {
      assert.ok(kdcNs && client);
      await withRealm(
        { principals: ["kink/a.kink.test"], enctypes: "aes-sha2", netns: kdcNs.name },
        async (realm) => {
          assert.equal(realm.kdc.host, kdcNs.addr4);
          assert.equal(realm.kdc.port, 88);
          const p = "kink/a.kink.test@KINK.TEST";
          const k = await client.run(["kinit", "-k", "-t", realm.keytab(p), p], {
            env: realm.env,
          });
          assert.equal(k.code, 0, k.stderr);
          const l = await client.runOk(["klist", "-e"], { env: realm.env });
          assert.match(l, /Etype \(skey, tkt\): aes256-cts-hmac-sha384-192/);
          // The KDC saw the request coming from the other namespace's address.
          const log = await Deno.readTextFile(realm.kdcLog);
          assert.match(log, new RegExp(`AS_REQ .* ${client.addr4.replaceAll(".", "\\.")}: ISSUE`));
        },
      );
    });
  },
});
