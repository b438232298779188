/**
 * `start = "always"` with real `kink daemon`s (memory kernel) and a real MIT
 * KDC that is unreachable (SIGSTOP) when the daemon starts: the first
 * negotiation fails, the peer is tried again with back-off and shown so in
 * `kink status` (failures, next attempt, last error), and once the KDC
 * answers again the pair comes up with no operator action.
 */
import assert from "node:assert/strict";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../harness/tiers.ts";
import { startGateway, stopGateway, waitFor } from "../integration/daemon/gateways.ts";
import { assertMatching, assertNoKeys, ctl, settled, withGateways } from "./daemons.ts";
import type { AlwaysRetry } from "../../core/daemon/always.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

Deno.test({
  ...skipUnless(
    'faults, real daemons: a start = "always" peer whose first negotiation fails (KDC unreachable) is tried again with back-off, shown in the status, and comes up once the KDC answers, without operator action',
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const kdc = c.realm.kdcPid;
      Deno.kill(kdc, "SIGSTOP");
      let stopped = true;
      const gb = await startGateway(c.b, c.fb, "memory");
      const ga = await startGateway(c.a, c.fa, "memory");
      try {
        // The start's attempt failed (after the ticket retries of one retransmission
        // cycle, 31 s), the next one is scheduled.
        const retrying = await waitFor("A retrying peer b", async () => {
          const s = await ctl(ga, "status") as { always?: AlwaysRetry[] };
          const r = s.always?.find((x) => x.peer === "b");
          return r && r.failures >= 1 && r.nextAttemptAt !== undefined ? r : undefined;
        }, 120_000);
        assert.match(retrying.lastError, /tries over \d+ s/, "the ticket was not retried");
        assert.match(retrying.lastError, /^ticket: /, retrying.lastError);
        // What the operator sees: `kink status` through the launcher.
        const out = (await ga.ctl("status")).stdout;
        assert.match(out, /Retrying \(start = always\):/, out);
        assert.match(out, /\bb\s+\d+\s+(in \S+|now)\s+ticket: /, out);
        Deno.kill(kdc, "SIGCONT");
        stopped = false;
        // No `up` from here on: the back-off's next attempt brings the pair up.
        const sa = await settled(ga, 1, 120_000);
        const sb = await settled(gb, 1, 60_000);
        assertMatching(sa, sb, 1, "always peer after the KDC came back");
        const s = await ctl(ga, "status") as { always?: AlwaysRetry[] };
        assert.deepEqual(s.always, [], "still retrying after the pair came up");
      } finally {
        if (stopped) Deno.kill(kdc, "SIGCONT");
        await stopGateway(ga);
        await stopGateway(gb);
      }
      assertNoKeys([...ga.log, ...gb.log], c.keytabKeys, "always-retry run");
    }, { startA: "always" });
  },
});
