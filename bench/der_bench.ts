/**
 * DER decoding speed of a real AP-REQ (the first KINK AP-REQ of the racoon2
 * capture: a ticket for kink/b.kink.test@KINK.TEST, aes256-cts-hmac-sha1-96,
 * 666 octets) and of MIT's reference AP-REQ line.
 *
 * The group baseline is the crypto a responder must do on the same message
 * anyway — decrypting the ticket's enc-part with the service key from
 * B.keytab — so the ratio shows what DER parsing adds on top of it.
 *
 * Run: deno bench --allow-read=. --allow-env=TMPDIR bench/der_bench.ts
 */
import { decrypt, Key } from "../core/crypto/mod.ts";
import { KeyUsage } from "../core/kerberos/iana.ts";
import { findKeytabEntries, readKeytab } from "../core/kerberos/keytab.ts";
import {
  decodeApReq,
  decodeEncTicketPart,
  decodeKdcRep,
  encodeApRep,
  encodeApReq,
  encodeEncApRepPart,
} from "../core/kerberos/messages.ts";
import { fromHex } from "../core/util/bytes.ts";
import { decodeKinkMessage } from "../core/wire/kink.ts";
import { extractUdp, readCapture, type UdpDatagram } from "../core/wire/pcap.ts";
import { keep } from "./keep.ts";

const fixture = (p: string) => new URL(`../tests/fixtures/${p}`, import.meta.url);
const udp = readCapture(Deno.readFileSync(fixture("racoon2/kink.pcap")))
  .map(extractUdp)
  .filter((d): d is UdpDatagram => "payload" in d);

let apReq: Uint8Array | undefined;
for (const d of udp.filter((d) => d.dstPort === 910)) {
  for (const p of decodeKinkMessage(d.payload).message.payloads) {
    if (p.kind === "ap-req" && !apReq) apReq = p.apReq;
  }
}
if (!apReq) throw new Error("no AP-REQ in the racoon2 capture");
const tgsRep = udp.find((d) => d.srcPort === 88 && d.payload[0] === 0x6d)!.payload;
const mitLine = Deno.readTextFileSync(fixture("vectors/mit-asn1/reference_encode.out"))
  .split("\n").find((l) => l.startsWith("encode_krb5_ap_req: "))!;
const mitApReq = fromHex(mitLine.slice(mitLine.indexOf(": ") + 2));

const decoded = decodeApReq(apReq);
const { raw: _raw, ...ticketNoRaw } = decoded.ticket;
const reencode = { ...decoded, ticket: ticketNoRaw };
const apRepTime = new Date(Date.UTC(2026, 10, 27, 0, 40, 0));
const apRepCipher = new Uint8Array(60).fill(7);
const entry = findKeytabEntries(
  readKeytab(Deno.readFileSync(fixture("racoon2/B.keytab"))),
  { nameType: 1, components: decoded.ticket.sname.components, realm: decoded.ticket.realm },
  { kvno: decoded.ticket.encPart.kvno!, enctype: decoded.ticket.encPart.etype },
)[0]!;
const serviceKey = Key.fromBytes(entry.enctype, entry.key);
const encTicketPart = decrypt(serviceKey, KeyUsage.KDC_REP_TICKET, decoded.ticket.encPart.cipher);

Deno.bench({
  name: "crypto only: decrypt the ticket enc-part (aes256-sha1)",
  group: "AP-REQ",
  baseline: true,
  fn: () => {
    keep(decrypt(serviceKey, KeyUsage.KDC_REP_TICKET, decoded.ticket.encPart.cipher));
  },
});
Deno.bench({
  name: `DER decode AP-REQ (racoon2, ${apReq.length} octets)`,
  group: "AP-REQ",
  fn: () => {
    keep(decodeApReq(apReq!).authenticator.cipher);
  },
});
Deno.bench({
  name: `DER decode EncTicketPart (${encTicketPart.length} octets)`,
  group: "AP-REQ",
  fn: () => {
    keep(decodeEncTicketPart(encTicketPart).key.keyvalue);
  },
});
Deno.bench({
  name: `DER decode AP-REQ (MIT reference line, ${mitApReq.length} octets)`,
  group: "AP-REQ",
  fn: () => {
    keep(decodeApReq(mitApReq).authenticator.cipher);
  },
});
Deno.bench({
  name: "DER encode AP-REQ (ticket forwarded raw, as an initiator does)",
  group: "AP-REQ",
  fn: () => {
    keep(encodeApReq(decoded));
  },
});
Deno.bench({
  name: "DER encode AP-REQ (ticket re-encoded field by field)",
  group: "AP-REQ",
  fn: () => {
    keep(encodeApReq(reencode));
  },
});
Deno.bench({
  name: "DER encode EncAPRepPart + AP-REP (a responder's reply)",
  group: "AP-REQ",
  fn: () => {
    keep(encodeEncApRepPart({ ctime: apRepTime, cusec: 123456 }));
    keep(encodeApRep({ pvno: 5, msgType: 15, encPart: { etype: 18, cipher: apRepCipher } }));
  },
});
Deno.bench({
  name: `DER decode TGS-REP (racoon2, ${tgsRep.length} octets)`,
  group: "AP-REQ",
  fn: () => {
    keep(decodeKdcRep(tgsRep).encPart.cipher);
  },
});
