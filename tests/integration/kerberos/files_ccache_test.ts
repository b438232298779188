/**
 * FILE ccaches between kink and MIT's tools, with MIT as the judge:
 * - `klist -c -e -f -a -C` lists a cache we wrote (principals, times,
 *   flags, enctypes of session key and ticket, addresses, config entries);
 * - we read the cache `kinit -k` + `kvno` wrote, and it matches what
 *   `klist` shows for it.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  type Ccache,
  ccacheConfig,
  readCcache,
  writeCcache,
} from "../../../core/kerberos/ccache.ts";
import { enctypeName, flagMask, TicketFlag } from "../../../core/kerberos/iana.ts";
import { decodeTicket, encodeTicket } from "../../../core/kerberos/messages.ts";
import { formatPrincipal, parsePrincipal } from "../../../core/kerberos/principal.ts";
import { run } from "../../harness/exec.ts";
import { withRealm } from "../../harness/krb5_realm.ts";

const te = new TextEncoder();

/** MIT klist's time format in UTC: MM/DD/YY HH:MM:SS. */
function klistTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

Deno.test("ccache: MIT klist lists the cache we wrote", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-files-ccache-" });
  try {
    const client = parsePrincipal("kink/a.kink.test@KINK.TEST");
    const ticket = (sname: string[], etype: number) =>
      encodeTicket({
        tktVno: 5,
        realm: "KINK.TEST",
        sname: { nameType: 2, components: sname },
        encPart: { etype, kvno: 3, cipher: new Uint8Array(64).fill(0x42) },
      });
    const t0 = new Date(Date.UTC(2026, 10, 27, 1, 2, 3));
    const t1 = new Date(Date.UTC(2026, 10, 27, 11, 2, 3));
    const t2 = new Date(Date.UTC(2026, 11, 4, 1, 2, 3));
    const cc: Ccache = {
      version: 4,
      defaultPrincipal: client,
      kdcOffset: { seconds: -3, microseconds: 250000 },
      credentials: [
        {
          client,
          server: parsePrincipal("krbtgt/KINK.TEST@KINK.TEST"),
          key: { keytype: 18, keyvalue: new Uint8Array(32).fill(1) },
          authtime: t0,
          starttime: t0,
          endtime: t1,
          renewTill: t2,
          isSkey: false,
          ticketFlags: flagMask(TicketFlag.FORWARDABLE) | flagMask(TicketFlag.RENEWABLE) |
            flagMask(TicketFlag.INITIAL) | flagMask(TicketFlag.PRE_AUTHENT),
          addresses: [{ addrType: 2, address: Uint8Array.of(10, 77, 0, 1) }],
          authdata: [],
          ticket: ticket(["krbtgt", "KINK.TEST"], 18),
          secondTicket: new Uint8Array(0),
        },
        {
          client,
          server: parsePrincipal("kink/b.kink.test@KINK.TEST"),
          key: { keytype: 20, keyvalue: new Uint8Array(32).fill(2) },
          authtime: t0,
          endtime: t1,
          isSkey: false,
          ticketFlags: flagMask(TicketFlag.PRE_AUTHENT) >>> 0,
          addresses: [],
          authdata: [],
          ticket: ticket(["kink", "b.kink.test"], 19),
          secondTicket: new Uint8Array(0),
        },
      ],
      config: [
        ccacheConfig("pa_type", te.encode("2"), parsePrincipal("krbtgt/KINK.TEST@KINK.TEST")),
      ],
    };
    const path = `${dir}/ours.ccache`;
    await Deno.writeFile(path, writeCcache(cc));
    const r = await run(["klist", "-c", "-e", "-f", "-a", "-n", `FILE:${path}`], {
      env: { KRB5_CONFIG: "/dev/null", TZ: "UTC" },
    });
    ok(r.success, r.stderr);
    const out = r.stdout;
    ok(out.includes("Default principal: kink/a.kink.test@KINK.TEST"), out);
    ok(
      out.includes(`${klistTime(t0)}  ${klistTime(t1)}  krbtgt/KINK.TEST@KINK.TEST`),
      out,
    );
    ok(out.includes(`renew until ${klistTime(t2)}`), out);
    ok(out.includes("Flags: FRIA"), out);
    ok(out.includes("Etype (skey, tkt): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96"), out);
    ok(out.includes("Addresses: 10.77.0.1"), out);
    // The service ticket: starttime 0 shows as the authtime.
    ok(out.includes(`${klistTime(t0)}  ${klistTime(t1)}  kink/b.kink.test@KINK.TEST`), out);
    ok(out.includes("Flags: A"), out);
    ok(
      out.includes("Etype (skey, tkt): aes256-cts-hmac-sha384-192, aes128-cts-hmac-sha256-128"),
      out,
    );
    // Config entries are hidden without -C, shown with it.
    ok(!out.includes("X-CACHECONF"), out);
    const c = await run(["klist", "-C", "-c", `FILE:${path}`], {
      env: { KRB5_CONFIG: "/dev/null" },
    });
    ok(c.success, c.stderr);
    ok(/config: pa_type\(krbtgt\/KINK\.TEST@KINK\.TEST\) = 2/.test(c.stdout), c.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ccache: we read the cache kinit -k + kvno wrote, as klist shows it", async () => {
  await withRealm({ principals: ["alice", "kink/b.kink.test"] }, async (realm) => {
    const path = `${realm.dir}/mit.ccache`;
    const env = { KRB5CCNAME: `FILE:${path}` };
    const kinit = await realm.tool([
      "kinit",
      "-k",
      "-t",
      realm.keytab("alice"),
      realm.principal("alice"),
    ], { env });
    ok(kinit.success, kinit.stderr);
    const kvno = await realm.tool(["kvno", realm.principal("kink/b.kink.test")], { env });
    ok(kvno.success, kvno.stderr);
    const kl = await realm.tool(["klist", "-e", "-f", "-c", `FILE:${path}`], {
      env: { TZ: "UTC" },
    });
    ok(kl.success, kl.stderr);

    const cc = readCcache(await Deno.readFile(path));
    strictEqual(formatPrincipal(cc.defaultPrincipal), realm.principal("alice"));
    deepStrictEqual(
      cc.credentials.map((c) => formatPrincipal(c.server)),
      [`krbtgt/${realm.realm}@${realm.realm}`, realm.principal("kink/b.kink.test")],
    );
    for (const c of cc.credentials) {
      const t = decodeTicket(c.ticket);
      strictEqual(formatPrincipal({ ...t.sname, realm: t.realm }), formatPrincipal(c.server));
      const name = formatPrincipal(c.server);
      ok(
        kl.stdout.includes(
          `${klistTime(c.starttime ?? c.authtime)}  ${klistTime(c.endtime)}  ${name}`,
        ),
        kl.stdout,
      );
      ok(
        kl.stdout.includes(
          `Etype (skey, tkt): ${enctypeName(c.key.keytype)}, ${enctypeName(t.encPart.etype)}`,
        ),
        kl.stdout,
      );
      strictEqual(c.key.keyvalue.length, 32);
    }
    // Writing what we read gives a cache MIT still lists identically.
    const again = `${realm.dir}/again.ccache`;
    await Deno.writeFile(again, writeCcache(cc));
    const kl2 = await realm.tool(["klist", "-e", "-f", "-c", `FILE:${again}`], {
      env: { TZ: "UTC" },
    });
    ok(kl2.success, kl2.stderr);
    strictEqual(kl2.stdout.replace(again, path), kl.stdout);
  });
});
