/**
 * Real traffic: every Kerberos message in the racoon2 capture (KDC
 * exchanges on port 88 and the AP-REQ/AP-REP/KRB-ERROR inside KINK
 * messages) decodes, and re-encodes to the same octets.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { decrypt, Key } from "../../../core/crypto/mod.ts";
import { ErrorCode, KeyUsage, MsgType } from "../../../core/kerberos/iana.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import * as M from "../../../core/kerberos/messages.ts";
import { formatPrincipal } from "../../../core/kerberos/principal.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import { decodeKinkMessage } from "../../../core/wire/kink.ts";
import { extractUdp, readCapture, type UdpDatagram } from "../../../core/wire/pcap.ts";

const pcap = Deno.readFileSync(new URL("../../fixtures/racoon2/kink.pcap", import.meta.url));
const udp = readCapture(pcap).map(extractUdp).filter((d): d is UdpDatagram => "payload" in d);

Deno.test("racoon2: every KDC message on port 88 decodes and re-encodes byte for byte", () => {
  const seen: Record<number, number> = {};
  for (const d of udp.filter((d) => d.srcPort === 88 || d.dstPort === 88)) {
    const b = d.payload;
    const t = M.peekMessageType(b);
    ok(t !== undefined, `frame ${d.frame}`);
    seen[t] = (seen[t] ?? 0) + 1;
    let again: Uint8Array;
    switch (t) {
      case MsgType.AS_REQ:
      case MsgType.TGS_REQ: {
        const m = M.decodeKdcReq(b);
        strictEqual(toHex(M.encodeKdcReqBody(m.reqBody)), toHex(m.reqBodyRaw!), `frame ${d.frame}`);
        delete m.reqBodyRaw;
        again = M.encodeKdcReq(m);
        break;
      }
      case MsgType.AS_REP:
      case MsgType.TGS_REP: {
        const m = M.decodeKdcRep(b);
        ok(
          /^kink\/[ab]\.kink\.test@KINK\.TEST$/.test(
            formatPrincipal({ ...m.cname, realm: m.crealm }),
          ),
        );
        delete m.ticket.raw;
        again = M.encodeKdcRep(m);
        break;
      }
      case MsgType.KRB_ERROR:
        again = M.encodeKrbError(M.decodeKrbError(b));
        break;
      default:
        throw new Error(`frame ${d.frame}: unexpected message type ${t}`);
    }
    strictEqual(toHex(again), toHex(b), `frame ${d.frame}`);
  }
  ok((seen[MsgType.AS_REQ] ?? 0) > 0 && (seen[MsgType.AS_REP] ?? 0) > 0);
  ok((seen[MsgType.TGS_REQ] ?? 0) > 0 && (seen[MsgType.TGS_REP] ?? 0) > 0);
});

Deno.test("racoon2: AS-REP carries PA-ETYPE-INFO2 with the realm salt", () => {
  const rep = udp.find((d) => d.srcPort === 88 && M.peekMessageType(d.payload) === 11)!;
  const m = M.decodeAsRep(rep.payload);
  const pa = m.padata!.find((p) => p.padataType === 19)!;
  const info = M.decodeEtypeInfo2(pa.padataValue);
  strictEqual(info[0]!.etype, 18);
  // MIT's default salt: the realm followed by the client's name components.
  strictEqual(info[0]!.salt, m.crealm + m.cname.components.join(""));
  ok(/^KINK\.TESTkink[ab]\.kink\.test$/.test(info[0]!.salt!));
  strictEqual(toHex(M.encodeEtypeInfo2(info)), toHex(pa.padataValue));
});

Deno.test("racoon2: KINK AP-REQ / AP-REP / KRB-ERROR payloads decode and re-encode", () => {
  const kvnos = new Set<number>();
  let apReqs = 0, apReps = 0, errors = 0;
  for (const d of udp.filter((d) => d.srcPort === 910 || d.dstPort === 910)) {
    const { message } = decodeKinkMessage(d.payload);
    for (const p of message.payloads) {
      if (p.kind === "ap-req") {
        const m = M.decodeApReq(p.apReq);
        apReqs++;
        strictEqual(
          formatPrincipal({ ...m.ticket.sname, realm: m.ticket.realm }),
          "kink/b.kink.test@KINK.TEST",
        );
        strictEqual(m.ticket.encPart.etype, 18);
        strictEqual(m.apOptions, 0x20000000); // mutual-required
        kvnos.add(m.ticket.encPart.kvno!);
        strictEqual(toHex(M.encodeApReq(m)), toHex(p.apReq));
        delete m.ticket.raw;
        strictEqual(toHex(M.encodeApReq(m)), toHex(p.apReq));
      } else if (p.kind === "ap-rep") {
        apReps++;
        strictEqual(toHex(M.encodeApRep(M.decodeApRep(p.apRep))), toHex(p.apRep));
      } else if (p.kind === "krb-error") {
        errors++;
        const e = M.decodeKrbError(p.krbError);
        strictEqual(e.errorCode, ErrorCode.KRB_AP_ERR_BADKEYVER);
        strictEqual(toHex(M.encodeKrbError(e)), toHex(p.krbError));
      }
    }
  }
  ok(apReqs > 0 && apReps > 0 && errors > 0, `${apReqs} ${apReps} ${errors}`);
  // README: tickets at kvno 3, and kvno 4 after the responder's keytab rotation.
  deepStrictEqual([...kvnos].sort(), [3, 4]);
});

Deno.test("racoon2: tickets decrypt with B.keytab; EncTicketPart and Authenticator round-trip", () => {
  const keytab = readKeytab(
    Deno.readFileSync(new URL("../../fixtures/racoon2/B.keytab", import.meta.url)),
  );
  let opened = 0;
  for (const d of udp.filter((d) => d.dstPort === 910)) {
    for (const p of decodeKinkMessage(d.payload).message.payloads) {
      if (p.kind !== "ap-req") continue;
      const m = M.decodeApReq(p.apReq);
      const e = keytab.find((e) =>
        e.kvno === m.ticket.encPart.kvno && e.enctype === m.ticket.encPart.etype
      );
      if (!e) continue; // kvno 4: not in B.keytab by design (README scenario 6)
      const serviceKey = Key.fromBytes(e.enctype, e.key);
      const etpBytes = decrypt(serviceKey, KeyUsage.KDC_REP_TICKET, m.ticket.encPart.cipher);
      const etp = M.decodeEncTicketPart(etpBytes);
      strictEqual(toHex(M.encodeEncTicketPart(etp)), toHex(etpBytes));
      // README: the session key of frames #7–#21.
      strictEqual(
        toHex(etp.key.keyvalue),
        "67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90",
      );
      strictEqual(
        formatPrincipal({ ...etp.cname, realm: etp.crealm }),
        "kink/a.kink.test@KINK.TEST",
      );
      const sessionKey = Key.fromBytes(etp.key.keytype, etp.key.keyvalue);
      const authBytes = decrypt(sessionKey, KeyUsage.AP_REQ_AUTHENTICATOR, m.authenticator.cipher);
      const auth = M.decodeAuthenticator(authBytes);
      strictEqual(toHex(M.encodeAuthenticator(auth)), toHex(authBytes));
      strictEqual(
        formatPrincipal({ ...auth.cname, realm: auth.crealm }),
        "kink/a.kink.test@KINK.TEST",
      );
      ok(auth.ctime.getTime() >= etp.authtime.getTime() && auth.ctime < etp.endtime);
      serviceKey.dispose();
      sessionKey.dispose();
      opened++;
    }
  }
  ok(opened >= 7, `${opened} AP-REQs opened`);
});

Deno.test("racoon2: AP-REP enc-parts decrypt with the session key; EncAPRepPart round-trips", () => {
  const sessionKey = Key.fromBytes(
    18,
    fromHex("67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90"),
  );
  let n = 0;
  for (const d of udp.filter((d) => d.srcPort === 910)) {
    for (const p of decodeKinkMessage(d.payload).message.payloads) {
      if (p.kind !== "ap-rep") continue;
      const rep = M.decodeApRep(p.apRep);
      let plain: Uint8Array;
      try {
        plain = decrypt(sessionKey, KeyUsage.AP_REP_ENC_PART, rep.encPart.cipher);
      } catch {
        continue; // a reply under another session key (a later ticket)
      }
      const part = M.decodeEncApRepPart(plain);
      strictEqual(toHex(M.encodeEncApRepPart(part)), toHex(plain));
      ok(part.cusec >= 0 && part.cusec <= 999999);
      n++;
    }
  }
  sessionKey.dispose();
  ok(n > 0);
});
