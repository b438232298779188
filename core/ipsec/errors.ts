/**
 * The IPsec keying layer's error family.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";
import { NotifyType } from "../wire/mod.ts";

/**
 * Categories of {@link IpsecError}, each with the ISAKMP Notify a KINK peer
 * answers it with (RFC 2408 §3.14.1, RFC 4430 §5.5):
 * - `"unsupported"`: a transform, attribute or value kink cannot key or
 *   install (ATTRIBUTES-NOT-SUPPORTED);
 * - `"malformed"`: an attribute or proposal that breaks RFC 2407's rules
 *   (BAD-PROPOSAL-SYNTAX);
 * - `"no-proposal-chosen"`: nothing offered is acceptable, or a REPLY chose
 *   something that was not offered or raised a lifetime (NO-PROPOSAL-CHOSEN);
 * - `"invalid-spi"`: an SPI that cannot name an SA (INVALID-SPI);
 * - `"invalid-argument"`: the caller passed values that cannot be used (a
 *   local configuration or programming error; never caused by a peer).
 */
export type IpsecErrorCategory =
  | "unsupported"
  | "malformed"
  | "no-proposal-chosen"
  | "invalid-spi"
  | "invalid-argument";

const NOTIFY: Readonly<Record<IpsecErrorCategory, number>> = {
  "unsupported": NotifyType.ATTRIBUTES_NOT_SUPPORTED,
  "malformed": NotifyType.BAD_PROPOSAL_SYNTAX,
  "no-proposal-chosen": NotifyType.NO_PROPOSAL_CHOSEN,
  "invalid-spi": NotifyType.INVALID_SPI,
  "invalid-argument": NotifyType.NO_PROPOSAL_CHOSEN,
};

/** Errors of SA negotiation and keying. Messages never contain key material. */
export class IpsecError extends KinkError {
  /** Always `"ipsec"`. */
  readonly layer = "ipsec" as const;
  /** The category (see {@link IpsecErrorCategory}). */
  declare readonly category: IpsecErrorCategory;
  /** The ISAKMP Notify type a peer is answered with (see {@link IpsecErrorCategory}). */
  readonly notifyType: number;

  /**
   * Makes an error; its {@link IpsecError.notifyType} follows from the category.
   *
   * @param category what kind of failure
   * @param context what was being done (e.g. `"choose proposal"`)
   * @param detail what went wrong, without secret material
   */
  constructor(
    category: IpsecErrorCategory,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
  ) {
    super(category, context, detail, options);
    this.notifyType = NOTIFY[category];
  }
}
