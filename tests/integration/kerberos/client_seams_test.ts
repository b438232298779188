/**
 * The client's seams against a real MIT KDC: the injectable KDC sender, and
 * per-caller cancellation of a shared exchange (issue 9 points 2 and 4).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { withRealm } from "../../harness/krb5_realm.ts";
import { type KdcSender, kdcSender, KerberosClient } from "../../../core/kerberos/client.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { decodeKdcReq } from "../../../core/kerberos/messages.ts";

const SERVICE = "kink/b.kink.test";

/** A sender that holds every request until released, then forwards it to the real KDC. */
function gatedSender(real: KdcSender) {
  const seen: { realm: string; signal: AbortSignal | undefined }[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const send: KdcSender = async (realm, req, signal) => {
    seen.push({ realm, signal });
    await gate;
    return await real(realm, req, signal);
  };
  return { send, seen, release: () => open() };
}

Deno.test("kerberos client: one caller's abort ends only its own wait on a shared exchange", async (t) => {
  await withRealm({ principals: ["alice", SERVICE] }, async (realm) => {
    const real = kdcSender(() => [realm.kdc]);
    const keytab = readKeytab(Deno.readFileSync(realm.keytab("alice")));
    const me = parsePrincipal(realm.principal("alice"));

    await t.step("getTgt: the first caller aborts, the second still gets the TGT", async () => {
      const g = gatedSender(real);
      const c = new KerberosClient(me, { keytab }, { send: g.send });
      const a = new AbortController();
      const first = c.getTgt(a.signal);
      const second = c.getTgt();
      a.abort();
      await rejects(first, (e: unknown) => e instanceof KerberosError && e.category === "aborted");
      g.release();
      const tgt = await second;
      assertEquals(tgt.server.components, ["krbtgt", realm.realm]);
      // Both callers shared one exchange, which ran under its own signal.
      assert(g.seen.length >= 1 && g.seen.every((s) => s.signal && !s.signal.aborted));
      c.dispose();
    });

    await t.step("getServiceTicket: same for a TGS exchange", async () => {
      const g = gatedSender(real);
      const c = new KerberosClient(me, { keytab }, { send: g.send });
      const svc = parsePrincipal(realm.principal(SERVICE));
      const a = new AbortController();
      const first = c.getServiceTicket(svc, { signal: a.signal });
      const second = c.getServiceTicket(svc);
      a.abort();
      await rejects(first, (e: unknown) => e instanceof KerberosError && e.category === "aborted");
      g.release();
      const st = await second;
      assertEquals(st.server, svc);
      c.dispose();
    });

    await t.step(
      "when every waiter left, the shared exchange is aborted and a new caller starts afresh",
      async () => {
        const g = gatedSender(real);
        const c = new KerberosClient(me, { keytab }, { send: g.send });
        const a = new AbortController(), b = new AbortController();
        const p1 = c.getTgt(a.signal), p2 = c.getTgt(b.signal);
        a.abort();
        assert(!g.seen[0]!.signal!.aborted, "still one waiter");
        b.abort();
        await rejects(p1);
        await rejects(p2);
        assert(g.seen[0]!.signal!.aborted, "the exchange's own signal fired");
        g.release();
        const tgt = await c.getTgt();
        assertEquals(tgt.client, me);
        c.dispose();
      },
    );

    await t.step("a seeded RandomSource makes the request nonces reproducible", async () => {
      const nonces = async () => {
        const got: number[] = [];
        const send: KdcSender = async (r, req, s) => {
          got.push(decodeKdcReq(req).reqBody.nonce);
          return await real(r, req, s);
        };
        const c = new KerberosClient(me, { keytab }, { send, random: new SeededRandom(42) });
        await c.getServiceTicket(parsePrincipal(realm.principal(SERVICE)));
        c.dispose();
        return got;
      };
      const a = await nonces();
      assert(a.length >= 2);
      assertEquals(await nonces(), a);
    });
  });
});

Deno.test("kerberos client: a stale keytab's message names MIT's and Heimdal's export commands", async () => {
  await withRealm({ principals: ["alice"] }, async (realm) => {
    // The keytab's keys are no longer the KDC's (as after a key change elsewhere).
    const stale = readKeytab(Deno.readFileSync(realm.keytab("alice")))
      .map((e) => ({ ...e, key: e.key.map((b) => b ^ 1) }));
    const c = new KerberosClient(parsePrincipal(realm.principal("alice")), { keytab: stale }, {
      send: kdcSender(() => [realm.kdc]),
    });
    await rejects(c.getTgt(), (e: unknown) => {
      assert(e instanceof KerberosError, String(e));
      assert(/kadmin ktadd -norandkey/.test(e.message), e.message);
      assert(/Heimdal: kadmin ext_keytab/.test(e.message), e.message);
      return true;
    });
    c.dispose();
  });
});
