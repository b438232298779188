/**
 * The throwaway realm works: MIT's own client tools get tickets from its KDC
 * with the chosen enctypes, and stop() leaves no process or directory.
 */
import assert from "node:assert/strict";
import { ENCTYPE_SETS, type EnctypeSet, startRealm, withRealm } from "../../harness/krb5_realm.ts";
import { pidAlive } from "../../harness/cleanup.ts";
import { runOk } from "../../harness/exec.ts";

for (const enctypes of ["aes-sha1", "aes-sha2"] as EnctypeSet[]) {
  Deno.test(`krb5 realm (${enctypes}): kinit -k + kvno get tickets with the set's strongest enctype`, async () => {
    await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], enctypes },
      async (realm) => {
        assert.equal(realm.realm, "KINK.TEST");
        assert.equal(realm.kdc.host, "127.0.0.1");
        assert.ok(realm.kdc.port > 0);

        // The keytab holds exactly this principal's keys, of the set's enctypes.
        const kt = await runOk(["klist", "-k", "-e", "-t", realm.keytab("kink/a.kink.test")], {
          env: realm.env,
        });
        for (const name of ENCTYPE_SETS[enctypes].names) {
          assert.match(kt, new RegExp(`kink/a\\.kink\\.test@KINK\\.TEST \\(${name}\\)`));
        }
        assert.doesNotMatch(kt, /kink\/b/);

        const kinit = await realm.tool([
          "kinit",
          "-k",
          "-t",
          realm.keytab("kink/a.kink.test"),
          "kink/a.kink.test@KINK.TEST",
        ]);
        assert.equal(kinit.code, 0, kinit.stderr);
        const kvno = await realm.tool(["kvno", "kink/b.kink.test@KINK.TEST"]);
        assert.equal(kvno.code, 0, kvno.stderr);
        assert.match(kvno.stdout, /kink\/b\.kink\.test@KINK\.TEST: kvno = 1/);

        const klist = await realm.tool(["klist", "-e"]);
        assert.equal(klist.code, 0, klist.stderr);
        const strongest = ENCTYPE_SETS[enctypes].names[0]!;
        // Both tickets (TGT and service ticket): session key and ticket enctype.
        const etypes = [...klist.stdout.matchAll(/Etype \(skey, tkt\): (\S+), (\S+)/g)];
        assert.equal(etypes.length, 2, klist.stdout);
        for (const m of etypes) {
          assert.equal(m[1], strongest);
          assert.equal(m[2], strongest);
        }
        assert.match(klist.stdout, /kink\/b\.kink\.test@KINK\.TEST/);

        // The KDC's own log records the issue with the expected session enctype.
        const log = await Deno.readTextFile(realm.kdcLog);
        assert.match(log, new RegExp(`TGS_REQ .*ses=${strongest}.*for kink/b\\.kink\\.test`));
      },
    );
  });
}

Deno.test("krb5 realm: password principals, addPrincipal after start, stop() cleans up", async () => {
  const realm = await startRealm({
    realm: "OTHER.TEST",
    principals: ["alice"],
    passwords: { alice: "correct horse" },
  });
  let stopped = false;
  try {
    const ok = await realm.tool(["kinit", "alice@OTHER.TEST"], { stdin: "correct horse\n" });
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await realm.tool(["kinit", "alice@OTHER.TEST"], { stdin: "wrong\n" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Password incorrect|preauthentication failed/i);

    const bob = await realm.addPrincipal("kink/late.kink.test", "late pw");
    assert.equal(bob, "kink/late.kink.test@OTHER.TEST");
    // -norandkey: the keytab holds the password-derived key, so both work.
    const viaKeytab = await realm.tool(["kinit", "-k", "-t", realm.keytab(bob), bob]);
    assert.equal(viaKeytab.code, 0, viaKeytab.stderr);
    const viaPw = await realm.tool(["kinit", bob], { stdin: "late pw\n" });
    assert.equal(viaPw.code, 0, viaPw.stderr);

    assert.throws(() => realm.keytab("nobody"), /no principal nobody@OTHER\.TEST/);
    assert.ok(await pidAlive(realm.kdcPid), await Deno.readTextFile(realm.kdcLog));
  } finally {
    // stop() waits for the KDC to exit (it takes about a second after SIGTERM).
    await realm.stop();
    stopped = true;
  }
  assert.ok(stopped);
  assert.equal(await pidAlive(realm.kdcPid), false, "KDC still running after stop()");
  await assert.rejects(Deno.stat(realm.dir), Deno.errors.NotFound);
  await realm.stop(); // idempotent
});

Deno.test("krb5 realm: withRealm cleans up when the test body throws", async () => {
  let dir = "";
  let pid = 0;
  await assert.rejects(
    withRealm({ principals: ["x"] }, (realm) => {
      dir = realm.dir;
      pid = realm.kdcPid;
      throw new Error("test body failed");
    }),
    /test body failed/,
  );
  assert.notEqual(dir, "");
  assert.equal(await pidAlive(pid), false);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});

Deno.test("krb5 realm: two realms run side by side on different ports", async () => {
  await withRealm({ realm: "ONE.TEST", principals: ["svc/one"] }, async (one) => {
    await withRealm({ realm: "TWO.TEST", principals: ["svc/two"] }, async (two) => {
      assert.notEqual(one.kdc.port, two.kdc.port);
      assert.notEqual(one.dir, two.dir);
      for (const [r, p] of [[one, "svc/one@ONE.TEST"], [two, "svc/two@TWO.TEST"]] as const) {
        const k = await r.tool(["kinit", "-k", "-t", r.keytab(p), p]);
        assert.equal(k.code, 0, k.stderr);
      }
    });
  });
});
