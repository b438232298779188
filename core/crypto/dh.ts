/**
 * Diffie-Hellman for KINK's optional KE payload (PFS, RFC 4430 §5.7): the
 * IKE groups 14 (2048-bit MODP, RFC 3526 §3) and 19 (256-bit random ECP,
 * RFC 5903 §3.1).
 *
 * - Private values come from an injected {@link RandomSource}, so a
 *   simulated run reproduces bit for bit; everything is synchronous.
 * - Public values are in IKE's encoding: MODP g^x as a 256-octet big-endian
 *   number, zero-left-padded (RFC 2409 §5); ECP as x ‖ y, 32 octets each,
 *   with no point-format octet (RFC 5903 §7).
 * - Shared secrets: MODP g^xy, 256 octets zero-left-padded; ECP the
 *   x coordinate of the shared point, 32 octets (RFC 5903 §7). That is what
 *   goes first into the KEYMAT seed (RFC 4430 §7).
 * - A peer's public value is validated before use: MODP 1 < y < p − 1
 *   (RFC 2631 §2.1.5's range check, refusing the small-subgroup values 0,
 *   1 and p − 1); ECP 0 ≤ x, y < p and y² = x³ − 3x + b (RFC 5903 §7 and
 *   SP 800-56A §5.6.2.3.4's partial validation; the curve's cofactor is 1,
 *   so an on-curve point other than infinity is in the group). Failures are
 *   {@link CryptoError}s of category `"invalid-public-value"`.
 *
 * The modular exponentiation and the scalar multiplications run in
 * `node:crypto` — under Deno that is Deno's own Rust implementation
 * (`createDiffieHellman`, `createECDH`), synchronous, so the engine can call
 * it without awaiting. `bench/dh_bench.ts` measured, in one run, one side's
 * work (generate + compute): ECP-256 about 2–3× faster than pure-JS
 * @noble/curves, and about 2× slower than WebCrypto's ECDH — which is
 * asynchronous and so unusable inside the synchronous engine; MODP-2048 on
 * a par with a pure-BigInt windowed exponentiation (WebCrypto has no MODP).
 * A wasm implementation would need new crates in the byte-reproducible
 * crypto core for at best a constant factor on an operation that happens
 * once per PFS exchange, so it was not done. Range and curve checks are
 * done here in BigInt, so they do not depend on what that implementation
 * checks (its MODP path accepts 1 and p − 1). The private value drawn from
 * the RandomSource is zeroed on {@link DhPrivate.dispose}; the copy inside
 * the node:crypto object cannot be zeroed from JavaScript, only dropped.
 *
 * @module
 */
import { createDiffieHellman, createECDH, type DiffieHellman, type ECDH } from "node:crypto";
import { Buffer } from "node:buffer";
import { CryptoError } from "./errors.ts";
import type { RandomSource } from "../util/random.ts";

/** The IKE Diffie-Hellman groups kink implements (IANA "Transform Type 4"). */
export type DhGroupId = 14 | 19;

/** Facts of one group. */
export interface DhGroupInfo {
  /** IANA group number (the Group Description attribute value). */
  id: DhGroupId;
  /** Name. */
  name: string;
  /** Octets of a KE payload's public value. */
  publicLength: number;
  /** Octets of the shared secret. */
  secretLength: number;
}

/** RFC 3526 §3: the 2048-bit MODP prime, p = 2^2048 − 2^1984 − 1 + 2^64 · ([2^1918 π] + 124476). */
export const MODP_2048_PRIME: bigint = BigInt(
  "0x" +
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1" +
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245" +
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D" +
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D" +
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9" +
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
);
/** RFC 3526 §3: the generator of group 14. */
export const MODP_2048_GENERATOR = 2n;

/** RFC 5903 §3.1 (= FIPS 186 P-256): the field prime. */
export const ECP256_P: bigint = BigInt(
  "0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
);
/** RFC 5903 §3.1: the curve coefficient b (a = −3). */
export const ECP256_B: bigint = BigInt(
  "0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
);
/** RFC 5903 §3.1: the group order n. */
export const ECP256_N: bigint = BigInt(
  "0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
);

const GROUPS: Readonly<Record<DhGroupId, DhGroupInfo>> = {
  14: { id: 14, name: "modp2048", publicLength: 256, secretLength: 256 },
  19: { id: 19, name: "ecp256", publicLength: 64, secretLength: 32 },
};

/**
 * Octets of a group 14 private exponent: 320 bits, the top of RFC 3526 §8's
 * 220–320-bit range for the group's 110–160-bit strength estimates.
 */
export const MODP_2048_EXPONENT_OCTETS = 40;

const PRIME_BYTES = toBytes(MODP_2048_PRIME, 256);
const GENERATOR_BYTES = new Uint8Array([2]);

/** True for the group numbers kink implements (14, 19). */
export function isSupportedDhGroup(id: number): id is DhGroupId {
  return id === 14 || id === 19;
}

/**
 * Facts of a group.
 * @throws CryptoError `"unsupported-group"` for any other number
 */
export function dhGroup(id: number): DhGroupInfo {
  if (!isSupportedDhGroup(id)) {
    throw new CryptoError("unsupported-group", "Diffie-Hellman", `unsupported group ${id}`);
  }
  return GROUPS[id];
}

function toBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function toBytes(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function leftPad(b: Uint8Array, len: number, ctx: string): Uint8Array {
  if (b.length === len) return b;
  if (b.length > len) throw new CryptoError("invalid-input", ctx, `value of ${b.length} octets`);
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

function invalidPublic(group: number, detail: string): never {
  throw new CryptoError("invalid-public-value", `group ${group} public value`, detail);
}

/**
 * Validates a peer's public value as carried in a KE payload (see the module
 * documentation for the checks).
 * @throws CryptoError `"invalid-public-value"` (wrong length, out of range,
 * not on the curve) or `"unsupported-group"`
 */
export function validateDhPublic(group: number, pub: Uint8Array): void {
  const g = dhGroup(group);
  if (!(pub instanceof Uint8Array)) invalidPublic(group, "not a byte array");
  if (pub.length !== g.publicLength) {
    invalidPublic(group, `${pub.length} octets, expected ${g.publicLength}`);
  }
  if (g.id === 14) {
    const y = toBigInt(pub);
    if (y <= 1n || y >= MODP_2048_PRIME - 1n) invalidPublic(group, "outside 1 < y < p-1");
    return;
  }
  const x = toBigInt(pub.subarray(0, 32));
  const y = toBigInt(pub.subarray(32));
  const p = ECP256_P;
  if (x >= p || y >= p) invalidPublic(group, "coordinate not below the field prime");
  const lhs = (y * y) % p;
  const rhs = (((x * x % p) * x - 3n * x + ECP256_B) % p + p) % p;
  if (lhs !== rhs) invalidPublic(group, "point not on the curve");
}

const INSPECT = [Symbol.for("Deno.customInspect"), Symbol.for("nodejs.util.inspect.custom")];

/**
 * One side's ephemeral Diffie-Hellman value: the public value to send and
 * the private value, kept inside (never exported, never printed). Make it
 * with {@link generateDh}; compute the shared secret with
 * {@link DhPrivate.computeSecret}; {@link DhPrivate.dispose} when done.
 */
export class DhPrivate {
  /** The group. */
  readonly group: DhGroupId;
  /** The public value in the KE payload's encoding. */
  readonly publicValue: Uint8Array;
  #priv: Uint8Array | undefined;
  #engine: DiffieHellman | ECDH | undefined;

  /** @internal use {@link generateDh} */
  constructor(group: DhGroupId, priv: Uint8Array, engine: DiffieHellman | ECDH, pub: Uint8Array) {
    this.group = group;
    this.#priv = priv;
    this.#engine = engine;
    this.publicValue = pub;
    for (const sym of INSPECT) {
      Object.defineProperty(this, sym, {
        value: () => `DhPrivate(group ${group}, private value redacted)`,
        enumerable: false,
      });
    }
  }

  /**
   * The shared secret with the peer's public value `peer` (validated first):
   * g^xy (256 octets) for group 14, the shared point's x (32 octets) for 19.
   * @throws CryptoError `"invalid-public-value"`, or `"disposed"`
   */
  computeSecret(peer: Uint8Array): Uint8Array {
    const ctx = `group ${this.group} shared secret`;
    const engine = this.#engine;
    if (!engine) throw new CryptoError("disposed", ctx, "the private value has been disposed");
    validateDhPublic(this.group, peer);
    let input = peer;
    if (this.group === 19) {
      input = new Uint8Array(65);
      input[0] = 4; // uncompressed point: 0x04 ‖ x ‖ y
      input.set(peer, 1);
    }
    let s: Uint8Array;
    try {
      s = new Uint8Array(engine.computeSecret(Buffer.from(input)));
    } catch (e) {
      // Unreachable after validateDhPublic; kept typed all the same.
      throw new CryptoError("invalid-public-value", ctx, "rejected by the DH implementation", {
        cause: e,
      });
    }
    return leftPad(s, dhGroup(this.group).secretLength, ctx);
  }

  /**
   * Zeroes this object's copy of the private value and drops the
   * implementation's object holding it; further use throws `"disposed"`.
   */
  dispose(): void {
    this.#priv?.fill(0);
    this.#priv = undefined;
    this.#engine = undefined;
  }

  /** JSON shows the group and public value length only. */
  toJSON(): { group: number; publicLength: number } {
    return { group: this.group, publicLength: this.publicValue.length };
  }
}

/**
 * A fresh Diffie-Hellman value of `group` with its private value drawn from
 * `random`: a 320-bit exponent ≥ 2 for group 14; for group 19 a scalar
 * uniform in [1, n − 1] (32 random octets, redrawn until in range).
 * @throws CryptoError `"unsupported-group"`
 */
export function generateDh(group: number, random: RandomSource): DhPrivate {
  const g = dhGroup(group);
  if (g.id === 14) {
    const x = new Uint8Array(MODP_2048_EXPONENT_OCTETS);
    do random.fill(x); while (toBigInt(x) < 2n);
    const dh = createDiffieHellman(PRIME_BYTES, GENERATOR_BYTES);
    dh.setPrivateKey(Buffer.from(x));
    const pub = leftPad(new Uint8Array(dh.generateKeys()), 256, "group 14 public value");
    return new DhPrivate(14, x, dh, pub);
  }
  const d = new Uint8Array(32);
  for (;;) {
    random.fill(d);
    const v = toBigInt(d);
    if (v >= 1n && v < ECP256_N) break;
  }
  const ec = createECDH("prime256v1");
  ec.setPrivateKey(Buffer.from(d));
  const pub = new Uint8Array(ec.getPublicKey()).subarray(1);
  return new DhPrivate(19, d, ec, pub.slice());
}
