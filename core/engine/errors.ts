/**
 * The engine's error family. The engine itself never throws at its driver
 * for bad input (it drops the datagram and reports an event); an
 * {@link EngineError} means a configuration the engine refuses or an API
 * misuse (unknown peer, unknown operation id).
 *
 * @module
 */
import { KinkError } from "../errors.ts";

/** Categories of {@link EngineError}. */
export type EngineErrorCategory = "config" | "invalid-argument" | "unsupported" | "internal";

/** An error of the protocol engine. */
export class EngineError extends KinkError {
  /** Always `"engine"`. */
  readonly layer = "engine" as const;
  /** The category. */
  declare readonly category: EngineErrorCategory;
}
