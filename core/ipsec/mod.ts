/**
 * The IPsec SA layer: what a negotiated KINK Quick Mode means for the
 * kernel. It sits above crypto, wire and kernel and below the engine and
 * the CLI, and is pure (no I/O) except {@link replaceInboundSa}.
 *
 * - {@link keyQuickMode}: the chosen proposal, SPIs, Ni, optional Nr,
 *   optional DH secret, the ticket session key and the PRF reading → the
 *   kernel `SaConfig` of each direction (RFC 4430 §7). The decoder
 *   (`kink decode`) and the engine both key SAs through it.
 * - Negotiation: {@link buildProposals} (initiator, from the policy's
 *   offers), {@link chooseProposal} (responder), {@link acceptReply}
 *   (initiator's check of the REPLY), {@link optimisticProposal}; lifetimes
 *   may only be lowered.
 * - Transforms: {@link transformSpec} reads SA attributes, {@link keyLayout}
 *   gives the KEYMAT split and kernel algorithms.
 *
 * The IPsec DOI numbers themselves (protocol, transform, attribute IDs) are
 * the wire layer's (`core/wire/mod.ts`: `ProtocolId`, `EspTransformId`,
 * `AhTransformId`, `AuthAlgorithm`, `SaAttributeType`, …).
 *
 * @module
 */
export { IpsecError, type IpsecErrorCategory } from "./errors.ts";
export {
  effectiveLifetime,
  kernelAlgorithms,
  type KeyLayout,
  keyLayout,
  type SaKeys,
  type SaLifetime,
  sameTransform,
  splitKeymat,
  transformAttributes,
  type TransformSpec,
  transformSpec,
} from "./transform.ts";
export {
  DEFAULT_REPLAY_WINDOW,
  type KeyedSa,
  keyQuickMode,
  type NegotiatedSa,
  type QuickModeKeying,
  saConfigsFor,
  wipeSaConfig,
} from "./keying.ts";
export {
  acceptReply,
  buildProposals,
  chooseProposal,
  type ChosenProposal,
  optimisticProposal,
  pfsGroup,
  type ProposalOffer,
  type ProtocolOffer,
  replyProposals,
  type SpiSet,
  withResponderSpis,
} from "./negotiate.ts";
export { replaceInboundSa, type ReplaceOutcome } from "./rekey.ts";
