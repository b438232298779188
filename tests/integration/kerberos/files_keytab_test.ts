/**
 * Keytabs between kink and MIT's tools, with MIT as the judge:
 * - `klist -k -e -t -K` lists a keytab we wrote exactly as we wrote it
 *   (principal, kvno incl. 32-bit ones, enctype, timestamp, key);
 * - we read keytabs written by `kadmin.local ktadd` (through the realm
 *   harness) and by `ktutil`, and the keys equal our string-to-key of the
 *   password with the default salt.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type Key, stringToKey } from "../../../core/crypto/mod.ts";
import { enctypeName } from "../../../core/kerberos/iana.ts";
import { type KeytabEntry, readKeytab, writeKeytab } from "../../../core/kerberos/keytab.ts";
import { formatPrincipal, parsePrincipal } from "../../../core/kerberos/principal.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { run } from "../../harness/exec.ts";
import { ENCTYPE_SETS, withRealm } from "../../harness/krb5_realm.ts";

const NO_CONF = { KRB5_CONFIG: "/dev/null" };

/** Parses `klist -k -e -t -K` lines: kvno, timestamp text, principal, enctype name, key hex. */
function parseKlistK(out: string) {
  const rows: { kvno: number; principal: string; enctype: string; key: string }[] = [];
  for (const line of out.split("\n")) {
    const m = /^\s*(\d+) (\S+ \S+) (\S+) \(([^)]+)\)\s+\(0x([0-9a-f]+)\)$/.exec(line);
    if (m) rows.push({ kvno: Number(m[1]), principal: m[3]!, enctype: m[4]!, key: m[5]! });
  }
  return rows;
}

function s2k(enctype: number, password: string, salt: string): string {
  const k: Key = stringToKey(enctype, password, salt);
  try {
    return toHex(k.exportBytes());
  } finally {
    k.dispose();
  }
}

Deno.test("keytab: MIT klist -k lists the keytab we wrote", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-files-keytab-" });
  try {
    const key = (n: number, len: number) =>
      Uint8Array.from({ length: len }, (_, i) => (i * n) & 0xff);
    const entries: KeytabEntry[] = [
      {
        principal: parsePrincipal("kink/b.kink.test@KINK.TEST"),
        timestamp: 1795739771,
        kvno: 2,
        enctype: 18,
        key: key(3, 32),
      },
      {
        principal: parsePrincipal("kink/b.kink.test@KINK.TEST"),
        timestamp: 1795739771,
        kvno: 2,
        enctype: 17,
        key: key(5, 16),
      },
      {
        principal: parsePrincipal("kink/b.kink.test@KINK.TEST"),
        timestamp: 1795739900,
        kvno: 300,
        enctype: 20,
        key: key(7, 32),
      },
      {
        principal: parsePrincipal("host/gw\\/x@EXAMPLE.COM"),
        timestamp: 1700000000,
        kvno: 70000,
        enctype: 19,
        key: key(9, 16),
      },
    ];
    const path = `${dir}/ours.keytab`;
    await Deno.writeFile(path, writeKeytab(entries));
    const r = await run(["klist", "-k", "-e", "-t", "-K", `FILE:${path}`], {
      env: { ...NO_CONF, TZ: "UTC" },
    });
    ok(r.success, r.stderr);
    deepStrictEqual(
      parseKlistK(r.stdout),
      entries.map((e) => ({
        kvno: e.kvno,
        principal: formatPrincipal(e.principal),
        enctype: enctypeName(e.enctype),
        key: toHex(e.key),
      })),
    );
    ok(r.stdout.includes("11/27/26 00:36:11"), r.stdout); // timestamp 1795739771 in UTC
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const set of ["aes-sha1", "aes-sha2"] as const) {
  Deno.test(`keytab: we read what kadmin.local ktadd wrote (${set}) and the keys are s2k(password)`, async () => {
    const password = "correct horse battery staple";
    await withRealm(
      { principals: ["alice", "kink/gw.kink.test"], passwords: { alice: password }, enctypes: set },
      async (realm) => {
        const path = realm.keytab("alice");
        const ours = readKeytab(await Deno.readFile(path));
        const mit = await realm.tool(["klist", "-k", "-e", "-K", path]);
        ok(mit.success, mit.stderr);
        const rows = parseKlistK(mit.stdout.replace(/^(\s*\d+) /gm, "$1 x x "));
        deepStrictEqual(
          ours.map((
            e,
          ) => [e.kvno, formatPrincipal(e.principal), enctypeName(e.enctype), toHex(e.key)]),
          rows.map((r) => [r.kvno, r.principal, r.enctype, r.key]),
        );
        deepStrictEqual(ours.map((e) => e.enctype).sort(), [...ENCTYPE_SETS[set].numbers].sort());
        for (const e of ours) {
          strictEqual(
            toHex(e.key),
            s2k(e.enctype, password, `${realm.realm}alice`),
            enctypeName(e.enctype),
          );
        }
        // A service keytab (random keys): principal and name type survive.
        const svc = readKeytab(await Deno.readFile(realm.keytab("kink/gw.kink.test")));
        ok(svc.length === 2);
        for (const e of svc) {
          strictEqual(formatPrincipal(e.principal), `kink/gw.kink.test@${realm.realm}`);
        }
      },
    );
  });
}

Deno.test("keytab: we read what ktutil wrote and the keys are s2k(password)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-files-ktutil-" });
  try {
    const path = `${dir}/ktutil.keytab`;
    const cmds = [
      ["user@KINK.TEST", 2, "aes256-cts-hmac-sha1-96", "pw-one"],
      ["user@KINK.TEST", 3, "aes128-cts-hmac-sha1-96", "pw-two"],
      ["kink/gw.kink.test@KINK.TEST", 5, "aes256-cts-hmac-sha384-192", "pw-three"],
      ["kink/gw.kink.test@KINK.TEST", 5, "aes128-cts-hmac-sha256-128", "pw-three"],
    ] as const;
    const script = cmds.map(([p, k, e, pw]) => `addent -password -p ${p} -k ${k} -e ${e}\n${pw}\n`)
      .join("") + `wkt ${path}\nquit\n`;
    const r = await run(["ktutil"], { env: NO_CONF, stdin: script });
    ok(r.success, r.stderr);
    const ours = readKeytab(await Deno.readFile(path));
    deepStrictEqual(
      ours.map((e) => [formatPrincipal(e.principal), e.kvno, enctypeName(e.enctype)]),
      cmds.map(([p, k, e]) => [p, k, e]),
    );
    for (const [i, e] of ours.entries()) {
      const salt = e.principal.realm + e.principal.components.join("");
      strictEqual(toHex(e.key), s2k(e.enctype, cmds[i]![3], salt));
    }
    // And MIT reads back what we re-write from it.
    const again = `${dir}/again.keytab`;
    await Deno.writeFile(again, writeKeytab(ours));
    const kl = await run(["klist", "-k", "-e", "-K", again], { env: NO_CONF });
    ok(kl.success, kl.stderr);
    deepStrictEqual(
      parseKlistK(kl.stdout.replace(/^(\s*\d+) /gm, "$1 x x ")).map((r) => r.key),
      ours.map((e) => toHex(e.key)),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
