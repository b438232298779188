/**
 * Kernel events on a kernel with ESP: traffic that hits a policy without an
 * SA raises an ACQUIRE naming the flow and the policy; answering it with an
 * SA that echoes the ACQUIRE's seq lets the traffic through; an SA with a
 * soft packet limit raises a soft EXPIRE once the limit is passed.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { NetlinkKernel } from "../../../core/kernel/mod.ts";
import { type SaConfig, selector, type XfrmEvent } from "../../../core/kernel/mod.ts";
import { espSkipReason } from "../../integration/kernel/env.ts";
import { skipUnless } from "../../harness/tiers.ts";
import { testKey } from "../../unit/kernel/contract.ts";

const noEsp = await espSkipReason();

async function next(
  it: AsyncIterator<XfrmEvent>,
  type: XfrmEvent["type"],
  ms: number,
): Promise<XfrmEvent> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<"t">((res) => (timer = setTimeout(() => res("t"), deadline - Date.now()))),
    ]);
    clearTimeout(timer);
    if (r === "t") break;
    if (r.done) break;
    if (r.value.type === type) return r.value;
  }
  assert.fail(`no ${type} event within ${ms} ms`);
}

Deno.test({
  ...skipUnless(
    "kernel ESP events: ACQUIRE on traffic without SA, answered by seq; soft EXPIRE on a packet limit",
    noEsp,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(2, async ([a, b]) => {
      const A = a!.addr4, B = b!.addr4;
      const ka = NetlinkKernel.open({ netns: `/run/netns/${a!.name}` });
      const kb = NetlinkKernel.open({ netns: `/run/netns/${b!.name}` });
      const sub = await ka.subscribe();
      const it = sub[Symbol.asyncIterator]();
      try {
        await ka.addPolicy({
          selector: selector(A, B, { proto: 1 }),
          dir: "out",
          templates: [{ proto: "esp", mode: "transport", reqid: 77 }],
        });
        const pinged = a!.run(["ping", "-c", "1", "-W", "1", B]);
        const acq = await next(it, "acquire", 20000);
        assert.equal((await pinged).success, false, "no SA yet: the packet is held back");
        if (acq.type !== "acquire") throw new Error("unreachable");
        assert.equal(acq.proto, "esp");
        assert.equal(acq.src, A);
        assert.equal(acq.dst, B);
        assert.ok(acq.seq > 0);
        assert.equal(acq.selector.src, A);
        assert.equal(acq.selector.dst, B);
        assert.equal(acq.selector.proto, 1);
        assert.equal(acq.policy.dir, "out");
        assert.equal(acq.policy.templates[0]?.reqid, 77);

        const aead = (seed: number) => ({
          name: "rfc4106(gcm(aes))",
          key: testKey(20, seed),
          icvBits: 128,
        });
        const ab: SaConfig = {
          src: A,
          dst: B,
          proto: "esp",
          spi: 0x7000,
          mode: "transport",
          reqid: 77,
          aead: aead(1),
          acquireSeq: acq.seq,
          lifetime: { softPackets: 3, hardPackets: 1000 },
        };
        const ba: SaConfig = {
          src: B,
          dst: A,
          proto: "esp",
          spi: 0x7001,
          mode: "transport",
          reqid: 78,
          aead: aead(2),
        };
        await ka.addSa(ab);
        await ka.addSa(ba);
        await ka.addPolicy({
          selector: selector(B, A, { proto: 1 }),
          dir: "in",
          templates: [{ proto: "esp", mode: "transport", reqid: 78 }],
        });
        const { acquireSeq: _seq, ...abPeer } = ab; // only the side that got the ACQUIRE echoes it
        await kb.addSa(abPeer);
        await kb.addSa(ba);
        await kb.addPolicy({
          selector: selector(B, A, { proto: 1 }),
          dir: "out",
          templates: [{ proto: "esp", mode: "transport", reqid: 78 }],
        });
        await kb.addPolicy({
          selector: selector(A, B, { proto: 1 }),
          dir: "in",
          templates: [{ proto: "esp", mode: "transport", reqid: 77 }],
        });
        const got = await ka.getSa({ dst: B, spi: 0x7000, proto: "esp" });
        assert.equal(got.seq, acq.seq, "the SA carries the ACQUIRE's seq");

        const r = await a!.run(["ping", "-c", "5", "-i", "0.2", "-W", "2", B]);
        assert.ok(r.success, `ping after answering the ACQUIRE: ${r.stdout}`);
        const exp = await next(it, "expire", 20000);
        if (exp.type !== "expire") throw new Error("unreachable");
        assert.equal(exp.hard, false);
        assert.equal(exp.sa.spi, 0x7000);
        assert.ok(exp.sa.current.packets >= 3);
        assert.deepEqual(exp.sa.lifetime, { softPackets: 3, hardPackets: 1000 });
      } finally {
        await sub.close();
        await ka.close();
        await kb.close();
      }
    }),
});
