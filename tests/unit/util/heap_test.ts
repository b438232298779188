/**
 * The shared timer heap against the plainest possible reference: the live
 * entries sorted by (time, sequence) after every operation of a long random
 * mix of push, pop, remove and reschedule.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type HeapEntry, IndexedHeap } from "../../../core/util/heap.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { ManualClock } from "../../../core/util/clock.ts";

interface E extends HeapEntry {
  name: number;
}

function below(r: SeededRandom, n: number): number {
  return r.nextUint32() % n;
}

Deno.test("heap: 20,000 random push/pop/remove/update keep the order a sort of the live entries gives", () => {
  const r = new SeededRandom(7);
  const heap = new IndexedHeap<E>();
  const live = new Set<E>();
  let seq = 0;
  const order = () => [...live].sort((a, b) => a.at - b.at || a.seq - b.seq).map((e) => e.name);
  for (let i = 0; i < 20_000; i++) {
    const op = below(r, 10);
    const pick = () => [...live][below(r, live.size)]!;
    if (op < 4 || live.size === 0) {
      const e: E = { at: below(r, 50), seq: seq++, idx: -1, name: i };
      heap.push(e);
      live.add(e);
    } else if (op < 6) {
      const top = heap.pop()!;
      strictEqual(top.name, order()[0]);
      strictEqual(top.idx, -1);
      live.delete(top);
    } else if (op < 8) {
      const e = pick();
      strictEqual(heap.remove(e), true);
      strictEqual(heap.remove(e), false, "a second remove finds nothing");
      live.delete(e);
    } else {
      const e = pick();
      e.at = below(r, 50);
      e.seq = seq++;
      heap.update(e);
    }
    strictEqual(heap.size, live.size);
    strictEqual(heap.peek()?.name, order()[0]);
  }
  const drained: number[] = [];
  for (let e = heap.pop(); e; e = heap.pop()) drained.push(e.name);
  deepStrictEqual(drained, order());
});

Deno.test("heap: ManualClock fires by (time, creation), cleared timers never, and forgets them at once", () => {
  const c = new ManualClock(0);
  const fired: string[] = [];
  c.setTimer(20, () => fired.push("b"));
  c.setTimer(10, () => fired.push("a"));
  const gone = c.setTimer(15, () => fired.push("never"));
  c.setTimer(20, () => fired.push("c"));
  c.clearTimer(gone);
  strictEqual(c.pending, 3);
  strictEqual(c.nextTimer(), 10);
  c.advanceTo(20);
  deepStrictEqual(fired, ["a", "b", "c"]);
  strictEqual(c.pending, 0);
  strictEqual(c.nextTimer(), undefined);
});
