/**
 * Proposal negotiation (RFC 2408 §4.2, RFC 2409 §5.5, RFC 4430 §3.2, §5.2):
 * the initiator's proposals built from its policy, the responder's choice
 * among the proposals received, and the initiator's check of the REPLY's
 * choice — with the optimistic test (first proposal, first transforms) and
 * the rule that lifetimes may only be lowered (⚠ A-9 of the digest).
 *
 * A proposal number groups Proposal payloads into a bundle (AH+ESP); each
 * payload lists its protocol's transforms in preference order.
 *
 * @module
 */
import { type Proposal, ProtocolId, spiBytes, spiNumber } from "../wire/mod.ts";
import { IpsecError } from "./errors.ts";
import type { NegotiatedSa } from "./keying.ts";
import {
  effectiveLifetime,
  keyLayout,
  type SaLifetime,
  sameTransform,
  transformAttributes,
  type TransformSpec,
  transformSpec,
} from "./transform.ts";

/** One protocol of a local offer with its acceptable transforms, most preferred first. */
export interface ProtocolOffer {
  /** Protocol-ID: {@link ProtocolId.AH} or {@link ProtocolId.ESP}. */
  protocol: number;
  /** Transforms, most preferred first. */
  transforms: readonly TransformSpec[];
}

/** One alternative of a policy's proposal configuration: a bundle of protocols. */
export interface ProposalOffer {
  /** The protocols applied together (one for plain ESP or AH; AH and ESP for a bundle). */
  protocols: readonly ProtocolOffer[];
}

/** The SPIs a side allocated for its inbound SAs, one per protocol. */
export interface SpiSet {
  /** SPI of the inbound ESP SA. */
  esp?: number;
  /** SPI of the inbound AH SA. */
  ah?: number;
}

/** A proposal both sides settled on. */
export interface ChosenProposal {
  /** Proposal # in the CREATE. */
  number: number;
  /** One SA per protocol of the bundle, in the CREATE's order. */
  sas: NegotiatedSa[];
  /**
   * True when this is the optimistic proposal: the first proposal with the
   * first transform of each protocol (lifetimes may have been lowered).
   */
  optimistic: boolean;
}

function spiFor(set: SpiSet, protocol: number, ctx: string): number {
  const spi = protocol === ProtocolId.ESP
    ? set.esp
    : protocol === ProtocolId.AH
    ? set.ah
    : undefined;
  if (spi === undefined || !Number.isInteger(spi) || spi < 1 || spi > 0xffffffff) {
    throw new IpsecError("invalid-argument", ctx, `no valid SPI for protocol ${protocol}`);
  }
  return spi;
}

function checkOffer(o: ProposalOffer, ctx: string): void {
  if (o.protocols.length === 0) {
    throw new IpsecError("invalid-argument", ctx, "offer without protocol");
  }
  const seen = new Set<number>();
  for (const p of o.protocols) {
    if (p.protocol !== ProtocolId.ESP && p.protocol !== ProtocolId.AH) {
      throw new IpsecError("invalid-argument", ctx, `protocol ${p.protocol} cannot be offered`);
    }
    if (seen.has(p.protocol)) {
      throw new IpsecError("invalid-argument", ctx, `protocol ${p.protocol} twice in one bundle`);
    }
    seen.add(p.protocol);
    if (p.transforms.length === 0 || p.transforms.length > 255) {
      throw new IpsecError("invalid-argument", ctx, "a protocol needs 1..255 transforms");
    }
    for (const t of p.transforms) {
      try {
        keyLayout(p.protocol, t);
      } catch (e) {
        throw new IpsecError("invalid-argument", ctx, `transform ${t.id}: ${(e as Error).message}`);
      }
    }
  }
}

/**
 * The Proposal payloads of a CREATE's SA payload, from the policy's offers
 * (most preferred first; numbered 1, 2, …) and the SPIs of the initiator's
 * inbound SAs. Throws {@link IpsecError} `"invalid-argument"` for an offer
 * that cannot be keyed or a missing SPI.
 */
export function buildProposals(offers: readonly ProposalOffer[], spis: SpiSet): Proposal[] {
  const ctx = "build proposals";
  if (offers.length === 0 || offers.length > 255) {
    throw new IpsecError("invalid-argument", ctx, "a policy needs 1..255 proposals");
  }
  const out: Proposal[] = [];
  offers.forEach((o, i) => {
    checkOffer(o, ctx);
    for (const p of o.protocols) {
      out.push({
        number: i + 1,
        protocol: p.protocol,
        spi: spiBytes(spiFor(spis, p.protocol, ctx)),
        transforms: p.transforms.map((t, j) => ({
          number: j + 1,
          id: t.id,
          attributes: transformAttributes(t),
        })),
      });
    }
  });
  return out;
}

/** Proposal payloads grouped by proposal number, in order of first appearance. */
function groups(proposals: readonly Proposal[]): Proposal[][] {
  const out: Proposal[][] = [];
  for (const p of proposals) {
    const last = out[out.length - 1];
    if (last && last[0]!.number === p.number) last.push(p);
    else out.push([p]);
  }
  return out;
}

function lower(offered: SaLifetime, local: SaLifetime): SaLifetime {
  const out: SaLifetime = {};
  const min = (a?: number, b?: number) =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const s = min(offered.seconds, local.seconds);
  const k = min(offered.kilobytes, local.kilobytes);
  if (s !== undefined) out.seconds = s;
  if (k !== undefined) out.kilobytes = k;
  return out;
}

function notHigher(chosen: SaLifetime, offered: SaLifetime): boolean {
  const ok = (c?: number, o?: number) =>
    c === undefined ? o === undefined : o === undefined || c <= o;
  // A chosen lifetime may add a limit the offer lacked (lowering from "none"), never drop one.
  return ok(chosen.seconds, offered.seconds) && ok(chosen.kilobytes, offered.kilobytes);
}

function tryInterpret(
  protocol: number,
  t: Proposal["transforms"][number],
): TransformSpec | undefined {
  try {
    const s = transformSpec(protocol, t);
    keyLayout(protocol, s);
    return s;
  } catch {
    return undefined; // a transform we cannot use is simply not chosen
  }
}

/**
 * The responder's choice (RFC 2408 §4.2): the first received proposal (in
 * the initiator's preference order) whose protocols are exactly those of one
 * local offer, taking for each protocol the first received transform that
 * matches one of the offer's transforms. The chosen transform carries the
 * lower of the two lifetimes per type (a responder may lower, A-9).
 * `initiatorSpi` is the received SPI; add `responderSpi` with
 * {@link withResponderSpis} once allocated.
 *
 * Throws {@link IpsecError} `"no-proposal-chosen"` when nothing matches,
 * `"invalid-spi"` when the chosen proposal's SPI is not a 4-octet non-zero
 * SPI.
 */
export function chooseProposal(
  received: readonly Proposal[],
  local: readonly ProposalOffer[],
): ChosenProposal {
  const ctx = "choose proposal";
  const gs = groups(received);
  for (let gi = 0; gi < gs.length; gi++) {
    const g = gs[gi]!;
    const protos = new Set(g.map((p) => p.protocol));
    if (protos.size !== g.length) continue; // the same protocol twice in one bundle
    for (const offer of local) {
      if (
        offer.protocols.length !== g.length ||
        !offer.protocols.every((o) => protos.has(o.protocol))
      ) continue;
      const sas: NegotiatedSa[] = [];
      let optimistic = gi === 0;
      for (const p of g) {
        const lo = offer.protocols.find((o) => o.protocol === p.protocol)!;
        let pick: NegotiatedSa | undefined;
        for (let ti = 0; ti < p.transforms.length && !pick; ti++) {
          const t = p.transforms[ti]!;
          const spec = tryInterpret(p.protocol, t);
          if (!spec) continue;
          const mine = lo.transforms.find((l) => sameTransform(l, spec));
          if (!mine) continue;
          const chosen: TransformSpec = {
            ...spec,
            lifetime: lower(effectiveLifetime(spec), effectiveLifetime(mine)),
          };
          pick = { protocol: p.protocol, transform: chosen, transformNumber: t.number };
          if (ti !== 0) optimistic = false;
        }
        if (!pick) break;
        const spi = spiNumber(p.spi);
        if (spi === undefined || spi === 0) {
          throw new IpsecError(
            "invalid-spi",
            ctx,
            `proposal ${p.number}: SPI of ${p.spi.length} octets`,
          );
        }
        pick.initiatorSpi = spi;
        sas.push(pick);
      }
      if (sas.length === g.length) return { number: g[0]!.number, sas, optimistic };
    }
  }
  throw new IpsecError("no-proposal-chosen", ctx, "no proposal matches the local policy");
}

/** A choice with the responder's inbound SPIs filled in (one per protocol). */
export function withResponderSpis(choice: ChosenProposal, spis: SpiSet): ChosenProposal {
  const ctx = "responder SPIs";
  return {
    ...choice,
    sas: choice.sas.map((s) => ({ ...s, responderSpi: spiFor(spis, s.protocol, ctx) })),
  };
}

/**
 * The Proposal payloads of the REPLY's SA payload: the chosen proposal's
 * number, one payload per protocol with the responder's SPI and the one
 * chosen transform (its number as in the CREATE, its lifetimes as chosen).
 */
export function replyProposals(choice: ChosenProposal): Proposal[] {
  const ctx = "build REPLY proposals";
  return choice.sas.map((s) => {
    if (s.responderSpi === undefined) {
      throw new IpsecError("invalid-argument", ctx, `no responder SPI for protocol ${s.protocol}`);
    }
    return {
      number: choice.number,
      protocol: s.protocol,
      spi: spiBytes(s.responderSpi),
      transforms: [{
        number: s.transformNumber ?? 1,
        id: s.transform.id,
        attributes: transformAttributes(s.transform),
      }],
    };
  });
}

/**
 * The initiator's optimistic proposal (RFC 4430 §5.2): the first proposal
 * with the first transform of each protocol, keyed with the initiator's
 * SPIs as sent. Throws {@link IpsecError} when that proposal cannot be keyed.
 */
export function optimisticProposal(sent: readonly Proposal[]): ChosenProposal {
  const ctx = "optimistic proposal";
  const g = groups(sent)[0];
  if (!g) throw new IpsecError("invalid-argument", ctx, "no proposal");
  const sas = g.map((p): NegotiatedSa => {
    const t = p.transforms[0];
    if (!t) throw new IpsecError("malformed", ctx, `proposal ${p.number} without transform`);
    const spec = transformSpec(p.protocol, t);
    keyLayout(p.protocol, spec);
    const spi = spiNumber(p.spi);
    if (spi === undefined || spi === 0) {
      throw new IpsecError(
        "invalid-spi",
        ctx,
        `proposal ${p.number}: SPI of ${p.spi.length} octets`,
      );
    }
    return { protocol: p.protocol, transform: spec, transformNumber: t.number, initiatorSpi: spi };
  });
  return { number: g[0]!.number, sas, optimistic: true };
}

/**
 * The initiator's check of a REPLY (RFC 4430 §3.2, A-9): the REPLY must name
 * one proposal number that was sent, with the same protocols, each with
 * exactly one transform that is one of those offered for that protocol and
 * lifetimes not higher than offered. Returns the choice with both SPIs
 * (initiator's from `sent`, responder's from `reply`) and its lifetimes as
 * the REPLY set them; `optimistic` when it is the first proposal with the
 * first transforms.
 *
 * Throws {@link IpsecError} `"no-proposal-chosen"` when the REPLY chose
 * something not offered or raised a lifetime, `"invalid-spi"` for a bad
 * responder SPI, `"malformed"`/`"unsupported"` for unreadable attributes.
 */
export function acceptReply(
  sent: readonly Proposal[],
  reply: readonly Proposal[],
): ChosenProposal {
  const ctx = "check REPLY proposal";
  const no = (detail: string): never => {
    throw new IpsecError("no-proposal-chosen", ctx, detail);
  };
  const rg = groups(reply);
  if (rg.length !== 1) no(`the REPLY names ${rg.length} proposals`);
  const r = rg[0]!;
  const sg = groups(sent);
  const si = sg.findIndex((g) => g[0]!.number === r[0]!.number);
  if (si < 0) no(`proposal ${r[0]!.number} was not offered`);
  const s = sg[si]!;
  if (s.length !== r.length || new Set(r.map((p) => p.protocol)).size !== r.length) {
    no(`proposal ${r[0]!.number}: protocols differ from the offer`);
  }
  let optimistic = si === 0;
  const sas = s.map((sp): NegotiatedSa => {
    const rp = r.find((p) => p.protocol === sp.protocol);
    if (!rp) return no(`proposal ${sp.number}: protocol ${sp.protocol} missing`);
    if (rp.transforms.length !== 1) {
      no(`protocol ${rp.protocol}: ${rp.transforms.length} transforms`);
    }
    const rt = rp.transforms[0]!;
    const chosen = transformSpec(rp.protocol, rt);
    keyLayout(rp.protocol, chosen);
    let index = -1;
    for (let i = 0; i < sp.transforms.length && index < 0; i++) {
      const t = sp.transforms[i]!;
      const offered = tryInterpret(sp.protocol, t);
      if (
        offered && sameTransform(offered, chosen) &&
        notHigher(effectiveLifetime(chosen), effectiveLifetime(offered))
      ) index = i;
    }
    if (index < 0) no(`protocol ${rp.protocol}: transform ${rt.id} not offered or lifetime raised`);
    if (index !== 0) optimistic = false;
    const ispi = spiNumber(sp.spi);
    const rspi = spiNumber(rp.spi);
    if (ispi === undefined || ispi === 0) {
      throw new IpsecError("invalid-argument", ctx, "the CREATE's SPI is not 4 octets");
    }
    if (rspi === undefined || rspi === 0) {
      throw new IpsecError("invalid-spi", ctx, `responder SPI of ${rp.spi.length} octets`);
    }
    return {
      protocol: sp.protocol,
      transform: chosen,
      transformNumber: rt.number,
      initiatorSpi: ispi,
      responderSpi: rspi,
    };
  });
  return { number: r[0]!.number, sas, optimistic };
}

/**
 * The Diffie-Hellman group a choice requires (every SA's Group Description
 * must agree, A-10); undefined without PFS. Throws {@link IpsecError}
 * `"malformed"` when the SAs of the bundle disagree.
 */
export function pfsGroup(choice: ChosenProposal): number | undefined {
  const gs = new Set(choice.sas.map((s) => s.transform.group));
  if (gs.size > 1) {
    throw new IpsecError("malformed", "PFS group", "the SAs of one proposal name different groups");
  }
  return choice.sas[0]?.transform.group;
}
