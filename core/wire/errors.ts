/**
 * The KINK wire layer's error family.
 *
 * Every malformed, unsupported or unauthenticated KINK datagram is reported as
 * a {@link WireError}. Besides the usual category/context/detail, each error
 * says how a receiver should react (RFC 4430 §4, §4.2.8, §5.5, §15 of the
 * project digest): answer with a KINK_ERROR code, answer with an ISAKMP
 * Notify inside a KINK_ISAKMP payload, or drop the message silently.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/** KINK_ERROR codes (RFC 4430 §4.2.8). */
export const KinkErrorCode = {
  /** No error; never sent by a responder. */
  OK: 0,
  /** The message was malformed. */
  PROTOERR: 1,
  /** Invalid (unsupported) DOI. */
  INVDOI: 2,
  /** Invalid (unsupported) KINK major version. */
  INVMAJ: 3,
  /** Reserved; racoon2 sends it as "KINK_INVMIN" (invalid minor version). */
  RESERVED4: 4,
  /** An unrecoverable internal error. */
  INTERR: 5,
  /** Unsupported Quick Mode version. */
  BADQMVERS: 6,
  /** Returning a TGT is prohibited. */
  U2UDENIED: 7,
} as const;

/** How a receiver should react to a {@link WireError}. */
export type WireReaction =
  /** Answer with a REPLY carrying a KINK_ERROR payload with this code. */
  | { action: "kink-error"; code: number }
  /** Answer with an ISAKMP Notify of this type (inside KINK_ISAKMP); `data` is its Notification Data. */
  | { action: "notify"; notifyType: number; data?: Uint8Array }
  /** Drop the message without answering (e.g. a checksum that does not verify). */
  | { action: "drop" };

/** Options of a {@link WireError}. */
export interface WireErrorOptions extends KinkErrorOptions {
  /** How to react; default `{ action: "kink-error", code: KINK_PROTOERR }`. */
  reaction?: WireReaction;
}

/**
 * Categories of {@link WireError}, a closed set: `"malformed"`
 * (KINK_PROTOERR), `"version"` (KINK_INVMAJ), `"doi"` (KINK_INVDOI),
 * `"qm-version"` (KINK_BADQMVERS), `"isakmp"` (a Quick Mode payload problem
 * answered with an ISAKMP Notify), `"rule"` (a §6 payload rule violated:
 * KINK_PROTOERR), `"integrity"` (Cksum or KINK_ENCRYPT does not verify:
 * drop), `"unauthenticated"` (a keyed message without Cksum: drop),
 * `"invalid-argument"` (a builder was given values that cannot be encoded),
 * `"pcap"` (a capture file is malformed).
 */
export type WireErrorCategory =
  | "malformed"
  | "version"
  | "doi"
  | "qm-version"
  | "isakmp"
  | "rule"
  | "integrity"
  | "unauthenticated"
  | "invalid-argument"
  | "pcap";

/**
 * An error of the KINK wire layer (codec, checksum, KINK_ENCRYPT, receive-side
 * validation); its category is one of {@link WireErrorCategory}.
 */
export class WireError extends KinkError {
  /** Always `"wire"`. */
  readonly layer = "wire" as const;
  /** The category (see {@link WireErrorCategory}). */
  declare readonly category: WireErrorCategory;
  /** How a receiver should react. */
  readonly reaction: WireReaction;

  /**
   * Creates a wire error; the reaction defaults to answering KINK_PROTOERR.
   *
   * @param category one of {@link WireErrorCategory}
   * @param context what was being done, e.g. `"decode KINK_ENCRYPT"`
   * @param detail what went wrong (no secret material)
   * @param options cause and reaction
   */
  constructor(
    category: WireErrorCategory,
    context: string,
    detail: string,
    options?: WireErrorOptions,
  ) {
    super(category, context, detail, options);
    this.reaction = options?.reaction ?? { action: "kink-error", code: KinkErrorCode.PROTOERR };
  }

  /** The KINK_ERROR code to answer with, or undefined when the reaction is not a KINK_ERROR. */
  get kinkErrorCode(): number | undefined {
    return this.reaction.action === "kink-error" ? this.reaction.code : undefined;
  }
}

/** Shorthand: a KINK_PROTOERR-class malformation. */
export function malformed(context: string, detail: string): WireError {
  return new WireError("malformed", context, detail);
}

/** Shorthand: an ISAKMP payload problem answered with a Notify (default PAYLOAD-MALFORMED, 16). */
export function isakmpError(
  context: string,
  detail: string,
  notifyType = 16,
  data?: Uint8Array,
): WireError {
  const reaction: WireReaction = data === undefined
    ? { action: "notify", notifyType }
    : { action: "notify", notifyType, data };
  return new WireError("isakmp", context, detail, { reaction });
}
