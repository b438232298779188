/**
 * An independent implementation of the Kerberos AES enctypes, composed in
 * test code straight from RFC 3961 §5, RFC 3962 and RFC 8009 on top of
 * @noble/hashes and @noble/ciphers (pure JS). The differential tests and the
 * benchmarks compare the wasm core against it; a second variant over
 * node:crypto (under Deno: Deno's own Rust implementation, not OpenSSL) serves as the
 * native baseline of the benchmarks.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { cbc, ecb } from "@noble/ciphers/aes.js";
import * as nodeCrypto from "node:crypto";

/** Concatenation. */
export function cat(...p: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of p) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

/** 4-octet big-endian. */
export function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** n-fold per RFC 3961 §5.1, with big integers: rotate, replicate, ones'-complement sum. */
export function nfoldRef(input: Uint8Array, outLen: number): Uint8Array {
  const k = input.length * 8, n = outLen * 8;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const l = (k / gcd(k, n)) * n;
  const kb = BigInt(k), nb = BigInt(n);
  const mask = (1n << kb) - 1n;
  let x = 0n;
  for (const b of input) x = (x << 8n) | BigInt(b);
  const rotr = (v: bigint, r: number) => {
    const rb = BigInt(r % k);
    return rb === 0n ? v : ((v >> rb) | (v << (kb - rb))) & mask;
  };
  let s = 0n;
  for (let i = 0; i < l / k; i++) s = (s << kb) | rotr(x, 13 * i);
  const nmask = (1n << nb) - 1n;
  let sum = 0n;
  for (let j = 0; j < l / n; j++) sum += (s >> (nb * BigInt(j))) & nmask;
  while (sum > nmask) sum = (sum & nmask) + (sum >> nb);
  const out = new Uint8Array(outLen);
  for (let i = outLen - 1; i >= 0; i--) {
    out[i] = Number(sum & 0xffn);
    sum >>= 8n;
  }
  return out;
}

/** The AES block cipher and HMAC used by a reference variant. */
export interface Prims {
  /** AES-ECB encryption of whole blocks. */
  ecbEnc(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-ECB decryption of whole blocks. */
  ecbDec(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-CBC encryption of whole blocks, no padding. */
  cbcEnc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** HMAC. */
  hmac(hash: "sha1" | "sha256" | "sha384", key: Uint8Array, data: Uint8Array): Uint8Array;
  /**
   * HMAC under one key with the key's pad state computed once (the inner and outer hash
   * after ipad/opad), as the wasm core caches it; absent when the library cannot keep it.
   */
  hmacKeyed?(hash: "sha1" | "sha256" | "sha384", key: Uint8Array): (data: Uint8Array) => Uint8Array;
  /** Plain hash. */
  hash(hash: "sha1", data: Uint8Array): Uint8Array;
  /** PBKDF2. */
  pbkdf2(
    hash: "sha1" | "sha256" | "sha384",
    pw: Uint8Array,
    salt: Uint8Array,
    c: number,
    len: number,
  ): Uint8Array;
}

const H = { sha1, sha256, sha384 } as const;

/** The pure-JS primitives (@noble/*). */
export const noble: Prims = {
  ecbEnc: (k, d) => ecb(k, { disablePadding: true }).encrypt(d),
  ecbDec: (k, d) => ecb(k, { disablePadding: true }).decrypt(d),
  cbcEnc: (k, iv, d) => cbc(k, iv, { disablePadding: true }).encrypt(d),
  hmac: (h, k, d) => hmac(H[h], k, d),
  hmacKeyed: (h, k) => {
    const keyed = hmac.create(H[h], k);
    return (d) => keyed.clone().update(d).digest();
  },
  hash: (_h, d) => sha1(d),
  pbkdf2: (h, pw, s, c, len) => pbkdf2(H[h], pw, s, { c, dkLen: len }),
};

const aesName = (k: Uint8Array, mode: string) => `aes-${k.length * 8}-${mode}`;

/**
 * The `node:crypto` primitives as Deno provides them: Deno's own implementation of the Node
 * API in Rust (its ops over Rust crypto crates), not OpenSSL. Its Hmac cannot be copied, so
 * there is no {@link Prims.hmacKeyed}: every HMAC hashes the key pads again.
 */
export const native: Prims = {
  ecbEnc: (k, d) => {
    const c = nodeCrypto.createCipheriv(aesName(k, "ecb"), k, null).setAutoPadding(false);
    return new Uint8Array(Buffer.concat([c.update(d), c.final()]));
  },
  ecbDec: (k, d) => {
    const c = nodeCrypto.createDecipheriv(aesName(k, "ecb"), k, null).setAutoPadding(false);
    return new Uint8Array(Buffer.concat([c.update(d), c.final()]));
  },
  cbcEnc: (k, iv, d) => {
    const c = nodeCrypto.createCipheriv(aesName(k, "cbc"), k, iv).setAutoPadding(false);
    return new Uint8Array(Buffer.concat([c.update(d), c.final()]));
  },
  hmac: (h, k, d) => new Uint8Array(nodeCrypto.createHmac(h, k).update(d).digest()),
  hash: (h, d) => new Uint8Array(nodeCrypto.createHash(h).update(d).digest()),
  pbkdf2: (h, pw, s, c, len) => new Uint8Array(nodeCrypto.pbkdf2Sync(pw, s, c, len, h)),
};

/** Kerberos AES enctypes composed per the RFCs over a set of primitives. */
export class RefKerberos {
  /** @param p the primitives */
  constructor(readonly p: Prims) {}

  /** RFC 3962 §5 CTS encryption (CBC-CS3, swap always), IV zero unless given. */
  ctsEnc(key: Uint8Array, data: Uint8Array, iv = new Uint8Array(16)): Uint8Array {
    const n = data.length;
    if (n === 16) return this.p.cbcEnc(key, iv, data);
    const m = Math.ceil(n / 16), r = n - 16 * (m - 1);
    const padded = new Uint8Array(16 * m);
    padded.set(data);
    const c = this.p.cbcEnc(key, iv, padded);
    return cat(
      c.subarray(0, 16 * (m - 2)),
      c.subarray(16 * (m - 1), 16 * m),
      c.subarray(16 * (m - 2), 16 * (m - 2) + r),
    );
  }

  /** Inverse of {@link ctsEnc} (IV zero). */
  ctsDec(key: Uint8Array, data: Uint8Array): Uint8Array {
    const n = data.length;
    const iv = new Uint8Array(16);
    const cbcDec = (c: Uint8Array) => {
      const d = this.p.ecbDec(key, c);
      for (let i = 0; i < c.length; i++) d[i]! ^= i < 16 ? iv[i]! : c[i - 16]!;
      return d;
    };
    if (n === 16) return cbcDec(data);
    const m = Math.ceil(n / 16), r = n - 16 * (m - 1);
    const full = data.subarray(16 * (m - 2), 16 * (m - 1));
    const part = data.subarray(16 * (m - 1));
    const x = this.p.ecbDec(key, full);
    const cm1 = cat(part, x.subarray(r));
    const c = cat(data.subarray(0, 16 * (m - 2)), cm1, full);
    return cbcDec(c).subarray(0, n);
  }

  /** DK (17/18) or KDF-HMAC-SHA2 (19/20) of a usage constant. */
  derive(et: number, base: Uint8Array, constant: Uint8Array, role: "Kc" | "Ke" | "Ki") {
    if (et === 17 || et === 18) {
      let block = constant.length === 16 ? constant : nfoldRef(constant, 16);
      const out: Uint8Array[] = [];
      let got = 0;
      while (got < base.length) {
        block = this.p.ecbEnc(base, block);
        out.push(block);
        got += 16;
      }
      return cat(...out).subarray(0, base.length);
    }
    const bits = et === 19 ? 128 : role === "Ke" ? 256 : 192;
    return this.kdf(et, base, constant, new Uint8Array(0), bits);
  }

  /** RFC 8009 KDF-HMAC-SHA2. */
  kdf(et: number, key: Uint8Array, label: Uint8Array, ctx: Uint8Array, bits: number) {
    const h = et === 19 ? "sha256" : "sha384";
    const full = this.p.hmac(
      h,
      key,
      cat(be32(1), label, new Uint8Array([0]), ctx, be32(bits)),
    );
    return full.subarray(0, bits / 8);
  }

  /** Derived key of a usage. */
  usageKey(et: number, base: Uint8Array, usage: number, role: "Kc" | "Ke" | "Ki") {
    const c = cat(
      be32(usage),
      new Uint8Array([role === "Kc" ? 0x99 : role === "Ke" ? 0xaa : 0x55]),
    );
    return this.derive(et, base, c, role);
  }

  /** Hash name and tag length of an enctype. */
  mac(et: number): { h: "sha1" | "sha256" | "sha384"; len: number } {
    return et <= 18 ? { h: "sha1", len: 12 } : et === 19 ? { h: "sha256", len: 16 } : {
      h: "sha384",
      len: 24,
    };
  }

  /** RFC 3961/3962/8009 encryption with a given confounder. */
  encrypt(et: number, base: Uint8Array, usage: number, conf: Uint8Array, pt: Uint8Array) {
    const ke = this.usageKey(et, base, usage, "Ke"), ki = this.usageKey(et, base, usage, "Ki");
    const { h, len } = this.mac(et);
    const p = cat(conf, pt);
    const c = this.ctsEnc(ke, p);
    const tag = et <= 18 ? this.p.hmac(h, ki, p) : this.p.hmac(h, ki, cat(new Uint8Array(16), c));
    return cat(c, tag.subarray(0, len));
  }

  /** Decryption; null on integrity failure. */
  decrypt(et: number, base: Uint8Array, usage: number, ct: Uint8Array): Uint8Array | null {
    const ke = this.usageKey(et, base, usage, "Ke"), ki = this.usageKey(et, base, usage, "Ki");
    const { h, len } = this.mac(et);
    const c = ct.subarray(0, ct.length - len), tag = ct.subarray(ct.length - len);
    const p = this.ctsDec(ke, c);
    const want = (et <= 18 ? this.p.hmac(h, ki, p) : this.p.hmac(h, ki, cat(new Uint8Array(16), c)))
      .subarray(0, len);
    if (want.some((b, i) => b !== tag[i])) return null;
    return p.subarray(16);
  }

  /** get_mic. */
  getMic(et: number, base: Uint8Array, usage: number, data: Uint8Array): Uint8Array {
    const { h, len } = this.mac(et);
    return this.p.hmac(h, this.usageKey(et, base, usage, "Kc"), data).subarray(0, len);
  }

  /** PRF in either reading. */
  prf(et: number, base: Uint8Array, input: Uint8Array, mode: "racoon2" | "mit"): Uint8Array {
    if (et >= 19) {
      return this.kdf(et, base, new TextEncoder().encode("prf"), input, et === 19 ? 256 : 384);
    }
    const kp = this.derive(et, base, new TextEncoder().encode("prf"), "Ke");
    const d = this.p.hash("sha1", input);
    return mode === "racoon2" ? this.ctsEnc(kp, d) : this.p.ecbEnc(kp, d.subarray(0, 16));
  }

  /** KINK KEYMAT. */
  keymat(et: number, base: Uint8Array, seed: Uint8Array, len: number, mode: "racoon2" | "mit") {
    const parts: Uint8Array[] = [];
    let prev: Uint8Array = new Uint8Array(0), got = 0;
    while (got < len) {
      prev = this.prf(et, base, cat(prev, seed), mode);
      parts.push(prev);
      got += prev.length;
    }
    return cat(...parts).subarray(0, len);
  }

  /** string-to-key with an iteration count. */
  stringToKey(et: number, pw: Uint8Array, salt: Uint8Array, iter: number): Uint8Array {
    const kl = et === 17 || et === 19 ? 16 : 32;
    if (et <= 18) {
      const t = this.p.pbkdf2("sha1", pw, salt, iter, kl);
      return this.derive(et, t, new TextEncoder().encode("kerberos"), "Ke");
    }
    const name = et === 19 ? "aes128-cts-hmac-sha256-128" : "aes256-cts-hmac-sha384-192";
    const saltp = cat(new TextEncoder().encode(name), new Uint8Array([0]), salt);
    const t = this.p.pbkdf2(et === 19 ? "sha256" : "sha384", pw, saltp, iter, kl);
    return this.kdf(et, t, new TextEncoder().encode("kerberos"), new Uint8Array(0), kl * 8);
  }
}
