/**
 * The simulator's KDC and ticket client without a network: tickets the
 * service side of kink accepts, user-to-user, the KDC's refusals, the
 * availability switch, and reproducibility from a seed. (That MIT's libkrb5
 * accepts these tickets is tests/integration/sim/kdc_mit_test.ts.)
 */
import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws,
} from "node:assert/strict";
import { SimKdc } from "../../sim/kdc.ts";
import { SimTicketClient, SimTicketError } from "../../sim/tickets.ts";
import {
  ErrorCode,
  KdcUnreachableError,
  KerberosClient,
  KerberosService,
  makeApReq,
  parsePrincipal,
  ReplayCache,
} from "../../../core/kerberos/mod.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { toHex } from "../../../core/util/bytes.ts";

const REALM = "SIM.TEST";
const T0 = Date.UTC(2026, 0, 1);

function setup(seed: number, et = 18) {
  const clock = new ManualClock(T0);
  const random = new SeededRandom(seed);
  const kdc = new SimKdc({ realm: REALM, clock, random: random.fork(), tgtEnctypes: [et] });
  const a = kdc.addPrincipal("kink/a.sim.test", { enctypes: [et] });
  const b = kdc.addPrincipal("kink/b.sim.test", { enctypes: [et] });
  const client = (name: string, keytab: typeof a, now = () => clock.now()) =>
    new SimTicketClient({
      principal: parsePrincipal(`${name}@${REALM}`),
      keytab,
      send: (realm, req) => kdc.handleSync(realm, req),
      now,
      random: random.fork(),
    });
  return { clock, kdc, a, b, client };
}

/** The KDC error code `fn` fails with (it must fail with a SimTicketError). */
function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    assert(e instanceof SimTicketError, String(e));
    return e.errorCode;
  }
  throw new Error("expected the KDC to refuse");
}

for (const et of [17, 18, 19, 20]) {
  Deno.test(`SimKdc ${et}: TGT and service ticket that kink's AP-REQ service accepts`, () => {
    const { clock, kdc, a, b, client } = setup(et, et);
    const ca = client("kink/a.sim.test", a);
    const st = ca.getServiceTicket(parsePrincipal(`kink/b.sim.test@${REALM}`));
    assertEquals(st.sessionKey.enctype, et);
    assertEquals(kdc.counters, { asReps: 1, tgsReps: 1, u2uReps: 0, errors: 0, refused: 0 });
    // Cached: no second exchange.
    assert(ca.getServiceTicket(parsePrincipal(`kink/b.sim.test@${REALM}`)) === st);
    const svc = new KerberosService({
      keys: b,
      principal: parsePrincipal(`kink/b.sim.test@${REALM}`),
      replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => clock.now() }),
      now: () => clock.now(),
    });
    const ap = makeApReq(ca.principal, st.ticket, st.sessionKey, { now: () => clock.now() });
    const v = svc.verifyApReq(ap.apReq);
    assertEquals(v.client.components, ["kink", "a.sim.test"]);
    assertEquals(toHex(v.sessionKey.exportBytes()), toHex(st.sessionKey.exportBytes()));
    assertEquals(v.kvno, 1);
  });
}

Deno.test("SimKdc: user-to-user ticket decrypts with the peer TGT's session key only", () => {
  const { clock, kdc, a, client } = setup(3);
  const c = kdc.addPrincipal("kink/c.sim.test", { userToUserOnly: true });
  const ca = client("kink/a.sim.test", a);
  const cc = client("kink/c.sim.test", c);
  const cPrinc = parsePrincipal(`kink/c.sim.test@${REALM}`);
  assertEquals(codeOf(() => ca.getServiceTicket(cPrinc)), ErrorCode.KDC_ERR_MUST_USE_USER2USER);
  const cTgt = cc.getTgt();
  const st = ca.getServiceTicket(cPrinc, { peerTgt: cTgt.ticket });
  assert(st.userToUser);
  const svc = new KerberosService({
    keys: [],
    principal: cPrinc,
    replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => clock.now() }),
    now: () => clock.now(),
  });
  svc.setTgtSessionKeys([cTgt.sessionKey]);
  const ap = makeApReq(ca.principal, st.ticket, st.sessionKey, {
    userToUser: true,
    now: () => clock.now(),
  });
  const v = svc.verifyApReq(ap.apReq);
  assert(v.userToUser);
  // A TGT of someone else as additional ticket: SERVER_NOMATCH.
  assertEquals(
    codeOf(() => ca.getServiceTicket(cPrinc, { peerTgt: ca.getTgt().ticket })),
    ErrorCode.KDC_ERR_SERVER_NOMATCH,
  );
  assertEquals(kdc.counters.u2uReps, 1);
});

Deno.test("SimKdc: refusals — unknown principals, skew, down", () => {
  const { clock, kdc, a, client } = setup(4);
  const ca = client("kink/a.sim.test", a);
  assertEquals(
    codeOf(() => ca.getServiceTicket(parsePrincipal(`kink/nobody.sim.test@${REALM}`))),
    ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN,
  );
  const skewed = client("kink/a.sim.test", a, () => clock.now() + 301_000);
  assertEquals(codeOf(() => skewed.getTgt()), ErrorCode.KRB_AP_ERR_SKEW);
  kdc.setAvailable(false);
  throws(() => kdc.handleSync(REALM, new Uint8Array([1, 2, 3])), KdcUnreachableError);
  const fresh = client("kink/a.sim.test", a);
  throws(() => fresh.getTgt(), /KDC unreachable/);
  kdc.setAvailable(true);
  assert(fresh.getTgt().endtime.getTime() > clock.now());
  // Garbage gets a KRB-ERROR, never an exception.
  const reply = kdc.handleSync(REALM, new Uint8Array([0x6a, 0x03, 0x02, 0x01, 0x05]));
  assertEquals(reply[0], 0x7e);
});

Deno.test("SimKdc: the same seed gives the same tickets, octet for octet", () => {
  const run = (seed: number) => {
    const { a, client } = setup(seed);
    const ca = client("kink/a.sim.test", a);
    const st = ca.getServiceTicket(parsePrincipal(`kink/b.sim.test@${REALM}`));
    return toHex(st.ticket.raw ?? new Uint8Array(0)) + toHex(st.sessionKey.exportBytes());
  };
  assertEquals(run(42), run(42));
  assert(run(42) !== run(43));
});

Deno.test("SimKdc: kink's KerberosClient gets a TGT (after PREAUTH_REQUIRED) and service tickets through its sender seam", async () => {
  const clock = new ManualClock(T0);
  const random = new SeededRandom(12);
  const kdc = new SimKdc({ realm: REALM, clock, random: random.fork(), tgtEnctypes: [20] });
  const a = kdc.addPrincipal("kink/a.sim.test", { enctypes: [20, 18] });
  const b = kdc.addPrincipal("kink/b.sim.test", { enctypes: [18] });
  const client = new KerberosClient(parsePrincipal(`kink/a.sim.test@${REALM}`), { keytab: a }, {
    send: (realm, req, signal) => kdc.handle(realm, req, signal),
    clock,
    random: random.fork(),
  });
  const tgt = await client.getTgt();
  assertEquals(tgt.server.components, ["krbtgt", REALM]);
  // The first enctype the client asks for that krbtgt (aes256-sha2 only) has a key of.
  assertEquals(tgt.sessionKey.enctype, 20);
  assertEquals(kdc.counters.asReps, 1);
  assertEquals(kdc.counters.errors, 1); // KDC_ERR_PREAUTH_REQUIRED, then PA-ENC-TIMESTAMP
  const server = parsePrincipal(`kink/b.sim.test@${REALM}`);
  const st = await client.getServiceTicket(server);
  assert((await client.getServiceTicket(server)) === st, "cached");
  assertEquals(kdc.counters.tgsReps, 1);
  const svc = new KerberosService({
    keys: b,
    principal: server,
    replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => clock.now() }),
    now: () => clock.now(),
  });
  const v = svc.verifyApReq(makeApReq(client.principal, st.ticket, st.sessionKey, { clock }).apReq);
  assertEquals(v.client.components, ["kink", "a.sim.test"]);
  kdc.setAvailable(false);
  clock.advance(86_400_000); // everything expired: the client must ask again
  await assertRejects(() => client.getServiceTicket(server));
  client.dispose();
});
