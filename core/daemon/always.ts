/**
 * Keeps `start = "always"` peers up: a CREATE of such a peer that fails (KDC
 * unreachable, peer silent, refused) is tried again after a back-off —
 * 5 s, 10 s, 20 s, … at most 5 min between attempts, for as long as the
 * peer stays configured `always` — and the schedule is shown in
 * `kink status`. An SA pair coming up for the peer ends it.
 *
 * @module
 */
import type { EngineEvent } from "../engine/mod.ts";
import type { TimerClock, TimerId } from "../util/clock.ts";

/** Back-off of the retries (defaults: {@link DEFAULT_ALWAYS_BACKOFF}). */
export interface AlwaysBackoff {
  /** Delay before the first retry, ms. */
  firstMs: number;
  /** Longest delay between two retries, ms. */
  maxMs: number;
}

/** Default back-off: 5 s, doubling, at most 5 min. */
export const DEFAULT_ALWAYS_BACKOFF: Readonly<AlwaysBackoff> = Object.freeze({
  firstMs: 5_000,
  maxMs: 300_000,
});

/** A peer waiting for its next attempt (status). */
export interface AlwaysRetry {
  /** The peer. */
  peer: string;
  /** Attempts that failed since the peer was last up. */
  failures: number;
  /** When the next attempt is made (ms since the epoch); absent while one runs. */
  nextAttemptAt?: number;
  /** The last failure's reason and detail. */
  lastError: string;
}

interface Waiting {
  failures: number;
  at: number;
  timer: TimerId | undefined;
  lastError: string;
}

/** Retries failed CREATEs of `always` peers with a capped exponential back-off. */
export class AlwaysUp {
  readonly #clock: TimerClock;
  readonly #up: (peer: string) => void;
  readonly #backoff: AlwaysBackoff;
  #peers = new Set<string>();
  readonly #waiting = new Map<string, Waiting>();
  #closed = false;

  /**
   * A keeper with no peers yet ({@link setPeers}).
   *
   * @param clock the daemon's clock (timers)
   * @param up starts a negotiation with a peer (the engine's `up` command)
   * @param backoff back-off overrides
   */
  constructor(clock: TimerClock, up: (peer: string) => void, backoff: Partial<AlwaysBackoff> = {}) {
    this.#clock = clock;
    this.#up = up;
    this.#backoff = { ...DEFAULT_ALWAYS_BACKOFF, ...backoff };
  }

  /** The peers configured `always` (at start and after each reload). */
  setPeers(names: Iterable<string>): void {
    this.#peers = new Set(names);
    for (const p of [...this.#waiting.keys()]) if (!this.#peers.has(p)) this.#forget(p);
  }

  /** Follows the engine's events. */
  handle(e: EngineEvent): void {
    if (this.#closed) return;
    if (e.type === "sa-up") {
      this.#forget(e.peer);
      return;
    }
    if (e.type !== "exchange-failed" || e.command !== "CREATE" || !this.#peers.has(e.peer)) return;
    const w = this.#waiting.get(e.peer) ?? { failures: 0, at: 0, timer: undefined, lastError: "" };
    w.lastError = `${e.reason}: ${e.detail}`;
    if (w.timer !== undefined) return; // an attempt is already scheduled
    w.failures++;
    const delay = Math.min(this.#backoff.maxMs, this.#backoff.firstMs * 2 ** (w.failures - 1));
    w.at = this.#clock.now() + delay;
    w.timer = this.#clock.setTimer(w.at, () => {
      w.timer = undefined;
      if (this.#closed || !this.#peers.has(e.peer)) return;
      this.#up(e.peer);
    });
    this.#waiting.set(e.peer, w);
  }

  #forget(peer: string): void {
    const w = this.#waiting.get(peer);
    if (w?.timer !== undefined) this.#clock.clearTimer(w.timer);
    this.#waiting.delete(peer);
  }

  /** Peers that failed since they were last up: waiting for, or making, their next attempt. */
  status(): AlwaysRetry[] {
    return [...this.#waiting].map(([peer, w]) => {
      const r: AlwaysRetry = { peer, failures: w.failures, lastError: w.lastError };
      if (w.timer !== undefined) r.nextAttemptAt = w.at;
      return r;
    });
  }

  /** Cancels every scheduled attempt (the daemon stops). */
  close(): void {
    this.#closed = true;
    for (const p of [...this.#waiting.keys()]) this.#forget(p);
  }
}
