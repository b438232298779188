import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { skipUnless } from "../../harness/tiers.ts";
import { createHash } from "node:crypto";

// Persistence of the replay cache across restarts (RFC 4120 §3.2.3). Integration
// tier because it reads back files under the temporary directory.
const SKEW = 300_000;

function clock(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

const A = { client: "alice@KINK.TEST", server: "kink/b.kink.test@KINK.TEST" };

Deno.test("replay: a restart keeps rejecting what was accepted before (persisted file)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/rcache`;
    const c = clock(1_700_000_000_000);
    const e = { ...A, ctimeMs: c.t, cusec: 4242 };
    const rc1 = ReplayCache.open({
      skewMs: SKEW,
      path,
      firstStart: true,
      now: c.now,
      durable: true,
    });
    assert(rc1.check(e).ok);
    rc1.close();
    // Principal names are not stored in clear.
    assert(!Deno.readTextFileSync(path).includes("alice"));
    c.t += 10_000;
    const rc2 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc2.recoveringUntil, 0);
    assertEquals(rc2.check(e), { ok: false, reason: "replay" });
    assert(rc2.check({ ...e, cusec: 4243 }).ok);
    rc2.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("replay: without its file a restarted cache rejects everything for one skew interval", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/rcache`;
    const c = clock(1_700_000_000_000);
    const rc = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    const v = rc.check({ ...A, ctimeMs: c.t, cusec: 1 });
    assertEquals(v, { ok: false, reason: "recovering", until: c.t + SKEW });
    rc.close();
    // A second restart inside the interval keeps the deadline (it was persisted).
    c.t += 60_000;
    const rc2 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc2.recoveringUntil, 1_700_000_000_000 + SKEW);
    c.t = 1_700_000_000_000 + SKEW + 1;
    assert(rc2.check({ ...A, ctimeMs: c.t, cusec: 1 }).ok);
    rc2.close();
    // A file that is not a replay cache counts as lost.
    Deno.writeTextFileSync(path, "garbage\n");
    const rc3 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc3.check({ ...A, ctimeMs: c.t, cusec: 2 }).ok, false);
    rc3.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("replay: the log is compacted, not grown without bound", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/rcache`;
    const c = clock(1_700_000_000_000);
    const rc = ReplayCache.open({
      skewMs: 10_000,
      path,
      firstStart: true,
      now: c.now,
      durable: false, // 20 000 fsyncs would test the disk, not the compaction
    });
    for (let i = 0; i < 20_000; i++) {
      assert(rc.check({ ...A, ctimeMs: c.t, cusec: i % 1_000_000 }).ok);
      c.t += 50; // 1000 s total, 200 live entries at any time
    }
    rc.close();
    const lines = Deno.readTextFileSync(path).split("\n").length;
    assert(lines < 3000, `log has ${lines} lines`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function withDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = Deno.makeTempDirSync();
    try {
      await fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

Deno.test(
  "replay: a torn last line (power loss mid-write) makes the cache refuse everything for one skew interval",
  withDir((dir) => {
    const path = `${dir}/rcache`;
    const c = clock(1_700_000_000_000);
    const e = { ...A, ctimeMs: c.t, cusec: 7 };
    const rc1 = ReplayCache.open({ skewMs: SKEW, path, firstStart: true, now: c.now });
    assert(rc1.check(e).ok);
    rc1.close();
    // The last write stopped halfway: its entry may have been accepted.
    Deno.writeTextFileSync(path, "E 17000000000", { append: true });
    c.t += 1_000;
    const rc2 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc2.recoveringUntil, c.t + SKEW);
    assertEquals(rc2.check({ ...A, ctimeMs: c.t, cusec: 8 }), {
      ok: false,
      reason: "recovering",
      until: c.t + SKEW,
    });
    rc2.close();
    // The deadline survives another restart (it was written to the file) …
    c.t += 1_000;
    const rc3 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc3.recoveringUntil, c.t - 1_000 + SKEW);
    // … and after it everything works again, old entries included.
    c.t += SKEW;
    assert(rc3.check({ ...A, ctimeMs: c.t, cusec: 9 }).ok);
    assertEquals(rc3.check({ ...A, ctimeMs: c.t, cusec: 9 }), { ok: false, reason: "replay" });
    rc3.close();
    // NUL bytes where a power loss left unwritten blocks count as torn too.
    Deno.writeFileSync(path, new Uint8Array(64), { append: true });
    const rc4 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc4.recoveringUntil, c.t + SKEW);
    rc4.close();
  }),
);

Deno.test(
  "replay: a failed compaction (temp path blocked by a directory) keeps every entry persisted",
  withDir((dir) => {
    const path = `${dir}/rcache`;
    const c = clock(1_700_000_000_000);
    const rc = ReplayCache.open({
      skewMs: 10_000,
      path,
      firstStart: true,
      now: c.now,
      durable: false,
    });
    Deno.mkdirSync(`${path}.tmp`); // every compaction from now on fails
    // Enough expired entries that compaction is attempted (and fails) repeatedly.
    for (let i = 0; i < 5_000; i++) {
      assert(rc.check({ ...A, ctimeMs: c.t, cusec: i }).ok);
      c.t += 50;
    }
    const e = { ...A, ctimeMs: c.t, cusec: 999_999 };
    assert(rc.check(e).ok);
    rc.close();
    // Restart, blocker still there: the log is appended to, the replay is refused.
    c.t += 1_000;
    const rc2 = ReplayCache.open({ skewMs: 10_000, path, now: c.now });
    assertEquals(rc2.recoveringUntil, 0);
    assertEquals(rc2.check(e), { ok: false, reason: "replay" });
    const e2 = { ...A, ctimeMs: c.t, cusec: 424_242 };
    assert(rc2.check(e2).ok);
    rc2.close();
    // Restart once the blocker is gone: compaction works, nothing was lost.
    const grown = Deno.readTextFileSync(path).split("\n").length;
    assert(grown > 5_000, `every entry was appended (${grown} lines)`);
    Deno.removeSync(`${path}.tmp`);
    const rc3 = ReplayCache.open({ skewMs: 10_000, path, now: c.now });
    assertEquals(rc3.check(e), { ok: false, reason: "replay" });
    assertEquals(rc3.check(e2), { ok: false, reason: "replay" });
    rc3.close();
    assert(Deno.readTextFileSync(path).split("\n").length < 1_000, "compacted after the restart");
  }),
);

Deno.test(
  "replay: a second cache on the same file is refused, in this process and in another",
  withDir(async (dir) => {
    const path = `${dir}/rcache`;
    const rc = ReplayCache.open({ skewMs: SKEW, path, firstStart: true });
    assert(rc.check({ ...A, ctimeMs: Date.now(), cusec: 1 }).ok);
    throws(
      () => ReplayCache.open({ skewMs: SKEW, path }),
      (e: unknown) => e instanceof KerberosError && e.category === "busy",
    );
    const mod = new URL("../../../core/kerberos/replay.ts", import.meta.url).href;
    const code = `import { ReplayCache } from ${JSON.stringify(mod)};
      try { ReplayCache.open({ skewMs: 1000, path: ${
      JSON.stringify(path)
    } }); console.log("opened"); }
      catch (e) { console.log(e.category); }`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "busy");
    rc.close();
    // Closing releases the lock.
    const again = ReplayCache.open({ skewMs: SKEW, path });
    again.close();
  }),
);

Deno.test({
  ...skipUnless(
    "replay: each accepted entry is fsynced before ok, and a compaction fsyncs file, then directory after the rename (strace)",
    canStrace() ? undefined : "needs strace",
  ),
  fn: withDir(async (dir) => {
    const path = `${dir}/rcache`;
    const mod = new URL("../../../core/kerberos/replay.ts", import.meta.url).href;
    // One open (compaction: write, fsync, rename, fsync of the directory) and
    // one accepted entry (write, fdatasync), with the default options.
    const code = `import { ReplayCache } from ${JSON.stringify(mod)};
      const rc = ReplayCache.open({ skewMs: 300000, path: ${
      JSON.stringify(path)
    }, firstStart: true });
      console.error("MARK-CHECK");
      const v = rc.check({ client: "a@R", server: "b@R", ctimeMs: Date.now(), cusec: 1 });
      console.error("MARK-DONE " + v.ok);
      rc.close();`;
    const out = await new Deno.Command("strace", {
      args: [
        "-f",
        "-e",
        "trace=openat,rename,renameat,renameat2,fsync,fdatasync,write",
        "-e",
        "signal=none",
        Deno.execPath(),
        "eval",
        code,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const trace = new TextDecoder().decode(out.stderr).split("\n");
    const at = (re: RegExp, from = 0) => trace.findIndex((l, i) => i >= from && re.test(l));
    const dirFd = (l: string) => /= (\d+)$/.exec(l)?.[1];
    const tmpOpen = at(new RegExp(`openat\\(.*"${path}\\.tmp".*O_EXCL`));
    assert(tmpOpen >= 0, "temp file created with O_EXCL");
    const tmpFd = dirFd(trace[tmpOpen]!);
    const sync1 = at(new RegExp(`fsync\\(${tmpFd}\\)`), tmpOpen);
    const ren = at(/rename/, tmpOpen);
    assert(sync1 > tmpOpen && ren > sync1, "snapshot fsynced before the rename");
    const dOpen = at(new RegExp(`openat\\(.*"${dir}".*O_RDONLY`), ren);
    assert(dOpen > ren, "directory opened after the rename");
    assert(
      at(new RegExp(`fsync\\(${dirFd(trace[dOpen]!)}\\)`), dOpen) > dOpen,
      "directory fsynced",
    );
    const mark = at(/MARK-CHECK/);
    const done = at(/MARK-DONE true/);
    const sync2 = at(new RegExp(`fdatasync\\(${tmpFd}\\)`), mark);
    assert(mark > 0 && sync2 > mark && sync2 < done, "entry fdatasynced before check returned");
  }),
});

function canStrace(): boolean {
  try {
    return new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  ...skipUnless(
    "replay: a full disk makes the cache answer unavailable (never ok unpersisted) until it can write again",
    canUnshare() ? undefined : "needs root for a private mount namespace (unshare -m)",
  ),
  fn: withDir(async (dir) => {
    // A 64 KiB tmpfs in a private mount namespace of a child process.
    const mnt = `${dir}/mnt`;
    Deno.mkdirSync(mnt);
    const mod = new URL("../../../core/kerberos/replay.ts", import.meta.url).href;
    const script = `${dir}/full.ts`;
    Deno.writeTextFileSync(
      script,
      `import { ReplayCache } from ${JSON.stringify(mod)};
const path = ${JSON.stringify(`${mnt}/rc`)};
let t = 1_700_000_000_000;
const clock = { now: () => t };
const A = { client: "alice@KINK.TEST", server: "kink/b.kink.test@KINK.TEST" };
const rc = ReplayCache.open({ skewMs: 300000, path, firstStart: true, clock });
// Fill the file system up to the last few octets.
const filler = Deno.openSync(${JSON.stringify(`${mnt}/filler`)}, { write: true, create: true });
try { while (true) filler.writeSync(new Uint8Array(512)); } catch { /* ENOSPC */ }
try { while (true) filler.writeSync(new Uint8Array(1)); } catch { /* ENOSPC */ }
const verdicts = [];
const accepted = [];
for (let i = 0; i < 200; i++) {
  const v = rc.check({ ...A, ctimeMs: t, cusec: i });
  verdicts.push(v.ok ? "ok" : v.reason);
  if (v.ok) accepted.push(i);
}
const firstFail = verdicts.findIndex((v) => v !== "ok");
// The one that could not be persisted is refused again if presented again.
const again = rc.check({ ...A, ctimeMs: t, cusec: firstFail });
// Space comes back: after the retry delay a fresh snapshot is written and checks work.
filler.close();
Deno.removeSync(${JSON.stringify(`${mnt}/filler`)});
t += 60_000;
const after = rc.check({ ...A, ctimeMs: t, cusec: 999 });
rc.close();
// Everything that got "ok" is refused as a replay after a restart.
const rc2 = ReplayCache.open({ skewMs: 300000, path, clock });
const replays = accepted.map((i) => rc2.check({ ...A, ctimeMs: 1_700_000_000_000, cusec: i }));
console.log(JSON.stringify({
  firstFail, tail: verdicts.slice(firstFail), again: again.ok ? "ok" : again.reason,
  after: after.ok, recovering: rc2.recoveringUntil,
  replaysRefused: replays.every((v) => !v.ok && v.reason === "replay"), accepted: accepted.length,
}));
rc2.close();
`,
    );
    const out = await new Deno.Command("unshare", {
      args: [
        "-m",
        "sh",
        "-c",
        `mount -t tmpfs -o size=64k kink-test ${mnt} && exec "$0" run --quiet -A ${script}`,
        Deno.execPath(),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert(out.success, err);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert(r.firstFail >= 0, "the disk filled up during the run");
    // From the first failure on, nothing is accepted.
    assert((r.tail as string[]).every((v) => v === "unavailable"), JSON.stringify(r.tail));
    assertEquals(r.again, "replay");
    assert(r.after, "accepting again once space is back");
    assertEquals(r.recovering, 0);
    assert(r.replaysRefused && r.accepted === r.firstFail, JSON.stringify(r));
  }),
});

function canUnshare(): boolean {
  try {
    // Succeeds only as root (or with CAP_SYS_ADMIN).
    return new Deno.Command("unshare", { args: ["-m", "true"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("replay: the persisted key is the first 128 bits of SHA-256 over the UTF-8 key fields, as node:crypto computes it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/rc`;
    const c = clock(1_700_000_000_000);
    const rc = ReplayCache.open({ skewMs: SKEW, path, firstStart: true, now: c.now });
    const entries = [
      {
        client: "alice@KINK.TEST",
        server: "kink/b.kink.test@KINK.TEST",
        ctimeMs: 1_700_000_000_000,
        cusec: 7,
      },
      {
        client: "ünïcödé/\u00e9@RÉALM",
        server: "kink/x@Y",
        ctimeMs: 1_699_999_999_999,
        cusec: 999_999,
      },
    ];
    for (const e of entries) assertEquals(rc.check(e).ok, true);
    rc.close();
    const lines = Deno.readTextFileSync(path).split("\n").filter((l) => l.startsWith("E "));
    const want = entries.map((e) =>
      createHash("sha256")
        .update(`${e.client}\u0000${e.server}\u0000${Math.floor(e.ctimeMs / 1000)}\u0000${e.cusec}`)
        .digest("hex").slice(0, 32)
    );
    assertEquals(lines.map((l) => l.split(" ")[2]), want);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
