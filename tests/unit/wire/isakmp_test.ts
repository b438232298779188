import { assert, assertEquals } from "./assert.ts";
import {
  attributeValue,
  decodeIsakmpPayloads,
  encodeIsakmpPayloads,
  type IsakmpPayload,
  spiBytes,
  spiNumber,
} from "../../../core/wire/isakmp.ts";
import {
  AuthAlgorithm,
  EncapsulationMode,
  EspTransformId,
  IdType,
  LifeType,
  NotifyType,
  ProtocolId,
  SaAttributeType as A,
} from "../../../core/wire/ipsec_doi.ts";
import { WireError } from "../../../core/wire/errors.ts";
import { fromHex } from "../../../core/util/bytes.ts";

// The SA payload racoon2's kinkd logged for the first CREATE (B-kinkd.log, "total SA len=72")
// followed by nothing: SA with one ESP proposal, AES-CBC-128+HMAC-SHA1 and 3DES+HMAC-SHA1.
const RACOON2_SA = fromHex(
  "0000004c" + // generic header: next 0, length 76 (the logged 72-octet body + 4)
    "00000001 00000001" + // DOI 1, SIT_IDENTITY_ONLY
    "00000040 01030402 05974ab7" + // proposal #1 ESP, SPI size 4, 2 transforms, SPI
    "0300001c 010c0000 80010001 80020e10 80040002 80060080 80050002" + // T#1 ESP_AES 128
    "00000018 02030000 80010001 80020e10 80040002 80050002", // T#2 ESP_3DES
);

Deno.test("ISAKMP: racoon2's logged SA payload decodes to the negotiated values", () => {
  const [sa] = decodeIsakmpPayloads(RACOON2_SA, 1);
  assert(sa?.kind === "sa");
  assertEquals([sa.doi, sa.situation, sa.proposals.length], [1, 1, 1]);
  const p = sa.proposals[0]!;
  assertEquals([p.number, p.protocol, spiNumber(p.spi)], [1, ProtocolId.ESP, 0x05974ab7]);
  assertEquals(p.transforms.map((t) => t.id), [EspTransformId.ESP_AES, EspTransformId.ESP_3DES]);
  const attrs = Object.fromEntries(
    p.transforms[0]!.attributes.map((a) => [a.type, attributeValue(a)]),
  );
  assertEquals(attrs, {
    [A.LIFE_TYPE]: LifeType.SECONDS,
    [A.LIFE_DURATION]: 3600,
    [A.ENCAPSULATION_MODE]: EncapsulationMode.TRANSPORT,
    [A.KEY_LENGTH]: 128,
    [A.AUTH_ALGORITHM]: AuthAlgorithm.HMAC_SHA,
  });
  assertEquals(encodeIsakmpPayloads([sa]).bytes, RACOON2_SA);
});

const ALL: IsakmpPayload[] = [
  {
    kind: "sa",
    doi: 1,
    situation: 1,
    proposals: [
      {
        number: 1,
        protocol: ProtocolId.ESP,
        spi: spiBytes(0xc0ffee01),
        transforms: [
          {
            number: 1,
            id: EspTransformId.ESP_AES_GCM_16,
            attributes: [
              { type: A.LIFE_TYPE, value: LifeType.SECONDS },
              { type: A.LIFE_DURATION, value: Uint8Array.of(0, 1, 0x51, 0x80) }, // TLV 86400
              { type: A.LIFE_TYPE, value: LifeType.KILOBYTES },
              { type: A.LIFE_DURATION, value: Uint8Array.of(0, 1, 0x86, 0xa0) },
              { type: A.ENCAPSULATION_MODE, value: EncapsulationMode.TUNNEL },
              { type: A.KEY_LENGTH, value: 256 },
              { type: A.EXTENDED_SEQUENCE_NUMBER, value: 1 },
            ],
          },
          {
            number: 2,
            id: EspTransformId.ESP_AES,
            attributes: [
              { type: A.KEY_LENGTH, value: 128 },
              { type: A.AUTH_ALGORITHM, value: AuthAlgorithm.HMAC_SHA2_256 },
              { type: A.GROUP_DESCRIPTION, value: 14 },
              { type: A.KEY_ROUNDS, value: 12 },
            ],
          },
        ],
      },
      {
        number: 1,
        protocol: ProtocolId.AH,
        spi: spiBytes(7),
        transforms: [{ number: 1, id: 5, attributes: [{ type: A.AUTH_ALGORITHM, value: 5 }] }],
      },
    ],
  },
  { kind: "nonce", nonce: new Uint8Array(32).fill(0xab) },
  { kind: "ke", data: new Uint8Array(256).fill(7) },
  {
    kind: "id",
    idType: IdType.IPV4_ADDR,
    protocol: 17,
    port: 910,
    data: Uint8Array.of(10, 0, 0, 1),
  },
  {
    kind: "id",
    idType: IdType.IPV6_ADDR_SUBNET,
    protocol: 0,
    port: 0,
    data: new Uint8Array(32).fill(1),
  },
  {
    kind: "notify",
    doi: 1,
    protocol: 3,
    notifyType: NotifyType.RESPONDER_LIFETIME,
    spi: spiBytes(0xc0ffee01),
    data: fromHex("80010001 00020004 00000e10"),
  },
  {
    kind: "notify",
    doi: 1,
    protocol: 0,
    notifyType: NotifyType.INVALID_PAYLOAD_TYPE,
    spi: new Uint8Array(0),
    data: Uint8Array.of(4),
  },
  {
    kind: "delete",
    doi: 1,
    protocol: 3,
    spiSize: 4,
    spis: [spiBytes(1), spiBytes(2), spiBytes(3)],
  },
];

Deno.test("ISAKMP: every payload kind and attribute form round-trips", () => {
  const { first, bytes } = encodeIsakmpPayloads(ALL);
  assertEquals(first, 1);
  assertEquals(decodeIsakmpPayloads(bytes, first), ALL);
  for (const p of ALL) {
    const e = encodeIsakmpPayloads([p]);
    assertEquals(decodeIsakmpPayloads(e.bytes, e.first), [p]);
  }
  assertEquals(attributeValue({ type: 2, value: Uint8Array.of(0, 1, 0x51, 0x80) }), 86400);
});

function notifyOf(b: Uint8Array, first: number, doi = 1): number | undefined {
  try {
    decodeIsakmpPayloads(b, first, { doi });
  } catch (e) {
    assert(e instanceof WireError, String(e));
    assert(e.reaction.action === "notify");
    return e.reaction.notifyType;
  }
  return undefined;
}

Deno.test("ISAKMP: malformed inputs are Notify-reaction errors", () => {
  const sa = RACOON2_SA;
  const m = (f: (b: Uint8Array) => void) => {
    const b = sa.slice();
    f(b);
    return b;
  };
  assertEquals(notifyOf(sa, 1), undefined);
  assertEquals(notifyOf(sa, 1, 2), NotifyType.PAYLOAD_MALFORMED); // DOI mismatch
  assertEquals(notifyOf(m((b) => (b[11] = 2)), 1), NotifyType.PAYLOAD_MALFORMED); // situation
  assertEquals(notifyOf(m((b) => (b[15] = 0x41)), 1), NotifyType.PAYLOAD_MALFORMED); // prop length
  assertEquals(notifyOf(m((b) => (b[19] = 3)), 1), NotifyType.PAYLOAD_MALFORMED); // #transforms
  assertEquals(notifyOf(m((b) => (b[24] = 2)), 1), NotifyType.PAYLOAD_MALFORMED); // transform next
  assertEquals(notifyOf(m((b) => (b[3] = 0x4b)), 1), NotifyType.PAYLOAD_MALFORMED); // SA length
  assertEquals(notifyOf(sa.subarray(0, 50), 1), NotifyType.PAYLOAD_MALFORMED);
  assertEquals(notifyOf(sa, 8), NotifyType.INVALID_PAYLOAD_TYPE);
  assertEquals(notifyOf(sa, 2), NotifyType.PAYLOAD_MALFORMED);
  // ID type 2 (FQDN) is not allowed in KINK
  const id = encodeIsakmpPayloads([ALL[3]!]).bytes.slice();
  id[4] = IdType.FQDN;
  assertEquals(notifyOf(id, 5), NotifyType.PAYLOAD_MALFORMED);
  // TLV attribute length running past the transform
  const tlv = encodeIsakmpPayloads([ALL[0]!]).bytes.slice();
  const i = tlv.indexOf(0x51) - 6; // TLV header of the first duration
  tlv[i + 2] = 0x40;
  assertEquals(notifyOf(tlv, 1), NotifyType.PAYLOAD_MALFORMED);
});
