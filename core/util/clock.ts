/**
 * The clock seam. Everything in kink that reads the time or waits takes a
 * {@link Clock} (or {@link TimerClock}), so tests and the simulator drive
 * time by hand ({@link ManualClock}) while the daemon uses the wall clock
 * ({@link systemClock}). Times are milliseconds since the Unix epoch.
 *
 * @module
 */

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

interface PendingTimer {
  at: number;
  order: number;
  id: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in (time, creation)
 * order, synchronously, inside {@link ManualClock.advance}; `now()` during a
 * callback is the timer's own time. A binary heap keeps set/fire O(log n).
 */
export class ManualClock implements TimerClock {
  #now: number;
  #heap: PendingTimer[] = [];
  #live = new Map<number, PendingTimer>();
  #nextId = 1;
  #order = 0;

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
    const t: PendingTimer = { at: atMs, order: this.#order++, id: this.#nextId++, fn };
    this.#live.set(t.id, t);
    this.#push(t);
    return t.id;
  }

  /** Cancels a timer. */
  clearTimer(id: TimerId): void {
    if (typeof id === "number") this.#live.delete(id);
  }

  /** Number of timers not yet fired or cleared. */
  get pending(): number {
    return this.#live.size;
  }

  /** Time of the earliest live timer, or undefined. */
  nextTimer(): number | undefined {
    this.#dropDead();
    return this.#heap[0]?.at;
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
      this.#dropDead();
      const top = this.#heap[0];
      if (top === undefined || top.at > t) break;
      this.#pop();
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

  #dropDead(): void {
    while (this.#heap.length > 0 && !this.#live.has(this.#heap[0]!.id)) this.#pop();
  }

  #less(a: PendingTimer, b: PendingTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(t: PendingTimer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
