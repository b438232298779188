/**
 * The KINK responder's Kerberos hot path: verify an AP-REQ (ticket decrypt,
 * authenticator decrypt, checks, replay cache) and build the AP-REP, for
 * enctypes 18 (aes256-cts-hmac-sha1-96) and 20 (aes256-cts-hmac-sha384-192).
 *
 * Each group's baseline is the crypto alone — the same two decryptions and
 * one encryption on the same sizes — so the ratio shows what DER parsing,
 * the checks and the replay cache add. Tickets are made locally with a random
 * service key (no KDC needed); the clock is fixed at the authenticators' time.
 *
 * Run: deno bench --allow-read=. --allow-env=TMPDIR bench/kerberos_bench.ts
 */
import { decrypt, encrypt, Key } from "../core/crypto/mod.ts";
import { KeyUsage, makeFlags, TicketFlag } from "../core/kerberos/iana.ts";
import {
  decodeApReq,
  encodeEncApRepPart,
  encodeEncTicketPart,
  type Ticket,
} from "../core/kerberos/messages.ts";
import { parsePrincipal } from "../core/kerberos/principal.ts";
import { ReplayCache } from "../core/kerberos/replay.ts";
import { KerberosService, makeApReq, toPrincipalName } from "../core/kerberos/service.ts";
import { keep } from "./keep.ts";

const NOW = Date.UTC(2026, 10, 27, 3, 0, 0);
const POOL = 20_000;

function setup(enctype: 18 | 20) {
  const server = parsePrincipal("kink/b.kink.test@KINK.TEST");
  const client = parsePrincipal("kink/a.kink.test@KINK.TEST");
  const serviceKey = Key.random(enctype);
  const sessionKey = Key.random(enctype);
  const etp = encodeEncTicketPart({
    flags: makeFlags(TicketFlag.PRE_AUTHENT),
    key: { keytype: enctype, keyvalue: sessionKey.exportBytes() },
    crealm: client.realm,
    cname: toPrincipalName(client),
    transited: { trType: 1, contents: new Uint8Array(0) },
    authtime: new Date(NOW - 60_000),
    endtime: new Date(NOW + 36_000_000),
  });
  const ticket: Ticket = {
    tktVno: 5,
    realm: server.realm,
    sname: toPrincipalName(server),
    encPart: { etype: enctype, kvno: 3, cipher: encrypt(serviceKey, KeyUsage.KDC_REP_TICKET, etp) },
  };
  // A pool of distinct AP-REQs (the replay cache rejects repeats).
  let t = NOW;
  const pool: Uint8Array[] = [];
  for (let i = 0; i < POOL; i++) {
    pool.push(makeApReq(client, ticket, sessionKey, { now: () => t }).apReq);
    t += 1; // fresh (ctime, cusec) each time
  }
  const newCache = () => ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => NOW });
  const sample = decodeApReq(pool[0]!);
  const ticketCipher = sample.ticket.encPart.cipher;
  const authCipher = sample.authenticator.cipher;
  const repPlain = encodeEncApRepPart({ ctime: new Date(NOW), cusec: 1 });
  return {
    server,
    serviceKey,
    sessionKeyBytes: sessionKey.exportBytes(),
    pool,
    newCache,
    ticketCipher,
    authCipher,
    repPlain,
    enctype,
  };
}

for (const enctype of [18, 20] as const) {
  const s = setup(enctype);
  let i = 0;
  let cache = s.newCache();
  const withCache = () =>
    new KerberosService({
      keys: [{
        principal: s.server,
        kvno: 3,
        enctype,
        key: s.serviceKey.exportBytes(),
      }],
      principal: s.server,
      replayCache: cache,
      now: () => NOW,
    });
  let svc = withCache();
  const group = `responder hot path, enctype ${enctype}`;

  Deno.bench({
    name:
      `crypto only: ticket decrypt, session key import, authenticator decrypt, AP-REP encrypt (${enctype})`,
    group,
    baseline: true,
    fn() {
      // Every AP-REQ brings a new session key, so its import (and the per-usage
      // key derivation that follows) is part of the crypto cost.
      keep(decrypt(s.serviceKey, KeyUsage.KDC_REP_TICKET, s.ticketCipher));
      const k = Key.fromBytes(enctype, s.sessionKeyBytes);
      keep(decrypt(k, KeyUsage.AP_REQ_AUTHENTICATOR, s.authCipher));
      keep(encrypt(k, KeyUsage.AP_REP_ENC_PART, s.repPlain));
      k.dispose();
    },
  });

  Deno.bench({
    name: `verifyApReq (DER, ticket, authenticator, checks, replay) + makeApRep (${enctype})`,
    group,
    fn(b) {
      if (i === s.pool.length) {
        // Pool exhausted: a fresh cache so the same AP-REQs are new again (not timed).
        i = 0;
        svc.dispose();
        cache = s.newCache();
        svc = withCache();
      }
      b.start();
      const v = svc.verifyApReq(s.pool[i++]!);
      keep(svc.makeApRep(v));
      v.sessionKey.dispose();
      b.end();
    },
  });

  Deno.bench({
    name: `DER decode of an AP-REQ (${enctype})`,
    group: `AP-REQ DER decode, enctype ${enctype}`,
    fn() {
      keep(decodeApReq(s.pool[0]!).authenticator.cipher);
    },
  });
}

// The replay cache's check at its limit against the same check on a small
// cache: expiry pops the head of a time-ordered queue, so the cost per check
// must not grow with the number of entries (the old code swept every entry
// on each check once the cache was full: 7.6 ms per check at 1M entries).
{
  const group = "replay cache check at the limit: 1M entries vs 1k entries";
  const A = { client: "alice@KINK.TEST", server: "kink/b.kink.test@KINK.TEST" };
  const clock = { now: () => NOW };
  const small = ReplayCache.open({ skewMs: 300_000, firstStart: true, clock, maxEntries: 1_000 });
  for (let i = 0; i < 1_000; i++) small.check({ ...A, ctimeMs: NOW, cusec: i });
  const FULL = 1_000_000;
  const full = ReplayCache.open({ skewMs: 300_000, firstStart: true, clock, maxEntries: FULL });
  for (let i = 0; i < FULL; i++) full.check({ ...A, ctimeMs: NOW, cusec: i });
  let n = 0;
  let sink = 0;
  Deno.bench({
    name: "check of a new authenticator, cache full at 1k live entries (refused: full)",
    group,
    baseline: true,
    fn() {
      const v = small.check({ ...A, ctimeMs: NOW + 1000, cusec: n++ % 1_000_000 });
      sink += v.ok ? 1 : 0;
    },
  });
  Deno.bench({
    name: "check of a new authenticator, cache full at 1M live entries (refused: full)",
    group,
    fn() {
      const v = full.check({ ...A, ctimeMs: NOW + 1000, cusec: n++ % 1_000_000 });
      sink += v.ok ? 1 : 2;
    },
  });
  globalThis.addEventListener("unload", () => {
    if (sink < 0) console.log(sink);
  });
}
