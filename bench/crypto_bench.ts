/**
 * Crypto core benchmarks on KINK-sized operations, enctypes 18 and 20:
 * get_mic over 64 / 512 / 1,500 octets, encrypt+decrypt of 128 / 1,500
 * octets, and KEYMAT for one SA pair (AES-256-CBC + HMAC-SHA-256 keys, both
 * directions). Each group compares, in the same run, the wasm core
 * (baseline) with the same operation composed per the RFCs from @noble/*
 * (pure JS) and from node:crypto (OpenSSL). All three cache the derived keys
 * (Kc/Ke/Ki, the PRF key) per session key, as a real implementation does.
 *
 * Targets: wasm ≥ 2× noble, ≥ 0.5× node:crypto.
 *
 *   deno bench --allow-read=. bench/crypto_bench.ts
 */
import {
  decrypt,
  encrypt,
  getMic,
  Key,
  keymat,
  type KeymatSeed,
  keymatSeed,
} from "../core/crypto/mod.ts";
import { cat, native, noble, type Prims, RefKerberos } from "../tests/unit/crypto/reference.ts";

/** The RFC composition over `p`, with per-(key, usage) derived keys cached. */
class Cached {
  readonly #ref: RefKerberos;
  readonly #p: Prims;
  readonly #cache = new Map<string, Uint8Array>();
  constructor(p: Prims, readonly et: number, readonly base: Uint8Array) {
    this.#p = p;
    this.#ref = new RefKerberos(p);
  }
  #key(usage: number, role: "Kc" | "Ke" | "Ki"): Uint8Array {
    const id = `${usage}${role}`;
    let k = this.#cache.get(id);
    if (!k) {
      k = this.#ref.usageKey(this.et, this.base, usage, role);
      this.#cache.set(id, k);
    }
    return k;
  }
  #prfKey(): Uint8Array {
    let k = this.#cache.get("prf");
    if (!k) {
      k = this.#ref.derive(this.et, this.base, new TextEncoder().encode("prf"), "Ke");
      this.#cache.set("prf", k);
    }
    return k;
  }
  get #mac() {
    return this.#ref.mac(this.et);
  }
  getMic(usage: number, d: Uint8Array): Uint8Array {
    const { h, len } = this.#mac;
    return this.#p.hmac(h, this.#key(usage, "Kc"), d).subarray(0, len);
  }
  encrypt(usage: number, pt: Uint8Array): Uint8Array {
    const { h, len } = this.#mac;
    const p = cat(crypto.getRandomValues(new Uint8Array(16)), pt);
    const c = this.#ref.ctsEnc(this.#key(usage, "Ke"), p);
    const ki = this.#key(usage, "Ki");
    const tag = this.et <= 18
      ? this.#p.hmac(h, ki, p)
      : this.#p.hmac(h, ki, cat(new Uint8Array(16), c));
    return cat(c, tag.subarray(0, len));
  }
  decrypt(usage: number, ct: Uint8Array): Uint8Array {
    const { h, len } = this.#mac;
    const ke = this.#key(usage, "Ke"), ki = this.#key(usage, "Ki");
    const c = ct.subarray(0, ct.length - len), tag = ct.subarray(ct.length - len);
    if (this.et >= 19) {
      const want = this.#p.hmac(h, ki, cat(new Uint8Array(16), c));
      if (want.subarray(0, len).some((b, i) => b !== tag[i])) throw new Error("integrity");
      return this.#ref.ctsDec(ke, c).subarray(16);
    }
    const p = this.#ref.ctsDec(ke, c);
    const want = this.#p.hmac(h, ki, p);
    if (want.subarray(0, len).some((b, i) => b !== tag[i])) throw new Error("integrity");
    return p.subarray(16);
  }
  prf(input: Uint8Array): Uint8Array {
    if (this.et >= 19) {
      return this.#ref.kdf(
        this.et,
        this.base,
        new TextEncoder().encode("prf"),
        input,
        this.et === 19 ? 256 : 384,
      );
    }
    return this.#ref.ctsEnc(this.#prfKey(), this.#p.hash("sha1", input));
  }
  keymat(seed: Uint8Array, len: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let prev: Uint8Array = new Uint8Array(0), got = 0;
    while (got < len) {
      prev = this.prf(cat(prev, seed));
      parts.push(prev);
      got += prev.length;
    }
    return cat(...parts).subarray(0, len);
  }
}

const ni = crypto.getRandomValues(new Uint8Array(16));
const nr = crypto.getRandomValues(new Uint8Array(16));
const seeds: KeymatSeed[] = [
  { protocol: 3, spi: 0x05974ab7, ni, nr },
  { protocol: 3, spi: 0x017df76b, ni, nr },
];
const KEYMAT_LEN = 32 + 32; // AES-256-CBC + HMAC-SHA-256

for (const et of [18, 20] as const) {
  const base = crypto.getRandomValues(new Uint8Array(32));
  const key = Key.fromBytes(et, base);
  const nb = new Cached(noble, et, base);
  const nd = new Cached(native, et, base);
  // Sanity: all three agree before anything is timed.
  const probe = crypto.getRandomValues(new Uint8Array(100));
  const m = getMic(key, 40, probe).join();
  if (nb.getMic(40, probe).join() !== m || nd.getMic(40, probe).join() !== m) {
    throw new Error("implementations disagree");
  }
  const ctW = encrypt(key, 39, probe);
  if (nb.decrypt(39, ctW).join() !== probe.join() || nd.decrypt(39, ctW).join() !== probe.join()) {
    throw new Error("implementations disagree");
  }
  const s0 = keymatSeed(seeds[0]!);
  if (nb.keymat(s0, KEYMAT_LEN).join() !== keymat(key, seeds[0]!, KEYMAT_LEN).join()) {
    throw new Error("implementations disagree");
  }

  for (const size of [64, 512, 1500]) {
    const d = crypto.getRandomValues(new Uint8Array(size));
    const group = `e${et} getMic ${size}B`;
    Deno.bench(`wasm  e${et} getMic ${size}B`, { group, baseline: true }, () => {
      getMic(key, 40, d);
    });
    Deno.bench(`noble e${et} getMic ${size}B`, { group }, () => {
      nb.getMic(40, d);
    });
    Deno.bench(`node  e${et} getMic ${size}B`, { group }, () => {
      nd.getMic(40, d);
    });
  }
  for (const size of [128, 1500]) {
    const d = crypto.getRandomValues(new Uint8Array(size));
    const group = `e${et} encrypt+decrypt ${size}B`;
    Deno.bench(`wasm  e${et} enc+dec ${size}B`, { group, baseline: true }, () => {
      decrypt(key, 39, encrypt(key, 39, d));
    });
    Deno.bench(`noble e${et} enc+dec ${size}B`, { group }, () => {
      nb.decrypt(39, nb.encrypt(39, d));
    });
    Deno.bench(`node  e${et} enc+dec ${size}B`, { group }, () => {
      nd.decrypt(39, nd.encrypt(39, d));
    });
  }
  {
    const group = `e${et} keymat SA pair`;
    const s = seeds.map(keymatSeed);
    Deno.bench(`wasm  e${et} keymat SA pair`, { group, baseline: true }, () => {
      keymat(key, seeds[0]!, KEYMAT_LEN);
      keymat(key, seeds[1]!, KEYMAT_LEN);
    });
    Deno.bench(`noble e${et} keymat SA pair`, { group }, () => {
      nb.keymat(s[0]!, KEYMAT_LEN);
      nb.keymat(s[1]!, KEYMAT_LEN);
    });
    Deno.bench(`node  e${et} keymat SA pair`, { group }, () => {
      nd.keymat(s[0]!, KEYMAT_LEN);
      nd.keymat(s[1]!, KEYMAT_LEN);
    });
  }
}
