/**
 * The kernel interface: typed IPsec SA/policy management with a NETLINK_XFRM
 * backend ({@link NetlinkKernel}) and an in-memory backend
 * ({@link MemoryKernel}) with the same semantics.
 *
 * Layout of the layer (each file imports only what is below it):
 * - `errors.ts` — {@link KernelError}, the layer's one error family (a leaf:
 *   `ffi/` throws it too);
 * - `addr.ts`, `model.ts`, `algorithms.ts`, `selector.ts`, `validate.ts` —
 *   the typed model and its validation, shared by both backends;
 * - `xfrm/encode.ts`, `xfrm/decode.ts` — the model mapped onto the XFRM
 *   structs whose layout `ffi/xfrm/` holds;
 * - `netlink.ts`, `memory.ts` — the two backends of {@link KernelIpsec}.
 *
 * Code outside the layer imports this module only.
 *
 * @module
 */
export type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";
export { NetlinkKernel, type NetlinkKernelOptions } from "./netlink.ts";
export { ACQ_EXPIRES_SECONDS, MemoryKernel, type SimPacket, type SimResult } from "./memory.ts";
export { errnoName, KernelError, type KernelErrorCategory } from "./errors.ts";
export { type Family, familyOf } from "./addr.ts";
export { AEAD_ALGS, type AlgInfo, AUTH_ALGS, CRYPT_ALGS } from "./algorithms.ts";
export { anySelector, selector } from "./selector.ts";
export { validatePolicy, validateSa, validateSelector } from "./validate.ts";
export type {
  AeadAlgo,
  AllocSpiRequest,
  AuthAlgo,
  CryptAlgo,
  CurrentLifetime,
  Lifetime,
  Mark,
  PolicyAction,
  PolicyConfig,
  PolicyDir,
  PolicyId,
  PolicyState,
  SaConfig,
  SaId,
  SaState,
  Selector,
  Template,
  XfrmEvent,
  XfrmMode,
  XfrmProto,
} from "./model.ts";
/** The only library `--allow-ffi` must grant to the netlink backend. */
export { LIBC_PATH } from "../../ffi/libc.ts";
