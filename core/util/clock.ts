/**
 * The clock seam. Everything in kink that reads the time or waits takes a
 * {@link Clock} (or {@link TimerClock}), so tests and the simulator drive
 * time by hand ({@link ManualClock}) while the daemon uses the wall clock
 * ({@link systemClock}). Times are milliseconds since the Unix epoch.
 *
 * @module
 */
import { type HeapEntry, IndexedHeap } from "./heap.ts";

/** Reads the current time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** Opaque handle of a timer set on a {@link TimerClock}. */
export type TimerId = number | object;

/** A clock that can also call back at a given time. */
export interface TimerClock extends Clock {
  /** Calls `fn` once when the clock reaches `atMs` (at once, asynchronously, if already past). */
  setTimer(atMs: number, fn: () => void): TimerId;
  /** Cancels a timer; unknown or fired ids are ignored. */
  clearTimer(id: TimerId): void;
}

/** The wall clock (`Date.now`) with `setTimeout` timers that do not keep the process alive. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimer(atMs: number, fn: () => void): TimerId {
    const id = setTimeout(fn, Math.max(0, atMs - Date.now()));
    Deno.unrefTimer(id);
    return id;
  },
  clearTimer(id: TimerId): void {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  },
};

interface PendingTimer extends HeapEntry {
  id: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in (time, creation)
 * order, synchronously, inside {@link ManualClock.advance}; `now()` during a
 * callback is the timer's own time. A binary heap keeps set/clear/fire O(log n).
 */
export class ManualClock implements TimerClock {
  #now: number;
  readonly #heap = new IndexedHeap<PendingTimer>();
  readonly #live = new Map<number, PendingTimer>();
  #nextId = 1;
  #seq = 0;

  /** A clock reading `startMs`. */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** The current (virtual) time. */
  now(): number {
    return this.#now;
  }

  /** Sets a timer; one set in the past fires at the next advance. */
  setTimer(atMs: number, fn: () => void): TimerId {
    const t: PendingTimer = { at: atMs, seq: this.#seq++, idx: -1, id: this.#nextId++, fn };
    this.#live.set(t.id, t);
    this.#heap.push(t);
    return t.id;
  }

  /** Cancels a timer. */
  clearTimer(id: TimerId): void {
    if (typeof id !== "number") return;
    const t = this.#live.get(id);
    if (t === undefined) return;
    this.#live.delete(id);
    this.#heap.remove(t);
  }

  /** Number of timers not yet fired or cleared. */
  get pending(): number {
    return this.#live.size;
  }

  /** Time of the earliest live timer, or undefined. */
  nextTimer(): number | undefined {
    return this.#heap.peek()?.at;
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.advanceTo(this.#now + ms);
  }

  /** Moves the clock to `t` (never backwards), firing every timer due on the way. */
  advanceTo(t: number): void {
    if (t < this.#now) {
      throw new RangeError(`ManualClock.advanceTo: ${t} is before now ${this.#now}`);
    }
    for (;;) {
      const top = this.#heap.peek();
      if (top === undefined || top.at > t) break;
      this.#heap.pop();
      this.#live.delete(top.id);
      if (top.at > this.#now) this.#now = top.at;
      top.fn();
    }
    this.#now = t;
  }

  /** Steps the clock to any time, backwards too (a clock step), without firing timers. */
  set(t: number): void {
    this.#now = t;
  }
}
