/**
 * The responder's front door (core/engine/admission.ts) on its own:
 * deterministic token buckets (time only from the caller), bounded tables
 * with least-recently-used eviction, verdict expiry, exact ticket keys.
 */
import assert from "node:assert/strict";
import {
  FrontDoor,
  SourceBudget,
  ticketKey,
  TicketVerdicts,
} from "../../../core/engine/admission.ts";

Deno.test("admission: a source's bucket holds its burst, refills at its rate, never above the burst, and not when the clock steps back", () => {
  const b = new SourceBudget(3, 2, 10); // 3 tokens, 2 per second
  for (let i = 0; i < 3; i++) assert.ok(b.take("a", 1000));
  assert.equal(b.take("a", 1000), false);
  assert.equal(b.take("a", 1499), false, "less than one token after 499 ms");
  assert.ok(b.take("a", 1500));
  assert.ok(b.take("a", 1000_000) && b.take("a", 1000_000) && b.take("a", 1000_000));
  assert.equal(b.take("a", 1000_000), false, "refilled to the burst, not beyond");
  assert.equal(b.take("a", 500), false, "a clock stepped back refills nothing");
  assert.ok(b.take("other", 500), "sources are independent");
  b.charge("other", 500);
  b.charge("other", 500);
  assert.equal(b.has("other", 500), false);
});

Deno.test("admission: the source table is bounded; the least recently used source is forgotten", () => {
  const b = new SourceBudget(1, 0, 3);
  for (const s of ["a", "b", "c"]) assert.ok(b.take(s, 0));
  assert.equal(b.take("a", 0), false); // touches a: b is now the oldest
  assert.ok(b.take("d", 0)); // evicts b
  assert.equal(b.size, 3);
  assert.ok(b.take("b", 0), "b was forgotten: a fresh bucket");
  assert.equal(b.take("a", 0), false, "a, recently used, was kept");
});

Deno.test("admission: verdicts expire, are bounded, and a shorter `until` wins", () => {
  const v = new TicketVerdicts(2, 1000);
  const r = { kind: "refused" as const, code: 31, detail: "x" };
  v.set("k1", r, 0);
  v.set("k2", r, 0, 100);
  assert.deepEqual(v.get("k1", 999), r);
  assert.equal(v.get("k2", 100), undefined, "expired at its until");
  v.set("k3", r, 0);
  v.set("k4", r, 0);
  assert.equal(v.size, 2);
  assert.equal(v.get("k1", 1), undefined, "evicted");
  assert.equal(v.get("k4", 1000), undefined, "expired at the ttl");
});

Deno.test("admission: ticket keys are the whole ciphertext — ciphertexts sharing a prefix differ, large ones are hashed, and the two forms never meet", () => {
  const a = new Uint8Array(300).fill(7);
  const b = a.slice();
  b[299] = 8;
  assert.notEqual(ticketKey(a), ticketKey(b));
  assert.equal(ticketKey(a), ticketKey(a.slice()));
  const big = new Uint8Array(5000).fill(1);
  const k = ticketKey(big);
  assert.ok(k.length < 100, "hashed");
  assert.notEqual(k[0], ticketKey(a)[0], "hashed and exact keys start differently");
  // A small ciphertext spelling a hashed key's text cannot take its place.
  assert.notEqual(ticketKey(new TextEncoder().encode(k)), k);
});

Deno.test("admission: the front door — cached verdicts first, replayed authenticators, separate budgets for known tickets, answers within budget and size", () => {
  const d = new FrontDoor({ verifyBurst: 2, verifyPerSecond: 0, knownBurst: 1, knownPerSecond: 0 });
  assert.deepEqual(d.admit("A", "t1", "a1", 0), { kind: "verify", known: false });
  d.failed("A", false, 0);
  d.failed("A", false, 0);
  assert.deepEqual(d.admit("A", "t2", "a2", 0), { kind: "over-budget", known: false });
  // A ticket that verified from A before uses the other bucket.
  d.succeeded("A", "good", "a3", 0, 1000);
  assert.deepEqual(d.admit("A", "good", "a4", 0), { kind: "verify", known: true });
  assert.deepEqual(d.admit("A", "good", "a3", 10), { kind: "replay" });
  assert.deepEqual(d.admit("A", "good", "a3", 1000), { kind: "verify", known: true });
  assert.deepEqual(d.admit("B", "good", "a5", 0), { kind: "verify", known: false }, "per source");
  d.verdicts.set("bad", { kind: "refused", code: 41, detail: "x" }, 0);
  assert.equal(d.admit("A", "bad", "a6", 0).kind, "cached");
  // Answers: never more octets than received (unless allowed), within the burst.
  assert.equal(d.answer("A", 0, 200, 100), false);
  assert.ok(d.answer("A", 0, 200, 100, true));
  let n = 1;
  while (d.answer("A", 0, 50, 100)) n++;
  assert.equal(n, d.limits.answerBurst);
  d.reset();
  assert.equal(d.admit("A", "bad", "a7", 0).kind, "over-budget", "verdicts forgotten on reset");
});
