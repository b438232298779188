/**
 * Re-keying an installed inbound SA for real.
 *
 * In the 3-way CREATE the initiator has already installed its inbound SA
 * with the optimistic proposal and keys without Nr, and must replace it with
 * the responder's choice and keys recomputed with Nr (RFC 4430 §3.2, §7).
 * Linux's XFRM_MSG_UPDSA cannot do that: on a valid (non-larval) SA,
 * `xfrm_state_update()` copies only the lifetimes (and encapsulation,
 * care-of address, selector) into the existing state and reports success,
 * keeping the old algorithms and keys — the bug that breaks racoon2's kinkd
 * 3-way case (../shared/interop/racoon2/peer/README.md). The kernel offers
 * no atomic replacement of an SA's keys under the same (dst, SPI, protocol,
 * mark), so the SA is deleted and added again.
 *
 * The gap between the two is harmless here: the SA is inbound, and in the
 * 3-way case its sender (the responder) installs its outbound SA only when
 * the ACK arrives, after this replacement. If the add fails, the old SA is
 * put back and the error is thrown.
 *
 * @module
 */
import {
  KernelError,
  type KernelIpsec,
  type SaConfig,
  type SaState,
  validateSa,
} from "../kernel/mod.ts";

/** How {@link replaceInboundSa} installed the new keys. */
export type ReplaceOutcome =
  /** The SA was larval (from `allocSpi`, no keys yet): UPDSA filled it in. */
  | "filled-larval"
  /** A keyed SA was deleted and added again with the new algorithms and keys. */
  | "replaced";

function isLarval(s: SaState): boolean {
  return !s.enc && !s.auth && !s.aead;
}

/**
 * Installs `sa` in place of the SA with the same destination, SPI, protocol
 * and mark, so that its algorithms and keys really change. A larval SA (no
 * keys yet) is filled in with UPDSA; a keyed SA is deleted and added again.
 * Throws the kernel's {@link KernelError} (ESRCH when there is no such SA);
 * when the add fails after the delete, the old SA is restored first.
 */
export async function replaceInboundSa(kernel: KernelIpsec, sa: SaConfig): Promise<ReplaceOutcome> {
  validateSa(sa, "replace inbound SA"); // refuse a bad configuration before the old SA is gone
  const id = {
    dst: sa.dst,
    spi: sa.spi,
    proto: sa.proto,
    ...(sa.mark ? { mark: sa.mark } : {}),
  };
  const old = await kernel.getSa(id);
  if (isLarval(old)) {
    wipe(old);
    await kernel.updateSa(sa);
    return "filled-larval";
  }
  await kernel.deleteSa(id);
  try {
    await kernel.addSa(sa);
  } catch (e) {
    try {
      await kernel.addSa(restorable(old));
    } catch (restoreError) {
      wipe(old);
      throw new KernelError(
        "kernel",
        "replace inbound SA",
        `adding the new SA failed (${(e as Error).message}) and the old one could not be restored`,
        { cause: restoreError },
      );
    }
    wipe(old);
    throw e;
  }
  wipe(old);
  return "replaced";
}

/** The configuration that re-creates an SA as the kernel reported it. */
function restorable(s: SaState): SaConfig {
  const c: SaConfig = {
    src: s.src,
    dst: s.dst,
    proto: s.proto,
    spi: s.spi,
    mode: s.mode,
    reqid: s.reqid,
    replayWindow: s.replayWindow,
    esn: s.esn,
    lifetime: s.lifetime,
    selector: s.selector,
    flags: s.flags,
  };
  if (s.enc) c.enc = s.enc;
  if (s.auth) c.auth = s.auth;
  if (s.aead) c.aead = s.aead;
  if (s.mark) c.mark = s.mark;
  return c;
}

function wipe(s: SaState): void {
  s.enc?.key.fill(0);
  s.auth?.key.fill(0);
  s.aead?.key.fill(0);
}
