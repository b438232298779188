/**
 * Smoke run of the load benchmark's kinkd lab (bench/load/kinkd.ts): two real
 * racoon2 kinkd processes in namespaces of our own, a real MIT KDC, ACQUIREs
 * through the PF_KEY stand-in. Asserts behaviour, never speed: every injected
 * ACQUIRE is counted complete exactly when both daemons installed the pair,
 * and the pairs the harness counted are real — each outbound SA of A is an
 * inbound SA of B with the same keys, and the other way round.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { withRealm } from "../../harness/krb5_realm.ts";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../../harness/tiers.ts";
import { loadTempDir, runWindowed } from "../../../bench/load/common.ts";
import { kinkdAvailable, KinkdLab } from "../../../bench/load/kinkd.ts";

/** `SPI → keys` of the SAs a stand-in log shows with operation `op`. */
function sas(log: string, op: "ADD" | "UPDATE"): Map<string, string> {
  const m = new Map<string, string>();
  const re = new RegExp(
    ` SA ${op} satype=3 src (\\S+) dst (\\S+) spi 0x([0-9a-f]+) .*auth_key=([0-9a-f]+) .*enc_key=([0-9a-f]+)`,
  );
  for (const l of log.split("\n")) {
    const x = re.exec(l);
    if (x) m.set(`${x[1]}>${x[2]}/${x[3]}`, `${x[4]}/${x[5]}`);
  }
  return m;
}

Deno.test({
  ...skipUnless(
    "bench:load kinkd lab: windowed ACQUIREs complete as real, matching SA pairs",
    netnsSkipReason(),
    realmSkipReason(),
    kinkdAvailable(),
  ),
  fn: async () => {
    await withNetns(2, async ([a, b]) => {
      await withRealm(
        { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: a!.name },
        async (realm) => {
          const dir = await loadTempDir("smoke");
          const lab = await KinkdLab.start(dir, realm, a!, b!);
          try {
            const n = 12;
            const r = await runWindowed(lab, {
              impl: "kinkd",
              workload: "smoke",
              detail: "",
              n,
              window: 4,
              idleTimeoutMs: 20_000,
            });
            assert.equal(r.completed, n);
            assert.equal(r.failures, 0);
            assert.equal(r.raw?.length, n);
            assert.ok(r.raw!.every((ms) => ms > 0 && Number.isFinite(ms)));
            // warm-up + n exchanges, each installing one pair on each side
            const la = await Deno.readTextFile(`${dir}/A/run/sadb.log`);
            const lb = await Deno.readTextFile(`${dir}/B/run/sadb.log`);
            const aOut = sas(la, "ADD"), bIn = sas(lb, "UPDATE");
            const bOut = sas(lb, "ADD"), aIn = sas(la, "UPDATE");
            assert.equal(aOut.size, n + 1);
            assert.equal(bOut.size, n + 1);
            for (const [k, v] of aOut) assert.equal(bIn.get(k), v, `A→B SA ${k}`);
            for (const [k, v] of bOut) assert.equal(aIn.get(k), v, `B→A SA ${k}`);
          } finally {
            await lab.stop();
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      );
    });
  },
});
