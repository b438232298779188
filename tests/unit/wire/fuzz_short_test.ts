import { assert } from "./assert.ts";
import { runWireFuzz } from "../../fuzz/wire_fuzz.ts";

Deno.test("fuzz (short run): 20,000 mutated racoon2 inputs per decoder, only WireErrors, bounded", () => {
  const stats = runWireFuzz(20_000, 7);
  for (const s of stats) {
    assert(s.iterations > 0, s.decoder);
    // every input was either accepted or rejected with a WireError (anything else throws)
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    assert(s.accepted + rejected === s.iterations, s.decoder);
    assert(s.maxHeapMiB < 512, `${s.decoder} heap ${s.maxHeapMiB} MiB`);
  }
  const kink = stats.find((s) => s.decoder === "kink")!;
  assert(kink.accepted > 0 && Object.keys(kink.rejected).length >= 3);
});
