/**
 * `start = "always"` retries (core/daemon/always.ts) on a manual clock: the
 * back-off doubles from 5 s to at most 5 min, one attempt is scheduled at a
 * time, an SA pair coming up ends it, and peers no longer `always` are
 * forgotten.
 */
import assert from "node:assert/strict";
import { AlwaysUp } from "../../../core/daemon/always.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import type { EngineEvent } from "../../../core/engine/mod.ts";

const failed = (peer: string, command = "CREATE"): EngineEvent => ({
  type: "exchange-failed",
  peer,
  xid: 1,
  command,
  reason: "ticket",
  detail: "KDC unreachable",
});

Deno.test("always: failed CREATEs of an always peer are retried at 5, 10, 20 … s, capped at 5 min; the status shows them", () => {
  const clock = new ManualClock(1_000_000);
  const ups: [string, number][] = [];
  const a = new AlwaysUp(clock, (p) => ups.push([p, clock.now()]));
  a.setPeers(["b"]);
  const gaps: number[] = [];
  let last = clock.now();
  for (let i = 0; i < 9; i++) {
    a.handle(failed("b"));
    a.handle(failed("b")); // a second failure while one attempt is scheduled changes nothing
    const st = a.status();
    assert.equal(st.length, 1);
    assert.equal(st[0]!.failures, i + 1);
    assert.equal(st[0]!.lastError, "ticket: KDC unreachable");
    clock.advanceTo(clock.nextTimer()!);
    assert.equal(ups.length, i + 1);
    gaps.push(ups[i]![1] - last);
    last = ups[i]![1];
    assert.equal(a.status()[0]!.nextAttemptAt, undefined, "an attempt in progress");
  }
  assert.deepEqual(gaps, [5, 10, 20, 40, 80, 160, 300, 300, 300].map((s) => s * 1000));
  // The pair comes up: nothing more is scheduled, the status is empty.
  a.handle({ type: "sa-up", peer: "b" } as EngineEvent);
  assert.deepEqual(a.status(), []);
  assert.equal(clock.nextTimer(), undefined);
  // Counting starts again after a success.
  a.handle(failed("b"));
  clock.advanceTo(clock.nextTimer()!);
  assert.equal(ups.at(-1)![1] - last, 5000);
});

Deno.test("always: other peers, other commands, removed peers and a closed keeper schedule nothing", () => {
  const clock = new ManualClock(0);
  const ups: string[] = [];
  const a = new AlwaysUp(clock, (p) => ups.push(p));
  a.setPeers(["b"]);
  a.handle(failed("c"));
  a.handle(failed("b", "DELETE"));
  assert.equal(clock.nextTimer(), undefined);
  a.handle(failed("b"));
  a.setPeers([]); // b is no longer `always` (reload)
  assert.deepEqual(a.status(), []);
  assert.equal(clock.nextTimer(), undefined);
  a.setPeers(["b"]);
  a.handle(failed("b"));
  a.close();
  assert.equal(clock.nextTimer(), undefined);
  a.handle(failed("b"));
  assert.equal(clock.nextTimer(), undefined);
  assert.deepEqual(ups, []);
});
