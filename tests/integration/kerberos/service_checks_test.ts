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
import { KeyUsage } from "../../../core/kerberos/iana.ts";
import { readCcache } from "../../../core/kerberos/ccache.ts";
import { credentialsFromCcache } from "../../../core/kerberos/client.ts";
import { checksumType, getMic, Key, keymat } from "../../../core/crypto/mod.ts";
import { key_count } from "../../../core/crypto/wasm.ts";
import type { ServiceOptions, VerifiedApReq } from "../../../core/kerberos/service.ts";
import { buildStatus } from "../../../core/wire/builders.ts";
import { ReceiveError, receiveKinkMessage } from "../../../core/wire/receive.ts";
import { keyOps } from "../../../core/wire/session.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { ipv4Text, ipv6Text } from "../../../core/util/ip.ts";

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
        /key version 1, the keytab holds kvno 2: the ticket predates the key change to kvno 2: the client needs a new ticket/,
      );
    });

    await t.step(
      "keytab behind the KDC (ticket's kvno newer): BADKEYVER, re-export the keytab",
      () => {
        const older = keys.map((k) => ({ ...k, kvno: k.kvno - 1 }));
        expectAp(
          () => svc({ keys: older }).verifyApReq(ap()),
          ErrorCode.KRB_AP_ERR_BADKEYVER,
          /key version 1, the keytab holds kvno 0: re-export the keytab/,
        );
      },
    );

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

Deno.test("kerberos service: skew, authenticator checksum, replay recording on MIT-issued tickets", async (t) => {
  await withRealm({ principals: ["alice", SERVICE] }, async (realm) => {
    const { alice, st } = await setup(realm);
    const svcPrinc = parsePrincipal(realm.principal(SERVICE));
    const keys = readKeytab(Deno.readFileSync(realm.keytab(SERVICE)));
    const clock = new ManualClock(Date.now());
    const cache = (skewMs = 300_000) => ReplayCache.open({ skewMs, firstStart: true, clock });
    const svc = () =>
      new KerberosService({ keys, principal: svcPrinc, replayCache: cache(), clock });
    const ap = (o: Parameters<typeof makeApReq>[3] = {}) =>
      makeApReq(alice.principal, st.ticket, st.sessionKey, { clock, ...o }).apReq;

    await t.step("a service whose skew exceeds its replay cache's window cannot be built", () => {
      throws(
        () =>
          new KerberosService({ keys, principal: svcPrinc, replayCache: cache(), skewMs: 600_000 }),
        (e: unknown) => e instanceof KerberosError && e.category === "invalid-argument",
      );
      // Nor one without a replay cache.
      throws(
        () => new KerberosService({ keys, principal: svcPrinc } as unknown as ServiceOptions),
        (e: unknown) => e instanceof KerberosError && /replay cache is required/.test(e.message),
      );
      // Without an explicit skew the service takes the cache's.
      const s = new KerberosService({ keys, principal: svcPrinc, replayCache: cache(120_000) });
      assertEquals(s.skewMs, 120_000);
      s.dispose();
    });

    await t.step("600 s of skew: a replay 400 s later is refused as a replay", () => {
      const s = new KerberosService({
        keys,
        principal: svcPrinc,
        replayCache: cache(600_000),
        clock,
      });
      assertEquals(s.skewMs, 600_000);
      const a = ap();
      s.verifyApReq(a).sessionKey.dispose();
      clock.advance(400_000);
      expectAp(() => s.verifyApReq(a), ErrorCode.KRB_AP_ERR_REPEAT, /already presented/);
      s.dispose();
    });

    await t.step("a bogus authenticator checksum is refused, a correct one accepted", () => {
      const s = svc();
      const type = checksumType(st.sessionKey.enctype);
      const bogus = { cksumtype: type, checksum: new Uint8Array(12).fill(0x5a) };
      expectAp(() => s.verifyApReq(ap({ checksum: bogus })), ErrorCode.KRB_AP_ERR_MODIFIED);
      // A checksum of a type that does not go with the session key.
      const other = { cksumtype: 0x8003, checksum: new Uint8Array(24) };
      expectAp(() => s.verifyApReq(ap({ checksum: other })), ErrorCode.KRB_AP_ERR_INAPP_CKSUM);
      // Keyed over the application data (KINK: none) with usage 10: accepted.
      const good = {
        cksumtype: type,
        checksum: getMic(st.sessionKey, KeyUsage.AP_REQ_AUTHENTICATOR_CKSUM, new Uint8Array(0)),
      };
      s.verifyApReq(ap({ checksum: good })).sessionKey.dispose();
      const data = new TextEncoder().encode("application data");
      const over = {
        cksumtype: type,
        checksum: getMic(st.sessionKey, KeyUsage.AP_REQ_AUTHENTICATOR_CKSUM, data),
      };
      s.verifyApReq(ap({ checksum: over }), { checksumData: data }).sessionKey.dispose();
      expectAp(() => s.verifyApReq(ap({ checksum: over })), ErrorCode.KRB_AP_ERR_MODIFIED);
      s.dispose();
    });

    await t.step("checkApReq does not record; recordApReq does, once", () => {
      const s = svc();
      const a = ap();
      const v1 = s.checkApReq(a);
      const v2 = s.checkApReq(a); // nothing recorded yet
      assert(!v1.recorded && !v2.recorded);
      s.recordApReq(v1);
      assert(v1.recorded);
      expectAp(() => s.recordApReq(v2), ErrorCode.KRB_AP_ERR_REPEAT, /already presented/);
      expectAp(() => s.checkApReq(a), ErrorCode.KRB_AP_ERR_REPEAT);
      for (const v of [v1, v2]) v.sessionKey.dispose();
      s.dispose();
    });
    alice.dispose();
  });
});

Deno.test("kerberos service: a ticket presented again comes from the ticket cache and passes or fails exactly as when decrypted afresh", async (t) => {
  await withRealm({ principals: ["alice", "bob", SERVICE] }, async (realm) => {
    const { alice, st } = await setup(realm);
    const bob = new KerberosClient(parsePrincipal(realm.principal("bob")), {
      keytab: readKeytab(Deno.readFileSync(realm.keytab("bob"))),
    }, { kdcs: () => [realm.kdc] });
    const st2 = await bob.getServiceTicket(parsePrincipal(realm.principal(SERVICE)));
    const svcPrinc = parsePrincipal(realm.principal(SERVICE));
    const keys = readKeytab(Deno.readFileSync(realm.keytab(SERVICE)));
    const clock = new ManualClock(Date.now());
    const svc = (ticketCacheSize?: number) =>
      new KerberosService({
        keys,
        principal: svcPrinc,
        replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, clock }),
        clock,
        ...(ticketCacheSize === undefined ? {} : { ticketCacheSize }),
      });
    const ap = (who = alice, cred = st) =>
      makeApReq(who.principal, cred.ticket, cred.sessionKey, { clock }).apReq;
    const seed = { protocol: 3, spi: 0x1234, ni: new Uint8Array(16).fill(7) };
    // The session key the KDC gave alice: what every verification must hand out.
    const kdcKeymat = keymat(st.sessionKey, seed, 36);

    await t.step(
      "the same ticket twice: one decryption kept, the KDC's session key both times",
      () => {
        const keysBefore = key_count();
        const s = svc();
        assertEquals(s.cachedTickets, 0);
        const v1 = s.verifyApReq(ap());
        assertEquals(s.cachedTickets, 1);
        const v2 = s.verifyApReq(ap());
        assertEquals(s.cachedTickets, 1);
        for (const v of [v1, v2]) {
          assertEquals(keymat(v.sessionKey, seed, 36), kdcKeymat);
          assertEquals(v.clientName, realm.principal("alice"));
          assertEquals(v.serverName, realm.principal(SERVICE));
          assertEquals(v.kvno, 1);
          assertEquals(v.encTicketPart.endtime.getTime(), st.endtime.getTime());
          assert(v.encTicketPart.key.keyvalue.every((b) => b === 0), "session key octets zeroed");
        }
        // The caller owns each key: disposing one leaves the next verification whole.
        v1.sessionKey.dispose();
        const v3 = s.verifyApReq(ap());
        assertEquals(keymat(v3.sessionKey, seed, 36), kdcKeymat);
        v2.sessionKey.dispose();
        v3.sessionKey.dispose();
        // dispose() zeroes and frees the cached keys with the service keys.
        s.dispose();
        assertEquals(s.cachedTickets, 0);
        assertEquals(key_count(), keysBefore);
      },
    );

    await t.step("a cached ticket still expires: KRB_AP_ERR_TKT_EXPIRED past its end time", () => {
      const own = new ManualClock(clock.now());
      const s = new KerberosService({
        keys,
        principal: svcPrinc,
        replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, clock: own }),
        clock: own,
      });
      const apNow = () =>
        makeApReq(alice.principal, st.ticket, st.sessionKey, { clock: own }).apReq;
      s.verifyApReq(apNow()).sessionKey.dispose();
      own.advanceTo(st.endtime.getTime() + 300_001);
      expectAp(() => s.verifyApReq(apNow()), ErrorCode.KRB_AP_ERR_TKT_EXPIRED);
      s.dispose();
    });

    await t.step(
      "another ciphertext with the same tail, kvno or server: decrypted (and refused) afresh",
      () => {
        const s = svc();
        s.verifyApReq(ap()).sessionKey.dispose();
        const tampered = decodeApReq(ap());
        delete tampered.ticket.raw;
        tampered.ticket.encPart.cipher[0]! ^= 1; // the cache key (length, last 16 octets) is unchanged
        expectAp(() => s.verifyApReq(encodeApReq(tampered)), ErrorCode.KRB_AP_ERR_BAD_INTEGRITY);
        const kvno = decodeApReq(ap());
        delete kvno.ticket.raw;
        kvno.ticket.encPart.kvno = 7;
        expectAp(() => s.verifyApReq(encodeApReq(kvno)), ErrorCode.KRB_AP_ERR_BADKEYVER);
        const other = decodeApReq(ap());
        delete other.ticket.raw;
        other.ticket.sname = { ...other.ticket.sname, components: ["kink", "c.kink.test"] };
        expectAp(() => s.verifyApReq(encodeApReq(other)), ErrorCode.KRB_AP_ERR_NOT_US);
        // The genuine ticket is still served.
        s.verifyApReq(ap()).sessionKey.dispose();
        assertEquals(s.cachedTickets, 1);
        s.dispose();
      },
    );

    await t.step("the cache holds at most ticketCacheSize tickets; 0 turns it off", () => {
      const s = svc(1);
      for (let i = 0; i < 3; i++) {
        s.verifyApReq(ap()).sessionKey.dispose();
        const v = s.verifyApReq(ap(bob, st2));
        assertEquals(v.clientName, realm.principal("bob"));
        v.sessionKey.dispose();
        assertEquals(s.cachedTickets, 1);
      }
      s.dispose();
      const off = svc(0);
      off.verifyApReq(ap()).sessionKey.dispose();
      assertEquals(off.cachedTickets, 0);
      off.dispose();
      throws(() => svc(-1), (e: unknown) => e instanceof KerberosError);
    });
    alice.dispose();
    bob.dispose();
  });
});

Deno.test("kerberos service: ticket address policy on an address-restricted MIT ticket", async () => {
  await withRealm({ principals: ["alice"] }, async (realm) => {
    // kinit -a asks for a TGT restricted to this host's addresses; the krbtgt
    // key (exported without changing it) lets our service verify that ticket.
    const kinit = await realm.tool([
      "kinit",
      "-a",
      "-k",
      "-t",
      realm.keytab("alice"),
      realm.principal("alice"),
    ]);
    assert(kinit.success, kinit.stderr);
    const tgs = `krbtgt/${realm.realm}@${realm.realm}`;
    const kt = `${realm.dir}/krbtgt.keytab`;
    const ex = await realm.tool([
      "kadmin.local",
      "-r",
      realm.realm,
      "-q",
      `ktadd -norandkey -k ${kt} ${tgs}`,
    ]);
    assert(ex.success, ex.stderr);
    const cc = readCcache(Deno.readFileSync(realm.env.KRB5CCNAME!.replace(/^FILE:/, "")));
    const [tgt] = credentialsFromCcache(cc).filter((c) => c.server.components[0] === "krbtgt");
    assert(tgt);
    const caddr = cc.credentials.find((c) => c.server.components[0] === "krbtgt")!.addresses;
    assert(caddr.length > 0, "kinit -a gave a ticket with addresses");
    const listed = caddr.map((a) => a.addrType === 2 ? ipv4Text(a.address) : ipv6Text(a.address));
    const svc = (policy?: "check" | "ignore") =>
      new KerberosService({
        keys: readKeytab(Deno.readFileSync(kt)),
        principal: parsePrincipal(tgs),
        replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
        ...(policy ? { ticketAddresses: policy } : {}),
      });
    const ap = () => makeApReq(tgt.client, tgt.ticket, tgt.sessionKey).apReq;
    const s = svc();
    for (const addr of listed) {
      s.verifyApReq(ap(), { senderAddress: addr }).sessionKey.dispose();
    }
    const v4 = caddr.find((a) => a.addrType === 2);
    if (v4) {
      // The IPv4-mapped form of a listed IPv4 address is the same sender.
      s.verifyApReq(ap(), { senderAddress: `::ffff:${ipv4Text(v4.address)}` }).sessionKey
        .dispose();
    }
    expectAp(
      () => s.verifyApReq(ap(), { senderAddress: "198.51.100.77" }),
      ErrorCode.KRB_AP_ERR_BADADDR,
      /198\.51\.100\.77, which is not one of them/,
    );
    expectAp(() => s.verifyApReq(ap()), ErrorCode.KRB_AP_ERR_BADADDR, /not known/);
    // "ignore" accepts it from anywhere.
    svc("ignore").verifyApReq(ap(), { senderAddress: "198.51.100.77" }).sessionKey.dispose();
    s.dispose();
    tgt.sessionKey.dispose();
  });
});

Deno.test("KINK receive order: a forged datagram carrying a sniffed AP-REQ does not burn the genuine one", async () => {
  await withRealm({ principals: ["alice", SERVICE] }, async (realm) => {
    const { alice, st } = await setup(realm);
    const svc = new KerberosService({
      keys: readKeytab(Deno.readFileSync(realm.keytab(SERVICE))),
      principal: parsePrincipal(realm.principal(SERVICE)),
      replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
    });
    const apReq = makeApReq(alice.principal, st.ticket, st.sessionKey).apReq;
    const genuine = buildStatus({ xid: 7, epoch: 1, apReq, key: keyOps(st.sessionKey) });
    // The attacker copies the AP-REQ off the wire but cannot know the session key.
    const wrongKey = Key.fromBytes(
      st.sessionKey.enctype,
      new Uint8Array(st.sessionKey.exportBytes().length).fill(7),
    );
    const forged = buildStatus({ xid: 8, epoch: 1, apReq, key: keyOps(wrongKey) });
    const held: VerifiedApReq[] = [];
    const receive = (b: Uint8Array) =>
      receiveKinkMessage(b, {
        authenticate: (d) => {
          const p = d.message.payloads.find((x) => x.kind === "ap-req");
          if (!p || p.kind !== "ap-req") return undefined;
          const v = svc.checkApReq(p.apReq);
          held.push(v);
          return { key: keyOps(v.sessionKey), commit: () => svc.recordApReq(v) };
        },
      });
    throws(
      () => receive(forged),
      (e: unknown) => e instanceof ReceiveError && e.category === "integrity",
    );
    // The genuine message, arriving after the forgery, is accepted …
    const r = receive(genuine);
    assert(r.authenticated);
    // … and the replay cache still refuses it a second time.
    expectAp(() => receive(genuine), ErrorCode.KRB_AP_ERR_REPEAT);
    for (const v of held) v.sessionKey.dispose();
    wrongKey.dispose();
    svc.dispose();
    alice.dispose();
  });
});
