/**
 * replaceInboundSa against the in-memory kernel, whose UPDSA follows Linux's
 * `xfrm_state_update()` (a valid SA only takes new lifetimes). The same
 * scenario runs with ESP traffic on a real kernel in
 * tests/vm/ipsec/rekey_vm_test.ts.
 */
import { assertEquals } from "../crypto/assert.ts";
import nodeAssert from "node:assert/strict";
import { KernelError, MemoryKernel, type SaConfig } from "../../../core/kernel/mod.ts";
import { replaceInboundSa } from "../../../core/ipsec/mod.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { threeWay } from "./threeway.ts";

const A = "192.0.2.1", B = "192.0.2.2";

Deno.test("3-way re-key: UPDSA keeps the optimistic keys; replaceInboundSa installs the chosen algorithm and keys", async () => {
  const t = threeWay(A, B);
  const k = new MemoryKernel();
  try {
    await k.addSa(structuredClone(t.aInboundOptimistic));
    const id = { dst: A, spi: t.aInbound.spi, proto: "esp" as const };
    await k.updateSa(structuredClone(t.aInbound)); // succeeds …
    const kept = await k.getSa(id);
    assertEquals(kept.enc?.name, "cbc(aes)"); // … but the old algorithm and keys stay
    assertEquals(toHex(kept.enc!.key), toHex(t.aInboundOptimistic.enc!.key));

    assertEquals(await replaceInboundSa(k, structuredClone(t.aInbound)), "replaced");
    const now = await k.getSa(id);
    assertEquals(now.enc?.name, "cbc(des3_ede)");
    assertEquals(toHex(now.enc!.key), toHex(t.aInbound.enc!.key));
    assertEquals(toHex(now.auth!.key), toHex(t.aInbound.auth!.key));
    assertEquals(k.saCount, 1);
  } finally {
    await k.close();
  }
});

Deno.test("replaceInboundSa fills a larval SA from allocSpi with UPDSA, and reports ESRCH for a missing SA", async () => {
  const t = threeWay(A, B);
  const k = new MemoryKernel();
  try {
    const spi = await k.allocSpi({ src: B, dst: A, proto: "esp", min: 0x1000, max: 0x1fff });
    const sa = { ...structuredClone(t.aInbound), spi };
    assertEquals(await replaceInboundSa(k, sa), "filled-larval");
    assertEquals((await k.getSa({ dst: A, spi, proto: "esp" })).enc?.name, "cbc(des3_ede)");
    const e = await replaceInboundSa(k, { ...sa, spi: 0x2345 }).catch((x) => x);
    nodeAssert.ok(e instanceof KernelError);
    assertEquals(e.errnoName, "ESRCH");
  } finally {
    await k.close();
  }
});

Deno.test("replaceInboundSa refuses an invalid SA before touching the installed one", async () => {
  const t = threeWay(A, B);
  const k = new MemoryKernel();
  try {
    await k.addSa(structuredClone(t.aInboundOptimistic));
    const bad = {
      ...structuredClone(t.aInbound),
      enc: { name: "cbc(nonesuch)", key: new Uint8Array(8) },
    };
    const e = await replaceInboundSa(k, bad).catch((x) => x);
    nodeAssert.ok(e instanceof KernelError, String(e));
    assertEquals(e.category, "invalid");
    const still = await k.getSa({ dst: A, spi: t.aInbound.spi, proto: "esp" });
    assertEquals(toHex(still.enc!.key), toHex(t.aInboundOptimistic.enc!.key));
  } finally {
    await k.close();
  }
});

/** The in-memory kernel, refusing the next NEWSA of one SPI once (as a kernel short of memory would). */
class RefusingOnce extends MemoryKernel {
  /** SPI whose next NEWSA is refused. */
  refuseSpi: number | undefined;
  override addSa(sa: SaConfig): Promise<void> {
    if (sa.spi === this.refuseSpi) {
      this.refuseSpi = undefined;
      return Promise.reject(new KernelError("kernel", "XFRM_MSG_NEWSA", "ENOMEM"));
    }
    return super.addSa(sa);
  }
}

Deno.test("replaceInboundSa puts the old SA back when the kernel refuses the new one after the delete", async () => {
  const t = threeWay(A, B);
  const k = new RefusingOnce();
  try {
    await k.addSa(structuredClone(t.aInboundOptimistic));
    k.refuseSpi = t.aInbound.spi;
    const e = await replaceInboundSa(k, structuredClone(t.aInbound)).catch((x) => x);
    nodeAssert.ok(e instanceof KernelError && e.detail === "ENOMEM", String(e));
    const back = await k.getSa({ dst: A, spi: t.aInbound.spi, proto: "esp" });
    assertEquals(back.enc?.name, "cbc(aes)");
    assertEquals(toHex(back.enc!.key), toHex(t.aInboundOptimistic.enc!.key));
    assertEquals(toHex(back.auth!.key), toHex(t.aInboundOptimistic.auth!.key));
  } finally {
    await k.close();
  }
});
