/**
 * Lossy, duplicating, reordering and slow links between two real
 * `kink daemon`s (`tc netem` on both gateways' interfaces, inside the test's
 * own namespaces): every `up` converges, both sides hold exactly matching
 * SAs (none leaked, none twice), `down` leaves nothing; retransmissions are
 * counted. No key appears in either daemon's log.
 *
 * The host kernel here has no sch_netem: the test then skips with that
 * reason, and `tests/vm/faults/netem_vm_test.ts` runs it in the VM tier
 * (Debian's kernel loads sch_netem on demand). `KINK_FAULTS_LONG=1`: ten
 * up/down rounds per profile instead of one.
 */
import assert from "node:assert/strict";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../harness/tiers.ts";
import { startGateway, stopGateway } from "../integration/daemon/gateways.ts";
import { keysFromCapture, startCapture } from "../integration/daemon/leak.ts";
import {
  assertNoKeys,
  counters,
  ctl,
  downAndEmpty,
  netem,
  netemSkipReason,
  upAndMatch,
  withGateways,
} from "./daemons.ts";
import type { StatusJson } from "../integration/daemon/gateways.ts";

const LONG = Deno.env.get("KINK_FAULTS_LONG") === "1";
/** With KINK_FAULTS_GAPS=1 an exchange that fails under loss (and needs asking again) fails the test. */
const gaps = Deno.env.get("KINK_FAULTS_GAPS") === "1";

/** The link profiles, applied on both gateways' eth0 (so each direction sees them twice). */
export const NETEM_PROFILES = [
  "loss 10%",
  "loss 30%",
  "duplicate 30% reorder 25% delay 20ms",
  "delay 200ms 50ms distribution normal",
];

Deno.test({
  ...skipUnless(
    "faults, real daemons: netem loss 10 % and 30 %, duplication + reordering, 200 ms ± 50 ms delay — every up converges to exactly matching SAs on both sides, down leaves none, no key in the logs",
    netnsSkipReason(),
    realmSkipReason(),
    netemSkipReason(),
  ),
  async fn() {
    await withGateways(async ({ a, b, fa, fb, dir, keytabKeys }) => {
      const cap = await startCapture(a, `${dir}/netem.pcapng`);
      const ga = await startGateway(a, fa, "memory", 120_000);
      const gb = await startGateway(b, fb, "memory", 120_000);
      const report: string[] = [];
      const retried: string[] = [];
      try {
        // One unimpaired round first: tickets are then cached, and the profiles test KINK's
        // own retransmission (a lost KDC request is counted as a retry below).
        await upAndMatch(ga, gb, "warm-up", 180_000);
        await downAndEmpty(ga, gb, "warm-up", 240_000);
        for (const p of NETEM_PROFILES) {
          await netem(a, p);
          await netem(b, p);
          const rounds = LONG ? 10 : 1;
          const before = counters(await ctl(ga, "status") as StatusJson);
          const t0 = Date.now();
          for (let r = 0; r < rounds; r++) {
            // An exchange that fails (its retransmissions or its KDC requests all lost) must
            // leave both sides agreeing; the test then asks again, up to 3 times, and counts it.
            for (let attempt = 1;; attempt++) {
              try {
                await upAndMatch(ga, gb, `${p}, round ${r}`, 180_000);
                break;
              } catch (e) {
                if (attempt === 3) throw e;
                retried.push(`${p} round ${r}: ${(e as Error).message.split("\n")[0]}`);
                await downAndEmpty(ga, gb, `${p}, round ${r}, after a failure`, 240_000);
              }
            }
            await downAndEmpty(ga, gb, `${p}, round ${r}`, 240_000);
          }
          const after = counters(await ctl(ga, "status") as StatusJson);
          const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
          report.push(
            `${p.padEnd(40)} ${rounds} up/down round(s) in ${Date.now() - t0} ms; A: ` +
              `${d("sent")} sent, ${d("retransmissions")} retransmissions, ${
                d("timeouts")
              } timeouts`,
          );
        }
        await netem(a, undefined);
        await netem(b, undefined);
        console.log(
          `\nnetem profiles survived:\n  ${report.join("\n  ")}\n` +
            `exchanges that failed and were asked for again: ${retried.length}\n  ${
              retried.join("\n  ")
            }`,
        );
        if (gaps) assert.deepEqual(retried, [], "exchanges failed under loss");
      } finally {
        await stopGateway(ga);
        await stopGateway(gb);
        await cap.stop();
      }
      const { keys } = await keysFromCapture(cap.file, [fa.keytab, fb.keytab]);
      assertNoKeys([...ga.log, ...gb.log], [...keytabKeys, ...keys], "netem run");
    });
  },
});
