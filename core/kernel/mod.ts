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
 * - `bypass.ts` — the clear-text policies a daemon's own socket needs;
 * - `netlink.ts`, `memory.ts` — the two backends of {@link KernelIpsec}.
 *
 * Code outside the layer imports this module only.
 *
 * @module
 */
export type { BatchOutcome, EventSubscription, KernelIpsec } from "./types.ts";
export { NetlinkKernel, type NetlinkKernelOptions } from "./netlink.ts";
export {
  ACQ_EXPIRES_SECONDS,
  MemoryKernel,
  type MemoryKernelOptions,
  type SimPacket,
  type SimResult,
} from "./memory.ts";
export {
  errnoName,
  KernelError,
  type KernelErrorCategory,
  type KernelErrorOptions,
} from "./errors.ts";
/** The root of kink's error families, which {@link KernelError} extends. */
export { type ErrorLayer, KinkError, type KinkErrorOptions } from "../errors.ts";
/** The seams {@link MemoryKernel} takes: a clock with timers and a source of randomness. */
export type { Clock, TimerClock, TimerId } from "../util/clock.ts";
export type { RandomSource } from "../util/random.ts";
export { type Family, familyOf } from "./addr.ts";
export { AEAD_ALGS, type AlgInfo, AUTH_ALGS, CRYPT_ALGS } from "./algorithms.ts";
export { anySelector, selector, selectorMatches } from "./selector.ts";
export { type BypassOptions, bypassPolicyIds, socketBypassPolicies } from "./bypass.ts";
export { validatePolicy, validateSa, validateSelector } from "./validate.ts";
export { RedactedAeadAlgo, RedactedAlgo, RedactedAuthAlgo, RedactedCryptAlgo } from "./model.ts";
export type {
  AeadAlgo,
  AllocSpiRequest,
  AuthAlgo,
  CryptAlgo,
  CurrentLifetime,
  Flow,
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
/** SO_PEERCRED of a Unix socket's connections, and ending one (the daemon's control socket). */
export { shutdownSocket, type UnixPeer, unixPeersOf } from "../../ffi/libc.ts";
/**
 * A UDP socket's descriptor, non-blocking reads and its receive buffer (the
 * daemon's KINK sockets drained past Deno's one-datagram reads; see core/net's
 * `SocketAccess`).
 */
export {
  attachIpv4SourceFilter,
  MAX_FILTER_SOURCES,
  recvFromNow,
  setReceiveBuffer,
  udpSocketOf,
} from "../../ffi/libc.ts";
