import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ReplayCache } from "../../../core/kerberos/replay.ts";

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
    // Simulate a crash mid-append: a torn last line must not lose the rest.
    rc2.close();
    Deno.writeTextFileSync(path, "E 17", { append: true });
    const rc3 = ReplayCache.open({ skewMs: SKEW, path, now: c.now });
    assertEquals(rc3.recoveringUntil, 0);
    assertEquals(rc3.check({ ...e, cusec: 4243 }), { ok: false, reason: "replay" });
    rc3.close();
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
    const rc = ReplayCache.open({ skewMs: 10_000, path, firstStart: true, now: c.now });
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
