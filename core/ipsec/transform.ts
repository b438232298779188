/**
 * IPsec DOI transforms as kink interprets them: the SA attributes of a
 * Transform payload (RFC 2407 §4.5) read into a {@link TransformSpec}, the
 * reverse, and the key sizes and kernel algorithms of each ESP/AH transform
 * (RFC 4301 §4.5.2 KEYMAT split: encryption key from the leftmost octets,
 * then the integrity key; AES-GCM salt after the key, RFC 4106 §8.1).
 *
 * The numbers are the IPsec DOI's, from `core/wire` ({@link EspTransformId},
 * {@link AhTransformId}, {@link AuthAlgorithm}, {@link SaAttributeType}).
 *
 * @module
 */
import {
  AhTransformId,
  attributeValue,
  AuthAlgorithm,
  DEFAULT_LIFETIME_SECONDS,
  EncapsulationMode,
  EspTransformId,
  LifeType,
  ProtocolId,
  type SaAttribute,
  SaAttributeType,
  type Transform,
} from "../wire/mod.ts";
import {
  type AeadAlgo,
  type AuthAlgo,
  type CryptAlgo,
  RedactedAeadAlgo,
  RedactedAuthAlgo,
  RedactedCryptAlgo,
  type XfrmMode,
} from "../kernel/mod.ts";
import { IpsecError } from "./errors.ts";

/** SA lifetimes as negotiated (SA Life Type/Duration pairs, RFC 2407 §4.5). */
export interface SaLifetime {
  /** Life in seconds; absent = none given. */
  seconds?: number;
  /** Life in kilobytes (1,024 octets); absent = none given. */
  kilobytes?: number;
}

/**
 * One transform of a proposal, interpreted: what both peers must agree on to
 * key and install the SA.
 */
export interface TransformSpec {
  /** Transform-ID within the protocol (ESP: 3, 11, 12, 18, 19, 20; AH: 2, 3, 5, 6, 7). */
  id: number;
  /** Key Length attribute in bits (AES); absent when not sent. */
  keyBits?: number;
  /** Authentication Algorithm attribute (1, 2, 5, 6, 7); absent when not sent. */
  authAlgorithm?: number;
  /** Encapsulation Mode (absent on the wire = transport). */
  mode: XfrmMode;
  /** Lifetimes as sent ({@link effectiveLifetime} applies RFC 2407's default). */
  lifetime: SaLifetime;
  /** Extended Sequence Numbers (RFC 4304). */
  esn: boolean;
  /** Group Description: the Diffie-Hellman group of the KE payloads (PFS), if any. */
  group?: number;
}

/** The keys an SA takes from its KEYMAT. */
export interface SaKeys {
  /** Encryption key (without the GCM salt); empty for NULL encryption and AH. */
  encKey: Uint8Array;
  /** AES-GCM 4-octet salt (RFC 4106 §8.1), present only for GCM. */
  salt?: Uint8Array;
  /** Integrity key; empty when there is no authentication algorithm. */
  authKey: Uint8Array;
}

/** Kernel names and ICV lengths of the authentication algorithms (RFC 2404, RFC 4868). */
const AUTH: Readonly<Record<number, { name: string; keyLen: number; truncBits: number }>> = {
  [AuthAlgorithm.HMAC_MD5]: { name: "hmac(md5)", keyLen: 16, truncBits: 96 },
  [AuthAlgorithm.HMAC_SHA]: { name: "hmac(sha1)", keyLen: 20, truncBits: 96 },
  [AuthAlgorithm.HMAC_SHA2_256]: { name: "hmac(sha256)", keyLen: 32, truncBits: 128 },
  [AuthAlgorithm.HMAC_SHA2_384]: { name: "hmac(sha384)", keyLen: 48, truncBits: 192 },
  [AuthAlgorithm.HMAC_SHA2_512]: { name: "hmac(sha512)", keyLen: 64, truncBits: 256 },
};

/** AH transform ID → the Authentication Algorithm it must carry (RFC 2407 §4.4.3, §4.5). */
const AH_AUTH: Readonly<Record<number, number>> = {
  [AhTransformId.AH_MD5]: AuthAlgorithm.HMAC_MD5,
  [AhTransformId.AH_SHA]: AuthAlgorithm.HMAC_SHA,
  [AhTransformId.AH_SHA2_256]: AuthAlgorithm.HMAC_SHA2_256,
  [AhTransformId.AH_SHA2_384]: AuthAlgorithm.HMAC_SHA2_384,
  [AhTransformId.AH_SHA2_512]: AuthAlgorithm.HMAC_SHA2_512,
};

const GCM_ICV_BITS: Readonly<Record<number, number>> = {
  [EspTransformId.ESP_AES_GCM_8]: 64,
  [EspTransformId.ESP_AES_GCM_12]: 96,
  [EspTransformId.ESP_AES_GCM_16]: 128,
};

/** Largest lifetime value accepted (exact in a JavaScript number). */
const MAX_LIFE = Number.MAX_SAFE_INTEGER;

function isGcm(id: number): boolean {
  return GCM_ICV_BITS[id] !== undefined;
}

function unsupported(ctx: string, detail: string): never {
  throw new IpsecError("unsupported", ctx, detail);
}

function malformed(ctx: string, detail: string): never {
  throw new IpsecError("malformed", ctx, detail);
}

/**
 * Reads a Transform payload's SA attributes (RFC 2407 §4.5). Throws an
 * {@link IpsecError}: `"malformed"` for a Life Duration without a Life Type,
 * a repeated attribute, or a value outside its range; `"unsupported"` for an
 * attribute class or value kink does not implement (Key Rounds, compression,
 * private classes). Whether the transform can be keyed is checked by
 * {@link keyLayout}, not here.
 */
export function transformSpec(protocol: number, t: Transform): TransformSpec {
  const ctx = `transform ${t.number} (id ${t.id})`;
  const spec: TransformSpec = { id: t.id, mode: "transport", lifetime: {}, esn: false };
  let lifeType: number | undefined;
  const seen = new Set<number>();
  const once = (a: SaAttribute) => {
    if (seen.has(a.type)) malformed(ctx, `attribute ${a.type} repeated`);
    seen.add(a.type);
  };
  for (const a of t.attributes) {
    const v = attributeValue(a);
    const n = typeof v === "bigint" ? (v <= BigInt(MAX_LIFE) ? Number(v) : Infinity) : v;
    switch (a.type) {
      case SaAttributeType.LIFE_TYPE:
        if (n !== LifeType.SECONDS && n !== LifeType.KILOBYTES) {
          malformed(ctx, `SA Life Type ${String(v)}`);
        }
        lifeType = n;
        break;
      case SaAttributeType.LIFE_DURATION: {
        if (lifeType === undefined) malformed(ctx, "SA Life Duration without a Life Type");
        if (n === 0) malformed(ctx, "SA Life Duration 0");
        if (!Number.isFinite(n)) unsupported(ctx, "SA Life Duration above 2^53");
        const k = lifeType === LifeType.SECONDS ? "seconds" : "kilobytes";
        if (spec.lifetime[k] !== undefined) malformed(ctx, `two ${k} lifetimes`);
        spec.lifetime[k] = n;
        lifeType = undefined;
        break;
      }
      case SaAttributeType.GROUP_DESCRIPTION:
        once(a);
        spec.group = n;
        break;
      case SaAttributeType.ENCAPSULATION_MODE:
        once(a);
        if (n === EncapsulationMode.TUNNEL) spec.mode = "tunnel";
        else if (n === EncapsulationMode.TRANSPORT) spec.mode = "transport";
        else unsupported(ctx, `Encapsulation Mode ${String(v)}`);
        break;
      case SaAttributeType.AUTH_ALGORITHM:
        once(a);
        spec.authAlgorithm = n;
        break;
      case SaAttributeType.KEY_LENGTH:
        once(a);
        spec.keyBits = n;
        break;
      case SaAttributeType.EXTENDED_SEQUENCE_NUMBER:
        once(a);
        if (n !== 1) malformed(ctx, `Extended Sequence Number ${String(v)}`);
        spec.esn = true;
        break;
      default:
        unsupported(ctx, `SA attribute ${a.type} (protocol ${protocol})`);
    }
  }
  if (lifeType !== undefined) malformed(ctx, "SA Life Type without a Life Duration");
  return spec;
}

/**
 * The SA attributes of a spec, in the order racoon2 sends them (lifetimes,
 * group, mode, key length, authentication, ESN).
 */
export function transformAttributes(spec: TransformSpec): SaAttribute[] {
  const out: SaAttribute[] = [];
  const life = (type: number, value: number) => {
    out.push({ type: SaAttributeType.LIFE_TYPE, value: type });
    const type2 = SaAttributeType.LIFE_DURATION;
    out.push(value <= 0xffff ? { type: type2, value } : { type: type2, value: u32OrU64(value) });
  };
  if (spec.lifetime.seconds !== undefined) life(LifeType.SECONDS, spec.lifetime.seconds);
  if (spec.lifetime.kilobytes !== undefined) life(LifeType.KILOBYTES, spec.lifetime.kilobytes);
  if (spec.group !== undefined) {
    out.push({ type: SaAttributeType.GROUP_DESCRIPTION, value: spec.group });
  }
  out.push({
    type: SaAttributeType.ENCAPSULATION_MODE,
    value: spec.mode === "tunnel" ? EncapsulationMode.TUNNEL : EncapsulationMode.TRANSPORT,
  });
  if (spec.keyBits !== undefined) {
    out.push({ type: SaAttributeType.KEY_LENGTH, value: spec.keyBits });
  }
  if (spec.authAlgorithm !== undefined) {
    out.push({ type: SaAttributeType.AUTH_ALGORITHM, value: spec.authAlgorithm });
  }
  if (spec.esn) out.push({ type: SaAttributeType.EXTENDED_SEQUENCE_NUMBER, value: 1 });
  return out;
}

function u32OrU64(v: number): Uint8Array {
  if (v <= 0xffffffff) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    return b;
  }
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

/**
 * Lifetimes in force for a spec: what it says, and RFC 2407 §4.5's default
 * of 28,800 seconds when it carries no lifetime at all.
 */
export function effectiveLifetime(spec: TransformSpec): SaLifetime {
  const l = spec.lifetime;
  if (l.seconds === undefined && l.kilobytes === undefined) {
    return { seconds: DEFAULT_LIFETIME_SECONDS };
  }
  return { ...l };
}

/** True when two specs agree on everything but their lifetimes. */
export function sameTransform(a: TransformSpec, b: TransformSpec): boolean {
  return a.id === b.id && a.keyBits === b.keyBits && a.authAlgorithm === b.authAlgorithm &&
    a.mode === b.mode && a.esn === b.esn && a.group === b.group;
}

/**
 * The KEYMAT layout and kernel algorithms of one SA, computed from its
 * protocol and transform; `keymatLength` octets are split into encryption
 * key, salt and integrity key in that order.
 */
export interface KeyLayout {
  /** Octets of the encryption key (0 for AH, NULL encryption and IPCOMP). */
  encLength: number;
  /** Octets of the AES-GCM salt (4 for GCM, else 0). */
  saltLength: number;
  /** Octets of the integrity key. */
  authLength: number;
  /** Total KEYMAT octets the SA needs (e.g. AES-128-CBC + HMAC-SHA1 = 36). */
  keymatLength: number;
  /** Kernel encryption algorithm name (ESP without AEAD). */
  encName?: string;
  /** Kernel authentication algorithm name and ICV length. */
  auth?: { name: string; truncBits: number };
  /** Kernel AEAD algorithm name and ICV length (ESP AES-GCM). */
  aead?: { name: string; icvBits: number };
}

/**
 * What an SA of `protocol` with transform `spec` needs from KEYMAT, and
 * which kernel algorithms install it. Throws an {@link IpsecError}
 * (`"unsupported"`) for a transform kink does not key, and `"malformed"`
 * for attribute combinations RFC 2407/3602/4106 forbid (AES without a
 * valid Key Length, GCM with an authentication algorithm, NULL without one,
 * AH whose Authentication Algorithm disagrees with its transform).
 */
export function keyLayout(protocol: number, spec: TransformSpec): KeyLayout {
  const ctx = "split KEYMAT";
  if (protocol === ProtocolId.IPCOMP) {
    return { encLength: 0, saltLength: 0, authLength: 0, keymatLength: 0 };
  }
  const authOf = (a: number) =>
    AUTH[a] ?? unsupported(ctx, `unsupported authentication algorithm ${a}`);
  if (protocol === ProtocolId.AH) {
    const want = AH_AUTH[spec.id];
    if (want === undefined) unsupported(ctx, `unsupported AH transform ${spec.id}`);
    if (spec.keyBits !== undefined) malformed(ctx, "AH takes no Key Length");
    const a = spec.authAlgorithm ?? 0;
    const info = authOf(a);
    if (a !== want) {
      malformed(ctx, `AH transform ${spec.id} with authentication algorithm ${a}`);
    }
    return {
      encLength: 0,
      saltLength: 0,
      authLength: info.keyLen,
      keymatLength: info.keyLen,
      auth: { name: info.name, truncBits: info.truncBits },
    };
  }
  if (protocol !== ProtocolId.ESP) unsupported(ctx, `unsupported protocol ${protocol}`);
  let enc: number;
  let encName: string | undefined;
  const bits = spec.keyBits ?? 128;
  switch (spec.id) {
    case EspTransformId.ESP_3DES:
      if (spec.keyBits !== undefined && spec.keyBits !== 192) {
        malformed(ctx, `3DES key length must be 192 bits, got ${spec.keyBits}`);
      }
      enc = 24;
      encName = "cbc(des3_ede)";
      break;
    case EspTransformId.ESP_NULL:
      enc = 0;
      encName = "ecb(cipher_null)";
      break;
    case EspTransformId.ESP_AES:
    case EspTransformId.ESP_AES_GCM_8:
    case EspTransformId.ESP_AES_GCM_12:
    case EspTransformId.ESP_AES_GCM_16:
      if (bits !== 128 && bits !== 192 && bits !== 256) {
        malformed(ctx, `AES key length must be 128, 192 or 256 bits, got ${bits}`);
      }
      enc = bits / 8;
      if (spec.id === EspTransformId.ESP_AES) encName = "cbc(aes)";
      break;
    default:
      return unsupported(ctx, `unsupported ESP transform ${spec.id}`);
  }
  const a = spec.authAlgorithm ?? 0;
  if (isGcm(spec.id)) {
    if (a !== 0) malformed(ctx, `AES-GCM takes no authentication algorithm, got ${a}`);
    return {
      encLength: enc,
      saltLength: 4,
      authLength: 0,
      keymatLength: enc + 4,
      aead: { name: "rfc4106(gcm(aes))", icvBits: GCM_ICV_BITS[spec.id]! },
    };
  }
  if (a === 0) {
    if (spec.id === EspTransformId.ESP_NULL) {
      malformed(ctx, "NULL encryption needs an authentication algorithm");
    }
    return { encLength: enc, saltLength: 0, authLength: 0, keymatLength: enc, encName: encName! };
  }
  const info = authOf(a);
  return {
    encLength: enc,
    saltLength: 0,
    authLength: info.keyLen,
    keymatLength: enc + info.keyLen,
    encName: encName!,
    auth: { name: info.name, truncBits: info.truncBits },
  };
}

/**
 * Splits KEYMAT (at least `layout.keymatLength` octets; extra octets are
 * ignored) into the encryption key, the GCM salt and the integrity key, as
 * copies.
 */
export function splitKeymat(keymat: Uint8Array, layout: KeyLayout): SaKeys {
  const need = layout.keymatLength;
  if (keymat.length < need) {
    throw new IpsecError(
      "invalid-argument",
      "split KEYMAT",
      `KEYMAT length ${keymat.length} < ${need} needed`,
    );
  }
  const e = layout.encLength;
  const s = layout.saltLength;
  const out: SaKeys = {
    encKey: keymat.slice(0, e),
    authKey: keymat.slice(e + s, need),
  };
  if (s > 0) out.salt = keymat.slice(e, e + s);
  return out;
}

/**
 * The kernel algorithms of an SA keyed straight from its KEYMAT (at least
 * `layout.keymatLength` octets): each algorithm's key is a view of its part
 * of `keymat`, no copy — the same keys as {@link splitKeymat} then
 * {@link kernelAlgorithms}. `keymat` belongs to the algorithms from then on:
 * octets past `layout.keymatLength` are zeroed at once, and zeroing the
 * algorithms' keys (`wipeSaConfig`) zeroes the rest. On a throw the caller
 * still owns (and zeroes) `keymat`. `Deno.inspect` of each algorithm shows
 * its name and key length, never the key.
 */
export function kernelAlgorithmsFromKeymat(
  layout: KeyLayout,
  keymat: Uint8Array,
): { enc?: CryptAlgo; auth?: AuthAlgo; aead?: AeadAlgo } {
  const need = layout.keymatLength;
  if (keymat.length < need) {
    throw new IpsecError(
      "invalid-argument",
      "split KEYMAT",
      `KEYMAT length ${keymat.length} < ${need} needed`,
    );
  }
  const e = layout.encLength;
  const s = layout.saltLength;
  const out: { enc?: CryptAlgo; auth?: AuthAlgo; aead?: AeadAlgo } = {};
  // The AEAD key is the encryption key followed by the salt: one contiguous
  // run of the KEYMAT. A layout has an AEAD or a cipher, never both, so the
  // views never overlap and together cover [0, need).
  if (layout.aead) {
    out.aead = new RedactedAeadAlgo(
      layout.aead.name,
      keymat.subarray(0, e + s),
      layout.aead.icvBits,
    );
  }
  if (layout.encName !== undefined) {
    out.enc = new RedactedCryptAlgo(layout.encName, keymat.subarray(0, e));
  }
  if (layout.auth) {
    out.auth = new RedactedAuthAlgo(
      layout.auth.name,
      keymat.subarray(e + s, need),
      layout.auth.truncBits,
    );
  }
  keymat.fill(0, need);
  return out;
}

/**
 * The kernel algorithms of an SA with its keys (copies of `keys`' buffers);
 * `Deno.inspect` of each shows its name and key length, never the key.
 */
export function kernelAlgorithms(
  layout: KeyLayout,
  keys: SaKeys,
): { enc?: CryptAlgo; auth?: AuthAlgo; aead?: AeadAlgo } {
  const out: { enc?: CryptAlgo; auth?: AuthAlgo; aead?: AeadAlgo } = {};
  if (layout.aead) {
    const k = new Uint8Array(keys.encKey.length + (keys.salt?.length ?? 0));
    k.set(keys.encKey, 0);
    if (keys.salt) k.set(keys.salt, keys.encKey.length);
    out.aead = new RedactedAeadAlgo(layout.aead.name, k, layout.aead.icvBits);
  }
  if (layout.encName !== undefined) {
    out.enc = new RedactedCryptAlgo(layout.encName, keys.encKey.slice());
  }
  if (layout.auth) {
    out.auth = new RedactedAuthAlgo(
      layout.auth.name,
      keys.authKey.slice(),
      layout.auth.truncBits,
    );
  }
  return out;
}
