/**
 * The KINK protocol engine (RFC 4430): every exchange as a deterministic,
 * sans-I/O state machine. See `api.ts` for the contract a driver follows.
 *
 * @module
 */
export * from "./api.ts";
export { Engine } from "./engine.ts";
export { nextEpoch } from "./epoch.ts";
export { EngineError, type EngineErrorCategory } from "./errors.ts";
export { type AdmissionLimits, DEFAULT_ADMISSION } from "./admission.ts";
// Types of the lower layers that the engine's contract mentions.
export type { ErrorLayer, KinkError } from "../errors.ts";
export type { Key, SupportedEnctype } from "../crypto/mod.ts";
export type {
  Credentials,
  EncryptedData,
  Principal,
  PrincipalName,
  ReplayEntry,
  ReplayVerdict,
  ServiceKeyEntry,
  Ticket,
} from "../kerberos/mod.ts";
export type {
  AeadAlgo,
  AllocSpiRequest,
  AuthAlgo,
  CryptAlgo,
  CurrentLifetime,
  Family,
  KernelError,
  Lifetime,
  Mark,
  PolicyAction,
  PolicyDir,
  PolicyState,
  SaConfig,
  SaId,
  SaState,
  Selector,
  Template,
  XfrmEvent,
  XfrmMode,
  XfrmProto,
} from "../kernel/mod.ts";
export type { RandomSource } from "../util/random.ts";
