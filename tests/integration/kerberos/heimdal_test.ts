/**
 * kink's Kerberos client and service against Heimdal's KDC (the second KDC
 * implementation, run from Debian's packages unpacked by
 * scripts/heimdal/prepare.sh): TGT and service tickets for every enctype of
 * 17–20 Heimdal supports, with and without pre-authentication, over UDP and
 * TCP, with keytabs and passwords; AP-REQs built on tickets Heimdal's own
 * client fetched are verified by kink's service.
 */
import { deepStrictEqual as assertEquals, fail, ok as assert } from "node:assert/strict";
import {
  type HeimdalRealm,
  heimdalSkipReason,
  withHeimdalRealm,
} from "../../harness/heimdal_realm.ts";
import { skipUnless } from "../../harness/tiers.ts";
import { credentialsFromCcache, kdcSender, KerberosClient } from "../../../core/kerberos/client.ts";
import { KerberosService, makeApReq, verifyApRep } from "../../../core/kerberos/service.ts";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { readCcache } from "../../../core/kerberos/ccache.ts";
import { decodeKrbError, peekMessageType } from "../../../core/kerberos/messages.ts";
import { formatPrincipal, parsePrincipal } from "../../../core/kerberos/principal.ts";
import { ErrorCode, hasFlag, MsgType, TicketFlag } from "../../../core/kerberos/iana.ts";

const SERVICE = "kink/b.heimdal.test";
const skip = heimdalSkipReason();

/** A client that records the message type (and KRB-ERROR code) of every KDC reply. */
function clientFor(
  realm: HeimdalRealm,
  name: string,
  enctypes: number[],
  protocol: "udp" | "tcp",
  secret: "keytab" | string = "keytab",
) {
  const replies: string[] = [];
  const send = kdcSender(() => [{ ...realm.kdc, protocol }], { timeoutMs: 3000 });
  const client = new KerberosClient(
    parsePrincipal(realm.principal(name)),
    secret === "keytab"
      ? { keytab: readKeytab(Deno.readFileSync(realm.keytab(name))) }
      : { password: secret },
    {
      enctypes,
      send: async (r, req, signal) => {
        const reply = await send(r, req, signal);
        const type = peekMessageType(reply);
        replies.push(
          type === MsgType.KRB_ERROR ? `error ${decodeKrbError(reply).errorCode}` : `${type}`,
        );
        return reply;
      },
    },
  );
  return { client, replies };
}

function serviceFor(realm: HeimdalRealm) {
  return new KerberosService({
    keys: readKeytab(Deno.readFileSync(realm.keytab(SERVICE))),
    principal: parsePrincipal(realm.principal(SERVICE)),
    replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
  });
}

const PREAUTH_REQUIRED = `error ${ErrorCode.KDC_ERR_PREAUTH_REQUIRED}`;
const AS_REP = `${MsgType.AS_REP}`;
const TGS_REP = `${MsgType.TGS_REP}`;

for (const enctype of [17, 18, 19, 20]) {
  Deno.test({
    ...skipUnless(
      `heimdal enctype ${enctype}: TGT and service ticket, verified by kink's service`,
      skip,
    ),
    fn: async (t) => {
      await withHeimdalRealm(
        { principals: ["alice", SERVICE], enctypes: [enctype], passwords: {} },
        async (realm) => {
          const server = parsePrincipal(realm.principal(SERVICE));
          for (const protocol of ["udp", "tcp"] as const) {
            await t.step(`keytab, pre-auth required, ${protocol}`, async () => {
              const { client, replies } = clientFor(realm, "alice", [enctype], protocol);
              const tgt = await client.getTgt();
              assertEquals(formatPrincipal(tgt.server), `krbtgt/${realm.realm}@${realm.realm}`);
              assertEquals(tgt.sessionKey.enctype, enctype);
              assertEquals(tgt.ticket.encPart.etype, enctype);
              assert(
                hasFlag(tgt.flags, TicketFlag.PRE_AUTHENT),
                "TGT not marked pre-authenticated",
              );
              const st = await client.getServiceTicket(server);
              assertEquals(st.sessionKey.enctype, enctype);
              assertEquals(st.ticket.encPart.etype, enctype);
              // Heimdal asked for pre-authentication, then issued both tickets.
              assertEquals(replies, [PREAUTH_REQUIRED, AS_REP, TGS_REP]);
              // kink's service opens Heimdal's ticket with the keytab Heimdal exported.
              const svc = serviceFor(realm);
              const ap = makeApReq(client.principal, st.ticket, st.sessionKey);
              const v = svc.verifyApReq(ap.apReq);
              assertEquals(formatPrincipal(v.client), realm.principal("alice"));
              assertEquals(v.sessionKey.exportBytes(), st.sessionKey.exportBytes());
              verifyApRep(svc.makeApRep(v), st.sessionKey, [ap.time]);
              v.sessionKey.dispose();
              client.dispose();
            });
          }
          await t.step("password (Heimdal's pw-salt), pre-auth required", async () => {
            // A second principal with a password: kink derives the key from ETYPE-INFO2's salt.
            const r = await realm.heimdal("kadmin.heimdal", [
              "-l",
              "add",
              "--use-defaults",
              "--password=correct horse",
              realm.principal("carol"),
            ]);
            assert(r.success, r.stderr);
            const { client, replies } = clientFor(
              realm,
              "carol",
              [enctype],
              "udp",
              "correct horse",
            );
            const tgt = await client.getTgt();
            assertEquals(tgt.sessionKey.enctype, enctype);
            assertEquals(replies, [PREAUTH_REQUIRED, AS_REP]);
            const wrong = clientFor(realm, "carol", [enctype], "udp", "wrong horse").client;
            await wrong.getTgt().then(
              () => fail("a wrong password got a TGT"),
              (e: Error) =>
                assert(
                  /rejected the password|PREAUTH_FAILED|wrong password/.test(e.message),
                  e.message,
                ),
            );
            client.dispose();
          });
        },
      );
    },
  });
}

Deno.test({
  ...skipUnless("heimdal: pre-authentication not required — the TGT comes in one round", skip),
  fn: async () => {
    await withHeimdalRealm(
      { principals: ["alice", SERVICE], enctypes: [20, 19, 18, 17], requirePreauth: false },
      async (realm) => {
        const { client, replies } = clientFor(realm, "alice", [18, 17, 20, 19], "udp");
        const tgt = await client.getTgt();
        assertEquals(replies, [AS_REP]);
        assert(!hasFlag(tgt.flags, TicketFlag.PRE_AUTHENT));
        // kink's preferred enctype among the keys the principal has.
        assertEquals(tgt.sessionKey.enctype, 18);
        const st = await client.getServiceTicket(parsePrincipal(realm.principal(SERVICE)));
        assertEquals(st.sessionKey.enctype, 18);
        client.dispose();
      },
    );
  },
});

Deno.test({
  ...skipUnless("heimdal: AP-REQ on a ticket Heimdal's own client fetched, verified by kink", skip),
  fn: async () => {
    await withHeimdalRealm(
      { principals: ["alice", SERVICE], enctypes: [18, 17] },
      async (realm) => {
        const cc = `${realm.dir}/alice.ccache`;
        const kinit = await realm.heimdal("kinit.heimdal", [
          `--cache=FILE:${cc}`,
          `--keytab=${realm.keytab("alice")}`,
          realm.principal("alice"),
        ]);
        assert(kinit.success, kinit.stderr);
        const get = await realm.heimdal("kgetcred", [
          `--cache=FILE:${cc}`,
          realm.principal(SERVICE),
        ]);
        assert(get.success, get.stderr);
        const creds = credentialsFromCcache(readCcache(await Deno.readFile(cc)));
        const st = creds.find((c) => formatPrincipal(c.server) === realm.principal(SERVICE));
        assert(
          st,
          `no service ticket in Heimdal's ccache: ${creds.map((c) => formatPrincipal(c.server))}`,
        );
        const svc = serviceFor(realm);
        const ap = makeApReq(st.client, st.ticket, st.sessionKey);
        const v = svc.verifyApReq(ap.apReq);
        assertEquals(formatPrincipal(v.client), realm.principal("alice"));
        assertEquals(v.sessionKey.enctype, st.sessionKey.enctype);
        verifyApRep(svc.makeApRep(v), st.sessionKey, [ap.time]);
        v.sessionKey.dispose();
        for (const c of creds) c.sessionKey.dispose();
      },
    );
  },
});
