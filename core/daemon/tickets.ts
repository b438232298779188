/**
 * Service tickets for the engine, with retries inside the negotiation's
 * budget. One KDC exchange gives up after the KDC transport's tries (by
 * default two UDP rounds of 1 s per KDC, krb5.conf `kdc_timeout`), while a
 * KINK negotiation keeps going for a whole retransmission cycle (31 s by
 * default): a KDC that is briefly unreachable (restart, lost datagrams)
 * should not fail a negotiation that could still succeed. So a request whose
 * KDCs were unreachable is tried again after 1, 2, 4, 8 s (capped) until the
 * peer's retransmission cycle has passed since the request; each request
 * waits on its own, so a peer waiting for a ticket never holds up the others
 * (the driver runs requests concurrently). Refusals by a KDC (unknown
 * principal, policy) are not retried: asking again changes nothing.
 *
 * @module
 */
import type { TicketRequest, TicketResult } from "../engine/mod.ts";
import { KdcUnreachableError } from "../kerberos/mod.ts";
import type { TimerClock } from "../util/clock.ts";

/** Retry schedule (defaults: {@link DEFAULT_TICKET_RETRY}). */
export interface TicketRetry {
  /** Wait before the second try, ms (doubled each time). */
  firstWaitMs: number;
  /** Longest wait between two tries, ms. */
  maxWaitMs: number;
}

/** Default: 1 s, doubling, at most 8 s between tries. */
export const DEFAULT_TICKET_RETRY: Readonly<TicketRetry> = Object.freeze({
  firstWaitMs: 1_000,
  maxWaitMs: 8_000,
});

/**
 * Wraps `fetch` (one KDC exchange) in retries of unreachable-KDC failures
 * until `budgetMs(request)` has passed since the request, or `signal` is
 * aborted (the daemon stops).
 */
export function retryingTickets(
  fetch: (req: TicketRequest) => Promise<FetchedTicket>,
  o: {
    clock: TimerClock;
    budgetMs: (req: TicketRequest) => number;
    signal: AbortSignal;
    retry?: Partial<TicketRetry>;
  },
): (req: TicketRequest) => Promise<TicketResult> {
  const r = { ...DEFAULT_TICKET_RETRY, ...o.retry };
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (o.signal.aborted) return resolve();
      const id = o.clock.setTimer(o.clock.now() + ms, done);
      function done() {
        o.signal.removeEventListener("abort", abort);
        resolve();
      }
      function abort() {
        o.clock.clearTimer(id);
        done();
      }
      o.signal.addEventListener("abort", abort, { once: true });
    });
  return async (req) => {
    const start = o.clock.now();
    const deadline = start + o.budgetMs(req);
    let waitMs = r.firstWaitMs;
    for (let tries = 1;; tries++) {
      const { unreachable, ...res } = await fetch(req);
      if (res.ok || !unreachable) return res;
      if (o.signal.aborted || o.clock.now() + waitMs >= deadline) {
        if (tries === 1) return res;
        const s = Math.round((o.clock.now() - start) / 1000);
        return { ...res, message: `${res.message} (${tries} tries over ${s} s)` };
      }
      await wait(waitMs);
      waitMs = Math.min(r.maxWaitMs, waitMs * 2);
    }
  };
}

/** A ticket failure, marked when no KDC could be reached (worth trying again). */
export type FetchedTicket = TicketResult & { unreachable?: boolean };

/** Whether `e` (thrown by the Kerberos client) means that no KDC could be reached. */
export function isUnreachable(e: unknown): boolean {
  return e instanceof KdcUnreachableError && e.category === "kdc-unreachable";
}
