/**
 * Kerberos exchanges against a real MIT KDC, with MIT's own library as the
 * judge of the AP-REQ/AP-REP messages in both directions.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { ENCTYPE_SETS, type EnctypeSet, type Realm, withRealm } from "../../harness/krb5_realm.ts";
import {
  mitMakeApReq,
  mitReadApReq,
  mitReadApReqU2U,
  mitReadError,
} from "../../harness/mit/judge.ts";
import { KdcError, KerberosClient } from "../../../core/kerberos/client.ts";
import {
  ApError,
  KerberosService,
  makeApReq,
  verifyApRep,
} from "../../../core/kerberos/service.ts";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { decodeKrbError } from "../../../core/kerberos/messages.ts";
import { formatPrincipal, parsePrincipal } from "../../../core/kerberos/principal.ts";
import { ErrorCode, hasFlag, TicketFlag } from "../../../core/kerberos/iana.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { toHex } from "../../../core/util/bytes.ts";

const SERVICE = "kink/b.kink.test";

function keytabOf(realm: Realm, name: string) {
  return readKeytab(Deno.readFileSync(realm.keytab(name)));
}

function clientFor(realm: Realm, name: string, set: EnctypeSet, now?: () => number) {
  const opts: ConstructorParameters<typeof KerberosClient>[2] = {
    kdcs: () => [realm.kdc],
    enctypes: ENCTYPE_SETS[set].numbers,
    transport: { timeoutMs: 2000 },
  };
  if (now) opts.now = now;
  return new KerberosClient(parsePrincipal(realm.principal(name)), {
    keytab: keytabOf(realm, name),
  }, opts);
}

function serviceFor(realm: Realm, opts: { replay?: ReplayCache; now?: () => number } = {}) {
  const o: ConstructorParameters<typeof KerberosService>[0] = {
    keys: keytabOf(realm, SERVICE),
    principal: parsePrincipal(realm.principal(SERVICE)),
    replayCache: opts.replay ??
      ReplayCache.open({
        skewMs: 300_000,
        firstStart: true,
        ...(opts.now ? { now: opts.now } : {}),
      }),
  };
  if (opts.now) o.now = opts.now;
  return new KerberosService(o);
}

for (const set of ["aes-sha1", "aes-sha2"] as const) {
  const [strong] = ENCTYPE_SETS[set].numbers;
  Deno.test(`kerberos ${set}: exchanges with a real MIT KDC, judged by libkrb5`, async (t) => {
    await withRealm({ principals: ["alice", "bob", SERVICE], enctypes: set }, async (realm) => {
      const servicePrinc = parsePrincipal(realm.principal(SERVICE));
      const rcDir = await Deno.makeTempDir({ prefix: "kink-rcache-" });
      try {
        await t.step("AS with a keytab, then TGS for kink/<host>", async () => {
          const alice = clientFor(realm, "alice", set);
          const tgt = await alice.getTgt();
          assertEquals(tgt.server.components, ["krbtgt", realm.realm]);
          assertEquals(tgt.sessionKey.enctype, strong);
          assert(hasFlag(tgt.flags, TicketFlag.INITIAL));
          assert(alice.clockOffsetMeasured && Math.abs(alice.clockOffsetMs) < 2000);
          const st = await alice.getServiceTicket(servicePrinc);
          assertEquals(st.ticket.encPart.etype, strong);
          assertEquals(st.sessionKey.enctype, strong);
          // Cached until close to expiry.
          assert((await alice.getServiceTicket(servicePrinc)) === st);
          // Concurrent first requests share one exchange.
          const bob = clientFor(realm, "bob", set);
          const all = await Promise.all(
            Array.from({ length: 5 }, () => bob.getServiceTicket(servicePrinc)),
          );
          assert(all.every((c) => c === all[0]));
          assertEquals(bob.credentials().length, 2);
          bob.dispose();
          alice.dispose();
        });

        await t.step("tickets are refreshed shortly before they expire", async () => {
          const clock = { offset: 0 };
          const alice = clientFor(realm, "alice", set, () => Date.now() + clock.offset);
          const first = await alice.getTgt();
          assert((await alice.getTgt()) === first);
          // Four minutes before expiry (inside the 5-minute refresh margin).
          clock.offset = first.endtime.getTime() - Date.now() - 240_000;
          const second = await alice.getTgt();
          assert(second !== first, "TGT was not refreshed");
          assert(second.authtime.getTime() >= first.authtime.getTime());
          // The replaced TGT stays usable until it expires (a transaction
          // keeps its ticket, RFC 4430 §9): MIT's krb5_rd_req, given the
          // KDC's own krbtgt key, accepts an AP-REQ built from it.
          const tgs = `krbtgt/${realm.realm}@${realm.realm}`;
          const tgsKeytab = `${realm.dir}/krbtgt.keytab`;
          const ktadd = await realm.tool([
            "kadmin.local",
            "-q",
            `ktadd -k ${tgsKeytab} -norandkey ${tgs}`,
          ]);
          assert(ktadd.success, ktadd.stderr);
          const old = makeApReq(alice.principal, first.ticket, first.sessionKey);
          const judged = await mitReadApReq(realm.env, tgsKeytab, tgs, old.apReq);
          assert(judged.ok, judged.ok ? "" : judged.message);
          assertEquals(judged.value.client, realm.principal("alice"));
          assertEquals(judged.value.keyHex, toHex(first.sessionKey.exportBytes()));
          assertEquals(judged.value.ctime * 1000, old.time.ctime.getTime());
          alice.dispose();
        });

        await t.step("MIT krb5_rd_req accepts our AP-REQ; we verify MIT's AP-REP", async () => {
          const alice = clientFor(realm, "alice", set);
          const st = await alice.getServiceTicket(servicePrinc);
          const first = makeApReq(alice.principal, st.ticket, st.sessionKey);
          const ap = makeApReq(alice.principal, st.ticket, st.sessionKey);
          const r = await mitReadApReq(
            realm.env,
            realm.keytab(SERVICE),
            realm.principal(SERVICE),
            ap.apReq,
          );
          assert(r.ok, r.ok ? "" : r.message);
          assertEquals(r.value.client, realm.principal("alice"));
          assertEquals(r.value.ctime * 1000, ap.time.ctime.getTime());
          assertEquals(r.value.cusec, ap.time.cusec);
          assertEquals(r.value.keytype, strong);
          assertEquals(r.value.keyHex, toHex(st.sessionKey.exportBytes()));
          assertEquals(r.value.subkey, false);
          // The AP-REP answers the second of two outstanding authenticators.
          const v = verifyApRep(r.value.apRep, st.sessionKey, [first.time, ap.time]);
          assertEquals(v.matched, 1);
          // ...and matches none when that authenticator is not outstanding.
          throws(
            () => verifyApRep(r.value.apRep, st.sessionKey, [first.time]),
            (e: unknown) =>
              e instanceof KerberosError && e.errorCode === ErrorCode.KRB_AP_ERR_MUT_FAIL,
          );
          alice.dispose();
        });

        await t.step("we verify MIT's AP-REQ; MIT krb5_rd_rep accepts our AP-REP", async () => {
          const kinit = await realm.tool([
            "kinit",
            "-k",
            "-t",
            realm.keytab("bob"),
            realm.principal("bob"),
          ]);
          assert(kinit.success, kinit.stderr);
          const m = await mitMakeApReq(
            realm.env,
            realm.env.KRB5CCNAME!,
            realm.principal(SERVICE),
          );
          assert(m.ok, m.ok ? "" : m.message);
          const replay = ReplayCache.open({
            skewMs: 300_000,
            path: `${rcDir}/rc`,
            firstStart: true,
          });
          const svc = serviceFor(realm, { replay });
          const v = svc.verifyApReq(m.value.apReq);
          assertEquals(v.client, parsePrincipal(realm.principal("bob")));
          assert(v.mutualRequired);
          assertEquals(v.sessionKey.enctype, m.value.keytype);
          assertEquals(toHex(v.sessionKey.exportBytes()), m.value.keyHex);
          const verdict = await m.value.readReply(svc.makeApRep(v));
          assert(verdict.ok, verdict.ok ? "" : verdict.message);

          // The same AP-REQ a second time is a replay...
          throws(
            () => svc.verifyApReq(m.value.apReq),
            (e: unknown) => e instanceof ApError && e.errorCode === ErrorCode.KRB_AP_ERR_REPEAT,
          );
          replay.close();
          // ...also for a service restarted from its persisted replay cache.
          const replay2 = ReplayCache.open({ skewMs: 300_000, path: `${rcDir}/rc` });
          const svc2 = serviceFor(realm, { replay: replay2 });
          throws(
            () => svc2.verifyApReq(m.value.apReq),
            (e: unknown) =>
              e instanceof ApError && e.errorCode === ErrorCode.KRB_AP_ERR_REPEAT &&
              /already presented/.test(e.message),
          );
          // A restart that lost the file refuses everything for one skew interval.
          const replay3 = ReplayCache.open({ skewMs: 300_000, path: `${rcDir}/lost` });
          const m2 = await mitMakeApReq(realm.env, realm.env.KRB5CCNAME!, realm.principal(SERVICE));
          assert(m2.ok);
          const svc3 = serviceFor(realm, { replay: replay3 });
          throws(
            () => svc3.verifyApReq(m2.value.apReq),
            (e: unknown) =>
              e instanceof ApError && e.errorCode === ErrorCode.KRB_AP_ERR_REPEAT &&
              /replay cache was lost/.test(e.message),
          );
          await m2.value.abandon();
          // A fresh authenticator is accepted by the restarted service.
          const m3 = await mitMakeApReq(realm.env, realm.env.KRB5CCNAME!, realm.principal(SERVICE));
          assert(m3.ok);
          const v3 = svc2.verifyApReq(m3.value.apReq);
          const verdict3 = await m3.value.readReply(svc2.makeApRep(v3));
          assert(verdict3.ok);
          replay2.close();
          replay3.close();
          for (const x of [v, v3]) x.sessionKey.dispose();
          for (const s of [svc, svc2, svc3]) s.dispose();
        });

        await t.step("skew beyond the limit yields KRB_AP_ERR_SKEW with server time", async () => {
          const ahead = 10 * 60_000;
          const svc = serviceFor(realm, { now: () => Date.now() + ahead });
          const m = await mitMakeApReq(realm.env, realm.env.KRB5CCNAME!, realm.principal(SERVICE));
          assert(m.ok);
          let err: ApError | undefined;
          try {
            svc.verifyApReq(m.value.apReq);
          } catch (e) {
            if (e instanceof ApError) err = e;
            else throw e;
          }
          await m.value.abandon();
          assert(err, "no ApError");
          assertEquals(err.errorCode, ErrorCode.KRB_AP_ERR_SKEW);
          assert(err.offsetMs! < -ahead + 5000 && err.offsetMs! > -ahead - 5000);
          assert(
            /600 s behind ours|599 s behind ours|601 s behind ours/.test(err.message),
            err.message,
          );
          const before = Date.now() + ahead;
          const ke = decodeKrbError(svc.makeKrbError(err));
          assertEquals(ke.errorCode, ErrorCode.KRB_AP_ERR_SKEW);
          assert(Math.abs(ke.stime.getTime() - before) < 2000);
          assertEquals(ke.ctime?.getTime(), err.ctime!.getTime());
          assertEquals(ke.cusec, err.cusec);
          assertEquals(ke.cname?.components, ["bob"]);
          assertEquals(ke.sname.components, ["kink", "b.kink.test"]);
          // MIT's krb5_rd_error reads the same fields.
          const mit = await mitReadError(svc.makeKrbError(err));
          assert(mit.ok, mit.ok ? "" : mit.message);
          assertEquals(mit.value.error, ErrorCode.KRB_AP_ERR_SKEW);
          assertEquals(mit.value.ctime * 1000, err.ctime!.getTime());
          assertEquals(mit.value.cusec, err.cusec);
          assert(Math.abs(mit.value.stime * 1000 - before) < 3000);
          assertEquals(mit.value.server, realm.principal(SERVICE));
          assertEquals(mit.value.client, realm.principal("bob"));
          svc.dispose();
        });

        await t.step("user-to-user: ticket encrypted in the peer TGT's session key", async () => {
          const alice = clientFor(realm, "alice", set);
          const bob = clientFor(realm, "bob", set);
          const bobTgt = await bob.getTgt();
          const bobPrinc = bob.principal;
          const u2u = await alice.getServiceTicket(bobPrinc, { peerTgt: bobTgt.ticket });
          assertEquals(u2u.ticket.encPart.etype, bobTgt.sessionKey.enctype);
          // bob verifies with his TGT's session key, not a keytab key.
          const svc = new KerberosService({
            keys: [],
            principal: bobPrinc,
            replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
          });
          svc.setTgtSessionKeys([bobTgt.sessionKey]);
          const ap = makeApReq(alice.principal, u2u.ticket, u2u.sessionKey, { userToUser: true });
          const v = svc.verifyApReq(ap.apReq);
          assert(v.userToUser);
          assertEquals(v.client, alice.principal);
          assertEquals(verifyApRep(svc.makeApRep(v), u2u.sessionKey, [ap.time]).matched, 0);
          // MIT's krb5_rd_req, given bob's TGT session key, accepts it too.
          const ap2 = makeApReq(alice.principal, u2u.ticket, u2u.sessionKey, { userToUser: true });
          const mit = await mitReadApReqU2U(
            realm.env,
            { enctype: bobTgt.sessionKey.enctype, keyHex: toHex(bobTgt.sessionKey.exportBytes()) },
            formatPrincipal(bobPrinc),
            ap2.apReq,
          );
          assert(mit.ok, mit.ok ? "" : mit.message);
          assertEquals(mit.value.client, realm.principal("alice"));
          assertEquals(mit.value.keyHex, toHex(u2u.sessionKey.exportBytes()));
          assertEquals(verifyApRep(mit.value.apRep, u2u.sessionKey, [ap2.time]).matched, 0);
          v.sessionKey.dispose();
          alice.dispose();
          bob.dispose();
        });

        await t.step("KDC errors become typed errors that say what to fix", async () => {
          // Unknown client.
          const ghost = new KerberosClient(parsePrincipal(`ghost@${realm.realm}`), {
            password: "x",
          }, { kdcs: () => [realm.kdc] });
          await rejects(
            ghost.getTgt(),
            (e: unknown) =>
              e instanceof KdcError && e.errorCode === ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN &&
              /client principal ghost@KINK.TEST is unknown to the KDC/.test(e.message),
          );
          // Unknown service.
          const alice = clientFor(realm, "alice", set);
          await rejects(
            alice.getServiceTicket(parsePrincipal(`kink/nowhere.kink.test@${realm.realm}`)),
            (e: unknown) =>
              e instanceof KdcError && e.errorCode === ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN &&
              /service principal kink\/nowhere.kink.test@KINK.TEST is unknown/.test(e.message),
          );
          alice.dispose();
        });

        await t.step("password with preauthentication (salt from PA-ETYPE-INFO2)", async () => {
          await realm.addPrincipal("carol", "Carol's pass-phrase 1");
          const mod = await realm.tool([
            "kadmin.local",
            "-q",
            `modprinc +requires_preauth carol`,
          ]);
          assert(mod.success, mod.stderr);
          const carolP = parsePrincipal(realm.principal("carol"));
          const carol = new KerberosClient(carolP, { password: "Carol's pass-phrase 1" }, {
            kdcs: () => [realm.kdc],
            enctypes: ENCTYPE_SETS[set].numbers,
          });
          const tgt = await carol.getTgt();
          assert(hasFlag(tgt.flags, TicketFlag.PRE_AUTHENT), "ticket lacks pre-authent flag");
          assertEquals(tgt.sessionKey.enctype, strong);
          carol.dispose();

          const wrong = new KerberosClient(carolP, { password: "not it" }, {
            kdcs: () => [realm.kdc],
            enctypes: ENCTYPE_SETS[set].numbers,
          });
          await rejects(
            wrong.getTgt(),
            (e: unknown) =>
              e instanceof KdcError && e.errorCode === ErrorCode.KDC_ERR_PREAUTH_FAILED &&
              /rejected the password/.test(e.message),
          );

          // Our clock 10 minutes ahead: the KDC answers KRB_AP_ERR_SKEW and we
          // report the measured offset.
          const fast = new KerberosClient(carolP, { password: "Carol's pass-phrase 1" }, {
            kdcs: () => [realm.kdc],
            enctypes: ENCTYPE_SETS[set].numbers,
            now: () => Date.now() + 600_000,
          });
          await rejects(fast.getTgt(), (e: unknown) => {
            assert(e instanceof KdcError, String(e));
            assertEquals(e.errorCode, ErrorCode.KRB_AP_ERR_SKEW);
            assert(Math.abs(e.offsetMs! + 600_000) < 3000, `offset ${e.offsetMs}`);
            assert(
              /our clock is 60\d s ahead of the KDC|our clock is 59\d s ahead/.test(e.message),
              e.message,
            );
            return true;
          });
        });

        await t.step("a non-default salt announced in PA-ETYPE-INFO2 is used", async () => {
          // norealm salt: the KDC must tell us "dave", not the default "KINK.TESTdave".
          const enc = `${ENCTYPE_SETS[set].names[0]}:norealm`;
          const add = await realm.tool([
            "kadmin.local",
            "-q",
            `addprinc -pw dave-secret -e ${enc} +requires_preauth dave`,
          ]);
          assert(add.success && add.stdout.includes('Principal "dave@'), add.stdout + add.stderr);
          const dave = new KerberosClient(parsePrincipal(realm.principal("dave")), {
            password: "dave-secret",
          }, { kdcs: () => [realm.kdc], enctypes: ENCTYPE_SETS[set].numbers });
          const tgt = await dave.getTgt();
          assert(hasFlag(tgt.flags, TicketFlag.PRE_AUTHENT));
          dave.dispose();
        });

        await t.step("an outdated keytab (old kvno) is named as such", async () => {
          const old = keytabOf(realm, "alice");
          const cpw = await realm.tool(["kadmin.local", "-q", "cpw -randkey alice"]);
          assert(cpw.success, cpw.stderr);
          const c = new KerberosClient(parsePrincipal(realm.principal("alice")), { keytab: old }, {
            kdcs: () => [realm.kdc],
            enctypes: ENCTYPE_SETS[set].numbers,
          });
          await rejects(c.getTgt(), (e: unknown) => {
            assert(e instanceof KerberosError, String(e));
            assert(/is not the one in the keytab \(kvno 1\)/.test(e.message), e.message);
            assert(/keytab is outdated/.test(e.message), e.message);
            return true;
          });
          // With preauthentication required the KDC itself refuses the old key.
          const mod = await realm.tool(["kadmin.local", "-q", "modprinc +requires_preauth alice"]);
          assert(mod.success, mod.stderr);
          await rejects(c.getTgt(), (e: unknown) => {
            assert(e instanceof KdcError, String(e));
            assertEquals(e.errorCode, ErrorCode.KDC_ERR_PREAUTH_FAILED);
            assert(
              /rejected the keytab's key for alice@KINK.TEST \(kvno 1\)/.test(e.message),
              e.message,
            );
            assert(/the keytab is outdated/.test(e.message), e.message);
            return true;
          });
          // A freshly exported keytab works, with PA-ENC-TIMESTAMP from the keytab key.
          const fresh = `${realm.dir}/alice-fresh.keytab`;
          const kt = await realm.tool(["kadmin.local", "-q", `ktadd -k ${fresh} -norandkey alice`]);
          assert(kt.success, kt.stderr);
          const c2 = new KerberosClient(parsePrincipal(realm.principal("alice")), {
            keytab: readKeytab(Deno.readFileSync(fresh)),
          }, { kdcs: () => [realm.kdc], enctypes: ENCTYPE_SETS[set].numbers });
          const tgt = await c2.getTgt();
          assert(hasFlag(tgt.flags, TicketFlag.PRE_AUTHENT));
          c2.dispose();
        });
      } finally {
        await Deno.remove(rcDir, { recursive: true });
      }
    });
  });
}
