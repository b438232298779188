/**
 * What the client writes and says without a KDC: a credential without
 * starttime goes to the ccache with authtime there (as MIT's and Heimdal's
 * libraries store it), and an enctype restriction that misses the keytab's
 * keys names both lists instead of claiming kink lacks support.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { credentialsToCcache, KerberosClient } from "../../../core/kerberos/client.ts";
import { readCcache, writeCcache } from "../../../core/kerberos/ccache.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { decodeTicket, encodeTicket } from "../../../core/kerberos/messages.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { Key } from "../../../core/crypto/mod.ts";
import { AuthenticatorTimes, makeApRep, makeApReq } from "../../../core/kerberos/service.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";

const me = parsePrincipal("kink/a.kink.test@KINK.TEST");
const noKdc = () => Promise.reject(new Error("the KDC must not be asked"));

Deno.test("ccache: a ticket without starttime is stored with authtime as its starttime", () => {
  const authtime = new Date(Date.UTC(2026, 10, 27, 3, 0, 0));
  const cc = credentialsToCcache(me, [{
    client: me,
    server: parsePrincipal("krbtgt/KINK.TEST@KINK.TEST"),
    ticket: decodeTicket(encodeTicket({
      tktVno: 5,
      realm: "KINK.TEST",
      sname: { nameType: 2, components: ["krbtgt", "KINK.TEST"] },
      encPart: { etype: 18, kvno: 1, cipher: new Uint8Array(64) },
    })),
    sessionKey: Key.fromBytes(18, new Uint8Array(32)),
    flags: 0,
    authtime,
    endtime: new Date(authtime.getTime() + 36_000_000),
  }]);
  const back = readCcache(writeCcache(cc)).credentials[0]!;
  assertEquals(back.starttime, authtime);
  assertEquals(back.authtime, authtime);
});

Deno.test("client: configured enctypes that miss the keytab's say the two do not meet", async () => {
  const keytab = [{ principal: me, kvno: 2, enctype: 18, key: new Uint8Array(32).fill(1) }];
  const c = new KerberosClient(me, { keytab }, { send: noKdc, enctypes: [17] });
  await rejects(c.getTgt(), (e: unknown) => {
    assert(e instanceof KerberosError, String(e));
    assert(
      /configured enctypes \(aes128-cts-hmac-sha1-96\) and the keytab's keys .* \(aes256-cts-hmac-sha1-96\) do not meet/
        .test(e.message),
      e.message,
    );
    assert(!/none of which kink supports/.test(e.message), e.message);
    return true;
  });
  // A keytab holding only enctypes kink does not implement still says so.
  const old = [{ principal: me, kvno: 2, enctype: 23, key: new Uint8Array(16) }];
  const c2 = new KerberosClient(me, { keytab: old }, { send: noKdc });
  await rejects(c2.getTgt(), /arcfour-hmac, none of which kink supports/);
});

Deno.test("makeApReq / makeApRep: a seeded RandomSource and clock reproduce them bit for bit", () => {
  const ticket = decodeTicket(encodeTicket({
    tktVno: 5,
    realm: "KINK.TEST",
    sname: { nameType: 2, components: ["kink", "b.kink.test"] },
    encPart: { etype: 18, kvno: 1, cipher: new Uint8Array(64).fill(3) },
  }));
  const key = Key.fromBytes(18, new Uint8Array(32).fill(5));
  const run = (seed: number) => {
    const random = new SeededRandom(seed);
    const clock = new ManualClock(1_790_000_000_123);
    const times = new AuthenticatorTimes();
    const a = makeApReq(me, ticket, key, { clock, random, times });
    const b = makeApReq(me, ticket, key, { clock, random, times }); // same instant
    const rep = makeApRep(key, a.time.ctime, a.time.cusec, random);
    return { a: a.apReq, b: b.apReq, rep, ta: a.time, tb: b.time };
  };
  const x = run(1), y = run(1), z = run(2);
  assertEquals(x, y);
  // Two authenticators at one instant still differ in (ctime, cusec).
  assert(x.ta.cusec !== x.tb.cusec || x.ta.ctime.getTime() !== x.tb.ctime.getTime());
  assert(x.a.some((v, i) => v !== z.a[i]), "another seed, another AP-REQ");
  key.dispose();
});

Deno.test("AuthenticatorTimes: 20,000 AP-REQs built in one millisecond get distinct (ctime, cusec) within 20 ms of it; after the clock steps back an hour they stay near the clock", () => {
  const times = new AuthenticatorTimes();
  const random = new SeededRandom(9);
  const t0 = 1_790_000_000_123;
  const seen = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    const { time, usec } = times.next(t0, random);
    const us = time.getTime() * 1000 + usec;
    assert(!seen.has(us), `time ${us} issued twice`);
    assert(us >= t0 * 1000 && us < (t0 + 20) * 1000, `time ${us} strays from the instant`);
    seen.add(us);
  }
  const back = t0 - 3_600_000;
  for (let i = 0; i < 2_000; i++) {
    const { time, usec } = times.next(back, random);
    const us = time.getTime() * 1000 + usec;
    assert(!seen.has(us), `time ${us} issued twice`);
    assert(us >= back * 1000 && us < (back + 3) * 1000, `time ${us} strays after the step`);
    seen.add(us);
  }
});
