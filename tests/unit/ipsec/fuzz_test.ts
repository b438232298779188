/**
 * Random and mutated proposals into the negotiation functions a responder
 * and an initiator run on peer input (chooseProposal, acceptReply,
 * optimisticProposal, transformSpec, keyLayout): each call returns or throws
 * an IpsecError — never an untyped error — and anything chosen can be keyed.
 */
import nodeAssert from "node:assert/strict";
import { SeededRandom } from "../../../core/util/random.ts";
import type { Proposal, SaAttribute } from "../../../core/wire/mod.ts";
import {
  acceptReply,
  buildProposals,
  chooseProposal,
  IpsecError,
  keyLayout,
  optimisticProposal,
  type ProposalOffer,
  transformSpec,
} from "../../../core/ipsec/mod.ts";

const local: ProposalOffer[] = [
  {
    protocols: [{
      protocol: 3,
      transforms: [
        {
          id: 12,
          keyBits: 128,
          authAlgorithm: 2,
          mode: "transport",
          lifetime: { seconds: 3600 },
          esn: false,
        },
        { id: 20, keyBits: 256, mode: "tunnel", lifetime: {}, esn: true },
      ],
    }],
  },
  {
    protocols: [
      {
        protocol: 2,
        transforms: [{ id: 3, authAlgorithm: 2, mode: "transport", lifetime: {}, esn: false }],
      },
      {
        protocol: 3,
        transforms: [{ id: 3, authAlgorithm: 2, mode: "transport", lifetime: {}, esn: false }],
      },
    ],
  },
];

Deno.test("fuzz: 10,000 random and mutated proposals give only IpsecErrors, and every choice can be keyed", () => {
  const r = new SeededRandom(4430);
  const int = (lo: number, hi: number) => lo + (r.nextUint32() % (hi - lo + 1));
  const valid = buildProposals(local, { esp: 0x1234, ah: 0x5678 });
  const attr = (): SaAttribute =>
    int(0, 9) === 0 ? { type: int(0, 12), value: r.fill(new Uint8Array(int(0, 9))) } : {
      type: [1, 2, 3, 4, 5, 6, 11, int(0, 40)][int(0, 7)]!,
      value: int(0, 3) === 0 ? int(0, 0xffff) : int(0, 8),
    };
  const randomProposals = (): Proposal[] => {
    const n = int(0, 4);
    return Array.from({ length: n }, () => ({
      number: int(0, 3),
      protocol: int(0, 5),
      spi: r.fill(new Uint8Array([4, 4, 4, 2, 0, 8][int(0, 5)]!)),
      transforms: Array.from({ length: int(0, 3) }, () => ({
        number: int(0, 3),
        id: [3, 11, 12, 18, 20, 2, 3, 5, int(0, 255)][int(0, 8)]!,
        attributes: Array.from({ length: int(0, 6) }, attr),
      })),
    }));
  };
  const mutate = (ps: Proposal[]): Proposal[] =>
    ps.map((p) => ({
      ...p,
      ...(int(0, 4) === 0 ? { number: int(0, 3) } : {}),
      ...(int(0, 6) === 0 ? { spi: new Uint8Array(int(0, 5)) } : {}),
      transforms: p.transforms.map((t) => ({
        ...t,
        attributes: int(0, 2) === 0
          ? t.attributes.map((a) => (int(0, 3) === 0 ? attr() : a))
          : [...t.attributes, ...(int(0, 3) === 0 ? [attr()] : [])],
      })),
    }));
  let chosen = 0;
  const typed = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof IpsecError)) throw e;
    }
  };
  for (let i = 0; i < 10_000; i++) {
    const ps = i % 2 ? randomProposals() : mutate(valid);
    typed(() => {
      const c = chooseProposal(ps, local);
      for (const s of c.sas) keyLayout(s.protocol, s.transform);
      chosen++;
    });
    typed(() => acceptReply(valid, ps));
    typed(() => optimisticProposal(ps));
    for (const p of ps) {
      for (const t of p.transforms) {
        typed(() => keyLayout(p.protocol, transformSpec(p.protocol, t)));
      }
    }
  }
  nodeAssert.ok(chosen > 500, `only ${chosen} inputs led to a choice`);
});
