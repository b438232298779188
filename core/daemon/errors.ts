/**
 * The daemon layer's error family.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/** Categories of {@link DaemonError}. */
export type DaemonErrorCategory =
  /** The control socket or a control request failed. */
  | "control"
  /** Start-up could not complete (state directory, sockets, kernel). */
  | "startup"
  /** A state file is unsafe or unreadable. */
  | "state"
  /** A command named something that does not exist (a peer). */
  | "not-found"
  /** A reloaded configuration could not be applied (the running one stays in force). */
  | "reload";

/** An error of the daemon or its control interface. */
export class DaemonError extends KinkError {
  /** Always `"daemon"`. */
  readonly layer = "daemon" as const;
  /** The category (see {@link DaemonErrorCategory}). */
  declare readonly category: DaemonErrorCategory;
  /** The daemon's own category when the error came back over the control socket. */
  readonly remoteCategory?: string;
  /**
   * A daemon error.
   *
   * @param category closed category
   * @param context what was being done
   * @param detail what went wrong
   */
  constructor(
    category: DaemonErrorCategory,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
    remoteCategory?: string,
  ) {
    super(category, context, detail, options);
    if (remoteCategory !== undefined) this.remoteCategory = remoteCategory;
  }
}
