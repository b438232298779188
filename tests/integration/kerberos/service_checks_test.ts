/**
 * The acceptor's RFC 4120 §3.2.3 checks on tickets issued by a real MIT KDC:
 * each refusal carries the KRB_AP_ERR_* code RFC 4120 assigns to it, and
 * mutated AP-REQs only ever produce typed Kerberos errors.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { type Realm, withRealm } from "../../harness/krb5_realm.ts";
import { KerberosClient } from "../../../core/kerberos/client.ts";
import { ApError, KerberosService, makeApReq } from "../../../core/kerberos/service.ts";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { ErrorCode } from "../../../core/kerberos/iana.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { decodeApReq, encodeApReq } from "../../../core/kerberos/messages.ts";

const SERVICE = "kink/b.kink.test";

function expectAp(fn: () => unknown, code: number, re?: RegExp) {
  throws(fn, (e: unknown) => {
    assert(e instanceof ApError, String(e));
    assertEquals(e.errorCode, code, e.message);
    if (re) assert(re.test(e.message), e.message);
    return true;
  });
}

async function setup(realm: Realm) {
  const alice = new KerberosClient(parsePrincipal(realm.principal("alice")), {
    keytab: readKeytab(Deno.readFileSync(realm.keytab("alice"))),
  }, { kdcs: () => [realm.kdc] });
  const st = await alice.getServiceTicket(parsePrincipal(realm.principal(SERVICE)));
  return { alice, st };
}

Deno.test("kerberos service: RFC 4120 §3.2.3 refusals on MIT-issued tickets", async (t) => {
  await withRealm({ principals: ["alice", SERVICE, "kink/c.kink.test"] }, async (realm) => {
    const { alice, st } = await setup(realm);
    const svcPrinc = parsePrincipal(realm.principal(SERVICE));
    const keys = readKeytab(Deno.readFileSync(realm.keytab(SERVICE)));
    const svc = (o: { now?: () => number; keys?: typeof keys } = {}) =>
      new KerberosService({
        keys: o.keys ?? keys,
        principal: svcPrinc,
        replayCache: ReplayCache.open({
          skewMs: 300_000,
          firstStart: true,
          ...(o.now ? { now: o.now } : {}),
        }),
        ...(o.now ? { now: o.now } : {}),
      });
    const ap = () => makeApReq(alice.principal, st.ticket, st.sessionKey).apReq;

    await t.step("accepts a fresh AP-REQ", () => {
      const v = svc().verifyApReq(ap());
      assertEquals(v.kvno, 1);
      v.sessionKey.dispose();
    });

    await t.step("ticket for another service: KRB_AP_ERR_NOT_US", () => {
      const other = new KerberosService({
        keys: readKeytab(Deno.readFileSync(realm.keytab("kink/c.kink.test"))),
        replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
      });
      expectAp(() => other.verifyApReq(ap()), ErrorCode.KRB_AP_ERR_NOT_US, /no key is held/);
    });

    await t.step("keytab without the ticket's kvno: KRB_AP_ERR_BADKEYVER", () => {
      const shifted = keys.map((k) => ({ ...k, kvno: k.kvno + 1 }));
      expectAp(
        () => svc({ keys: shifted }).verifyApReq(ap()),
        ErrorCode.KRB_AP_ERR_BADKEYVER,
        /key version 1, the keytab holds kvno 2/,
      );
    });

    await t.step("keytab without the ticket's enctype: KRB_AP_ERR_NOKEY", () => {
      const only128 = keys.filter((k) => k.enctype === 17);
      expectAp(() => svc({ keys: only128 }).verifyApReq(ap()), ErrorCode.KRB_AP_ERR_NOKEY);
    });

    await t.step("wrong key bytes: KRB_AP_ERR_BAD_INTEGRITY", () => {
      const wrong = keys.map((k) => ({ ...k, key: k.key.map((b) => b ^ 1) }));
      expectAp(() => svc({ keys: wrong }).verifyApReq(ap()), ErrorCode.KRB_AP_ERR_BAD_INTEGRITY);
    });

    await t.step("authenticator names another client: KRB_AP_ERR_BADMATCH", () => {
      const bad = makeApReq(parsePrincipal(realm.principal("mallory")), st.ticket, st.sessionKey);
      expectAp(() => svc().verifyApReq(bad.apReq), ErrorCode.KRB_AP_ERR_BADMATCH);
    });

    await t.step("tampered authenticator: KRB_AP_ERR_BAD_INTEGRITY", () => {
      const m = decodeApReq(ap());
      m.authenticator.cipher[m.authenticator.cipher.length - 1]! ^= 0x80;
      expectAp(() => svc().verifyApReq(encodeApReq(m)), ErrorCode.KRB_AP_ERR_BAD_INTEGRITY);
    });

    await t.step(
      "expired ticket: KRB_AP_ERR_TKT_EXPIRED; not yet valid: KRB_AP_ERR_TKT_NYV",
      () => {
        const late = st.endtime.getTime() + 400_000;
        const apLate = makeApReq(alice.principal, st.ticket, st.sessionKey, { now: () => late });
        expectAp(
          () => svc({ now: () => late }).verifyApReq(apLate.apReq),
          ErrorCode.KRB_AP_ERR_TKT_EXPIRED,
        );
        const early = st.authtime.getTime() - 400_000;
        const apEarly = makeApReq(alice.principal, st.ticket, st.sessionKey, { now: () => early });
        expectAp(
          () => svc({ now: () => early }).verifyApReq(apEarly.apReq),
          ErrorCode.KRB_AP_ERR_TKT_NYV,
        );
      },
    );

    await t.step("skew within the limit is accepted", () => {
      const v = svc({ now: () => Date.now() + 200_000 }).verifyApReq(ap());
      v.sessionKey.dispose();
    });

    await t.step("mutated AP-REQs yield only typed errors (20k inputs)", () => {
      const seed = ap();
      const s = svc();
      let seedRng = 0x12345678;
      const rnd = () => {
        seedRng ^= seedRng << 13;
        seedRng ^= seedRng >>> 17;
        seedRng ^= seedRng << 5;
        return (seedRng >>> 0) / 0x100000000;
      };
      let accepted = 0;
      for (let i = 0; i < 20_000; i++) {
        let b = seed.slice();
        const kind = rnd();
        if (kind < 0.5) {
          for (let j = 0, n = 1 + Math.floor(rnd() * 4); j < n; j++) {
            b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
          }
        } else if (kind < 0.75) {
          b = b.subarray(0, Math.floor(rnd() * b.length));
        } else {
          const at = Math.floor(rnd() * b.length);
          const ins = new Uint8Array(1 + Math.floor(rnd() * 8)).map(() => Math.floor(rnd() * 256));
          const nb = new Uint8Array(b.length + ins.length);
          nb.set(b.subarray(0, at));
          nb.set(ins, at);
          nb.set(b.subarray(at), at + ins.length);
          b = nb;
        }
        try {
          const v = s.verifyApReq(b);
          v.sessionKey.dispose();
          accepted++;
        } catch (e) {
          if (!(e instanceof KerberosError)) throw e;
        }
      }
      // Only mutations outside the authenticated parts (e.g. in the kvno or
      // ap-options) can still verify.
      assert(accepted < 2000, `accepted ${accepted}`);
      s.dispose();
    });
    alice.dispose();
  });
});
