/**
 * PFS end to end in the keying layer: both sides run Diffie-Hellman (groups
 * 14 and 19) over their KE values, choose a proposal with the matching
 * Group Description, and key an AH+ESP bundle with the shared secret first
 * in the KEYMAT seed (RFC 4430 §7, RFC 2409 §5.5). The keys are checked
 * against KEYMAT composed independently from RFC 3961/3962 on @noble/*
 * (tests/unit/crypto/reference.ts) over the seed g^xy ‖ protocol ‖ SPI ‖
 * Ni ‖ Nr, split per RFC 4301 §4.5.2.
 */
import { assertEquals } from "../crypto/assert.ts";
import nodeAssert from "node:assert/strict";
import { generateDh, Key } from "../../../core/crypto/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { AhTransformId, EspTransformId, ProtocolId } from "../../../core/wire/mod.ts";
import {
  acceptReply,
  buildProposals,
  chooseProposal,
  keyQuickMode,
  pfsGroup,
  type ProposalOffer,
  replyProposals,
  saConfigsFor,
  withResponderSpis,
} from "../../../core/ipsec/mod.ts";
import { be32, cat, noble, RefKerberos } from "../crypto/reference.ts";

const ref = new RefKerberos(noble);

function offer(group: number): ProposalOffer[] {
  const common = { mode: "tunnel" as const, lifetime: { seconds: 600 }, esn: false, group };
  return [{
    protocols: [
      {
        protocol: ProtocolId.AH,
        transforms: [{ id: AhTransformId.AH_SHA2_256, authAlgorithm: 5, ...common }],
      },
      {
        protocol: ProtocolId.ESP,
        transforms: [{ id: EspTransformId.ESP_AES_GCM_16, keyBits: 256, ...common }],
      },
    ],
  }];
}

for (const group of [14, 19]) {
  Deno.test(`PFS group ${group}: both sides derive the same AH+ESP bundle keys, equal to an independent KEYMAT over g^xy ‖ seed`, () => {
    const rnd = new SeededRandom(group);
    const sessionBytes = rnd.fill(new Uint8Array(32));
    const session = Key.fromBytes(18, sessionBytes);
    const ni = rnd.fill(new Uint8Array(16));
    const nr = rnd.fill(new Uint8Array(16));
    const dhI = generateDh(group, rnd);
    const dhR = generateDh(group, rnd);

    const sent = buildProposals(offer(group), { ah: 0x1111, esp: 0x2222 });
    const choice = withResponderSpis(chooseProposal(sent, offer(group)), {
      ah: 0x3333,
      esp: 0x4444,
    });
    assertEquals(pfsGroup(choice), group);
    const accepted = acceptReply(sent, replyProposals(choice));
    nodeAssert.ok(accepted.optimistic);

    const gxyI = dhI.computeSecret(dhR.publicValue);
    const gxyR = dhR.computeSecret(dhI.publicValue);
    assertEquals(toHex(gxyI), toHex(gxyR));
    const common = {
      initiator: "192.0.2.1",
      responder: "192.0.2.2",
      ni,
      nr,
      prf: "racoon2" as const,
    };
    const atI = keyQuickMode({ ...common, sas: accepted.sas, dhSecret: gxyI, sessionKey: session });
    const atR = keyQuickMode({ ...common, sas: choice.sas, dhSecret: gxyR, sessionKey: session });
    assertEquals(atI.length, 4);
    for (let k = 0; k < 4; k++) {
      assertEquals(atI[k]!.config, atR[k]!.config);
    }
    for (const s of atI) {
      const seed = cat(gxyI, new Uint8Array([s.protocol]), be32(s.spi), ni, nr);
      const want = ref.keymat(18, sessionBytes, seed, s.keymatLength, "racoon2");
      const c = s.config!;
      if (s.protocol === ProtocolId.AH) {
        assertEquals(toHex(c.auth!.key), toHex(want));
        assertEquals([c.proto, c.auth!.name, c.auth!.truncBits], ["ah", "hmac(sha256)", 128]);
      } else {
        assertEquals(toHex(c.aead!.key), toHex(want)); // AES-256 key ‖ 4-octet salt
        assertEquals([c.proto, c.aead!.icvBits, c.mode], ["esp", 128, "tunnel"]);
      }
      assertEquals(c.lifetime?.hardAddSeconds, 600);
    }
    const { inbound, outbound } = saConfigsFor(atI, "initiator");
    assertEquals(inbound.map((c) => c.spi), [0x1111, 0x2222]);
    assertEquals(outbound.map((c) => c.spi), [0x3333, 0x4444]);
    // Without the DH secret every key differs.
    const noPfs = keyQuickMode({ ...common, sas: accepted.sas, sessionKey: session });
    nodeAssert.notEqual(toHex(noPfs[3]!.config!.aead!.key), toHex(atI[3]!.config!.aead!.key));
    dhI.dispose();
    dhR.dispose();
    session.dispose();
  });
}

Deno.test("the responder refuses a proposal whose Group Description differs from its policy's", () => {
  const sent = buildProposals(offer(14), { ah: 1000, esp: 1001 });
  nodeAssert.throws(() => chooseProposal(sent, offer(19)), /no proposal matches/);
});
