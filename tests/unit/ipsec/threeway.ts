/**
 * Test helper: the SAs of a 3-way CREATE as kink's keying layer computes
 * them, for the re-key tests (unit with MemoryKernel, VM with Linux).
 *
 * The initiator A offers AES-128-CBC + HMAC-SHA1 first and 3DES + HMAC-SHA1
 * second; the responder B accepts only 3DES, so it answers with Nr (and
 * ACKREQ). A has already installed its inbound SA with the optimistic
 * proposal (AES, keys without Nr) and must re-key it with 3DES and keys with
 * Nr — the step where Linux's UPDSA silently keeps the old keys.
 *
 * @module
 */
import { Key } from "../../../core/crypto/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { EspTransformId, ProtocolId } from "../../../core/wire/mod.ts";
import type { SaConfig } from "../../../core/kernel/mod.ts";
import {
  acceptReply,
  buildProposals,
  chooseProposal,
  keyQuickMode,
  optimisticProposal,
  type ProposalOffer,
  replyProposals,
  saConfigsFor,
  type TransformSpec,
  withResponderSpis,
} from "../../../core/ipsec/mod.ts";

const common = { mode: "transport" as const, lifetime: { seconds: 3600 }, esn: false };
const AES: TransformSpec = {
  id: EspTransformId.ESP_AES,
  keyBits: 128,
  authAlgorithm: 2,
  ...common,
};
const DES3: TransformSpec = { id: EspTransformId.ESP_3DES, authAlgorithm: 2, ...common };

/** The SAs of both sides, before and after the REPLY. */
export interface ThreeWay {
  /** A's inbound SA from the optimistic proposal (AES, no Nr): installed before the CREATE. */
  aInboundOptimistic: SaConfig;
  /** A's inbound SA re-keyed from the REPLY (3DES, keys with Nr): what must replace it. */
  aInbound: SaConfig;
  /** A's outbound SA (3DES, with Nr). */
  aOutbound: SaConfig;
  /** B's inbound SA (3DES, with Nr). */
  bInbound: SaConfig;
  /** B's outbound SA (3DES, with Nr): installed when the ACK arrives. */
  bOutbound: SaConfig;
  /** What B would send with if it had the optimistic keys (AES, no Nr) — the "old keys". */
  bOutboundOptimistic: SaConfig;
}

/** Runs the negotiation and keying between addresses `a` (initiator) and `b`. */
export function threeWay(a: string, b: string, seed = 3): ThreeWay {
  const rnd = new SeededRandom(seed);
  const session = Key.fromBytes(18, rnd.fill(new Uint8Array(32)));
  const ni = rnd.fill(new Uint8Array(16));
  const nr = rnd.fill(new Uint8Array(16));
  const aOffer: ProposalOffer[] = [{
    protocols: [{ protocol: ProtocolId.ESP, transforms: [AES, DES3] }],
  }];
  const bOffer: ProposalOffer[] = [{
    protocols: [{ protocol: ProtocolId.ESP, transforms: [DES3] }],
  }];
  const base = { initiator: a, responder: b, ni, sessionKey: session, prf: "racoon2" as const };
  const sent = buildProposals(aOffer, { esp: 0xa1a1a1a1 });
  const optimistic = keyQuickMode({ ...base, sas: optimisticProposal(sent).sas });
  const choice = withResponderSpis(chooseProposal(sent, bOffer), { esp: 0xb2b2b2b2 });
  const accepted = acceptReply(sent, replyProposals(choice));
  if (accepted.optimistic || choice.optimistic) throw new Error("expected a 3-way choice");
  const atA = saConfigsFor(keyQuickMode({ ...base, nr, sas: accepted.sas }), "initiator");
  const atB = saConfigsFor(keyQuickMode({ ...base, nr, sas: choice.sas }), "responder");
  // B sending with the optimistic keys: the same SA as A's optimistic inbound one.
  const bOld = keyQuickMode({ ...base, sas: optimisticProposal(sent).sas });
  session.dispose();
  return {
    aInboundOptimistic: optimistic[0]!.config!,
    aInbound: atA.inbound[0]!,
    aOutbound: atA.outbound[0]!,
    bInbound: atB.inbound[0]!,
    bOutbound: atB.outbound[0]!,
    bOutboundOptimistic: bOld[0]!.config!,
  };
}
