/**
 * Cross-realm tickets from real MIT KDCs: a client in one realm gets the
 * cross-realm TGT(s) and then a service ticket in another realm, in both
 * directions — direct trust, a path set by krb5.conf [capaths] through a
 * third realm, the hierarchical default (where the KDC itself answers with a
 * TGT for a realm closer to the target), and KDC referrals (canonicalize).
 * kink's service in the server's realm verifies the AP-REQ. The client's own
 * TGT stays its realm's: a cross-realm TGT never takes its place (what KINK's
 * GETTGT hands out, RFC 4430 §4.2.4).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { type Realms, withRealms } from "../../harness/cross_realm.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import {
  clientOptionsFromKrb5Conf,
  KerberosClient,
  kinkServicePrincipal,
} from "../../../core/kerberos/client.ts";
import { loadKrb5Conf } from "../../../core/kerberos/krb5conf.ts";
import { KerberosService, makeApReq, verifyApRep } from "../../../core/kerberos/service.ts";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { decodeEncTicketPart } from "../../../core/kerberos/messages.ts";
import { formatPrincipal, parsePrincipal } from "../../../core/kerberos/principal.ts";
import { KeyUsage } from "../../../core/kerberos/iana.ts";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";

const skip = realmSkipReason();

/** A gateway principal `kink/<host>` with its realm's KDC list from the combined krb5.conf. */
async function gateway(realms: Realms, realm: string, host: string, confPath = realms.krb5Conf) {
  const r = realms.get(realm);
  const name = `kink/${host}@${realm}`;
  const opts = clientOptionsFromKrb5Conf(await loadKrb5Conf(confPath));
  return new KerberosClient(
    parsePrincipal(name),
    { keytab: readKeytab(await Deno.readFile(r.keytab(name))) },
    { ...opts, transport: { timeoutMs: 2000 } },
  );
}

/** Gets a ticket for `kink/<serverHost>@serverRealm`, has kink's service there verify it. */
async function crossRealmTicket(
  realms: Realms,
  client: KerberosClient,
  serverRealm: string,
  serverHost: string,
  ask = serverRealm,
) {
  const server = kinkServicePrincipal(serverHost, ask);
  const st = await client.getServiceTicket(server);
  assertEquals(formatPrincipal(st.server), `kink/${serverHost}@${serverRealm}`);
  const name = `kink/${serverHost}@${serverRealm}`;
  const keys = readKeytab(await Deno.readFile(realms.get(serverRealm).keytab(name)));
  const svc = new KerberosService({
    keys,
    principal: parsePrincipal(name),
    replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true }),
  });
  const ap = makeApReq(client.principal, st.ticket, st.sessionKey);
  const v = svc.verifyApReq(ap.apReq);
  assertEquals(formatPrincipal(v.client), formatPrincipal(client.principal));
  verifyApRep(svc.makeApRep(v), st.sessionKey, [ap.time]);
  v.sessionKey.dispose();
  // The TGT the client holds is still its own realm's.
  const tgt = await client.getTgt();
  assertEquals(
    formatPrincipal(tgt.server),
    `krbtgt/${client.principal.realm}@${client.principal.realm}`,
  );
  return { st, transited: transitedOf(keys, st.ticket) };
}

/** The transited encoding contents of a ticket (opened with the service's key). */
function transitedOf(
  keys: ReturnType<typeof readKeytab>,
  ticket: { encPart: { etype: number; cipher: Uint8Array } },
): string {
  const e = keys.find((k) => k.enctype === ticket.encPart.etype)!;
  using key = Key.fromBytes(e.enctype, e.key);
  const part = decodeEncTicketPart(decrypt(key, KeyUsage.KDC_REP_TICKET, ticket.encPart.cipher));
  part.key.keyvalue.fill(0);
  return new TextDecoder().decode(part.transited.contents);
}

/** The cross-realm TGTs a client holds, as `krbtgt/X@Y` names. */
function crossTgts(client: KerberosClient): string[] {
  return client.credentials().map((c) => formatPrincipal(c.server)).filter((n) =>
    n.startsWith("krbtgt/") && n !== `krbtgt/${client.principal.realm}@${client.principal.realm}`
  ).sort();
}

Deno.test({
  ...skipUnless("cross-realm: direct trust, both directions", skip),
  fn: async () => {
    const A = "ALPHA.KINK.TEST", B = "BETA.KINK.TEST";
    await withRealms({
      realms: [
        { realm: A, principals: ["kink/gw.alpha.test"] },
        { realm: B, principals: ["kink/gw.beta.test"] },
      ],
      trusts: [[A, B], [B, A]],
    }, async (realms) => {
      const a = await gateway(realms, A, "gw.alpha.test");
      const b = await gateway(realms, B, "gw.beta.test");
      const ab = await crossRealmTicket(realms, a, B, "gw.beta.test");
      assertEquals(crossTgts(a), [`krbtgt/${B}@${A}`]);
      assertEquals(ab.transited, "");
      await crossRealmTicket(realms, b, A, "gw.alpha.test");
      assertEquals(crossTgts(b), [`krbtgt/${A}@${B}`]);
      // The second ticket reuses the cached cross-realm TGT (no new one appears).
      const again = await a.getServiceTicket(kinkServicePrincipal("gw.beta.test", B));
      assert(again === ab.st);
      a.dispose();
      b.dispose();
    });
  },
});

Deno.test({
  ...skipUnless("cross-realm: [capaths] through a hub realm, both directions", skip),
  fn: async () => {
    const E = "EAST.TEST", H = "HUB.TEST", W = "WEST.TEST";
    // A realm's capaths: the path of its clients to the other end. Each KDC holds the entry of
    // the *other* end's clients only — what it needs to accept the transited HUB when it issues
    // the final ticket (RFC 4120 §3.3.3.2) — so it cannot find the path for its own clients and
    // the client must follow its own [capaths].
    const entry = (from: string, to: string) => [` ${from} = {`, `  ${to} = ${H}`, " }"];
    const capaths = (...blocks: string[][]) => ["[capaths]", ...blocks.flat(), ""].join("\n");
    await withRealms({
      realms: [
        { realm: E, principals: ["kink/gw.east.test"], krb5ConfExtra: capaths(entry(W, E)) },
        { realm: H, principals: [] },
        { realm: W, principals: ["kink/gw.west.test"], krb5ConfExtra: capaths(entry(E, W)) },
      ],
      trusts: [[E, H], [H, W], [W, H], [H, E]],
      clientConf: capaths(entry(E, W), entry(W, E)),
    }, async (realms) => {
      const e = await gateway(realms, E, "gw.east.test");
      const w = await gateway(realms, W, "gw.west.test");
      const ew = await crossRealmTicket(realms, e, W, "gw.west.test");
      assertEquals(crossTgts(e), [`krbtgt/${H}@${E}`, `krbtgt/${W}@${H}`]);
      // The KDC of WEST records that the path went through HUB (RFC 4120 §3.3.3.2).
      assert(ew.transited.includes(H), `transited "${ew.transited}" does not name ${H}`);
      await crossRealmTicket(realms, w, E, "gw.east.test");
      assertEquals(crossTgts(w), [`krbtgt/${E}@${H}`, `krbtgt/${H}@${W}`]);
      e.dispose();
      w.dispose();

      // Without [capaths] the hierarchical default (EAST.TEST → TEST → WEST.TEST) finds no key.
      const plainConf = `${realms.get(E).dir}/plain-krb5.conf`;
      await Deno.writeTextFile(
        plainConf,
        (await Deno.readTextFile(realms.krb5Conf)).replace(/\[capaths\][^]*$/, ""),
      );
      const lost = await gateway(realms, E, "gw.east.test", plainConf);
      await rejects(
        lost.getServiceTicket(kinkServicePrincipal("gw.west.test", W)),
        (err: unknown) =>
          err instanceof KerberosError && err.category === "not-found" &&
          err.message.includes(`krbtgt/${W}@${E}`) && err.message.includes("capaths"),
      );
      lost.dispose();
    });
  },
});

Deno.test({
  ...skipUnless("cross-realm: hierarchical default via the parent realm, both directions", skip),
  fn: async () => {
    const A = "A.KINK.TEST", P = "KINK.TEST", B = "B.KINK.TEST";
    await withRealms({
      realms: [
        { realm: A, principals: ["kink/gw.a.kink.test"] },
        { realm: P, principals: [] },
        { realm: B, principals: ["kink/gw.b.kink.test"] },
      ],
      trusts: [[A, P], [P, B], [B, P], [P, A]],
    }, async (realms) => {
      const a = await gateway(realms, A, "gw.a.kink.test");
      const b = await gateway(realms, B, "gw.b.kink.test");
      // A's KDC has no krbtgt/B.KINK.TEST@A.KINK.TEST: asked for it, it answers with the TGT of
      // the parent realm (its own hierarchical path), which the client follows.
      await crossRealmTicket(realms, a, B, "gw.b.kink.test");
      assertEquals(crossTgts(a), [`krbtgt/${B}@${P}`, `krbtgt/${P}@${A}`]);
      await crossRealmTicket(realms, b, A, "gw.a.kink.test");
      assertEquals(crossTgts(b), [`krbtgt/${A}@${P}`, `krbtgt/${P}@${B}`]);
      a.dispose();
      b.dispose();
    });
  },
});

Deno.test({
  ...skipUnless("cross-realm: KDC referrals (canonicalize) for a host in another realm", skip),
  fn: async () => {
    const A = "ALPHA.KINK.TEST", B = "BETA.KINK.TEST";
    const domainRealm = (map: Record<string, string>) =>
      ["[domain_realm]", ...Object.entries(map).map(([d, r]) => ` ${d} = ${r}`), ""].join("\n");
    const map = { ".alpha.test": A, ".beta.test": B };
    await withRealms({
      realms: [
        { realm: A, principals: ["kink/gw.alpha.test"], krb5ConfExtra: domainRealm(map) },
        { realm: B, principals: ["kink/gw.beta.test"], krb5ConfExtra: domainRealm(map) },
      ],
      trusts: [[A, B], [B, A]],
    }, async (realms) => {
      const a = await gateway(realms, A, "gw.alpha.test");
      const b = await gateway(realms, B, "gw.beta.test");
      // The realm is left empty: the client's KDC says where the host lives.
      await crossRealmTicket(realms, a, B, "gw.beta.test", "");
      await crossRealmTicket(realms, b, A, "gw.alpha.test", "");
      a.dispose();
      b.dispose();
    });
  },
});
