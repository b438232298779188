/**
 * RFC 4430 §4.2.4: the TGT a GETTGT returns "MUST NOT be cross-realm". The
 * initiator checks the ticket in KINK_TGT_REP before asking its KDC for a
 * user-to-user ticket: a TGT of the peer's realm for another realm
 * (krbtgt/OTHER@PEER-REALM) or of another realm is refused, and no ticket is
 * requested with it. The REPLY to GETTGT is unauthenticated, so an attacker
 * on the path can substitute its content; here the network does.
 */
import assert from "node:assert/strict";
import { ESP_AES_3DES, type Gateway, Net } from "./harness.ts";
import type { PeerConfig } from "../../../core/engine/mod.ts";
import { buildTgtReply, decodeKinkMessage } from "../../../core/wire/mod.ts";
import { encodeTicket } from "../../../core/kerberos/mod.ts";

function u2uPair(net: Net): [Gateway, Gateway] {
  const peer = (name: string, address: string): PeerConfig => ({
    name,
    address,
    localAddress: "",
    principal: `kink/${name}.kink.test@KINK.TEST`,
    proposals: ESP_AES_3DES,
    mode: "transport",
  });
  const a = net.add("a", "10.77.0.1", [{ ...peer("b", "10.77.0.2"), userToUser: true }]);
  const b = net.add("b", "10.77.0.2", [peer("a", "10.77.0.1")], { tgtOnly: true });
  return [a, b];
}

for (
  const [what, server] of [
    ["a cross-realm TGT of the peer's realm", "krbtgt/OTHER.TEST@KINK.TEST"],
    ["a TGT of another realm", "krbtgt/OTHER.TEST@OTHER.TEST"],
  ] as const
) {
  Deno.test(`engine GETTGT: ${what} in KINK_TGT_REP is refused (RFC 4430 §4.2.4)`, async () => {
    const net = new Net(41);
    const [a] = u2uPair(net);
    net.office.addService(server);
    let substituted = 0;
    net.tap = (from, _to, data) => {
      if (from !== "10.77.0.2" || data[0] !== 3) return data;
      const { message } = decodeKinkMessage(data);
      if (!message.payloads.some((p) => p.kind === "tgt-rep")) return data;
      const forged = net.office.issue("kink/b.kink.test@KINK.TEST", server, net.now);
      substituted++;
      return buildTgtReply({
        xid: message.xid,
        tgt: forged.ticket.raw ?? encodeTicket(forged.ticket),
      });
    };
    const issuedBefore = net.office.count;
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 5_000);
    assert.ok(substituted >= 1, "no TGT_REP went by");
    const refused = a.events.find((e) =>
      e.type === "exchange-failed" && e.command === "GETTGT" && e.reason === "protocol"
    );
    assert.ok(refused, JSON.stringify(a.events.map((e) => e.type)));
    // No user-to-user ticket was asked for with the forged TGT, and nothing was keyed.
    assert.equal(net.office.count - issuedBefore, substituted);
    assert.equal(a.engine.status().saPairs.length, 0);
    await net.close();
  });
}
