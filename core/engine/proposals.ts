/**
 * Quick Mode proposals for the engine: building the SA payload of a CREATE
 * from a peer's configuration, reading received transforms, the responder's
 * choice (initiator's preference order, lifetimes only lowered — A-9), the
 * initiator's check of the REPLY's choice (optimistic or not), and turning a
 * negotiated protocol + KEYMAT into a kernel `SaConfig`.
 *
 * KEYMAT → `SaConfig` goes through the shared keying layer (`core/ipsec`
 * keyQuickMode), the same one `kink decode` uses.
 *
 * @module
 */
import type { Key, PrfMode } from "../crypto/mod.ts";
import { keyQuickMode, type QuickModeKeying, type TransformSpec } from "../ipsec/mod.ts";
import {
  EncapsulationMode,
  LifeType,
  type Proposal,
  ProtocolId,
  type SaAttribute,
  SaAttributeType as A,
  type SaPayload,
  SIT_IDENTITY_ONLY,
  spiNumber,
  type Transform,
} from "../wire/mod.ts";
import type { Lifetime, SaConfig, Selector, XfrmMode, XfrmProto } from "../kernel/mod.ts";
import type { LifetimeConfig, ProposalConfig, TransformConfig } from "./api.ts";
import { EngineError } from "./errors.ts";

/** ISAKMP protocol id of an XFRM protocol. */
export function protocolId(p: XfrmProto): number {
  return p === "esp" ? ProtocolId.ESP : ProtocolId.AH;
}

/** XFRM protocol of an ISAKMP protocol id, or undefined. */
export function xfrmProto(id: number): XfrmProto | undefined {
  return id === ProtocolId.ESP ? "esp" : id === ProtocolId.AH ? "ah" : undefined;
}

/** A transform as read from the wire. */
export interface ParsedTransform {
  id: number;
  keyBits: number | undefined;
  auth: number;
  mode: number | undefined;
  group: number | undefined;
  lifeSeconds: number | undefined;
  lifeKb: number | undefined;
  /** The wire transform. */
  raw: Transform;
}

function num(a: SaAttribute): number {
  if (typeof a.value === "number") return a.value;
  let v = 0;
  for (const b of a.value) v = v * 256 + b;
  return v;
}

/** Reads the attributes of a transform (life pairs ). */
export function parseTransform(t: Transform): ParsedTransform {
  const out: ParsedTransform = {
    id: t.id,
    keyBits: undefined,
    auth: 0,
    mode: undefined,
    group: undefined,
    lifeSeconds: undefined,
    lifeKb: undefined,
    raw: t,
  };
  let lifeType = LifeType.SECONDS as number;
  for (const a of t.attributes) {
    switch (a.type) {
      case A.LIFE_TYPE:
        lifeType = num(a);
        break;
      case A.LIFE_DURATION:
        if (lifeType === LifeType.KILOBYTES) out.lifeKb = num(a);
        else out.lifeSeconds = num(a);
        break;
      case A.KEY_LENGTH:
        out.keyBits = num(a);
        break;
      case A.AUTH_ALGORITHM:
        out.auth = num(a);
        break;
      case A.ENCAPSULATION_MODE:
        out.mode = num(a);
        break;
      case A.GROUP_DESCRIPTION:
        out.group = num(a);
        break;
    }
  }
  return out;
}

function duration(v: number): SaAttribute {
  if (v <= 0xffff) return { type: A.LIFE_DURATION, value: v };
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return { type: A.LIFE_DURATION, value: b };
}

/** The wire transform of a configured one (kinkd's attribute order). */
export function buildTransform(
  number: number,
  protocol: XfrmProto,
  t: TransformConfig,
  mode: XfrmMode,
  life: LifetimeConfig,
  group: number | undefined,
): Transform {
  const attributes: SaAttribute[] = [
    { type: A.LIFE_TYPE, value: LifeType.SECONDS },
    duration(life.seconds),
  ];
  if (life.kilobytes !== undefined) {
    attributes.push({ type: A.LIFE_TYPE, value: LifeType.KILOBYTES }, duration(life.kilobytes));
  }
  if (group !== undefined) attributes.push({ type: A.GROUP_DESCRIPTION, value: group });
  attributes.push({
    type: A.ENCAPSULATION_MODE,
    value: mode === "tunnel" ? EncapsulationMode.TUNNEL : EncapsulationMode.TRANSPORT,
  });
  if (protocol === "esp" && t.keyBits !== undefined) {
    attributes.push({ type: A.KEY_LENGTH, value: t.keyBits });
  }
  const auth = protocol === "ah" ? (t.authAlgorithm ?? ahAuth(t.id)) : t.authAlgorithm;
  if (auth !== undefined && auth !== 0) attributes.push({ type: A.AUTH_ALGORITHM, value: auth });
  return { number, id: t.id, attributes };
}

/** AH transform id → its Authentication Algorithm attribute value. */
function ahAuth(id: number): number {
  switch (id) {
    case 2:
      return 1; // AH_MD5
    case 3:
      return 2; // AH_SHA
    default:
      return id; // AH_SHA2_256/384/512 = 5/6/7 (RFC 4868)
  }
}

/**
 * The SA payload of a CREATE: one Proposal payload per protocol, proposal
 * numbers 1, 2, … (a bundle's protocols share one), SPI = our inbound SPI of
 * that protocol.
 */
export function buildSaPayload(
  proposals: readonly ProposalConfig[],
  spis: ReadonlyMap<XfrmProto, number>,
  mode: XfrmMode,
  life: LifetimeConfig,
  group: number | undefined,
  spiBytes: (n: number) => Uint8Array,
): SaPayload {
  const out: Proposal[] = [];
  proposals.forEach((p, i) => {
    for (const pc of p.protocols) {
      out.push({
        number: i + 1,
        protocol: protocolId(pc.protocol),
        spi: spiBytes(spis.get(pc.protocol)!),
        transforms: pc.transforms.map((t, j) =>
          buildTransform(j + 1, pc.protocol, t, mode, life, group)
        ),
      });
    }
  });
  return { kind: "sa", doi: 1, situation: SIT_IDENTITY_ONLY, proposals: out };
}

/** Received proposals grouped by proposal number, in order. */
export function groupProposals(sa: SaPayload): Proposal[][] {
  const groups: Proposal[][] = [];
  let last: number | undefined;
  for (const p of sa.proposals) {
    if (p.number !== last) groups.push([]);
    groups[groups.length - 1]!.push(p);
    last = p.number;
  }
  return groups;
}

function normBits(id: number, protocol: XfrmProto, bits: number | undefined): number | undefined {
  if (protocol === "esp" && id === 12 && bits === undefined) return 128;
  return bits;
}

/** Whether a received transform is the configured one (lifetimes aside). */
export function transformMatches(
  protocol: XfrmProto,
  got: ParsedTransform,
  want: TransformConfig,
  mode: XfrmMode,
  group: number | undefined,
): boolean {
  if (got.id !== want.id) return false;
  if (normBits(got.id, protocol, got.keyBits) !== normBits(want.id, protocol, want.keyBits)) {
    return false;
  }
  const wantAuth = protocol === "ah"
    ? (want.authAlgorithm ?? ahAuth(want.id))
    : (want.authAlgorithm ?? 0);
  if (got.auth !== wantAuth) return false;
  const wantMode = mode === "tunnel" ? EncapsulationMode.TUNNEL : EncapsulationMode.TRANSPORT;
  if (got.mode !== undefined && got.mode !== wantMode) return false;
  if (group !== undefined && got.group !== undefined && got.group !== group) return false;
  return true;
}

/** One negotiated protocol of an SA pair. */
export interface Chosen {
  protocol: XfrmProto;
  /** The transform as negotiated (attributes of the REPLY). */
  transform: ParsedTransform;
  /** Index of the transform in the initiator's proposal. */
  index: number;
  /** The initiator's SPI of this protocol (its inbound). */
  initiatorSpi: number;
}

/** The responder's choice. */
export interface Choice {
  /** Index of the initiator's proposal group. */
  group: number;
  chosen: Chosen[];
  /** First group and first transform of every protocol. */
  optimistic: boolean;
  /** Negotiated lifetime (lowered to ours when higher). */
  life: LifetimeConfig;
}

/**
 * The responder's choice (RFC 4430 §5.2, §6.3): the first of the
 * initiator's proposals whose protocols all match one of ours, and in each
 * protocol the initiator's first acceptable transform. Lifetimes above ours
 * are lowered to ours.
 */
export function chooseProposal(
  sa: SaPayload,
  ours: readonly ProposalConfig[],
  mode: XfrmMode,
  life: LifetimeConfig,
  group: number | undefined,
): Choice | undefined {
  const groups = groupProposals(sa);
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    for (const mine of ours) {
      if (mine.protocols.length !== g.length) continue;
      const chosen: Chosen[] = [];
      let ok = true;
      for (const p of g) {
        const proto = xfrmProto(p.protocol);
        const spi = spiNumber(p.spi);
        const pc = mine.protocols.find((x) => x.protocol === proto);
        if (
          !proto || spi === undefined || spi < 0x100 || !pc ||
          chosen.some((c) => c.protocol === proto)
        ) {
          ok = false;
          break;
        }
        let found: Chosen | undefined;
        for (let ti = 0; ti < p.transforms.length && !found; ti++) {
          const t = parseTransform(p.transforms[ti]!);
          if (pc.transforms.some((w) => transformMatches(proto, t, w, mode, group))) {
            found = { protocol: proto, transform: t, index: ti, initiatorSpi: spi };
          }
        }
        if (!found) {
          ok = false;
          break;
        }
        chosen.push(found);
      }
      if (!ok) continue;
      const t0 = chosen[0]!.transform;
      const seconds = Math.min(t0.lifeSeconds ?? 28800, life.seconds);
      const kb = t0.lifeKb === undefined
        ? life.kilobytes
        : life.kilobytes === undefined
        ? t0.lifeKb
        : Math.min(t0.lifeKb, life.kilobytes);
      const negotiated: LifetimeConfig = kb === undefined
        ? { seconds }
        : { seconds, kilobytes: kb };
      return {
        group: gi,
        chosen,
        optimistic: gi === 0 && chosen.every((c) => c.index === 0),
        life: negotiated,
      };
    }
  }
  return undefined;
}

/** The REPLY's SA payload: the chosen transforms with the negotiated lifetime, our SPIs. */
export function replySaPayload(
  c: Choice,
  spis: ReadonlyMap<XfrmProto, number>,
  mode: XfrmMode,
  group: number | undefined,
  spiBytes: (n: number) => Uint8Array,
): SaPayload {
  return {
    kind: "sa",
    doi: 1,
    situation: SIT_IDENTITY_ONLY,
    proposals: c.chosen.map((x) => ({
      number: c.group + 1,
      protocol: protocolId(x.protocol),
      spi: spiBytes(spis.get(x.protocol)!),
      transforms: [
        buildTransform(
          x.transform.raw.number,
          x.protocol,
          {
            id: x.transform.id,
            ...(x.transform.keyBits !== undefined ? { keyBits: x.transform.keyBits } : {}),
            authAlgorithm: x.transform.auth,
          },
          mode,
          c.life,
          group,
        ),
      ],
    })),
  };
}

/** The initiator's reading of the REPLY's SA payload. */
export interface Accepted {
  /** Per protocol: the transform, the responder's SPI (our outbound). */
  chosen: { protocol: XfrmProto; transform: ParsedTransform; responderSpi: number }[];
  /** Same as our first proposal's first transforms. */
  sameAsOptimistic: boolean;
  life: LifetimeConfig;
}

/**
 * Checks the REPLY's choice against what we offered: every protocol of one
 * of our proposals with one of its transforms, lifetimes not above ours.
 */
export function acceptReply(
  sa: SaPayload,
  ours: readonly ProposalConfig[],
  mode: XfrmMode,
  life: LifetimeConfig,
  group: number | undefined,
): Accepted | string {
  const props = sa.proposals;
  for (let pi = 0; pi < ours.length; pi++) {
    const mine = ours[pi]!;
    if (mine.protocols.length !== props.length) continue;
    const chosen: Accepted["chosen"] = [];
    let first = pi === 0;
    let ok = true;
    for (const p of props) {
      const proto = xfrmProto(p.protocol);
      const spi = spiNumber(p.spi);
      const pc = mine.protocols.find((x) => x.protocol === proto);
      if (!proto || spi === undefined || spi < 0x100 || !pc || p.transforms.length !== 1) {
        ok = false;
        break;
      }
      const t = parseTransform(p.transforms[0]!);
      const idx = pc.transforms.findIndex((w) => transformMatches(proto, t, w, mode, group));
      if (idx < 0) {
        ok = false;
        break;
      }
      if (idx !== 0) first = false;
      chosen.push({ protocol: proto, transform: t, responderSpi: spi });
    }
    if (!ok) continue;
    const t0 = chosen[0]!.transform;
    const seconds = t0.lifeSeconds ?? 28800;
    if (seconds > life.seconds) return `lifetime ${seconds} s above the offered ${life.seconds} s`;
    if (t0.lifeKb !== undefined && life.kilobytes !== undefined && t0.lifeKb > life.kilobytes) {
      return `lifetime ${t0.lifeKb} kB above the offered ${life.kilobytes} kB`;
    }
    const kb = t0.lifeKb ?? life.kilobytes;
    return {
      chosen,
      sameAsOptimistic: first,
      life: kb === undefined ? { seconds } : { seconds, kilobytes: kb },
    };
  }
  return "the chosen proposal is none of ours";
}

const ESP_ENC: Record<number, string> = {
  3: "cbc(des3_ede)",
  11: "ecb(cipher_null)",
  12: "cbc(aes)",
};
const GCM_ICV: Record<number, number> = { 18: 64, 19: 96, 20: 128 };
const AUTH: Record<number, [string, number]> = {
  2: ["hmac(sha1)", 96],
  5: ["hmac(sha256)", 128],
  6: ["hmac(sha384)", 192],
  7: ["hmac(sha512)", 256],
};

/** Whether the kernel side can install a configured transform. */
export function transformSupported(protocol: XfrmProto, t: TransformConfig): boolean {
  if (protocol === "ah") return AUTH[t.authAlgorithm ?? ahAuth(t.id)] !== undefined;
  if (GCM_ICV[t.id] !== undefined) return (t.authAlgorithm ?? 0) === 0;
  return ESP_ENC[t.id] !== undefined && AUTH[t.authAlgorithm ?? 0] !== undefined;
}

/** Inputs of {@link deriveSa}. */
export interface DeriveSa {
  sessionKey: Key;
  prf: PrfMode;
  protocol: XfrmProto;
  transform: ParsedTransform;
  /** SPI of the SA (chosen by its receiver). */
  spi: number;
  ni: Uint8Array;
  nr?: Uint8Array | undefined;
  dhSecret?: Uint8Array | undefined;
  src: string;
  dst: string;
  mode: XfrmMode;
  reqid: number;
  lifetime: Lifetime;
  /** Traffic the SA is restricted to (absent: any). */
  selector?: Selector | undefined;
}

/**
 * KEYMAT (RFC 4430 §7) for one SA, split into the kernel's algorithms, by
 * the shared keying layer (`core/ipsec` keyQuickMode); the engine then sets
 * the lifetimes it negotiated (soft = its randomised rekey time).
 */
export function deriveSa(d: DeriveSa): SaConfig {
  const t = d.transform;
  const spec: TransformSpec = { id: t.id, mode: d.mode, lifetime: {}, esn: false };
  if (t.keyBits !== undefined) spec.keyBits = t.keyBits;
  if (t.auth) spec.authAlgorithm = t.auth;
  if (t.group !== undefined) spec.group = t.group;
  // keyQuickMode names directions by role; "to-initiator" with initiator = dst keys this SA.
  const input: QuickModeKeying = {
    sas: [{ protocol: protocolId(d.protocol), transform: spec, initiatorSpi: d.spi }],
    initiator: d.dst,
    responder: d.src,
    ni: d.ni,
    sessionKey: d.sessionKey,
    prf: d.prf,
    reqid: d.reqid,
  };
  if (d.nr) input.nr = d.nr;
  if (d.dhSecret) input.dhSecret = d.dhSecret;
  const keyed = keyQuickMode(input);
  const sa = keyed[0]?.config;
  if (!sa) throw new EngineError("unsupported", "derive SA", `protocol ${d.protocol}`);
  sa.mode = d.mode;
  sa.lifetime = d.lifetime;
  if (d.selector) sa.selector = d.selector;
  return sa;
}

/** Wipes the key bytes of an `SaConfig` once the kernel has it. */
export function wipeSaConfig(sa: SaConfig): void {
  sa.enc?.key.fill(0);
  sa.auth?.key.fill(0);
  sa.aead?.key.fill(0);
}
