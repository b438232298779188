/**
 * Short CI run of the Kerberos fuzzer (tests/fuzz/kerberos_fuzz.ts): 20,000
 * mutated real inputs per decoder, only typed errors allowed. The long run
 * is `deno task fuzz:kerberos` (1,000,000 per decoder).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { fuzzTarget, kerberosTargets } from "../../fuzz/kerberos_fuzz.ts";

const N = 20_000;

for (const t of kerberosTargets()) {
  Deno.test(`fuzz ${t.name}: ${N} mutated inputs give only typed errors`, () => {
    const r = fuzzTarget(t, N, 7);
    deepStrictEqual(r.findings, []);
    ok(r.accepted > 0 && r.rejected > 0, `${r.accepted} accepted, ${r.rejected} rejected`);
    // No single input may be slow when timed again (a hang or super-linear path).
    ok(r.slowestRetimedMs < 50, `slowest input re-timed at ${r.slowestRetimedMs} ms`);
  });
}
