/** Short run of tests/fuzz/crypto_fuzz.ts in the unit tier (fixed seed). */
import { fuzzCrypto } from "../../fuzz/crypto_fuzz.ts";
import { assertEquals } from "./assert.ts";

Deno.test("crypto fuzz: 3,000 rounds of mutated ciphertexts, checksums and arguments", () => {
  const counts = fuzzCrypto(3000, 0x6b696e6b);
  assertEquals((counts["integrity"] ?? 0) > 1000, true);
  assertEquals((counts["invalid-input"] ?? 0) > 1000, true);
});
