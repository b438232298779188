/**
 * One binary min-heap for every timer table in kink (the engine's timers, the
 * manual clock, the in-memory kernel's lifetimes): entries ordered by
 * (time, sequence), each knowing its own position so that removing or
 * rescheduling one is O(log n) and nothing stale stays behind.
 *
 * @module
 */

/** An entry of an {@link IndexedHeap}. The heap owns `idx`; callers set `at` and `seq`. */
export interface HeapEntry {
  /** Due time; the heap's first key. */
  at: number;
  /** Tie-breaker for equal times (lower first): usually a scheduling counter. */
  seq: number;
  /** Position in the heap, or -1 when the entry is not in one. */
  idx: number;
}

function less(a: HeapEntry, b: HeapEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A binary min-heap by (`at`, `seq`) whose entries can be removed or moved in place. */
export class IndexedHeap<T extends HeapEntry> {
  #h: T[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#h.length;
  }

  /** The earliest entry, left in place. */
  peek(): T | undefined {
    return this.#h[0];
  }

  /** Adds `e` (which must not be in a heap). */
  push(e: T): void {
    e.idx = this.#h.length;
    this.#h.push(e);
    this.#up(e.idx);
  }

  /** Removes and returns the earliest entry. */
  pop(): T | undefined {
    const top = this.#h[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes `e`; false when it was not in the heap. */
  remove(e: T): boolean {
    const i = e.idx;
    if (i < 0 || this.#h[i] !== e) return false;
    e.idx = -1;
    const last = this.#h.pop()!;
    if (last !== e) {
      this.#h[i] = last;
      last.idx = i;
      this.#down(i);
      this.#up(last.idx);
    }
    return true;
  }

  /** Restores the order after `e.at`/`e.seq` changed (adds `e` when it is not in the heap). */
  update(e: T): void {
    if (e.idx < 0 || this.#h[e.idx] !== e) {
      this.push(e);
      return;
    }
    this.#down(e.idx);
    this.#up(e.idx);
  }

  /** Removes every entry. */
  clear(): void {
    for (const e of this.#h) e.idx = -1;
    this.#h.length = 0;
  }

  #up(i: number): void {
    const h = this.#h;
    const e = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = h[p]!;
      if (!less(e, q)) break;
      h[i] = q;
      q.idx = i;
      i = p;
    }
    h[i] = e;
    e.idx = i;
  }

  #down(i: number): void {
    const h = this.#h;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r]!, h[l]!) ? r : l;
      const m = h[c]!;
      if (!less(m, e)) break;
      h[i] = m;
      m.idx = i;
      i = c;
    }
    h[i] = e;
    e.idx = i;
  }
}
