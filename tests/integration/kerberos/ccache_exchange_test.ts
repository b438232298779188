/**
 * Credential caches between kink and MIT: MIT's klist and kvno read the
 * ccache our client writes, and our client uses the tickets of a ccache made
 * by `kinit -k` + `kvno`.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ENCTYPE_SETS, withRealm } from "../../harness/krb5_realm.ts";
import { mitMakeApReq, mitReadApReq } from "../../harness/mit/judge.ts";
import { KerberosClient } from "../../../core/kerberos/client.ts";
import { KerberosService, makeApReq } from "../../../core/kerberos/service.ts";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { enctypeName } from "../../../core/kerberos/iana.ts";

const SERVICE = "kink/b.kink.test";

for (const set of ["aes-sha1", "aes-sha2"] as const) {
  const [strong] = ENCTYPE_SETS[set].numbers;
  Deno.test(`kerberos ${set}: ccache interchange with MIT klist/kvno/kinit`, async (t) => {
    await withRealm({ principals: ["alice", SERVICE], enctypes: set }, async (realm) => {
      const alicePrinc = parsePrincipal(realm.principal("alice"));
      const svcPrinc = parsePrincipal(realm.principal(SERVICE));
      const keytab = (n: string) => readKeytab(Deno.readFileSync(realm.keytab(n)));

      await t.step("klist -c lists the ccache our client wrote; kvno uses our TGT", async () => {
        const alice = new KerberosClient(alicePrinc, { keytab: keytab("alice") }, {
          kdcs: () => [realm.kdc],
          enctypes: ENCTYPE_SETS[set].numbers,
        });
        await alice.getServiceTicket(svcPrinc);
        const path = `${realm.dir}/ours.ccache`;
        await alice.saveCcache(path);
        assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
        const kl = await realm.tool(["klist", "-e", "-c", `FILE:${path}`]);
        assert(kl.success, kl.stderr);
        assert(kl.stdout.includes(`Default principal: alice@${realm.realm}`), kl.stdout);
        assert(kl.stdout.includes(`krbtgt/${realm.realm}@${realm.realm}`), kl.stdout);
        assert(kl.stdout.includes(`${SERVICE}@${realm.realm}`), kl.stdout);
        const name = enctypeName(strong!);
        assert(kl.stdout.includes(`Etype (skey, tkt): ${name}, ${name}`), kl.stdout);
        // MIT's kvno uses our TGT and session key to get another ticket.
        await realm.addPrincipal("kink/c.kink.test");
        const kv = await realm.tool([
          "kvno",
          "-c",
          `FILE:${path}`,
          `kink/c.kink.test@${realm.realm}`,
        ]);
        assert(kv.success, kv.stderr);
        assert(/kvno = 1/.test(kv.stdout), kv.stdout);
        // MIT builds an AP-REQ from our ccache's service ticket; we verify it.
        const m = await mitMakeApReq(realm.env, `FILE:${path}`, realm.principal(SERVICE));
        assert(m.ok, m.ok ? "" : m.message);
        const svc = new KerberosService({
          keys: keytab(SERVICE),
          principal: svcPrinc,
          replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
        });
        const v = svc.verifyApReq(m.value.apReq);
        assertEquals(v.client, alicePrinc);
        assert((await m.value.readReply(svc.makeApRep(v))).ok);
        v.sessionKey.dispose();
        svc.dispose();
        alice.dispose();
      });

      await t.step("we use the tickets of a ccache made by kinit -k + kvno", async () => {
        const path = `${realm.dir}/mit.ccache`;
        const env = { KRB5CCNAME: `FILE:${path}` };
        const ki = await realm.tool([
          "kinit",
          "-k",
          "-t",
          realm.keytab("alice"),
          realm.principal("alice"),
        ], { env });
        assert(ki.success, ki.stderr);
        const kv = await realm.tool(["kvno", realm.principal(SERVICE)], { env });
        assert(kv.success, kv.stderr);
        // No KDC reachable: the tickets must come from the ccache alone.
        const alice = new KerberosClient(alicePrinc, { password: "unused" }, { kdcs: () => [] });
        assertEquals(await alice.loadCcache(path), 2);
        const tgt = await alice.getTgt();
        assertEquals(tgt.server.components, ["krbtgt", realm.realm]);
        const st = await alice.getServiceTicket(svcPrinc);
        assertEquals(st.sessionKey.enctype, strong);
        const ap = makeApReq(alicePrinc, st.ticket, st.sessionKey);
        const r = await mitReadApReq(
          realm.env,
          realm.keytab(SERVICE),
          realm.principal(SERVICE),
          ap.apReq,
        );
        assert(r.ok, r.ok ? "" : r.message);
        assertEquals(r.value.client, realm.principal("alice"));
        alice.dispose();
      });
    });
  });
}
