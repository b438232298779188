/**
 * The simulator's in-process KDC issues real tickets: MIT's libkrb5 is the
 * judge. The SimKdc is served on a loopback UDP port; kink's KerberosClient
 * gets a TGT and service tickets from it; MIT's `krb5_rd_req` accepts the
 * AP-REQs kink builds with those tickets, reading the service key from a
 * keytab written by kink's keytab writer; MIT's own `kinit` and `kvno` get
 * tickets from it too.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import dgram from "node:dgram";
import { SimKdc } from "../../sim/kdc.ts";
import { mitReadApReq, mitReadApReqU2U } from "../../harness/mit/judge.ts";
import { hasCommand, skipUnless } from "../../harness/tiers.ts";
import { run } from "../../harness/exec.ts";
import {
  ErrorCode,
  KdcError,
  KerberosClient,
  makeApReq,
  parseKdcEndpoint,
  parsePrincipal,
  writeKeytab,
} from "../../../core/kerberos/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { toHex } from "../../../core/util/bytes.ts";

const REALM = "SIM.TEST";

function why(): string | undefined {
  const missing = ["cc", "kinit", "kvno", "klist"].filter((c) => !hasCommand(c));
  return missing.length ? `missing ${missing.join(", ")} (run scripts/install.sh)` : undefined;
}

/** Serves `kdc` on a loopback UDP port until `fn` settles. */
async function serveKdc<T>(kdc: SimKdc, fn: (port: number) => Promise<T>): Promise<T> {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    let reply: Uint8Array;
    try {
      reply = kdc.handleSync(REALM, new Uint8Array(msg));
    } catch {
      return; // down: no answer
    }
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
  try {
    return await fn(sock.address().port);
  } finally {
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "kink-simkdc-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function krb5Conf(port: number): string {
  return [
    "[libdefaults]",
    `  default_realm = ${REALM}`,
    "  dns_lookup_kdc = false",
    "  dns_lookup_realm = false",
    "  udp_preference_limit = 4096",
    "  permitted_enctypes = aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128 " +
    "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96",
    "[realms]",
    `  ${REALM} = {`,
    `    kdc = 127.0.0.1:${port}`,
    "  }",
    "",
  ].join("\n");
}

for (const et of [17, 18, 19, 20]) {
  Deno.test({
    ...skipUnless(
      `SimKdc enctype ${et}: MIT krb5_rd_req accepts kink's AP-REQ with its ticket`,
      why(),
    ),
    fn: async () => {
      const kdc = new SimKdc({
        realm: REALM,
        clock: { now: () => Date.now() },
        random: new SeededRandom(et),
        tgtEnctypes: [et],
      });
      const alice = kdc.addPrincipal("alice", { enctypes: [et] });
      kdc.addPrincipal("kink/b.kink.test", { enctypes: [et] });
      await serveKdc(kdc, (port) =>
        withDir(async (dir) => {
          const conf = `${dir}/krb5.conf`;
          await Deno.writeTextFile(conf, krb5Conf(port));
          const kt = `${dir}/b.keytab`;
          await Deno.writeFile(kt, writeKeytab(kdc.keytab("kink/b.kink.test")));
          const client = new KerberosClient(parsePrincipal(`alice@${REALM}`), { keytab: alice }, {
            kdcs: () => [parseKdcEndpoint(`127.0.0.1:${port}`)],
            enctypes: [et],
            transport: { timeoutMs: 2000 },
          });
          try {
            const server = parsePrincipal(`kink/b.kink.test@${REALM}`);
            const st = await client.getServiceTicket(server);
            assertEquals(st.sessionKey.enctype, et);
            assertEquals(st.ticket.encPart.etype, et);
            assertEquals(kdc.counters.asReps, 1);
            assertEquals(kdc.counters.tgsReps, 1);
            const ap = makeApReq(client.principal, st.ticket, st.sessionKey);
            const r = await mitReadApReq(
              { KRB5_CONFIG: conf },
              kt,
              `kink/b.kink.test@${REALM}`,
              ap.apReq,
            );
            assert(r.ok, r.ok ? "" : `MIT refused: ${r.code} ${r.message}`);
            assertEquals(r.value.client, `alice@${REALM}`);
            assertEquals(r.value.keytype, et);
            assertEquals(r.value.ticketEtype, et);
            assertEquals(r.value.keyHex, toHex(st.sessionKey.exportBytes()));
          } finally {
            client.dispose();
          }
        }));
    },
  });
}

Deno.test({
  ...skipUnless("SimKdc user-to-user: MIT accepts a U2U AP-REQ; MUST_USE_USER2USER without", why()),
  fn: async () => {
    const kdc = new SimKdc({
      realm: REALM,
      clock: { now: () => Date.now() },
      random: new SeededRandom(7),
      tgtEnctypes: [18, 20],
    });
    const alice = kdc.addPrincipal("alice", { enctypes: [20, 18] });
    const c = kdc.addPrincipal("kink/c.kink.test", { enctypes: [18], userToUserOnly: true });
    await serveKdc(kdc, (port) =>
      withDir(async (dir) => {
        const conf = `${dir}/krb5.conf`;
        await Deno.writeTextFile(conf, krb5Conf(port));
        const opts = {
          kdcs: () => [parseKdcEndpoint(`127.0.0.1:${port}`)],
          transport: { timeoutMs: 2000 },
        };
        const cPrinc = parsePrincipal(`kink/c.kink.test@${REALM}`);
        const aliceC = new KerberosClient(parsePrincipal(`alice@${REALM}`), { keytab: alice }, {
          ...opts,
          enctypes: [20, 18],
        });
        const gateC = new KerberosClient(cPrinc, { keytab: c }, { ...opts, enctypes: [18] });
        try {
          // Without the peer's TGT the KDC refuses: C has no ticket key.
          let refused: unknown;
          try {
            await aliceC.getServiceTicket(cPrinc);
          } catch (e) {
            refused = e;
          }
          assert(refused instanceof KdcError, String(refused));
          assertEquals(refused.krbError.errorCode, ErrorCode.KDC_ERR_MUST_USE_USER2USER);
          // C's TGT (what GETTGT would carry) → a user-to-user ticket.
          const cTgt = await gateC.getTgt();
          const st = await aliceC.getServiceTicket(cPrinc, { peerTgt: cTgt.ticket });
          assert(st.userToUser);
          assertEquals(st.ticket.encPart.etype, cTgt.sessionKey.enctype);
          assertEquals(kdc.counters.u2uReps, 1);
          const ap = makeApReq(aliceC.principal, st.ticket, st.sessionKey, { userToUser: true });
          const r = await mitReadApReqU2U(
            { KRB5_CONFIG: conf },
            { enctype: cTgt.sessionKey.enctype, keyHex: toHex(cTgt.sessionKey.exportBytes()) },
            `kink/c.kink.test@${REALM}`,
            ap.apReq,
          );
          assert(r.ok, r.ok ? "" : `MIT refused: ${r.code} ${r.message}`);
          assertEquals(r.value.client, `alice@${REALM}`);
          assertEquals(r.value.keyHex, toHex(st.sessionKey.exportBytes()));
        } finally {
          aliceC.dispose();
          gateC.dispose();
        }
      }));
  },
});

Deno.test({
  ...skipUnless("SimKdc: MIT kinit (password and keytab pre-auth) and kvno get tickets", why()),
  fn: async () => {
    const kdc = new SimKdc({
      realm: REALM,
      clock: { now: () => Date.now() },
      random: new SeededRandom(11),
      tgtEnctypes: [20, 18],
    });
    kdc.addPrincipal("bob", { enctypes: [18, 17], password: "bob-secret" });
    kdc.addPrincipal("carol", { enctypes: [20, 19] });
    kdc.addPrincipal("kink/b.kink.test", { enctypes: [19, 18] });
    await serveKdc(kdc, (port) =>
      withDir(async (dir) => {
        const env = {
          KRB5_CONFIG: `${dir}/krb5.conf`,
          KRB5CCNAME: `FILE:${dir}/ccache`,
          KRB5RCACHETYPE: "none",
        };
        await Deno.writeTextFile(env.KRB5_CONFIG, krb5Conf(port));
        const pw = await run(["kinit", `bob@${REALM}`], { env, stdin: "bob-secret\n" });
        assertEquals(pw.code, 0, pw.stderr);
        await Deno.writeFile(`${dir}/carol.keytab`, writeKeytab(kdc.keytab("carol")));
        const kt = await run(["kinit", "-k", "-t", `${dir}/carol.keytab`, `carol@${REALM}`], {
          env,
        });
        assertEquals(kt.code, 0, kt.stderr);
        const kv = await run(["kvno", `kink/b.kink.test@${REALM}`], { env });
        assertEquals(kv.code, 0, kv.stderr);
        assert(kv.stdout.includes("kvno = 1"), kv.stdout);
        const kl = await run(["klist", "-e"], { env });
        assertEquals(kl.code, 0, kl.stderr);
        assert(kl.stdout.includes(`krbtgt/${REALM}@${REALM}`), kl.stdout);
        assert(kl.stdout.includes(`kink/b.kink.test@${REALM}`), kl.stdout);
        assertEquals(kdc.counters.asReps, 2);
        assertEquals(kdc.counters.tgsReps, 1);
      }));
  },
});
