import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ReplayCache } from "../../../core/kerberos/replay.ts";
import { ManualClock } from "../../../core/util/clock.ts";

// These tests check the rules of RFC 4120 §3.2.3 with an injected clock.
const SKEW = 300_000;

function clock(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

const A = { client: "alice@KINK.TEST", server: "kink/b.kink.test@KINK.TEST" };

Deno.test("replay: a second presentation of the same authenticator is rejected", () => {
  const c = clock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, firstStart: true, now: c.now });
  const e = { ...A, ctimeMs: c.t, cusec: 12 };
  assertEquals(rc.check(e), { ok: true });
  assertEquals(rc.check(e), { ok: false, reason: "replay" });
  // Any field differing makes it a different authenticator.
  assertEquals(rc.check({ ...e, cusec: 13 }), { ok: true });
  assertEquals(rc.check({ ...e, ctimeMs: e.ctimeMs + 1000 }), { ok: true });
  assertEquals(rc.check({ ...e, client: "bob@KINK.TEST" }), { ok: true });
  assertEquals(rc.check({ ...e, server: "kink/c.kink.test@KINK.TEST" }), { ok: true });
  rc.close();
});

Deno.test("replay: entries expire one skew interval after their ctime, memory stays bounded", () => {
  const c = clock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, firstStart: true, now: c.now });
  for (let i = 0; i < 5000; i++) {
    assert(rc.check({ ...A, ctimeMs: c.t, cusec: i }).ok);
    c.t += 100; // 500 s in total
  }
  // Only authenticators from the last skew interval (plus the sweep period,
  // an eighth of it) can remain.
  c.t += 1;
  rc.check({ ...A, ctimeMs: c.t, cusec: 999_999 });
  assert(rc.size <= (SKEW * 9) / 8 / 100 + 2, `size ${rc.size}`);
  rc.close();
});

Deno.test("replay: the entry cap makes the cache fail closed", () => {
  const c = clock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, firstStart: true, maxEntries: 10, now: c.now });
  for (let i = 0; i < 10; i++) assert(rc.check({ ...A, ctimeMs: c.t, cusec: i }).ok);
  assertEquals(rc.check({ ...A, ctimeMs: c.t, cusec: 10 }), { ok: false, reason: "full" });
  c.t += SKEW + 1; // all expire
  assert(rc.check({ ...A, ctimeMs: c.t, cusec: 10 }).ok);
  rc.close();
});

Deno.test("replay: peek says what check would refuse without recording anything", () => {
  const clk = new ManualClock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, firstStart: true, clock: clk });
  const e = { ...A, ctimeMs: clk.now(), cusec: 5 };
  assertEquals(rc.peek(e), { ok: true });
  assertEquals(rc.peek(e), { ok: true }); // still not recorded
  assertEquals(rc.size, 0);
  assertEquals(rc.check(e), { ok: true });
  assertEquals(rc.peek(e), { ok: false, reason: "replay" });
  clk.advance(SKEW + 1); // the entry expired, with the injected clock
  assertEquals(rc.peek(e), { ok: true });
  rc.close();
});

Deno.test("replay: at the limit new authenticators are refused and no live entry is evicted", () => {
  const clk = new ManualClock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, firstStart: true, maxEntries: 100, clock: clk });
  for (let i = 0; i < 100; i++) {
    assert(rc.check({ ...A, ctimeMs: clk.now(), cusec: i }).ok);
    clk.advance(1_000);
  }
  // Full: a new authenticator is refused, every accepted one still counts as a replay.
  for (let i = 0; i < 50; i++) {
    assertEquals(rc.check({ ...A, ctimeMs: clk.now(), cusec: 500_000 + i }), {
      ok: false,
      reason: "full",
    });
  }
  for (let i = 0; i < 100; i++) {
    assertEquals(rc.check({ ...A, ctimeMs: 1_700_000_000_000 + i * 1_000, cusec: i }), {
      ok: false,
      reason: "replay",
    });
  }
  // Once the oldest expire, their slots (and only theirs) become free again.
  clk.set(1_700_000_000_000 + SKEW + 10_500); // entries 0..10 expired
  for (let i = 0; i < 11; i++) {
    assert(rc.check({ ...A, ctimeMs: clk.now(), cusec: 600_000 + i }).ok, `slot ${i}`);
  }
  assertEquals(rc.check({ ...A, ctimeMs: clk.now(), cusec: 700_000 }), {
    ok: false,
    reason: "full",
  });
  rc.close();
});

Deno.test("replay: a memory-only cache that is not a first start refuses everything for one skew interval", () => {
  const clk = new ManualClock(1_700_000_000_000);
  const rc = ReplayCache.open({ skewMs: SKEW, clock: clk });
  assertEquals(rc.check({ ...A, ctimeMs: clk.now(), cusec: 1 }), {
    ok: false,
    reason: "recovering",
    until: 1_700_000_000_000 + SKEW,
  });
  clk.advance(SKEW);
  assert(rc.check({ ...A, ctimeMs: clk.now(), cusec: 1 }).ok);
  rc.close();
});
