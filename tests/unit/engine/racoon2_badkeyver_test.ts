/**
 * racoon2's capture, scenario 6 (tests/fixtures/racoon2/README): B's key was changed at the KDC
 * (kvno 4) while B's keytab kept kvno 3, and kinkd's A sent its CREATE again and again with a kvno 4
 * ticket; kinkd's B (MIT's krb5_rd_req) answered each copy with a lone, unauthenticated
 * KRB_AP_ERR_BADKEYVER. Our responder, as B with the same keytab, must answer each copy the same
 * way and install nothing.
 */
import assert from "node:assert/strict";
import { kinkDatagrams, racoon2Path } from "../wire/capture.ts";
import { decodeApReq, decodeKrbError, ErrorCode, readKeytab } from "../../../core/kerberos/mod.ts";
import { decodeKinkMessage } from "../../../core/wire/mod.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { Engine, type EngineEvent } from "../../../core/engine/mod.ts";

const D = kinkDatagrams();
const KEYS_B = readKeytab(Deno.readFileSync(racoon2Path("B.keytab"))).map((e) => ({
  principal: e.principal,
  kvno: e.kvno,
  enctype: e.enctype,
  key: e.key,
}));

/** The ticket kvno of a datagram's AP-REQ, if it has one. */
function ticketKvno(data: Uint8Array): number | undefined {
  const p = decodeKinkMessage(data).message.payloads.find((x) => x.kind === "ap-req");
  return p?.kind === "ap-req" ? decodeApReq(p.apReq).ticket.encPart.kvno : undefined;
}

/** The lone KRB-ERROR code of a REPLY, and its CksumLen. */
function loneKrbError(data: Uint8Array): { code: number; cksumLen: number; xid: number } {
  const { header, message } = decodeKinkMessage(data);
  assert.deepEqual(message.payloads.map((p) => p.kind), ["krb-error"]);
  const p = message.payloads[0]!;
  assert.ok(p.kind === "krb-error");
  return {
    code: decodeKrbError(p.krbError).errorCode,
    cksumLen: header.cksumLen,
    xid: message.xid,
  };
}

Deno.test("racoon2 → our responder: CREATEs with a ticket for a kvno B's keytab lacks get kinkd's answer — a lone KRB_AP_ERR_BADKEYVER each, nothing installed", () => {
  const creates = D.filter((d) =>
    d.dstPort === 910 && d.payload[0] === 1 && ticketKvno(d.payload) === 4
  );
  // t = 0, 1, 3, 7 s (the capture ends before the fifth copy at 15 s).
  assert.equal(creates.length, 4, "copies of kinkd's CREATE in the capture");
  // kinkd's B answered each copy: lone KRB_ERROR 44, no Cksum, the CREATE's XID.
  const theirs = D.filter((d) =>
    d.srcPort === 910 && d.src === creates[0]!.dst && d.payload[0] === 3
  )
    .filter((d) => loneKrbErrorOrUndefined(d.payload) !== undefined)
    .map((d) => loneKrbError(d.payload));
  assert.equal(theirs.length, 4);

  const engine = new Engine({
    identity: { principal: "kink/b.kink.test@KINK.TEST", serviceKeys: KEYS_B },
    epoch: 1795739940,
    peers: [{
      name: "a",
      address: "10.77.0.1",
      localAddress: "10.77.0.2",
      principal: "kink/a.kink.test@KINK.TEST",
      proposals: [{
        protocols: [{
          protocol: "esp",
          transforms: [{ id: 12, keyBits: 128, authAlgorithm: 2 }, { id: 3, authAlgorithm: 2 }],
        }],
      }],
      mode: "transport",
    }],
    firstStart: true,
  }, { random: new SeededRandom(44) });
  const sent: Uint8Array[] = [];
  const events: EngineEvent[] = [];
  let kernelOps = 0;
  const deliver = (data: Uint8Array, at: number) => {
    engine.handleDatagram(at, {
      data,
      remote: { address: "10.77.0.1", port: 910 },
      local: { address: "10.77.0.2", port: 910 },
    });
    for (let o = engine.poll(); o; o = engine.poll()) {
      if (o.kind === "send") sent.push(o.data);
      else if (o.kind === "event") events.push(o.event);
      else kernelOps++;
    }
  };
  for (const d of creates) deliver(d.payload, Math.round(d.time * 1000));
  const ours = sent.map(loneKrbError);
  assert.deepEqual(ours, theirs, "our answers equal kinkd's B's: code, CksumLen 0, XID");
  assert.ok(ours.every((a) => a.code === ErrorCode.KRB_AP_ERR_BADKEYVER && a.cksumLen === 0));
  assert.equal(kernelOps, 0, "no SPI allocated, no SA installed");
  assert.ok(!events.some((e) => e.type === "sa-up"));
});

function loneKrbErrorOrUndefined(data: Uint8Array): number | undefined {
  try {
    const { message } = decodeKinkMessage(data);
    const p = message.payloads[0];
    return message.payloads.length === 1 && p?.kind === "krb-error"
      ? decodeKrbError(p.krbError).errorCode
      : undefined;
  } catch {
    return undefined;
  }
}
