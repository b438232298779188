/**
 * The root of kink's error families.
 *
 * Every layer (crypto, Kerberos, KINK wire format, kernel, network, IPsec SA
 * keying, configuration, daemon, CLI) throws exactly one subclass of {@link KinkError}. Each error
 * carries the layer, a machine-readable `category` and a `context` naming what
 * was being done ("decode KINK_ENCRYPT"), so that callers can branch on the
 * category and operators read one line that says what failed and where.
 *
 * Messages never contain key bytes. Code that builds an error from data that
 * may be secret must describe it (length, enctype, kvno), not print it.
 *
 * @module
 */

/** The layer an error comes from; one error class per layer. */
export type ErrorLayer =
  | "crypto"
  | "kerberos"
  | "wire"
  | "kernel"
  | "ipsec"
  | "engine"
  | "net"
  | "config"
  | "daemon"
  | "cli";

/** Options accepted by every {@link KinkError} constructor. */
export interface KinkErrorOptions {
  /** The lower-level error that caused this one. */
  cause?: unknown;
}

/**
 * Base class of every error kink throws on purpose.
 *
 * The message is `"<context>: <detail>"`, e.g.
 * `"decode KINK_ENCRYPT: length 7 < 8"`.
 */
export abstract class KinkError extends Error {
  /** Which layer raised the error. */
  abstract readonly layer: ErrorLayer;
  /** A stable, machine-readable category within the layer (e.g. `"malformed"`). */
  readonly category: string;
  /** What was being done when the error happened (e.g. `"decode KINK_ENCRYPT"`). */
  readonly context: string;
  /** The detail without the context prefix. */
  readonly detail: string;

  /**
   * Sets the message to `"<context>: <detail>"` (or `detail` alone when the context is empty).
   *
   * @param category stable machine-readable category
   * @param context what was being done
   * @param detail what went wrong (no secret material)
   * @param options the lower-level error as `cause`
   */
  constructor(
    category: string,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
  ) {
    super(
      context ? `${context}: ${detail}` : detail,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.category = category;
    this.context = context;
    this.detail = detail;
    this.name = new.target.name;
  }
}

/** Returns true when `e` is an error that kink raised deliberately. */
export function isKinkError(e: unknown): e is KinkError {
  return e instanceof KinkError;
}

/**
 * Categories of {@link ConfigError}, a closed set: `"syntax"` (a file or
 * value that cannot be parsed), `"value"` (a well-formed setting with a value
 * that cannot be used), `"missing"` (a required setting is absent), `"io"` (a
 * file cannot be read), `"usage"` (a bad command line).
 */
export type ConfigErrorCategory = "syntax" | "value" | "missing" | "io" | "usage";

/** Errors in configuration files and command-line settings. */
export class ConfigError extends KinkError {
  /** Always `"config"`. */
  readonly layer = "config" as const;
  /** The category (see {@link ConfigErrorCategory}). */
  declare readonly category: ConfigErrorCategory;

  /**
   * Creates a configuration error.
   *
   * @param category one of {@link ConfigErrorCategory}
   * @param context the file and line, or the setting, concerned
   * @param detail what is wrong
   */
  constructor(
    category: ConfigErrorCategory,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
  ) {
    super(category, context, detail, options);
  }
}
