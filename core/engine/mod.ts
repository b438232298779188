/**
 * The KINK protocol engine (RFC 4430): every exchange as a deterministic,
 * sans-I/O state machine. See `api.ts` for the contract a driver follows.
 *
 * @module
 */
export * from "./api.ts";
export { Engine } from "./engine.ts";
export { EngineError, type EngineErrorCategory } from "./errors.ts";
// Types of the lower layers that the engine's contract mentions.
export type { KinkError } from "../errors.ts";
export type { Credentials, ReplayEntry, ReplayVerdict, ServiceKeyEntry } from "../kerberos/mod.ts";
export type {
  AllocSpiRequest,
  KernelError,
  SaConfig,
  SaId,
  SaState,
  XfrmEvent,
  XfrmMode,
  XfrmProto,
} from "../kernel/mod.ts";
export type { RandomSource } from "../util/random.ts";
