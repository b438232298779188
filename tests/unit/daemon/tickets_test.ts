/**
 * The daemon's ticket retries (core/daemon/tickets.ts) on a manual clock:
 * unreachable KDCs are tried again at 1, 2, 4, 8, 8 … s within the peer's
 * retransmission cycle, KDC refusals are not, one peer's wait does not hold
 * up another's request, and a stop ends the waits at once.
 */
import assert from "node:assert/strict";
import { type FetchedTicket, retryingTickets } from "../../../core/daemon/tickets.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import type { TicketRequest, TicketResult } from "../../../core/engine/mod.ts";

const unreachable: FetchedTicket = { ok: false, message: "KDC unreachable", unreachable: true };

/** Runs the clock's timers until `p` settles; returns its value. */
async function settle<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(() => done = true, () => done = true);
  for (let i = 0; i < 1000 && !done; i++) {
    await new Promise((r) => setTimeout(r, 0));
    const t = clock.nextTimer();
    if (!done && t !== undefined) clock.advanceTo(t);
  }
  return await p;
}

Deno.test("tickets: an unreachable KDC is tried again at 1, 2, 4, 8, 8 s until the 31 s cycle is spent; the failure says how often", async () => {
  const clock = new ManualClock(0);
  const at: number[] = [];
  const get = retryingTickets(() => {
    at.push(clock.now());
    return Promise.resolve(unreachable);
  }, { clock, budgetMs: () => 31_000, signal: new AbortController().signal });
  const r = await settle(clock, get({ server: "kink/b@R" }));
  assert.deepEqual(at, [0, 1000, 3000, 7000, 15000, 23000]);
  assert.equal(r.ok, false);
  assert.match((r as { message: string }).message, /KDC unreachable \(6 tries over 23 s\)/);
  assert.equal("unreachable" in r, false, "the marker does not reach the engine");
});

Deno.test("tickets: the KDC back within the cycle — the request succeeds; a KDC refusal is not retried", async () => {
  const clock = new ManualClock(0);
  let n = 0;
  const get = retryingTickets((req) => {
    n++;
    if (req.server === "kink/refused@R") {
      return Promise.resolve({ ok: false, message: "principal unknown", errorCode: 7 });
    }
    const answered: TicketResult = { ok: false, message: "third try answered" };
    return Promise.resolve(n < 3 ? unreachable : answered);
  }, { clock, budgetMs: () => 31_000, signal: new AbortController().signal });
  const r = await settle(clock, get({ server: "kink/b@R" }));
  assert.equal(n, 3);
  assert.equal((r as { message: string }).message, "third try answered");
  n = 0;
  const refused = await settle(clock, get({ server: "kink/refused@R" }));
  assert.equal(n, 1);
  assert.equal((refused as { errorCode?: number }).errorCode, 7);
});

Deno.test("tickets: one peer waiting for its KDC does not hold up another peer's request; a stop ends the wait", async () => {
  const clock = new ManualClock(0);
  const stop = new AbortController();
  const get = retryingTickets(
    (req: TicketRequest) =>
      Promise.resolve(
        req.server === "kink/slow@R"
          ? unreachable
          : { ok: false, message: "answered at once" } as FetchedTicket,
      ),
    { clock, budgetMs: () => 31_000, signal: stop.signal },
  );
  const slow = get({ server: "kink/slow@R" });
  let slowDone = false;
  slow.then(() => slowDone = true);
  const fast = await get({ server: "kink/fast@R" }); // no clock advance needed
  assert.equal((fast as { message: string }).message, "answered at once");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(slowDone, false, "the slow request is still waiting to retry");
  assert.notEqual(clock.nextTimer(), undefined);
  stop.abort();
  const r = await slow;
  assert.equal(r.ok, false);
  assert.equal(clock.nextTimer(), undefined, "the retry timer was cancelled");
});
