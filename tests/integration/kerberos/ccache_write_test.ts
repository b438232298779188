/**
 * Writing a ccache must not leak tickets to another local user (issue 10
 * point 7): the temporary file is created exclusively (a planted file or
 * link there is never written through), mode 0600, and never left behind.
 * Checked with broad permissions (random temp name) and with the narrow ones
 * `kink ticket --ccache` runs under (`<path>.tmp`), through
 * KerberosClient.saveCcache; MIT's klist reads the result.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { run } from "../../harness/exec.ts";
import { KerberosClient } from "../../../core/kerberos/client.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { readCcache } from "../../../core/kerberos/ccache.ts";
import { decodeTicket, encodeTicket } from "../../../core/kerberos/messages.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { Key } from "../../../core/crypto/mod.ts";

const me = parsePrincipal("alice@KINK.TEST");

function client(): KerberosClient {
  const c = new KerberosClient(me, { password: "x" }, {
    send: () => Promise.reject(new Error("no KDC in this test")),
  });
  const now = Math.floor(Date.now() / 1000) * 1000;
  c.addCredentials({
    client: me,
    server: parsePrincipal("krbtgt/KINK.TEST@KINK.TEST"),
    ticket: decodeTicket(encodeTicket({
      tktVno: 5,
      realm: "KINK.TEST",
      sname: { nameType: 2, components: ["krbtgt", "KINK.TEST"] },
      encPart: { etype: 18, kvno: 1, cipher: new Uint8Array(80).fill(0x42) },
    })),
    sessionKey: Key.fromBytes(18, new Uint8Array(32).fill(9)),
    flags: 0,
    authtime: new Date(now),
    endtime: new Date(now + 3_600_000),
  });
  return c;
}

function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("ccache write: a link planted at the temp name is not followed; mode 0600; nothing left behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-ccache-write-" });
  try {
    const path = `${dir}/cc`;
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "not yours");
    Deno.symlinkSync(victim, `${path}.tmp`);
    const c = client();
    await c.saveCcache(path);
    assertEquals(Deno.readTextFileSync(victim), "not yours");
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    assertEquals(readCcache(Deno.readFileSync(path)).credentials.length, 1);
    assertEquals(listDir(dir), ["cc", "cc.tmp", "victim"]); // the planted link untouched
    const kl = await run(["klist", "-c", `FILE:${path}`]);
    assert(kl.success && /krbtgt\/KINK\.TEST@KINK\.TEST/.test(kl.stdout), kl.stdout + kl.stderr);

    // A rename that fails (the target is a directory) leaves no temporary file.
    const blocked = `${dir}/blocked`;
    Deno.mkdirSync(blocked);
    await rejects(
      c.saveCcache(blocked),
      (e: unknown) => e instanceof KerberosError && e.category === "io",
    );
    assertEquals(listDir(dir), ["blocked", "cc", "cc.tmp", "victim"]);
    c.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ccache write: with kink ticket's narrow permissions a planted <path>.tmp is refused, not written through", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-ccache-narrow-" });
  try {
    const path = `${dir}/cc`;
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "not yours");
    const script = `${dir}/save.ts`;
    const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    Deno.writeTextFileSync(
      script,
      `import { KerberosClient } from ${mod("../../../core/kerberos/client.ts")};
import { decodeTicket, encodeTicket } from ${mod("../../../core/kerberos/messages.ts")};
import { Key } from ${mod("../../../core/crypto/mod.ts")};
const me = { nameType: 1, components: ["alice"], realm: "KINK.TEST" };
const c = new KerberosClient(me, { password: "x" }, { send: () => Promise.reject(new Error("none")) });
const now = Math.floor(Date.now() / 1000) * 1000;
c.addCredentials({ client: me, server: { nameType: 2, components: ["krbtgt", "KINK.TEST"], realm: "KINK.TEST" },
  ticket: decodeTicket(encodeTicket({ tktVno: 5, realm: "KINK.TEST", sname: { nameType: 2, components: ["krbtgt", "KINK.TEST"] },
    encPart: { etype: 18, kvno: 1, cipher: new Uint8Array(80).fill(0x42) } })),
  sessionKey: Key.fromBytes(18, new Uint8Array(32).fill(9)), flags: 0,
  authtime: new Date(now), endtime: new Date(now + 3600000) });
try { await c.saveCcache(${JSON.stringify(path)}); console.log("written"); }
catch (e) { console.log(e.category + ": " + e.message); }
`,
    );
    // What the launcher grants `kink ticket --ccache PATH` (plus reading this script).
    const narrow = () =>
      run([
        "deno",
        "run",
        "--quiet",
        "--no-prompt",
        `--allow-read=${script},${path},${path}.tmp`,
        `--allow-write=${path},${path}.tmp`,
        script,
      ]);
    Deno.symlinkSync(victim, `${path}.tmp`);
    let r = await narrow();
    assert(/^io: .*already exists/.test(r.stdout), r.stdout + r.stderr);
    assertEquals(Deno.readTextFileSync(victim), "not yours");
    assert(!listDir(dir).includes("cc"));
    // Without the planted link it writes the ccache, privately, and cleans up.
    Deno.removeSync(`${path}.tmp`);
    r = await narrow();
    assertEquals(r.stdout.trim(), "written", r.stderr);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    assertEquals(listDir(dir), ["cc", "save.ts", "victim"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
