/**
 * The engine's timers: every scheduled action is a {@link Slot} with at most
 * one pending time, kept in the shared {@link IndexedHeap}. Setting,
 * rescheduling, cancelling and firing are O(log n), and a cancelled slot
 * leaves nothing behind.
 *
 * @module
 */
import { type HeapEntry, IndexedHeap } from "../util/heap.ts";

/** A schedulable action; at most one pending time (`at`, meaningful while {@link scheduled}). */
export interface Slot extends HeapEntry {
  /** Runs when due. */
  fire(now: number): void;
}

/** A new, unscheduled slot. */
export function slot(fire: (now: number) => void): Slot {
  return { at: 0, seq: 0, idx: -1, fire };
}

/** Whether `s` has a pending time. */
export function scheduled(s: Slot): boolean {
  return s.idx >= 0;
}

/** The slots by (time, scheduling order): a slot set again goes behind those set before it. */
export class TimerHeap {
  readonly #heap = new IndexedHeap<Slot>();
  #seq = 0;

  /** Number of scheduled slots. */
  get size(): number {
    return this.#heap.size;
  }

  /** Schedules `s` at `at` (replacing its previous time). */
  set(s: Slot, at: number): void {
    s.at = at;
    s.seq = this.#seq++;
    this.#heap.update(s);
  }

  /** Cancels `s` (nothing when it is not scheduled). */
  cancel(s: Slot): void {
    this.#heap.remove(s);
  }

  /** Time of the earliest scheduled slot. */
  next(): number | undefined {
    return this.#heap.peek()?.at;
  }

  /** Removes and returns the earliest slot due at or before `now`. */
  popDue(now: number): Slot | undefined {
    const top = this.#heap.peek();
    if (!top || top.at > now) return undefined;
    this.#heap.pop();
    return top;
  }
}
