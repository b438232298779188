/**
 * KEYMAT layout of each IPsec DOI transform (key sizes from RFC 2451/3602
 * (3DES, AES-CBC), RFC 4106 §8.1 (GCM: key then 4-octet salt), RFC 2404 and
 * RFC 4868 (HMAC-SHA1 20, SHA2-256/384/512 32/48/64 octets, ICV 96/128/192/
 * 256 bits)), the RFC 4301 §4.5.2 split order (encryption key first), and
 * typed errors for what cannot be keyed.
 */
import { assertEquals, assertThrows } from "../crypto/assert.ts";
import {
  AhTransformId,
  AuthAlgorithm,
  EspTransformId,
  ProtocolId,
} from "../../../core/wire/mod.ts";
import {
  effectiveLifetime,
  IpsecError,
  keyLayout,
  splitKeymat,
  transformAttributes,
  type TransformSpec,
  transformSpec,
} from "../../../core/ipsec/mod.ts";

const ESP = ProtocolId.ESP;
const base = { mode: "transport" as const, lifetime: {}, esn: false };
const spec = (s: Partial<TransformSpec> & { id: number }): TransformSpec => ({ ...base, ...s });

Deno.test("keyLayout: key sizes and kernel algorithms per RFC 2451, 3602, 4106, 2404, 4868", () => {
  const aes = spec({
    id: EspTransformId.ESP_AES,
    keyBits: 128,
    authAlgorithm: AuthAlgorithm.HMAC_SHA,
  });
  const l = keyLayout(ESP, aes);
  assertEquals([l.encLength, l.saltLength, l.authLength, l.keymatLength], [16, 0, 20, 36]);
  assertEquals([l.encName, l.auth], ["cbc(aes)", { name: "hmac(sha1)", truncBits: 96 }]);
  const des = keyLayout(ESP, spec({ id: EspTransformId.ESP_3DES, authAlgorithm: 2 }));
  assertEquals([des.keymatLength, des.encName], [44, "cbc(des3_ede)"]);
  const a256 = keyLayout(ESP, spec({ id: 12, keyBits: 256, authAlgorithm: 5 }));
  assertEquals([a256.keymatLength, a256.auth?.truncBits], [64, 128]);
  assertEquals(keyLayout(ESP, spec({ id: 12, keyBits: 192, authAlgorithm: 6 })).keymatLength, 72);
  assertEquals(keyLayout(ESP, spec({ id: 12, keyBits: 256, authAlgorithm: 7 })).auth, {
    name: "hmac(sha512)",
    truncBits: 256,
  });
  const gcm = keyLayout(ESP, spec({ id: EspTransformId.ESP_AES_GCM_16, keyBits: 256 }));
  assertEquals([gcm.keymatLength, gcm.saltLength, gcm.aead], [36, 4, {
    name: "rfc4106(gcm(aes))",
    icvBits: 128,
  }]);
  assertEquals(keyLayout(ESP, spec({ id: 18 })).aead?.icvBits, 64);
  const nul = keyLayout(ESP, spec({ id: EspTransformId.ESP_NULL, authAlgorithm: 1 }));
  assertEquals([nul.encLength, nul.encName, nul.auth?.name], [0, "ecb(cipher_null)", "hmac(md5)"]);
  const ah = keyLayout(ProtocolId.AH, spec({ id: AhTransformId.AH_SHA, authAlgorithm: 2 }));
  assertEquals([ah.keymatLength, ah.encName, ah.auth?.name], [20, undefined, "hmac(sha1)"]);
  assertEquals(keyLayout(ProtocolId.IPCOMP, spec({ id: 2 })).keymatLength, 0);
});

Deno.test("splitKeymat: encryption key first, then (GCM) salt, then integrity key (RFC 4301 §4.5.2, RFC 4106 §8.1)", () => {
  const km = new Uint8Array(100).map((_, i) => i);
  const s = splitKeymat(km, keyLayout(ESP, spec({ id: 12, keyBits: 128, authAlgorithm: 2 })));
  assertEquals([s.encKey.length, s.authKey.length, s.salt], [16, 20, undefined]);
  assertEquals([s.encKey[0], s.authKey[0]], [0, 16]);
  const g = splitKeymat(km, keyLayout(ESP, spec({ id: 20, keyBits: 256 })));
  assertEquals([g.encKey.length, g.salt?.length, g.authKey.length, g.salt?.[0]], [32, 4, 0, 32]);
  assertEquals(
    splitKeymat(km, keyLayout(ESP, spec({ id: 3, authAlgorithm: 2 }))).authKey[0],
    24,
  );
  assertThrows(
    () => splitKeymat(km.subarray(0, 35), keyLayout(ESP, spec({ id: 12, authAlgorithm: 2 }))),
    IpsecError,
    "35 < 36",
  );
});

Deno.test("keyLayout refuses what cannot be keyed with typed errors and the Notify to answer", () => {
  const cases: [number, TransformSpec, string, string][] = [
    [ESP, spec({ id: 99 }), "unsupported", "transform 99"],
    [ESP, spec({ id: 12, keyBits: 64, authAlgorithm: 2 }), "malformed", "128, 192 or 256"],
    [ESP, spec({ id: 20, authAlgorithm: 2 }), "malformed", "GCM"],
    [ESP, spec({ id: 12, authAlgorithm: 9 }), "unsupported", "algorithm 9"],
    [ESP, spec({ id: 11 }), "malformed", "NULL"],
    [ProtocolId.AH, spec({ id: 3, authAlgorithm: 1 }), "malformed", "AH transform 3"],
    [ProtocolId.AH, spec({ id: 3 }), "unsupported", "algorithm 0"],
    [7, spec({ id: 1 }), "unsupported", "protocol 7"],
  ];
  for (const [p, s, cat, text] of cases) {
    const e = assertThrows(() => keyLayout(p, s), IpsecError, text);
    assertEquals(e.category, cat, text);
    assertEquals(e.notifyType, cat === "unsupported" ? 13 : 15);
  }
});

Deno.test("transformSpec / transformAttributes round-trip; RFC 2407 §4.5 rules on lifetimes", () => {
  const s = spec({
    id: 12,
    keyBits: 256,
    authAlgorithm: 5,
    mode: "tunnel",
    lifetime: { seconds: 100000, kilobytes: 4096 },
    esn: true,
    group: 14,
  });
  const attrs = transformAttributes(s);
  assertEquals(transformSpec(ESP, { number: 1, id: 12, attributes: attrs }), s);
  // 100000 does not fit a 16-bit basic attribute: it travels as a 4-octet variable one.
  const dur = attrs.filter((a) => a.type === 2);
  assertEquals(dur.map((a) => a.value instanceof Uint8Array ? a.value.length : "tv"), [4, "tv"]);
  assertEquals(effectiveLifetime(spec({ id: 12 })), { seconds: 28800 });
  assertEquals(effectiveLifetime(spec({ id: 12, lifetime: { kilobytes: 5 } })), { kilobytes: 5 });
  const bad: [{ type: number; value: number }[], string][] = [
    [[{ type: 2, value: 5 }], "without a Life Type"],
    [[{ type: 1, value: 1 }], "without a Life Duration"],
    [[{ type: 1, value: 3 }, { type: 2, value: 5 }], "Life Type 3"],
    [[{ type: 1, value: 1 }, { type: 2, value: 0 }], "Duration 0"],
    [[{ type: 4, value: 1 }, { type: 4, value: 2 }], "repeated"],
    [[{ type: 7, value: 1 }], "attribute 7"],
  ];
  for (const [attributes, text] of bad) {
    assertThrows(() => transformSpec(ESP, { number: 1, id: 12, attributes }), IpsecError, text);
  }
});
