/**
 * The engine's timer heap: every scheduled action is a {@link Slot} (one
 * pending time per slot); rescheduling or cancelling a slot leaves a stale
 * heap entry that is skipped when it surfaces. Set and fire are O(log n).
 *
 * @module
 */

/** A schedulable action; at most one pending time. */
export interface Slot {
  /** Pending time, or undefined when not scheduled. */
  at: number | undefined;
  /** Generation: bumped on every (re)schedule and cancel. */
  gen: number;
  /** Runs when due. */
  fire(now: number): void;
}

/** A new, unscheduled slot. */
export function slot(fire: (now: number) => void): Slot {
  return { at: undefined, gen: 0, fire };
}

interface Entry {
  at: number;
  order: number;
  gen: number;
  slot: Slot;
}

/** A binary min-heap of slots ordered by (time, scheduling order). */
export class TimerHeap {
  #h: Entry[] = [];
  #order = 0;

  /** Number of heap entries (stale ones included). */
  get size(): number {
    return this.#h.length;
  }

  /** Schedules `s` at `at` (replacing its previous time). */
  set(s: Slot, at: number): void {
    if (s.at !== undefined) this.#stale++;
    s.gen++;
    s.at = at;
    this.#push({ at, order: this.#order++, gen: s.gen, slot: s });
    // Stale entries are dropped lazily; keep them from outnumbering live ones.
    if (this.#h.length > 64 && 2 * this.#stale > this.#h.length) this.#rebuild();
  }

  /** Cancels `s`. */
  cancel(s: Slot): void {
    if (s.at === undefined) return;
    this.#stale++;
    s.gen++;
    s.at = undefined;
  }

  /** Time of the earliest live slot. */
  next(): number | undefined {
    this.#dropStale();
    return this.#h[0]?.at;
  }

  /** Removes and returns the earliest live slot due at or before `now`. */
  popDue(now: number): Slot | undefined {
    this.#dropStale();
    const top = this.#h[0];
    if (!top || top.at > now) return undefined;
    this.#pop();
    top.slot.at = undefined;
    return top.slot;
  }

  #stale = 0;

  #rebuild(): void {
    const live = this.#h.filter((e) => e.gen === e.slot.gen && e.slot.at === e.at);
    this.#h = [];
    this.#stale = 0;
    for (const e of live) this.#push(e);
  }

  #dropStale(): void {
    const h = this.#h;
    while (h.length > 0) {
      const e = h[0]!;
      if (e.gen === e.slot.gen && e.slot.at === e.at) return;
      this.#pop();
      this.#stale--;
    }
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(e: Entry): void {
    const h = this.#h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#h;
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
