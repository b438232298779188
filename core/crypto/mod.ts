/**
 * kink's crypto core: Kerberos encryption types 17, 18 (RFC 3961/3962) and
 * 19, 20 (RFC 8009), their mandatory checksums and PRFs, string-to-key, and
 * the KINK KEYMAT expansion (RFC 4430 §7, RFC 2409 §5.5), and the
 * Diffie-Hellman groups 14 and 19 of the optional KE payload (`dh.ts`).
 *
 * The primitives run in a Rust core compiled to WebAssembly
 * (`crypto-wasm/`). Keys live in wasm memory behind {@link Key} objects;
 * the derived keys Kc/Ke/Ki of each key usage, the PRF key and the HMAC pad
 * states are computed once per key and cached there. All functions are
 * synchronous and importing this module needs no Deno permission.
 *
 * Randomness (confounders, session keys) comes from `crypto.getRandomValues`.
 *
 * @module
 */
import * as w from "./wasm.ts";
import { CryptoError } from "./errors.ts";
import { DEFAULT_PRF_MODE, type PrfMode } from "./prf_mode.ts";
import { type RandomSource, systemRandom } from "../util/random.ts";

export { CryptoError } from "./errors.ts";
export type { RandomSource } from "../util/random.ts";
export type { CryptoErrorCategory } from "./errors.ts";
export {
  dhGroup,
  type DhGroupId,
  type DhGroupInfo,
  DhPrivate,
  ECP256_B,
  ECP256_N,
  ECP256_P,
  generateDh,
  isSupportedDhGroup,
  MODP_2048_EXPONENT_OCTETS,
  MODP_2048_GENERATOR,
  MODP_2048_PRIME,
  validateDhPublic,
} from "./dh.ts";

/** The supported Kerberos encryption types. */
export type SupportedEnctype = 17 | 18 | 19 | 20;

/** IANA names of the supported enctypes (the Kerberos layer's `enctypeName` names every enctype). */
const SUPPORTED_ENCTYPE_NAMES: Readonly<Record<SupportedEnctype, string>> = {
  17: "aes128-cts-hmac-sha1-96",
  18: "aes256-cts-hmac-sha1-96",
  19: "aes128-cts-hmac-sha256-128",
  20: "aes256-cts-hmac-sha384-192",
};

const KEY_LEN: Readonly<Record<SupportedEnctype, number>> = { 17: 16, 18: 32, 19: 16, 20: 32 };
const CKSUM_TYPE: Readonly<Record<SupportedEnctype, number>> = { 17: 15, 18: 16, 19: 19, 20: 20 };
const CKSUM_LEN: Readonly<Record<SupportedEnctype, number>> = { 17: 12, 18: 12, 19: 16, 20: 24 };
const PRF_LEN: Readonly<Record<SupportedEnctype, number>> = { 17: 20, 18: 20, 19: 32, 20: 48 };
const DEFAULT_ITERATIONS: Readonly<Record<SupportedEnctype, number>> = {
  17: 4096,
  18: 4096,
  19: 32768,
  20: 32768,
};
/** Confounder length of every AES enctype. */
const CONFOUNDER = 16;
/** Highest PBKDF2 iteration count accepted by {@link stringToKey}. */
export const MAX_STRING_TO_KEY_ITERATIONS = 1 << 24;
/** Longest KEYMAT {@link keymat} produces (far above any ESP need of ≤ 96 octets). */
export const MAX_KEYMAT_LENGTH = 4096;

/**
 * Validates an enctype number.
 * @throws CryptoError `"unsupported-enctype"` ("unsupported enctype 23")
 */
export function assertEnctype(enctype: number, context = "crypto"): SupportedEnctype {
  if (enctype === 17 || enctype === 18 || enctype === 19 || enctype === 20) return enctype;
  throw new CryptoError("unsupported-enctype", context, `unsupported enctype ${String(enctype)}`);
}

/** True for enctypes this core implements (17, 18, 19, 20). */
export function isSupportedEnctype(enctype: number): enctype is SupportedEnctype {
  return enctype === 17 || enctype === 18 || enctype === 19 || enctype === 20;
}

/** Key length in octets of an enctype (16 or 32). */
export function keyLength(enctype: number): number {
  return KEY_LEN[assertEnctype(enctype, "key length")];
}

/** The enctype's mandatory checksum type: 15, 16, 19, 20 for 17, 18, 19, 20. */
export function checksumType(enctype: number): number {
  return CKSUM_TYPE[assertEnctype(enctype, "checksum type")];
}

/** Size in octets of the mandatory checksum: 12, 12, 16, 24 for 17, 18, 19, 20. */
export function checksumSize(enctype: number): number {
  return CKSUM_LEN[assertEnctype(enctype, "checksum size")];
}

/**
 * Octets {@link encrypt} adds to the plaintext (confounder + integrity tag):
 * 28, 28, 32, 40 for 17, 18, 19, 20.
 */
export function ciphertextOverhead(enctype: number): number {
  return CONFOUNDER + CKSUM_LEN[assertEnctype(enctype, "ciphertext overhead")];
}

function statusError(status: number, context: string): CryptoError {
  switch (status) {
    case 1:
      return new CryptoError("unsupported-enctype", context, "unsupported enctype");
    case 2:
      return new CryptoError("invalid-input", context, "wrong key length for the enctype");
    case 3:
      return new CryptoError("invalid-input", context, "ciphertext too short");
    case 4:
      return new CryptoError("integrity", context, "integrity check failed");
    case 6:
      return new CryptoError("disposed", context, "key has been disposed");
    default:
      return new CryptoError("invalid-input", context, `invalid input (status ${status})`);
  }
}

function assertBytes(v: unknown, what: string, context: string): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) {
    throw new CryptoError("invalid-input", context, `${what} must be a Uint8Array`);
  }
}

function assertUsage(usage: number, context: string): number {
  if (typeof usage !== "number" || !Number.isInteger(usage) || usage < 0 || usage > 0xffffffff) {
    throw new CryptoError(
      "invalid-input",
      context,
      `key usage must be an integer in 0..4294967295, got ${String(usage)}`,
    );
  }
  return usage;
}

// Frees the wasm slot of a Key that was garbage-collected without dispose().
const finalizer = new FinalizationRegistry<number>((handle) => w.key_free(handle));

const KEY_TOKEN = Symbol("kink.crypto.Key");
// Set by Key's static block: wrap a handle made inside wasm; read a key's handle.
let keyFromHandle: (enctype: SupportedEnctype, handle: number) => Key;
let handleOf: (key: Key, context: string) => number;

/**
 * A Kerberos protocol key. The key bytes live in wasm memory; the object
 * holds only a handle. {@link Key.dispose} zeroes the key and every derived
 * key cached for it. `toString()` and `Deno.inspect` show only the enctype
 * and the length. Also usable with `using` (Symbol.dispose).
 */
export class Key {
  /** The enctype (17, 18, 19, 20). */
  readonly enctype: SupportedEnctype;
  /** Key length in octets. */
  readonly length: number;
  #handle: number;

  /** Use {@link Key.fromBytes}, {@link Key.random} or {@link stringToKey}. */
  private constructor(token: symbol, enctype: SupportedEnctype, handle: number) {
    if (token !== KEY_TOKEN) {
      throw new CryptoError("invalid-input", "Key", "use Key.fromBytes or Key.random");
    }
    this.enctype = enctype;
    this.length = KEY_LEN[enctype];
    this.#handle = handle;
    finalizer.register(this, handle, this);
  }

  /**
   * A key from its octets (copied into wasm memory; the caller's array is not
   * modified). RFC 3961 random-to-key is the identity for these enctypes, so
   * this is also `randomToKey`.
   * @throws CryptoError "unsupported enctype N", or "invalid-input" for a wrong length
   */
  static fromBytes(enctype: number, bytes: Uint8Array): Key {
    const et = assertEnctype(enctype, "import key");
    assertBytes(bytes, "key", "import key");
    if (bytes.length !== KEY_LEN[et]) {
      throw new CryptoError(
        "invalid-input",
        "import key",
        `key length ${bytes.length} does not match enctype ${et} (${KEY_LEN[et]} octets)`,
      );
    }
    const h = w.key_new(et, bytes);
    if (h === 0) throw statusError(w.last_status(), "import key");
    return new Key(KEY_TOKEN, et, h);
  }

  /**
   * A fresh random key (e.g. a session key), from `random` (default: the
   * system CSPRNG; a seeded source only in simulation).
   */
  static random(enctype: number, random: RandomSource = systemRandom): Key {
    const et = assertEnctype(enctype, "random key");
    const b = random.fill(new Uint8Array(KEY_LEN[et]));
    try {
      return Key.fromBytes(et, b);
    } finally {
      b.fill(0);
    }
  }

  static {
    // Module-private access to the wasm handle, so that it is no part of the public API.
    keyFromHandle = (enctype, handle) => new Key(KEY_TOKEN, enctype, handle);
    handleOf = (key, context) => {
      if (key.#handle === 0) throw new CryptoError("disposed", context, "key has been disposed");
      return key.#handle;
    };
  }

  /** True once {@link Key.dispose} ran. */
  get disposed(): boolean {
    return this.#handle === 0;
  }

  /**
   * A copy of the key octets (for keytab, ccache and EncryptionKey encoding).
   * The caller owns the copy and should wipe it when done.
   */
  exportBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    const s = w.key_export(handleOf(this, "export key"), out);
    if (s !== 0) throw statusError(s, "export key");
    return out;
  }

  /**
   * A second key object for the same key, for a cache that hands out keys
   * its callers dispose. The copy has its own key octets and shares the
   * cache of derived keys with this one: a key usage derived through either
   * serves both. Each copy must be disposed on its own; disposing one zeroes
   * its octets and leaves the other usable; the shared derived keys are
   * zeroed with the last copy.
   * @throws CryptoError "disposed" when this key has been disposed
   */
  clone(): Key {
    const h = w.key_clone(handleOf(this, "clone key"));
    if (h === 0) throw statusError(w.last_status(), "clone key");
    return new Key(KEY_TOKEN, this.enctype, h);
  }

  /**
   * Zeroes the key and its cached derived keys in wasm memory (the derived
   * keys once no {@link Key.clone} shares them any more). Idempotent.
   */
  dispose(): void {
    if (this.#handle !== 0) {
      w.key_free(this.#handle);
      finalizer.unregister(this);
      this.#handle = 0;
    }
  }

  /** Same as {@link Key.dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** `Key(enctype 18 aes256-cts-hmac-sha1-96, 32 octets)`: never the key bytes. */
  toString(): string {
    return `Key(enctype ${this.enctype} ${
      SUPPORTED_ENCTYPE_NAMES[this.enctype]
    }, ${this.length} octets${this.#handle === 0 ? ", disposed" : ""})`;
  }

  /** JSON shows only enctype and length. */
  toJSON(): { enctype: SupportedEnctype; length: number } {
    return { enctype: this.enctype, length: this.length };
  }

  /** Deno.inspect / console.log show only enctype and length. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Node-style inspect, same as toString. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/**
 * RFC 3961 random-to-key: for the AES enctypes the identity on 16 or 32
 * random octets, so this is {@link Key.fromBytes}.
 */
export function randomToKey(enctype: number, bytes: Uint8Array): Key {
  return Key.fromBytes(enctype, bytes);
}

function keyOf(key: Key, context: string): number {
  if (!(key instanceof Key)) throw new CryptoError("invalid-input", context, "key must be a Key");
  return handleOf(key, context);
}

/**
 * RFC 3961 encrypt: `C ‖ H` with a fresh random confounder and the all-zero
 * initial cipher state (as KINK_ENCRYPT requires). The confounder comes from
 * `random` (default: the system CSPRNG; a seeded source only in simulation).
 * Output length = plaintext + {@link ciphertextOverhead}.
 */
export function encrypt(
  key: Key,
  usage: number,
  plaintext: Uint8Array,
  random: RandomSource = systemRandom,
): Uint8Array {
  const conf = random.fill(new Uint8Array(CONFOUNDER));
  return encryptWithConfounder(key, usage, plaintext, conf);
}

/** {@link encrypt} with the confounder already drawn (16 octets). */
function encryptWithConfounder(
  key: Key,
  usage: number,
  plaintext: Uint8Array,
  confounder: Uint8Array,
): Uint8Array {
  const ctx = "encrypt";
  const h = keyOf(key, ctx);
  const u = assertUsage(usage, ctx);
  assertBytes(plaintext, "plaintext", ctx);
  assertBytes(confounder, "confounder", ctx);
  if (confounder.length !== CONFOUNDER) {
    throw new CryptoError("invalid-input", ctx, `confounder length ${confounder.length} != 16`);
  }
  const tag = CKSUM_LEN[key.enctype];
  const total = CONFOUNDER + plaintext.length + tag;
  const ptr = w.ioReserve(total);
  let m = w.mem();
  m.set(confounder, ptr);
  m.set(plaintext, ptr + CONFOUNDER);
  const s = w.io_encrypt(h, u, total);
  m = w.mem();
  const out = m.slice(ptr, ptr + total);
  m.fill(0, ptr, ptr + total);
  if (s !== 0) throw statusError(s, ctx);
  return out;
}

/**
 * RFC 3961 decrypt; returns the plaintext without the confounder.
 * @throws CryptoError "integrity" when the integrity tag does not match
 *   (compared in constant time), "invalid-input" for a short ciphertext
 */
export function decrypt(key: Key, usage: number, ciphertext: Uint8Array): Uint8Array {
  const ctx = "decrypt";
  const h = keyOf(key, ctx);
  const u = assertUsage(usage, ctx);
  assertBytes(ciphertext, "ciphertext", ctx);
  const min = CONFOUNDER + CKSUM_LEN[key.enctype];
  if (ciphertext.length < min) {
    throw new CryptoError(
      "invalid-input",
      ctx,
      `ciphertext length ${ciphertext.length} < ${min} (confounder 16 + integrity tag ${
        CKSUM_LEN[key.enctype]
      })`,
    );
  }
  const n = ciphertext.length;
  const ptr = w.ioReserve(n);
  w.mem().set(ciphertext, ptr);
  const s = w.io_decrypt(h, u, n);
  const m = w.mem();
  if (s !== 0) {
    m.fill(0, ptr, ptr + n);
    throw statusError(s, ctx);
  }
  const out = m.slice(ptr + CONFOUNDER, ptr + n - CKSUM_LEN[key.enctype]);
  m.fill(0, ptr, ptr + n);
  return out;
}

/** RFC 3961 get_mic with the enctype's mandatory (keyed) checksum type. */
export function getMic(key: Key, usage: number, data: Uint8Array): Uint8Array {
  const ctx = "get_mic";
  const h = keyOf(key, ctx);
  const u = assertUsage(usage, ctx);
  assertBytes(data, "data", ctx);
  const tag = CKSUM_LEN[key.enctype];
  const n = data.length;
  const ptr = w.ioReserve(n + tag);
  w.mem().set(data, ptr);
  const s = w.io_get_mic(h, u, n, tag);
  const m = w.mem();
  const out = m.slice(ptr + n, ptr + n + tag);
  m.fill(0, ptr, ptr + n + tag);
  if (s !== 0) throw statusError(s, ctx);
  return out;
}

/**
 * RFC 3961 verify_mic (constant-time compare). A checksum of the wrong length
 * is simply invalid (false).
 */
export function verifyMic(key: Key, usage: number, data: Uint8Array, mic: Uint8Array): boolean {
  const ctx = "verify_mic";
  const h = keyOf(key, ctx);
  const u = assertUsage(usage, ctx);
  assertBytes(data, "data", ctx);
  assertBytes(mic, "checksum", ctx);
  const n = data.length;
  const ptr = w.ioReserve(n + mic.length);
  let m = w.mem();
  m.set(data, ptr);
  m.set(mic, ptr + n);
  const s = w.io_verify_mic(h, u, n, mic.length);
  m = w.mem();
  m.fill(0, ptr, ptr + n + mic.length);
  if (s === 0) return true;
  if (s === 4) return false;
  throw statusError(s, ctx);
}

export { DEFAULT_PRF_MODE, type PrfMode } from "./prf_mode.ts";

/** Output length of {@link prf} for an enctype and mode (20/16, 32, 48). */
export function prfLength(enctype: number, mode: PrfMode = DEFAULT_PRF_MODE): number {
  const et = assertEnctype(enctype, "prf length");
  return (et === 17 || et === 18) && mode === "mit" ? 16 : PRF_LEN[et];
}

function assertMode(mode: unknown, context: string): boolean {
  if (mode === "racoon2") return false;
  if (mode === "mit") return true;
  throw new CryptoError(
    "invalid-input",
    context,
    `PRF mode must be "racoon2" or "mit", got ${String(mode)}`,
  );
}

/**
 * The Kerberos pseudo-random function of the key's enctype (RFC 3961 §5.3
 * for 17/18 in the chosen {@link PrfMode}; RFC 8009 §5 for 19/20: 32 or 48 octets).
 */
export function prf(key: Key, input: Uint8Array, mode: PrfMode = DEFAULT_PRF_MODE): Uint8Array {
  const ctx = "prf";
  const h = keyOf(key, ctx);
  assertBytes(input, "input", ctx);
  const mit = assertMode(mode, ctx);
  const n = input.length;
  const ptr = w.ioReserve(n + 48);
  w.mem().set(input, ptr);
  const len = w.io_prf(h, n, mit);
  const m = w.mem();
  const out = m.slice(ptr + n, ptr + n + len);
  m.fill(0, ptr, ptr + n + 48);
  if (len === 0) throw statusError(w.last_status(), ctx);
  return out;
}

/**
 * RFC 3962 §4 / RFC 8009 §4 string-to-key. `params` is the 4-octet
 * big-endian iteration count (s2kparams); default 4096 for 17/18, 32768 for
 * 19/20. Counts above {@link MAX_STRING_TO_KEY_ITERATIONS} (including 0,
 * which means 2^32) are refused. Strings are UTF-8 encoded.
 */
export function stringToKey(
  enctype: number,
  password: string | Uint8Array,
  salt: string | Uint8Array,
  params?: Uint8Array,
): Key {
  const ctx = "string-to-key";
  const et = assertEnctype(enctype, ctx);
  let iterations = DEFAULT_ITERATIONS[et];
  if (params !== undefined) {
    assertBytes(params, "params", ctx);
    if (params.length !== 4) {
      throw new CryptoError("invalid-input", ctx, `params length ${params.length} != 4`);
    }
    iterations = ((params[0]! << 24) | (params[1]! << 16) | (params[2]! << 8) | params[3]!) >>> 0;
    const effective = iterations === 0 ? 2 ** 32 : iterations;
    if (effective > MAX_STRING_TO_KEY_ITERATIONS) {
      throw new CryptoError(
        "invalid-input",
        ctx,
        `iteration count ${effective} exceeds the limit ${MAX_STRING_TO_KEY_ITERATIONS}`,
      );
    }
  }
  const enc = new TextEncoder();
  const pw = typeof password === "string" ? enc.encode(password) : password;
  const sb = typeof salt === "string" ? enc.encode(salt) : salt;
  assertBytes(pw, "password", ctx);
  assertBytes(sb, "salt", ctx);
  try {
    const h = w.string_to_key(et, pw, sb, iterations);
    if (h === 0) throw statusError(w.last_status(), ctx);
    return keyFromHandle(et, h);
  } finally {
    if (typeof password === "string") pw.fill(0);
  }
}

/** Inputs of the KINK KEYMAT seed (RFC 4430 §7, RFC 2409 §5.5). */
export interface KeymatSeed {
  /** Protocol-ID of the proposal (2 AH, 3 ESP, 4 IPCOMP). */
  protocol: number;
  /** SPI of the SA being keyed (the receiver's choice), 32 bits. */
  spi: number;
  /** Body of the initiator's Nonce payload (Ni_b). */
  ni: Uint8Array;
  /** Body of the responder's Nonce payload (Nr_b); absent = empty (optimistic SA). */
  nr?: Uint8Array;
  /** Quick-Mode Diffie-Hellman shared secret g(qm)^xy, when KE payloads were exchanged. */
  dhSecret?: Uint8Array;
}

const NO_OCTETS = new Uint8Array(0);

/** Validates a seed; returns its length. */
function checkSeed(seed: KeymatSeed): number {
  const ctx = "keymat";
  if (!Number.isInteger(seed.protocol) || seed.protocol < 0 || seed.protocol > 255) {
    throw new CryptoError("invalid-input", ctx, `protocol must be 0..255, got ${seed.protocol}`);
  }
  if (!Number.isInteger(seed.spi) || seed.spi < 0 || seed.spi > 0xffffffff) {
    throw new CryptoError("invalid-input", ctx, `SPI must be a 32-bit unsigned integer`);
  }
  assertBytes(seed.ni, "Ni", ctx);
  const nr = seed.nr ?? NO_OCTETS;
  const dh = seed.dhSecret ?? NO_OCTETS;
  assertBytes(nr, "Nr", ctx);
  assertBytes(dh, "DH secret", ctx);
  return dh.length + 5 + seed.ni.length + nr.length;
}

/** Writes the (checked) seed octets into `out` at `at`. */
function writeSeed(seed: KeymatSeed, out: Uint8Array, at: number): void {
  const dh = seed.dhSecret ?? NO_OCTETS;
  out.set(dh, at);
  let o = at + dh.length;
  const spi = seed.spi >>> 0;
  out[o++] = seed.protocol;
  out[o++] = spi >>> 24;
  out[o++] = (spi >>> 16) & 0xff;
  out[o++] = (spi >>> 8) & 0xff;
  out[o++] = spi & 0xff;
  out.set(seed.ni, o);
  out.set(seed.nr ?? NO_OCTETS, o + seed.ni.length);
}

/** The seed octets `[g^xy ‖] protocol ‖ SPI ‖ Ni_b ‖ Nr_b`. */
export function keymatSeed(seed: KeymatSeed): Uint8Array {
  const out = new Uint8Array(checkSeed(seed));
  writeSeed(seed, out, 0);
  return out;
}

/**
 * KINK KEYMAT (RFC 4430 §7 with RFC 2409 §5.5): `K1 = prf(sessionKey, seed)`,
 * `Kn = prf(sessionKey, K(n-1) ‖ seed)`, `KEYMAT = K1 ‖ K2 ‖ …` truncated to
 * `length` octets; prf is the session key's enctype PRF in `mode`.
 * How an SA splits it is the IPsec layer's business (`core/ipsec`).
 */
export function keymat(
  sessionKey: Key,
  seed: KeymatSeed,
  length: number,
  mode: PrfMode = DEFAULT_PRF_MODE,
): Uint8Array {
  const ctx = "keymat";
  const h = keyOf(sessionKey, ctx);
  if (!Number.isInteger(length) || length < 1 || length > MAX_KEYMAT_LENGTH) {
    throw new CryptoError(
      "invalid-input",
      ctx,
      `length must be an integer in 1..${MAX_KEYMAT_LENGTH}, got ${length}`,
    );
  }
  const m = assertMode(mode, ctx);
  // The seed (it may hold the DH secret) is written straight into the I/O buffer.
  const n = checkSeed(seed);
  const ptr = w.ioReserve(n + length);
  writeSeed(seed, w.mem(), ptr);
  const st = w.io_keymat(h, n, length, m);
  const view = w.mem();
  const out = view.slice(ptr + n, ptr + n + length);
  view.fill(0, ptr, ptr + n + length);
  if (st !== 0) throw statusError(st, ctx);
  return out;
}

/**
 * SHA-256 of `data` (32 octets), from the crypto core: for digests of public
 * data such as replay-cache keys (cheaper than node:crypto's hash objects
 * for short inputs).
 */
export function sha256(data: Uint8Array): Uint8Array {
  const ctx = "sha256";
  assertBytes(data, "data", ctx);
  const n = data.length;
  const ptr = w.ioReserve(n + 32);
  const m = w.mem();
  m.set(data, ptr);
  const s = w.io_sha256(n);
  const view = w.mem();
  const out = view.slice(ptr + n, ptr + n + 32);
  view.fill(0, ptr, ptr + n + 32);
  if (s !== 0) throw statusError(s, ctx);
  return out;
}

/**
 * Identifies the exact crypto core build: crate version, wasm-bindgen and
 * rustc versions and a digest of the wasm module.
 */
export const cryptoBuildId: string = w.BUILD_ID;
