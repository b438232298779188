/**
 * The kernel interface: typed IPsec SA/policy management with a NETLINK_XFRM
 * backend ({@link NetlinkKernel}) and an in-memory backend
 * ({@link MemoryKernel}) with the same semantics.
 *
 * @module
 */
export type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";
export { NetlinkKernel, type NetlinkKernelOptions } from "./netlink.ts";
export { ACQ_EXPIRES_SECONDS, MemoryKernel, type SimPacket, type SimResult } from "./memory.ts";
export { errnoName, KernelError, type KernelErrorCategory } from "../../ffi/errors.ts";
export {
  AEAD_ALGS,
  type AeadAlgo,
  type AllocSpiRequest,
  anySelector,
  AUTH_ALGS,
  type AuthAlgo,
  CRYPT_ALGS,
  type CryptAlgo,
  type CurrentLifetime,
  type Family,
  type Lifetime,
  type Mark,
  type PolicyAction,
  type PolicyConfig,
  type PolicyDir,
  type PolicyId,
  type PolicyState,
  type SaConfig,
  type SaId,
  type SaState,
  type Selector,
  selector,
  type Template,
  validatePolicy,
  validateSa,
  type XfrmEvent,
  type XfrmMode,
  type XfrmProto,
} from "../../ffi/xfrm.ts";
