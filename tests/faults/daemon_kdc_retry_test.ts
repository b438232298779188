/**
 * A KDC that stops answering for a few seconds (SIGSTOP, then SIGCONT)
 * while a real `kink daemon` asks it for a ticket: the daemon keeps asking
 * within the negotiation's retransmission cycle (core/daemon/tickets.ts),
 * so the one `up` the operator gave ends in matching SAs on both gateways,
 * with no failure reported — where a single KDC exchange gives up after
 * about 2 s.
 */
import assert from "node:assert/strict";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../harness/tiers.ts";
import { sleep } from "../harness/exec.ts";
import { startGateway, type StatusJson, stopGateway } from "../integration/daemon/gateways.ts";
import { assertMatching, ctl, peerOf, settled, withGateways } from "./daemons.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

Deno.test({
  ...skipUnless(
    "faults, real daemons: a KDC unreachable for 6 s while a ticket is needed — the daemon asks again within the retransmission cycle and the single `up` completes with matching SAs, no failure reported",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const kdc = c.realm.kdcPid;
      const ga = await startGateway(c.a, c.fa, "memory");
      const gb = await startGateway(c.b, c.fb, "memory");
      let stopped = false;
      try {
        Deno.kill(kdc, "SIGSTOP");
        stopped = true;
        await ctl(ga, "up", { peer: "b" });
        await sleep(6_000);
        const mid = await ctl(ga, "status") as StatusJson;
        assert.equal(peerOf(mid, "b").lastFailure, undefined, "failed while the KDC was away");
        Deno.kill(kdc, "SIGCONT");
        stopped = false;
        const sa = await settled(ga, 1, 60_000);
        const sb = await settled(gb, 1, 60_000);
        assertMatching(sa, sb, 1, "after the KDC came back");
        assert.equal(peerOf(sa, "b").lastFailure, undefined, JSON.stringify(peerOf(sa, "b")));
      } finally {
        if (stopped) Deno.kill(kdc, "SIGCONT");
        await stopGateway(ga);
        await stopGateway(gb);
      }
    });
  },
});
