/**
 * The initiator's reactions to Kerberos errors in a REPLY (RFC 4430 §3.5,
 * the project digest §10), between two engines and the in-test KDC whose
 * tickets are real (DER, encrypted under the service keys): the responder's
 * KerberosService produces the errors from what it really received, except
 * KRB_AP_ERR_REPEAT, which our responder never sends (it answers a replay
 * with silence, as kinkd does) and a peer with another replay policy may —
 * that one is made by kink's KerberosService and delivered in the peer's
 * place.
 */
import assert from "node:assert/strict";
import { ESP_AES_3DES, type Gateway, Net, sas } from "./harness.ts";
import type { EngineEvent } from "../../../core/engine/mod.ts";
import {
  ApError,
  decodeApReq,
  ErrorCode,
  KerberosService,
  parsePrincipal,
  ReplayCache,
} from "../../../core/kerberos/mod.ts";
import { buildErrorReply } from "../../../core/wire/mod.ts";
import { decodeKinkMessage } from "../../../core/wire/kink.ts";
import { Key } from "../../../core/crypto/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";

function two(net: Net): [Gateway, Gateway] {
  const base = { proposals: ESP_AES_3DES, mode: "transport" as const };
  const a = net.add("a", "10.77.0.1", [{
    name: "b",
    address: "10.77.0.2",
    principal: "kink/b.kink.test@KINK.TEST",
    ...base,
  }]);
  const b = net.add("b", "10.77.0.2", [{
    name: "a",
    address: "10.77.0.1",
    principal: "kink/a.kink.test@KINK.TEST",
    ...base,
  }]);
  return [a, b];
}

function of<T extends EngineEvent["type"]>(
  g: Gateway,
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return g.events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
}

const creates = (g: Gateway) => g.sent.filter((d) => d[0] === 1);
const xidOf = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset).getUint32(8);

function apReqOf(d: Uint8Array) {
  const p = decodeKinkMessage(d).message.payloads[0]!;
  assert.equal(p.kind, "ap-req");
  return decodeApReq((p as { apReq: Uint8Array }).apReq);
}

Deno.test("engine KRB_AP_ERR_TKT_EXPIRED: a fresh ticket and a new transaction, then the SA pair", async () => {
  const net = new Net(81);
  const [a, b] = two(net);
  // The first ticket handed to A ended an hour ago (a stale cache entry).
  net.backdateNextTicketMs = 11 * 3600_000;
  a.engine.command(net.now, { kind: "up", peer: "b" });
  await net.run(net.now + 10_000);
  assert.equal(b.engine.status().counters[`ap-error-${ErrorCode.KRB_AP_ERR_TKT_EXPIRED}`], 1);
  const reqs = net.ticketRequests.filter((r) => r.gateway === "a");
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0]!.request.fresh, undefined);
  assert.equal(reqs[1]!.request.fresh, true, "the second ticket bypasses any cache");
  const c = creates(a);
  assert.equal(c.length, 2, "one CREATE per transaction, no retransmission");
  assert.notEqual(xidOf(c[0]!), xidOf(c[1]!), "a new transaction (new XID)");
  assert.notDeepEqual(
    apReqOf(c[1]!).ticket.encPart.cipher,
    apReqOf(c[0]!).ticket.encPart.cipher,
    "the new transaction uses the new ticket",
  );
  assert.equal(of(a, "sa-up").length, 1);
  assert.equal(of(a, "exchange-failed").length, 0);
  assert.equal((await sas(b.kernel)).length, 2);
  await net.close();
});

for (
  const [name, code, enctype, kvno, why] of [
    ["NOKEY", ErrorCode.KRB_AP_ERR_NOKEY, 17, 3, "an aes128 key B's keytab lacks"],
    ["BADKEYVER", ErrorCode.KRB_AP_ERR_BADKEYVER, 18, 9, "a key version B's keytab lacks"],
  ] as const
) {
  Deno.test(`engine KRB_AP_ERR_${name} (the KDC uses ${why}): unauthenticated, so each CREATE retransmits to the end; then one fresh ticket, then a per-peer failure (no endless retries)`, async () => {
    const net = new Net(82);
    const [a, b] = two(net);
    // The KDC encrypts every ticket for B with a key B does not hold: B decrypts none of them.
    net.office.setServiceKey(
      "kink/b.kink.test@KINK.TEST",
      Key.random(enctype, new SeededRandom(5)),
      kvno,
    );
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 120_000);
    const c = creates(a);
    // Every CREATE refused; the error has no Cksum (B cannot read the ticket), so A
    // keeps retransmitting each transaction and takes the hint only at its end.
    assert.equal(b.engine.status().counters[`ap-error-${code}`], c.length);
    const reqs = net.ticketRequests.filter((r) => r.gateway === "a").map((r) => r.request.fresh);
    assert.deepEqual(reqs, [undefined, true], "exactly one fresh ticket");
    const xids = [...new Set(c.map(xidOf))];
    assert.equal(xids.length, 2, "two transactions");
    const tries = c.filter((d) => xidOf(d) === xids[0]).length;
    assert.ok(tries > 1, "the first transaction was retransmitted before the hint was taken");
    assert.equal(c.filter((d) => xidOf(d) === xids[1]).length, tries);
    const f = of(a, "exchange-failed");
    assert.equal(f.length, 1);
    assert.equal(f[0]!.peer, "b");
    assert.equal(f[0]!.reason, "krb-error");
    assert.match(f[0]!.detail, new RegExp(`KRB_AP_ERR_${name}.*also with a fresh ticket`));
    const st = a.engine.status().peers.find((p) => p.name === "b")!;
    assert.equal(st.lastFailure?.reason, "krb-error");
    assert.equal(st.transactions, 0);
    assert.deepEqual(await sas(a.kernel), [], "the optimistic inbound SAs were removed");
    assert.equal(of(a, "sa-up").length, 0);
    await net.close();
  });
}

Deno.test("engine KRB_AP_ERR_REPEAT: the CREATE goes again at once with a new authenticator (same XID and ticket)", async () => {
  const net = new Net(83);
  const [a, b] = two(net);
  let held: Uint8Array | undefined;
  net.tap = (from, _to, data) => {
    if (from === "10.77.0.1" && data[0] === 1 && !held) {
      held = data;
      return undefined; // the peer answers this one with REPEAT instead (below)
    }
    return data;
  };
  const t0 = net.now;
  a.engine.command(t0, { kind: "up", peer: "b" });
  await net.run(t0 + 10); // the CREATE reaches the tap (5 ms one-way)
  assert.ok(held);
  // The peer's KRB-ERROR, made by kink's KerberosService for B's principal.
  const svc = new KerberosService({
    keys: [],
    principal: parsePrincipal("kink/b.kink.test@KINK.TEST"),
    replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => net.now }),
    now: () => net.now,
  });
  net.now += 20;
  a.engine.handleDatagram(net.now, {
    data: buildErrorReply({
      xid: xidOf(held),
      krbError: svc.makeKrbError(new ApError(ErrorCode.KRB_AP_ERR_REPEAT, "replay", {})),
    }),
    remote: { address: "10.77.0.2", port: 910 },
  });
  const at = net.now;
  await net.run(net.now + 5_000);
  const c = creates(a);
  assert.equal(c.length, 2);
  assert.equal(a.sentAt[a.sent.indexOf(c[1]!)], at, "at once, not at the 1 s retransmission");
  assert.equal(xidOf(c[1]!), xidOf(c[0]!), "same transaction");
  const ap = apReqOf;
  assert.deepEqual(ap(c[1]!).ticket.encPart.cipher, ap(c[0]!).ticket.encPart.cipher, "same ticket");
  assert.notDeepEqual(ap(c[1]!).authenticator.cipher, ap(c[0]!).authenticator.cipher);
  // B accepted the new authenticator (its replay cache would refuse a repeated one).
  assert.equal(of(a, "sa-up").length, 1);
  assert.equal(of(b, "sa-up").length, 1);
  assert.equal(net.ticketRequests.filter((r) => r.gateway === "a").length, 1, "no new ticket");
  await net.close();
});

for (
  const [name, code] of [
    ["TKT_EXPIRED", ErrorCode.KRB_AP_ERR_TKT_EXPIRED],
    ["USER_TO_USER_REQUIRED", ErrorCode.KRB_AP_ERR_USER_TO_USER_REQUIRED],
  ] as const
) {
  Deno.test(`engine: a forged unauthenticated KRB_AP_ERR_${name} while every REPLY is lost is acted on only after the retransmissions, and the responder's SAs of the abandoned XID are DELETEd (no orphan pair)`, async () => {
    const net = new Net(84);
    const [a, b] = two(net);
    // B's REPLYs to the first CREATE never arrive (an attacker drops them and forges an error).
    let first: number | undefined;
    net.tap = (from, _to, data) => {
      if (from === "10.77.0.1" && data[0] === 1 && first === undefined) first = xidOf(data);
      if (from === "10.77.0.2" && data[0] === 3 && xidOf(data) === first) return undefined;
      return data;
    };
    a.engine.command(net.now, { kind: "up", peer: "b" });
    await net.run(net.now + 50);
    assert.ok(first !== undefined);
    assert.equal((await sas(b.kernel)).length, 2, "B answered the CREATE and holds its pair");
    const svc = new KerberosService({
      keys: [],
      principal: parsePrincipal("kink/b.kink.test@KINK.TEST"),
      replayCache: ReplayCache.open({ skewMs: 300_000, firstStart: true, now: () => net.now }),
      now: () => net.now,
    });
    a.engine.handleDatagram(net.now, {
      data: buildErrorReply({
        xid: first,
        krbError: svc.makeKrbError(new ApError(code, "forged", {})),
      }),
      remote: { address: "10.77.0.2", port: 910 },
    });
    await net.run(net.now + 1_000);
    assert.equal(net.ticketRequests.filter((r) => r.gateway === "a").length, 1, "acted at once");
    assert.ok(creates(a).every((d) => xidOf(d) === first), "a new XID at once");
    await net.run(net.now + 120_000);
    // Retransmissions exhausted: the hint was taken (a fresh ticket; for U2U the peer's
    // TGT first), a new XID completed, and B's pair of the first XID was DELETEd.
    const xids = [...new Set(creates(a).map(xidOf))];
    assert.equal(xids.length, 2);
    assert.ok(creates(a).filter((d) => xidOf(d) === first).length > 1, "retransmitted first");
    // (B does no user-to-user: after a forged U2U hint, A's GETTGT is refused with
    // KINK_U2UDENIED and A falls back to a service ticket — a GETTGT failure, not a CREATE's.)
    assert.deepEqual(of(a, "exchange-failed").filter((e) => e.command === "CREATE"), []);
    assert.equal(of(a, "sa-up").length, 1);
    const ina = (await sas(a.kernel)).map((s) => s.spi).sort();
    const inb = (await sas(b.kernel)).map((s) => s.spi).sort();
    assert.equal(inb.length, 2, `B holds ${inb.length} SAs (an orphan pair?)`);
    assert.deepEqual(ina, inb, "A and B hold the same SAs");
    assert.equal(b.engine.status().saPairs.length, 1);
    await net.close();
  });
}
