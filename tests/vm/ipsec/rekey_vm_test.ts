/**
 * The inbound re-key of a 3-way CREATE on Linux, with ESP traffic (issue 11
 * point 1, ../shared/interop/racoon2/peer/README.md "Known kinkd bug").
 *
 * Two namespaces A (initiator) and B (responder) joined by a veth pair. The
 * SAs come from kink's keying layer (tests/unit/ipsec/threeway.ts): A offered
 * AES-128-CBC first, B accepts only 3DES and answers with Nr. A holds its
 * optimistic inbound SA (AES, keys without Nr); everything else is 3DES with
 * keys with Nr. Then:
 * 1. A → B → A ping fails: B's replies, sent with the chosen keys, do not
 *    decrypt under A's optimistic SA;
 * 2. plain XFRM_MSG_UPDSA of A's inbound SA with the chosen algorithm and
 *    keys returns success, yet the kernel still shows `cbc(aes)` with the
 *    optimistic keys and the ping still fails (the pitfall);
 * 3. `replaceInboundSa` replaces it: the kernel shows `cbc(des3_ede)` with
 *    the new keys, and the ping passes;
 * 4. B switched to sending with the old (optimistic) keys: the ping fails
 *    again — A's SA no longer accepts them.
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { NetlinkKernel, type SaConfig, selector } from "../../../core/kernel/mod.ts";
import { replaceInboundSa } from "../../../core/ipsec/mod.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { espSkipReason, parseIpXfrmState } from "../../integration/kernel/env.ts";
import { skipUnless } from "../../harness/tiers.ts";
import { threeWay } from "../../unit/ipsec/threeway.ts";

const noEsp = await espSkipReason();

async function ping(from: Netns, to: string, count = 2): Promise<boolean> {
  const r = await from.run(["ping", "-c", String(count), "-i", "0.2", "-W", "2", to]);
  return r.success;
}

/** What `ip xfrm state` in `n` shows for (dst, spi): encryption algorithm and key, auth key. */
async function shown(n: Netns, dst: string, spi: number): Promise<[string, string, string]> {
  const states = parseIpXfrmState(await n.runOk(["ip", "xfrm", "state"]));
  const s = states.find((x) => x.dst === dst && x.spi === spi);
  assert.ok(s, `SPI 0x${spi.toString(16)} installed`);
  return [s.algs.enc?.[0] ?? "", s.algs.enc?.[1] ?? "", s.algs["auth-trunc"]?.[1] ?? ""];
}

const want = (sa: SaConfig): [string, string, string] => [
  sa.enc!.name,
  `0x${toHex(sa.enc!.key)}`,
  `0x${toHex(sa.auth!.key)}`,
];

/** `XfrmInStateProtoError` of `n` (/proc/net/xfrm_stat): ESP packets that failed to decrypt. */
async function protoErrors(n: Netns): Promise<number> {
  const m = /XfrmInStateProtoError\s+(\d+)/.exec(await n.runOk(["cat", "/proc/net/xfrm_stat"]));
  return m ? Number(m[1]) : 0;
}

Deno.test({
  ...skipUnless(
    "3-way re-key on Linux: UPDSA keeps the optimistic keys (traffic fails); replaceInboundSa changes them (traffic passes, old keys refused)",
    noEsp,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(2, async ([a, b]) => {
      const A = a!.addr4, B = b!.addr4;
      const t = threeWay(A, B);
      const ka = NetlinkKernel.open({ netns: `/run/netns/${a!.name}` });
      const kb = NetlinkKernel.open({ netns: `/run/netns/${b!.name}` });
      try {
        const copy = (s: SaConfig): SaConfig => structuredClone(s);
        await ka.addSa(copy(t.aInboundOptimistic)); // before the CREATE
        await kb.addSa(copy(t.bInbound)); // before the REPLY
        await ka.addSa(copy(t.aOutbound)); // on the REPLY
        await kb.addSa(copy(t.bOutbound)); // on the ACK
        for (const [k, me, peer] of [[ka, A, B], [kb, B, A]] as const) {
          const tmpl = [{ proto: "esp" as const, mode: "transport" as const }];
          await k.addPolicy({ selector: selector(me, peer), dir: "out", templates: tmpl });
          await k.addPolicy({ selector: selector(peer, me), dir: "in", templates: tmpl });
        }
        const inA = t.aInbound.spi;

        // 1. A's inbound SA still has the optimistic keys: B's replies are refused.
        const err0 = await protoErrors(a!);
        assert.equal(await ping(a!, B), false, "optimistic inbound SA: replies do not decrypt");
        assert.ok((await protoErrors(a!)) > err0, "A counted ESP packets it could not decrypt");

        // 2. The pitfall: UPDSA on the valid SA succeeds and changes nothing but lifetimes.
        await ka.updateSa(copy(t.aInbound));
        assert.deepEqual(await shown(a!, A, inA), want(t.aInboundOptimistic), "UPDSA kept them");
        assert.equal(await ping(a!, B), false, "after UPDSA traffic still fails");

        // 3. replaceInboundSa really re-keys it.
        assert.equal(await replaceInboundSa(ka, copy(t.aInbound)), "replaced");
        assert.deepEqual(await shown(a!, A, inA), want(t.aInbound), "new algorithm and keys");
        assert.ok(await ping(a!, B, 3), "after the re-key traffic passes both ways");

        // 4. Old keys are refused now: B sends with the optimistic ones again.
        await kb.deleteSa({ dst: A, spi: inA, proto: "esp" });
        await kb.addSa(copy(t.bOutboundOptimistic));
        const err1 = await protoErrors(a!);
        assert.equal(await ping(a!, B), false, "packets under the old keys are refused");
        assert.ok((await protoErrors(a!)) > err1);
      } finally {
        await ka.close();
        await kb.close();
      }
    }),
});
