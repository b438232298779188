/**
 * Diffie-Hellman for the KE payload: one side's work per exchange (generate
 * a private/public value, then compute the shared secret with the peer's
 * public value), measured for the candidate implementations in the same
 * run. The baseline is kink's `generateDh` + `computeSecret`
 * (core/crypto/dh.ts: node:crypto, which under Deno is Deno's own Rust
 * implementation, plus kink's BigInt range/curve checks of the peer value).
 *
 * - Group 14 (MODP-2048, 320-bit exponents): against a pure-BigInt modular
 *   exponentiation with a 4-bit fixed window (the best plain JavaScript
 *   can do without Montgomery arithmetic on limbs). WebCrypto has no MODP.
 * - Group 19 (ECP-256): against @noble/curves p256 (pure JS, its base-point
 *   table precomputed on first use, i.e. before timing) and WebCrypto ECDH
 *   P-256 (Deno's Rust implementation behind an asynchronous API: the
 *   engine is synchronous and cannot await it, listed for its speed only).
 *
 * Every candidate validates the peer value as its library does (noble and
 * WebCrypto check the point; the BigInt MODP candidate does kink's range
 * check). Peer public values are made outside the timed loop; results are
 * kept in a sink so nothing is optimised away.
 *
 *   deno bench --allow-read=. bench/dh_bench.ts
 */
import { generateDh, MODP_2048_PRIME } from "../core/crypto/mod.ts";
import { SeededRandom } from "../core/util/random.ts";
import { p256 } from "@noble/curves/nist.js";

const random = new SeededRandom(0x5eed);
let sink = 0;

// ---- group 14 ----

const peer14 = generateDh(14, random);
const peer14Pub = peer14.publicValue;

function big(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** g^e mod p with a 4-bit fixed window. */
function modPow(g: bigint, e: bigint, p: bigint): bigint {
  const table: bigint[] = [1n];
  for (let i = 1; i < 16; i++) table.push((table[i - 1]! * g) % p);
  const bits = e.toString(2);
  const pad = (4 - (bits.length % 4)) % 4;
  const s = "0".repeat(pad) + bits;
  let r = 1n;
  for (let i = 0; i < s.length; i += 4) {
    r = (r * r) % p;
    r = (r * r) % p;
    r = (r * r) % p;
    r = (r * r) % p;
    const w = parseInt(s.slice(i, i + 4), 2);
    if (w) r = (r * table[w]!) % p;
  }
  return r;
}

Deno.bench({
  name: "group 14: kink generateDh + computeSecret (node:crypto, Deno's Rust)",
  group: "modp2048",
  baseline: true,
  fn() {
    const d = generateDh(14, random);
    sink ^= d.computeSecret(peer14Pub)[255]!;
    d.dispose();
  },
});

Deno.bench({
  name: "group 14: pure BigInt modPow (4-bit window) + range check",
  group: "modp2048",
  fn() {
    const x = big(random.fill(new Uint8Array(40)));
    const pub = modPow(2n, x, MODP_2048_PRIME);
    const y = big(peer14Pub);
    if (y <= 1n || y >= MODP_2048_PRIME - 1n) throw new Error("range");
    const s = modPow(y, x, MODP_2048_PRIME);
    sink ^= Number((pub ^ s) & 0xffn);
  },
});

// ---- group 19 ----

const peer19 = generateDh(19, random);
const peer19Pub = peer19.publicValue;
const peer19Sec1 = new Uint8Array([4, ...peer19Pub]);
p256.getPublicKey(p256.utils.randomSecretKey()); // noble precomputes its base-point table now
const webPeer = await crypto.subtle.importKey(
  "raw",
  peer19Sec1,
  { name: "ECDH", namedCurve: "P-256" },
  false,
  [],
);

Deno.bench({
  name: "group 19: kink generateDh + computeSecret (node:crypto, Deno's Rust)",
  group: "ecp256",
  baseline: true,
  fn() {
    const d = generateDh(19, random);
    sink ^= d.computeSecret(peer19Pub)[31]!;
    d.dispose();
  },
});

Deno.bench({
  name: "group 19: @noble/curves p256 getPublicKey + getSharedSecret (pure JS)",
  group: "ecp256",
  fn() {
    const sk = p256.utils.randomSecretKey(random.fill(new Uint8Array(48)));
    const pub = p256.getPublicKey(sk, false);
    const s = p256.getSharedSecret(sk, peer19Sec1);
    sink ^= pub[1]! ^ s[1]!;
  },
});

Deno.bench({
  name: "group 19: WebCrypto ECDH P-256 generateKey + deriveBits (async)",
  group: "ecp256",
  async fn() {
    const kp = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const pub = await crypto.subtle.exportKey("raw", kp.publicKey);
    const s = await crypto.subtle.deriveBits({ name: "ECDH", public: webPeer }, kp.privateKey, 256);
    sink ^= new Uint8Array(pub)[1]! ^ new Uint8Array(s)[0]!;
  },
});

addEventListener("unload", () => {
  if (sink === 0x1_0000) console.log(sink); // keeps the results alive
});
