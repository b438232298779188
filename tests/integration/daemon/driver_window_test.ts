/**
 * The driver's back-pressure on ACQUIREs (`acquire_window`): a burst of
 * kernel ACQUIREs (packets of 8 flows through the initiator's in-memory
 * kernel at once) with a window of 3 — the engine is never given an ACQUIRE
 * while 3 exchanges it started are unfinished, the rest wait in order, and
 * every flow ends with its SA pair.
 */
import assert from "node:assert/strict";
import { selector } from "../../../core/kernel/mod.ts";
import { SELECTORS, startPair, until } from "./barrier_pair.ts";

Deno.test("driver acquire window: a burst of 8 ACQUIREs with a window of 3 never has more than 3 exchanges in flight, and every flow gets its pair", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "kink-window-" });
  const p = startPair(`${dir}/replay.log`, 300_000, { acquireWindow: 3 });
  try {
    // The initiator's policies: one per selector of peer b (10.1.i.0/24 -> 10.2.i.0/24).
    for (let i = 0; i < SELECTORS; i++) {
      await p.kernelA.addPolicy({
        selector: selector(`10.1.${i}.0/24`, `10.2.${i}.0/24`),
        dir: "out",
        templates: [{ proto: "esp", mode: "tunnel", src: "10.77.0.1", dst: "10.77.0.2" }],
      });
    }
    for (let i = 0; i < SELECTORS; i++) {
      assert.equal(p.kernelA.sendPacket({ src: `10.1.${i}.5`, dst: `10.2.${i}.5` }), "acquire");
    }
    const ups = () => p.events.a.filter((e) => e.type === "sa-up" && e.initiator).length;
    await until(() => ups() === SELECTORS, 30_000, "every flow's pair");
    assert.equal(p.acquiresFed.length, SELECTORS);
    for (const [k, f] of p.acquiresFed.entries()) {
      assert.ok(
        k - f.upsBefore < 3,
        `ACQUIRE ${k} was fed with ${k - f.upsBefore} exchanges unfinished`,
      );
    }
    assert.equal(p.a.counters.acquiresQueued, SELECTORS - 3);
    assert.equal(p.a.counters.acquiresDropped, 0);
    for (let i = 0; i < SELECTORS; i++) {
      assert.equal(p.kernelA.sendPacket({ src: `10.1.${i}.5`, dst: `10.2.${i}.5` }), "protected");
    }
  } finally {
    await p.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
