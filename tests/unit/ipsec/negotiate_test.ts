/**
 * The responder's choice and the initiator's check beyond racoon2's cases
 * (tests/unit/ipsec/racoon2_test.ts): RFC 2408 §4.2 preference order, AH+ESP
 * bundles as one proposal number, lifetimes only lowered (A-9, also when a
 * limit is added), SPIs a peer may not use (RFC 4303 §2.1), and local offers
 * the kernel interface cannot install.
 */
import { assertEquals, assertThrows } from "../crypto/assert.ts";
import {
  acceptReply,
  buildProposals,
  chooseProposal,
  IpsecError,
  type ProposalOffer,
  replyProposals,
  type TransformSpec,
  withResponderSpis,
} from "../../../core/ipsec/mod.ts";
import { spiBytes } from "../../../core/wire/mod.ts";

const t = (id: number, extra: Partial<TransformSpec> = {}): TransformSpec => ({
  id,
  mode: "transport",
  lifetime: {},
  esn: false,
  ...extra,
});
const gcm = t(20, { keyBits: 256, lifetime: { seconds: 7200 } });
const cbc = t(12, { keyBits: 128, authAlgorithm: 5, lifetime: { seconds: 7200 } });
const ahSha = t(3, { authAlgorithm: 2 });
const des = t(3, { authAlgorithm: 2 });

const initiator: ProposalOffer[] = [
  { protocols: [{ protocol: 2, transforms: [ahSha] }, { protocol: 3, transforms: [gcm, cbc] }] },
  { protocols: [{ protocol: 3, transforms: [cbc, des] }] },
];
const sent = buildProposals(initiator, { esp: 0x10000, ah: 0x20000 });

Deno.test("proposals: a bundle is one proposal number; numbering and SPIs per protocol", () => {
  assertEquals(sent.map((p) => [p.number, p.protocol, p.transforms.length]), [
    [1, 2, 1],
    [1, 3, 2],
    [2, 3, 2],
  ]);
  assertEquals([...sent[0]!.spi], [...spiBytes(0x20000)]);
});

Deno.test("responder: first acceptable proposal in the initiator's order; optimistic only for first proposal and transforms", () => {
  const both = chooseProposal(sent, [
    { protocols: [{ protocol: 3, transforms: [cbc] }] },
    { protocols: [{ protocol: 3, transforms: [gcm] }, { protocol: 2, transforms: [ahSha] }] },
  ]);
  assertEquals([both.number, both.optimistic, both.sas.map((s) => s.protocol)], [1, true, [2, 3]]);
  const second = chooseProposal(sent, [{
    protocols: [{ protocol: 2, transforms: [ahSha] }, { protocol: 3, transforms: [cbc] }],
  }]);
  assertEquals([second.number, second.optimistic, second.sas[1]!.transformNumber], [1, false, 2]);
  const espOnly = chooseProposal(sent, [{ protocols: [{ protocol: 3, transforms: [des] }] }]);
  assertEquals([espOnly.number, espOnly.optimistic, espOnly.sas[0]!.transform.id], [2, false, 3]);
  const e = assertThrows(
    () => chooseProposal(sent, [{ protocols: [{ protocol: 2, transforms: [ahSha] }] }]),
    IpsecError,
  );
  assertEquals([e.category, e.notifyType], ["no-proposal-chosen", 14]);
});

Deno.test("lifetimes: the responder lowers to its own (adding a kilobyte limit), the initiator accepts lower and refuses higher", () => {
  const mine = { ...gcm, lifetime: { seconds: 600, kilobytes: 1000 } };
  const c = chooseProposal(sent, [{
    protocols: [{ protocol: 2, transforms: [{ ...ahSha, lifetime: { seconds: 100000 } }] }, {
      protocol: 3,
      transforms: [mine],
    }],
  }]);
  // AH: the offer had no lifetime (RFC 2407's 28,800 s), the responder's is higher: 28,800 s.
  assertEquals(c.sas.map((s) => s.transform.lifetime), [{ seconds: 28800 }, {
    seconds: 600,
    kilobytes: 1000,
  }]);
  assertEquals(c.optimistic, true);
  const reply = replyProposals(withResponderSpis(c, { ah: 0x30000, esp: 0x40000 }));
  const ok = acceptReply(sent, reply);
  assertEquals([ok.optimistic, ok.sas[1]!.responderSpi, ok.sas[1]!.transform.lifetime], [
    true,
    0x40000,
    { seconds: 600, kilobytes: 1000 },
  ]);
  const higher = replyProposals(
    withResponderSpis({
      ...c,
      sas: [c.sas[0]!, { ...c.sas[1]!, transform: { ...gcm, lifetime: { seconds: 9000 } } }],
    }, {
      ah: 0x30000,
      esp: 0x40000,
    }),
  );
  assertEquals(
    assertThrows(() => acceptReply(sent, higher), IpsecError).category,
    "no-proposal-chosen",
  );
  // Dropping a limit the offer had (seconds) is raising it to "none".
  const dropped = replyProposals(
    withResponderSpis({
      ...c,
      sas: [c.sas[0]!, { ...c.sas[1]!, transform: { ...gcm, lifetime: { kilobytes: 5 } } }],
    }, {
      ah: 0x30000,
      esp: 0x40000,
    }),
  );
  assertEquals(
    assertThrows(() => acceptReply(sent, dropped), IpsecError).category,
    "no-proposal-chosen",
  );
});

Deno.test("SPIs a peer may not use: reserved 1..255 and wrong sizes get INVALID-SPI", () => {
  const bad = sent.map((p) => ({ ...p, spi: spiBytes(255) }));
  const e = assertThrows(() => chooseProposal(bad, initiator), IpsecError, "reserved SPI 255");
  assertEquals([e.category, e.notifyType], ["invalid-spi", 11]);
  const c = chooseProposal(sent, initiator);
  const reply = replyProposals(withResponderSpis(c, { ah: 0x30000, esp: 0x40000 }));
  const shortSpi = reply.map((p) => ({ ...p, spi: new Uint8Array(2) }));
  assertEquals(assertThrows(() => acceptReply(sent, shortSpi), IpsecError).category, "invalid-spi");
});

Deno.test("local offers the kernel interface cannot install are refused as configuration errors", () => {
  const md5: ProposalOffer[] = [{
    protocols: [{ protocol: 3, transforms: [t(12, { keyBits: 128, authAlgorithm: 1 })] }],
  }];
  const e = assertThrows(() => buildProposals(md5, { esp: 0x1000 }), IpsecError, "hmac(md5)");
  assertEquals(e.category, "invalid-argument");
  assertThrows(() => chooseProposal(sent, md5), IpsecError, "hmac(md5)");
  assertThrows(
    () => buildProposals(initiator, { esp: 0x1000 }),
    IpsecError,
    "no valid SPI for protocol 2",
  );
});
