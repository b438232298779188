/**
 * SA keying: a negotiated Quick Mode (the chosen proposal, the SPIs, Ni,
 * optional Nr, optional Diffie-Hellman secret) and the ticket session key
 * turned into the kernel SAs of both directions (RFC 4430 §7, RFC 2409
 * §5.5, RFC 4301 §4.5.2). Pure: no I/O, no clock, no randomness.
 *
 * @module
 */
import { type Key, keymat, type KeymatSeed, type PrfMode } from "../crypto/mod.ts";
import { ProtocolId } from "../wire/mod.ts";
import type { Lifetime, Mark, SaConfig, XfrmProto } from "../kernel/mod.ts";
import { IpsecError } from "./errors.ts";
import {
  effectiveLifetime,
  kernelAlgorithmsFromKeymat,
  keyLayout,
  type SaLifetime,
  type TransformSpec,
} from "./transform.ts";

/**
 * One SA of a negotiated proposal (a bundle has one per protocol, e.g. AH
 * and ESP). Each direction is keyed with the SPI its receiver chose: the
 * SA towards the initiator with `initiatorSpi` (from the CREATE), the SA
 * towards the responder with `responderSpi` (from the REPLY).
 */
export interface NegotiatedSa {
  /** Protocol-ID (2 AH, 3 ESP, 4 IPCOMP). */
  protocol: number;
  /** The chosen transform. */
  transform: TransformSpec;
  /** Transform # of the chosen transform in the CREATE (echoed in the REPLY). */
  transformNumber?: number;
  /** SPI the initiator chose (its inbound SA); absent = do not key that direction. */
  initiatorSpi?: number;
  /** SPI the responder chose (its inbound SA); absent = do not key that direction. */
  responderSpi?: number;
}

/** Inputs of {@link keyQuickMode}. */
export interface QuickModeKeying {
  /** The SAs of the chosen proposal (one per protocol of the bundle). */
  sas: readonly NegotiatedSa[];
  /** The initiator's (outer) address: source of the SAs towards the responder. */
  initiator: string;
  /** The responder's (outer) address. */
  responder: string;
  /** Body of the initiator's Nonce payload (Ni_b). */
  ni: Uint8Array;
  /** Body of the responder's Nonce payload (Nr_b); absent in an optimistic exchange. */
  nr?: Uint8Array;
  /** Quick-Mode Diffie-Hellman shared secret g^xy (group-size, zero-left-padded) when KE was exchanged. */
  dhSecret?: Uint8Array;
  /** The ticket session key (SKEYID_d). */
  sessionKey: Key;
  /** PRF reading for enctypes 17/18 (`"racoon2"`: 20 octets; `"mit"`: 16). */
  prf: PrfMode;
  /** Soft lifetimes to install (the rekey trigger); clamped below the hard ones. */
  softLifetime?: SaLifetime;
  /** Request id tying the SAs to policy templates. */
  reqid?: number;
  /** Anti-replay window in packets (default 32; 0 = off). */
  replayWindow?: number;
  /** XFRM mark of the SAs. */
  mark?: Mark;
}

/** One keyed SA. */
export interface KeyedSa {
  /** `"to-responder"` (initiator → responder) or `"to-initiator"`. */
  direction: "to-responder" | "to-initiator";
  /** Protocol-ID (2 AH, 3 ESP, 4 IPCOMP). */
  protocol: number;
  /** The SA's SPI (its receiver's choice). */
  spi: number;
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** The transform it was keyed for. */
  transform: TransformSpec;
  /** KEYMAT octets it took. */
  keymatLength: number;
  /**
   * The kernel SA, with its keys; absent for IPCOMP, which has no keys and
   * which kink's kernel interface does not install. Zero its keys with
   * {@link wipeSaConfig} once installed.
   */
  config?: SaConfig;
}

/** Default anti-replay window (packets). */
export const DEFAULT_REPLAY_WINDOW = 32;
const CTX = "key SA";

function checkSpi(spi: number): number {
  if (!Number.isInteger(spi) || spi < 1 || spi > 0xffffffff) {
    throw new IpsecError("invalid-spi", CTX, `SPI ${spi} is not a non-zero 32-bit number`);
  }
  return spi;
}

function kernelLifetime(spec: TransformSpec, soft: SaLifetime | undefined): Lifetime | undefined {
  const hard = effectiveLifetime(spec);
  const l: Lifetime = {};
  if (hard.seconds !== undefined) l.hardAddSeconds = hard.seconds;
  if (hard.kilobytes !== undefined) l.hardBytes = hard.kilobytes * 1024;
  if (soft?.seconds !== undefined) {
    l.softAddSeconds = Math.min(soft.seconds, hard.seconds ?? Infinity);
  }
  if (soft?.kilobytes !== undefined) {
    l.softBytes = Math.min(soft.kilobytes * 1024, l.hardBytes ?? Infinity);
  }
  return Object.keys(l).length ? l : undefined;
}

function keyOne(
  input: QuickModeKeying,
  sa: NegotiatedSa,
  direction: KeyedSa["direction"],
  spi: number,
): KeyedSa {
  const layout = keyLayout(sa.protocol, sa.transform);
  const toInitiator = direction === "to-initiator";
  const out: KeyedSa = {
    direction,
    protocol: sa.protocol,
    spi,
    src: toInitiator ? input.responder : input.initiator,
    dst: toInitiator ? input.initiator : input.responder,
    transform: sa.transform,
    keymatLength: layout.keymatLength,
  };
  if (sa.protocol === ProtocolId.IPCOMP) return out;
  // One seed per SA (RFC 4430 §7): [g^xy ‖] protocol ‖ the receiver's SPI ‖ Ni_b ‖ Nr_b.
  const seed: KeymatSeed = { protocol: sa.protocol, spi, ni: input.ni };
  if (input.nr) seed.nr = input.nr;
  if (input.dhSecret) seed.dhSecret = input.dhSecret;
  const km = keymat(input.sessionKey, seed, layout.keymatLength, input.prf);
  // The keys are views of the KEYMAT, which the algorithms now own (zeroed
  // with them by wipeSaConfig); inspect output hides them.
  let algs: ReturnType<typeof kernelAlgorithmsFromKeymat>;
  try {
    algs = kernelAlgorithmsFromKeymat(layout, km);
  } catch (e) {
    km.fill(0);
    throw e;
  }
  const proto: XfrmProto = sa.protocol === ProtocolId.AH ? "ah" : "esp";
  const replayWindow = input.replayWindow ?? DEFAULT_REPLAY_WINDOW;
  const config: SaConfig = {
    src: out.src,
    dst: out.dst,
    proto,
    spi,
    mode: sa.transform.mode,
    replayWindow,
  };
  // Set one by one (same order as kernelAlgorithms made them): a spread of an
  // object with optional members was a slow path here.
  if (algs.aead) config.aead = algs.aead;
  if (algs.enc) config.enc = algs.enc;
  if (algs.auth) config.auth = algs.auth;
  if (sa.transform.esn) config.esn = true;
  const lifetime = kernelLifetime(sa.transform, input.softLifetime);
  if (lifetime) config.lifetime = lifetime;
  if (input.reqid !== undefined) config.reqid = input.reqid;
  if (input.mark !== undefined) config.mark = input.mark;
  out.config = config;
  return out;
}

/**
 * Keys the SAs of a negotiated Quick Mode. For each SA of the bundle, in
 * order: the SA towards the responder (when `responderSpi` is known), then
 * the SA towards the initiator (when `initiatorSpi` is known). So the
 * initiator's optimistic inbound SA is keyed from its first proposal with
 * only `initiatorSpi` and no Nr, and both directions once the REPLY is in.
 *
 * Throws {@link IpsecError} for a transform that cannot be keyed or a bad
 * SPI, and the crypto layer's `CryptoError` for a bad session key or nonce.
 */
export function keyQuickMode(input: QuickModeKeying): KeyedSa[] {
  if (input.sas.length === 0) {
    throw new IpsecError("invalid-argument", CTX, "a proposal with no SA");
  }
  const out: KeyedSa[] = [];
  for (const sa of input.sas) {
    if (sa.responderSpi !== undefined) {
      out.push(keyOne(input, sa, "to-responder", checkSpi(sa.responderSpi)));
    }
    if (sa.initiatorSpi !== undefined) {
      out.push(keyOne(input, sa, "to-initiator", checkSpi(sa.initiatorSpi)));
    }
  }
  return out;
}

/**
 * The keyed SAs split by what they are to one side: `inbound` (towards it)
 * and `outbound`; IPCOMP entries (no kernel SA) are left out.
 */
export function saConfigsFor(
  keyed: readonly KeyedSa[],
  role: "initiator" | "responder",
): { inbound: SaConfig[]; outbound: SaConfig[] } {
  const inboundDir = role === "initiator" ? "to-initiator" : "to-responder";
  const inbound: SaConfig[] = [];
  const outbound: SaConfig[] = [];
  for (const k of keyed) {
    if (!k.config) continue;
    (k.direction === inboundDir ? inbound : outbound).push(k.config);
  }
  return { inbound, outbound };
}

/** Zeroes the key buffers of an SA configuration (once the kernel holds it). */
export function wipeSaConfig(sa: SaConfig): void {
  sa.enc?.key.fill(0);
  sa.auth?.key.fill(0);
  sa.aead?.key.fill(0);
}
