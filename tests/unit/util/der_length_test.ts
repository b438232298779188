/**
 * The one DER length reader against X.690's own examples (§8.1.3.4: L = 38
 * as 0x26; §8.1.3.5: L = 201 as 0x81 0xC9) and DER's minimal-length rule
 * (§10.1), in both the strict and the framing ("ber") reading.
 */
import assert from "node:assert/strict";
import { readDerLength } from "../../../core/util/der_length.ts";

const b = (...x: number[]) => new Uint8Array(x);

Deno.test("DER length: X.690 short and long form examples", () => {
  assert.deepEqual(readDerLength(b(0x04, 0x26), 1), { ok: true, length: 38, next: 2 });
  assert.deepEqual(readDerLength(b(0x04, 0x81, 0xc9), 1), { ok: true, length: 201, next: 3 });
  assert.deepEqual(readDerLength(b(0x84, 0x01, 0x00, 0x00, 0x00), 0), {
    ok: true,
    length: 2 ** 24,
    next: 5,
  });
});

Deno.test("DER length: the forms DER forbids are refused, and accepted by the ber framing rule", () => {
  // L = 38 in the long form: valid BER, not DER.
  assert.deepEqual(readDerLength(b(0x81, 0x26), 0), {
    ok: false,
    problem: { kind: "non-minimal", length: 38 },
  });
  assert.deepEqual(readDerLength(b(0x81, 0x26), 0, 2, "ber"), { ok: true, length: 38, next: 2 });
  assert.deepEqual(readDerLength(b(0x82, 0x00, 0xc9), 0), {
    ok: false,
    problem: { kind: "leading-zero" },
  });
  assert.deepEqual(readDerLength(b(0x82, 0x00, 0xc9), 0, 3, "ber"), {
    ok: true,
    length: 201,
    next: 3,
  });
});

Deno.test("DER length: indefinite, over-long and truncated lengths are refused under either rule", () => {
  for (const rule of ["der", "ber"] as const) {
    assert.deepEqual(readDerLength(b(0x80), 0, 1, rule), {
      ok: false,
      problem: { kind: "indefinite" },
    });
    assert.deepEqual(readDerLength(b(0x85, 1, 0, 0, 0, 0), 0, 6, rule), {
      ok: false,
      problem: { kind: "too-long", octets: 5 },
    });
    assert.deepEqual(readDerLength(b(0x82, 0x01), 0, 2, rule), {
      ok: false,
      problem: { kind: "truncated" },
    });
    assert.deepEqual(readDerLength(b(), 0, 0, rule), { ok: false, problem: { kind: "truncated" } });
    // The window ends before the length octets do.
    assert.deepEqual(readDerLength(b(0x81, 0xc9), 0, 1, rule), {
      ok: false,
      problem: { kind: "truncated" },
    });
  }
});
