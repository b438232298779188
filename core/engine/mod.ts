/**
 * The KINK protocol engine (RFC 4430): every exchange as a deterministic,
 * sans-I/O state machine. See `api.ts` for the contract a driver follows.
 *
 * @module
 */
export * from "./api.ts";
export { Engine } from "./engine.ts";
export { EngineError, type EngineErrorCategory } from "./errors.ts";
