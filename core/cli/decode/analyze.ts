/**
 * The analysis behind `kink decode`: walks a packet capture, decodes every
 * KINK datagram (udp/910), recovers the Kerberos ticket session keys (from
 * the service tickets with the keytabs, or from the KDC exchanges on udp/88
 * when a client keytab is given), verifies each Cksum, opens each
 * KINK_ENCRYPT, pairs CREATE/REPLY/ACK by XID and peers, and derives the
 * KEYMAT of every SA both ways.
 *
 * The result is plain data ({@link CaptureReport}); `render.ts` turns it
 * into text, and `--json` prints each {@link MessageReport} as one JSON line.
 * Nothing here stops on a bad packet: every problem is recorded in the
 * message's `problems` and the analysis goes on.
 *
 * ## JSON schema (stable; one object per KINK datagram)
 *
 * ```
 * {
 *   "frame": 7,                       // 1-based capture frame number
 *   "time": "2026-11-27T00:39:05.395Z",
 *   "src": "10.77.0.1", "srcPort": 910, "dst": "10.77.0.2", "dstPort": 910,
 *   "udpLength": 844,                 // payload length per the UDP header
 *   "truncated": false,               // capture holds less than udpLength
 *   "header": {                       // absent when the header is unreadable
 *     "type": 1, "typeName": "CREATE", "majorVersion": 1, "length": 844,
 *     "doi": 1, "xid": 0, "nextPayload": 1, "ackReq": false, "cksumLen": 12,
 *     "trailing": 0                   // octets after Length (ignored)
 *   },
 *   "payloads": [PayloadReport…],     // outer chain; KINK_ENCRYPT has "inner"
 *   "session": {                      // the ticket session key, when known
 *     "enctype": 18, "source": "ticket decrypted with kink/b…@KINK.TEST kvno 3",
 *     "key": "…hex…"                  // only with --show-keys
 *   },
 *   "cksum": { "length": 12, "status": "verified" | "failed" | "absent" | "no-key" },
 *   "transaction": { "role": "command" | "reply" | "ack", "command": "CREATE",
 *                    "commandFrame": 7 },
 *   "sas": [SaReport…],               // SAs keyed by this message (see below)
 *   "problems": ["…"]                 // what could not be done, and why
 * }
 * PayloadReport = { "type": 1, "name": "KINK_AP_REQ", "length": 674, … } with
 *   KINK_AP_REQ:   epoch, epochTime, apOptions, ticket { server, etype, kvno,
 *                  decrypted, client?, authtime?, endtime? },
 *                  authenticator? { client, ctime, cusec, subkey }
 *   KINK_AP_REP:   epoch, epochTime, decrypted, ctime?, cusec?, answersFrame?
 *   KINK_KRB_ERROR: errorCode, errorName, stime, realm, sname, eText?
 *   KINK_TGT_REQ:  princName          KINK_TGT_REP: server, etype, kvno
 *   KINK_ISAKMP:   length, qmVersion "1.0", payloads [IsakmpReport…]
 *   KINK_ENCRYPT:  ciphertextLength, decrypted, inner? [PayloadReport…]
 *   KINK_ERROR:    code, codeName
 * IsakmpReport = { "type": 1, "name": "SA", … } with
 *   SA:     doi, situation, proposals [{ number, protocol, protocolName, spi,
 *           transforms [{ number, id, name, attributes [{ type, name, format
 *           ("TV" | "TLV"), value, valueName }] }] }]
 *   NONCE:  length, data? (hex, only with --show-keys)
 *   KE:     length          ID: idType, idTypeName, protocol, port, data
 *   NOTIFY: notifyType, notifyName, protocol, spi, data (hex)
 *   DELETE: protocol, protocolName, spiSize, spis ["0x…"]
 * SaReport = { "src", "dst", "protocol", "protocolName", "spi": "0x017df76b",
 *   "transform", "transformName", "keyBits"?, "authAlgorithm"?, "authName"?,
 *   "usesNr": false, "optimistic": false,  // optimistic: the initiator's
 *                                           // inbound SA installed before REPLY
 *   "keymatLength": 36, "encKey"?, "salt"?, "authKey"?  // keys only with --show-keys
 * }
 * ```
 *
 * @module
 */
import { decrypt, isSupportedEnctype, Key, type PrfMode } from "../../crypto/mod.ts";
import { keyQuickMode, transformSpec, wipeSaConfig } from "../../ipsec/mod.ts";
import {
  decodeApRep,
  decodeApReq,
  decodeAsRep,
  decodeAuthenticator,
  decodeEncApRepPart,
  decodeEncKdcRepPart,
  decodeEncTicketPart,
  decodeKrbError,
  decodeTgsRep,
  decodeTgsReq,
  decodeTicket,
  peekMessageType,
  type PrincipalName,
  type Ticket,
} from "../../kerberos/messages.ts";
import { errorCodeName, KeyUsage, MsgType, PaType } from "../../kerberos/iana.ts";
import type { KeytabEntry } from "../../kerberos/keytab.ts";
import { formatPrincipalName } from "../../kerberos/principal.ts";
import { isKinkError } from "../../errors.ts";
import { toHex } from "../../util/bytes.ts";
import { type CapturedPacket, extractUdp, readCapture, type UdpDatagram } from "../../wire/pcap.ts";
import {
  decodeKinkMessage,
  type KinkKeyOps,
  type KinkPayload,
  openEncryptPayload,
  verifyKinkChecksum,
} from "../../wire/kink.ts";
import { keyOps } from "../../wire/session.ts";
import {
  decodeFastArmoredRep,
  decodeFastResponseStrengthenKey,
  KEY_USAGE_FAST_REP,
  krbFxCf2,
} from "./fast.ts";
import {
  KINK_PORT,
  kinkErrorName,
  MessageType as M,
  messageTypeName,
  PayloadType as P,
} from "../../wire/constants.ts";
import {
  attributeName,
  attributeValueName,
  idTypeName,
  isakmpPayloadName,
  IsakmpPayloadType as Q,
  notifyTypeName,
  ProtocolId,
  protocolName,
  SaAttributeType,
  transformName,
} from "../../wire/ipsec_doi.ts";
import {
  attributeValue,
  encodeIsakmpPayloads,
  type IsakmpPayload,
  type SaAttribute,
  type SaPayload,
  spiNumber,
} from "../../wire/isakmp.ts";

/** Options of {@link analyzeCapture}. */
export interface AnalyzeOptions {
  /** Entries of every keytab given. */
  keytab: KeytabEntry[];
  /** Which 17/18 PRF reading to use for KEYMAT. */
  prf: PrfMode;
  /** Put key material (session keys, SA keys, nonces) into the report. */
  showKeys: boolean;
}

/** JSON-able value. */
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** One KINK datagram's report (see the module documentation for the schema). */
export interface MessageReport {
  frame: number;
  time: string;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  udpLength: number;
  truncated: boolean;
  header?: { [k: string]: Json };
  payloads?: Json[];
  session?: { [k: string]: Json };
  cksum?: { [k: string]: Json };
  transaction?: { [k: string]: Json };
  sas?: SaReport[];
  problems: string[];
}

/** A derived SA (see the module documentation). */
export interface SaReport {
  src: string;
  dst: string;
  protocol: number;
  protocolName: string;
  spi: string;
  transform: number;
  transformName: string;
  keyBits?: number;
  authAlgorithm?: number;
  authName?: string;
  usesNr: boolean;
  optimistic: boolean;
  keymatLength: number;
  encKey?: string;
  salt?: string;
  authKey?: string;
}

/** The analysis of a whole capture. */
export interface CaptureReport {
  /** Packets in the capture. */
  packets: number;
  /** One report per KINK datagram, in capture order. */
  messages: MessageReport[];
  /** Every SA derived (also listed under the message that keyed it). */
  sas: SaReport[];
  /** Kerberos (udp/88) facts used: which frames yielded session keys. */
  kerberos: string[];
}

interface Session {
  key: Key;
  source: string;
}

interface QmInfo {
  sas: SaPayload[];
  nonce?: Uint8Array;
}

interface Transaction {
  command: number;
  commandFrame: number;
  initiator: string;
  responder: string;
  session?: Session;
  qms: QmInfo[]; // one per KINK_ISAKMP
  authenticators: { frame: number; ctime: number; cusec: number }[];
}

/** The Kerberos KDC port (RFC 4120 §7.2.3). */
const KERBEROS_PORT = 88;

const iso = (d: Date) => d.toISOString().replace(".000Z", "Z");

function pname(n: PrincipalName, realm: string): string {
  return `${formatPrincipalName(n.components)}@${realm}`;
}

function errText(e: unknown): string {
  if (isKinkError(e)) return e.message;
  return e instanceof Error ? e.message : String(e);
}

function spiHex(spi: Uint8Array): string {
  return `0x${toHex(spi)}`;
}

const KEY_ORDER = [
  "frame",
  "time",
  "src",
  "srcPort",
  "dst",
  "dstPort",
  "udpLength",
  "truncated",
  "header",
  "payloads",
  "session",
  "cksum",
  "transaction",
  "sas",
  "problems",
] as const;

/** A message report with its keys in the documented order (for `--json`). */
export function orderedReport(m: MessageReport): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEY_ORDER) if (m[k] !== undefined) out[k] = m[k];
  return out;
}

/** What {@link analyzePackets} returns once the capture is done (messages went to the callback). */
export interface CaptureSummary {
  /** Packets in the capture. */
  packets: number;
  /** KINK datagrams analyzed. */
  messages: number;
  /** Messages whose Cksum verified. */
  verified: number;
  /** Distinct SAs keyed (src, dst, SPI, transform, with/without Nr). */
  distinctSas: number;
  /** Kerberos (udp/88) facts used, at most {@link MAX_KERBEROS_NOTES}. */
  kerberos: string[];
  /** Kerberos notes left out beyond the limit. */
  kerberosNotesDropped: number;
}

/** Distinct tickets whose decryption is remembered (the oldest is forgotten first). */
const MAX_OPENED_TICKETS = 4096;
/** Authenticators remembered per transaction (to pair AP-REPs with retransmissions). */
const MAX_AUTHENTICATORS = 64;
/** Open transactions remembered (the oldest is forgotten first). */
const MAX_TRANSACTIONS = 65536;

/** Kerberos notes kept for the summary; the rest are counted. */
export const MAX_KERBEROS_NOTES = 1000;

/**
 * Analyzes a stream of captured packets, handing each KINK datagram's report
 * to `onMessage` as soon as it is complete and keeping none of them, so that
 * memory does not grow with the capture's size.
 */
export function analyzePackets(
  packets: Iterable<CapturedPacket>,
  opts: AnalyzeOptions,
  onMessage: (m: MessageReport) => void,
): CaptureSummary {
  const a = new Analyzer(opts);
  const sum: CaptureSummary = {
    packets: 0,
    messages: 0,
    verified: 0,
    distinctSas: 0,
    kerberos: [],
    kerberosNotesDropped: 0,
  };
  const saKeys = new Set<string>();
  try {
    for (const p of packets) {
      sum.packets++;
      const u = extractUdp(p);
      if (!("payload" in u)) continue;
      if (u.srcPort === KERBEROS_PORT || u.dstPort === KERBEROS_PORT) a.kerberos(u);
      else if (u.srcPort === KINK_PORT || u.dstPort === KINK_PORT) {
        try {
          a.kink(u);
        } catch (e) {
          // Defensive: one bad datagram never stops the analysis.
          const last = a.messages[a.messages.length - 1];
          const note = `analysis stopped for this datagram: ${errText(e)}`;
          if (last?.frame === u.frame) last.problems.push(note);
          else a.krbNotes.push(`frame ${u.frame}: ${note}`);
        }
        for (const m of a.messages.splice(0)) {
          sum.messages++;
          if (m.cksum?.status === "verified") sum.verified++;
          for (const s of m.sas ?? []) {
            saKeys.add(`${s.src}>${s.dst} ${s.spi} ${s.transform} ${s.usesNr}`);
          }
          onMessage(m);
        }
        a.sas.splice(0);
      }
      for (const n of a.krbNotes.splice(0)) {
        if (sum.kerberos.length < MAX_KERBEROS_NOTES) sum.kerberos.push(n);
        else sum.kerberosNotesDropped++;
      }
    }
  } finally {
    a.dispose();
  }
  sum.distinctSas = saKeys.size;
  return sum;
}

/**
 * Analyzes a capture file held in memory (classic pcap or pcapng). Throws
 * only when the file itself is unreadable; a file cut inside its last record
 * yields its complete packets (see {@link readCapture}).
 */
export function analyzeCapture(file: Uint8Array, opts: AnalyzeOptions): CaptureReport {
  const warnings: string[] = [];
  const packets = readCapture(file, warnings);
  const messages: MessageReport[] = [];
  const sum = analyzePackets(packets, opts, (m) => messages.push(m));
  return {
    packets: sum.packets,
    messages,
    sas: messages.flatMap((m) => m.sas ?? []),
    kerberos: [...sum.kerberos, ...warnings],
  };
}

class Analyzer {
  readonly messages: MessageReport[] = [];
  readonly sas: SaReport[] = [];
  readonly krbNotes: string[] = [];
  readonly #opts: AnalyzeOptions;
  /** ticket enc-part cipher (hex) → session key learned from a KDC reply */
  readonly #ticketKeys = new Map<string, Session>();
  /** TGS-REQ nonce → keys that may encrypt the TGS-REP */
  readonly #tgsReqs = new Map<
    number,
    { frame: number; keys: { key: Key; usage: number }[]; armorKey?: Key }
  >();
  readonly #tx = new Map<string, Transaction>();
  readonly #owned: Key[] = [];
  /** Tickets decrypted so far (see {@link MAX_OPENED_TICKETS}). */
  readonly #openedTickets = new Map<
    string,
    { client: string; authtime: string; endtime: string; session?: Session; problem?: string }
  >();
  /** One Key per keytab entry, made once (not once per datagram). */
  readonly #entryKeys = new Map<KeytabEntry, Key>();

  constructor(opts: AnalyzeOptions) {
    this.#opts = opts;
  }

  dispose(): void {
    for (const k of this.#owned) k.dispose();
  }

  #key(enctype: number, bytes: Uint8Array): Key {
    const k = Key.fromBytes(enctype, bytes);
    this.#owned.push(k);
    return k;
  }

  /** Long-term keys of a principal from the keytabs (every kvno when `kvno` is absent). */
  #keytabKeys(name: string, etype: number, kvno: number | undefined): Key[] {
    if (!isSupportedEnctype(etype)) return [];
    return this.#opts.keytab.filter((k) =>
      `${formatPrincipalName(k.principal.components)}@${k.principal.realm}` === name &&
      k.enctype === etype &&
      (kvno === undefined || k.kvno === kvno || (k.kvno & 0xff) === (kvno & 0xff))
    ).map((e) => {
      let k = this.#entryKeys.get(e);
      if (!k) this.#entryKeys.set(e, k = this.#key(etype, e.key));
      return k;
    });
  }

  /** Decrypts with the first key that works; undefined when none does. */
  #tryDecrypt(keys: Key[], usage: number, cipher: Uint8Array): Uint8Array | undefined {
    for (const k of keys) {
      try {
        return decrypt(k, usage, cipher);
      } catch {
        // wrong key version: try the next one
      }
    }
    return undefined;
  }

  #ticketDesc(t: Ticket): string {
    return `${pname(t.sname, t.realm)} kvno ${t.encPart.kvno ?? "?"} enctype ${t.encPart.etype}`;
  }

  // ---- Kerberos on udp/88: session keys for tickets we cannot decrypt ----

  kerberos(u: UdpDatagram): void {
    const b = u.payload;
    const t = peekMessageType(b);
    try {
      if (t === MsgType.AS_REP) this.#asRep(u.frame, b);
      else if (t === MsgType.TGS_REQ) this.#tgsReq(u.frame, b);
      else if (t === MsgType.TGS_REP) this.#tgsRep(u.frame, b);
    } catch (e) {
      this.krbNotes.push(`frame ${u.frame}: ${errText(e)}`);
    }
  }

  #asRep(frame: number, b: Uint8Array): void {
    const rep = decodeAsRep(b);
    const client = pname(rep.cname, rep.crealm);
    const keys = this.#keytabKeys(client, rep.encPart.etype, rep.encPart.kvno);
    if (!keys.length) return;
    const pt = this.#tryDecrypt(keys, KeyUsage.AS_REP_ENC_PART, rep.encPart.cipher);
    if (!pt) {
      this.krbNotes.push(`frame ${frame}: AS-REP for ${client} not decryptable with its keys`);
      return;
    }
    const part = decodeEncKdcRepPart(pt);
    const sk = this.#key(part.key.keytype, part.key.keyvalue);
    part.key.keyvalue.fill(0);
    pt.fill(0);
    this.#ticketKeys.set(toHex(rep.ticket.encPart.cipher), {
      key: sk,
      source: `AS-REP in frame ${frame} (decrypted with ${client}'s key)`,
    });
    this.krbNotes.push(`frame ${frame}: AS-REP for ${client}: TGT session key recovered`);
  }

  #tgsReq(frame: number, b: Uint8Array): void {
    const req = decodeTgsReq(b);
    const pa = req.padata?.find((p) => p.padataType === PaType.TGS_REQ);
    if (!pa) return;
    const ap = decodeApReq(pa.padataValue);
    const s = this.#ticketKeys.get(toHex(ap.ticket.encPart.cipher));
    if (!s) return;
    const keys = [{ key: s.key, usage: KeyUsage.TGS_REP_ENC_PART_SESSKEY as number }];
    const auth = decodeAuthenticator(
      decrypt(s.key, KeyUsage.TGS_REQ_PA_AUTHENTICATOR, ap.authenticator.cipher),
    );
    let armorKey: Key | undefined;
    if (auth.subkey && isSupportedEnctype(auth.subkey.keytype)) {
      const sub = this.#key(auth.subkey.keytype, auth.subkey.keyvalue);
      keys.unshift({ key: sub, usage: KeyUsage.TGS_REP_ENC_PART_SUBKEY });
      auth.subkey.keyvalue.fill(0);
      // FAST with implicit TGS armor (RFC 6113 §5.4.1.1)
      if (req.padata?.some((p) => p.padataType === PaType.FX_FAST)) {
        armorKey = krbFxCf2(sub, s.key, "subkeyarmor", "ticketarmor");
        this.#owned.push(armorKey);
      }
    }
    this.#tgsReqs.set(req.reqBody.nonce, armorKey ? { frame, keys, armorKey } : { frame, keys });
  }

  #tgsRep(frame: number, b: Uint8Array): void {
    const rep = decodeTgsRep(b);
    const fx = rep.padata?.find((p) => p.padataType === PaType.FX_FAST);
    for (const [, req] of this.#tgsReqs) {
      let strengthen: Key | undefined;
      if (fx && req.armorKey) {
        try {
          const enc = decodeFastArmoredRep(fx.padataValue);
          const sk = decodeFastResponseStrengthenKey(
            decrypt(req.armorKey, KEY_USAGE_FAST_REP, enc.cipher),
          );
          if (sk && isSupportedEnctype(sk.keytype)) {
            strengthen = this.#key(sk.keytype, sk.keyvalue);
            sk.keyvalue.fill(0);
          }
        } catch {
          continue; // not this request's armor
        }
      }
      const candidates = req.keys.map(({ key, usage }) => {
        if (!strengthen) return { key, usage };
        const k = krbFxCf2(strengthen, key, "strengthenkey", "replykey");
        this.#owned.push(k);
        return { key: k, usage };
      });
      for (const { key, usage } of candidates) {
        let pt: Uint8Array;
        try {
          pt = decrypt(key, usage, rep.encPart.cipher);
        } catch {
          continue;
        }
        const part = decodeEncKdcRepPart(pt);
        const sk = this.#key(part.key.keytype, part.key.keyvalue);
        part.key.keyvalue.fill(0);
        pt.fill(0);
        const server = pname(rep.ticket.sname, rep.ticket.realm);
        this.#ticketKeys.set(toHex(rep.ticket.encPart.cipher), {
          key: sk,
          source: `TGS-REP in frame ${frame} (TGS-REQ frame ${req.frame}${
            strengthen ? ", FAST-armored" : ""
          })`,
        });
        this.krbNotes.push(
          `frame ${frame}: TGS-REP: session key of the ticket for ${server} kvno ${
            rep.ticket.encPart.kvno ?? "?"
          } recovered`,
        );
        return;
      }
    }
    this.krbNotes.push(`frame ${frame}: TGS-REP not decryptable with any key seen so far`);
  }

  // ---- KINK ----

  kink(u: UdpDatagram): void {
    const r: MessageReport = {
      frame: u.frame,
      time: new Date(Math.round(u.time * 1000)).toISOString(),
      src: u.src,
      srcPort: u.srcPort,
      dst: u.dst,
      dstPort: u.dstPort,
      udpLength: u.udpPayloadLength,
      truncated: u.truncated,
      problems: [],
    };
    this.messages.push(r);
    if (u.truncated) {
      r.problems.push(
        `truncated datagram: ${u.payload.length} of ${u.udpPayloadLength} octets captured`,
      );
    }
    let dec;
    try {
      dec = decodeKinkMessage(u.payload);
    } catch (e) {
      r.problems.push(`not decodable: ${errText(e)}`);
      return;
    }
    const m = dec.message;
    r.header = {
      type: m.type,
      typeName: messageTypeName(m.type),
      majorVersion: dec.header.majorVersion,
      length: dec.header.length,
      doi: m.doi,
      xid: m.xid,
      nextPayload: dec.header.nextPayload,
      ackReq: m.ackReq,
      cksumLen: dec.header.cksumLen,
      trailing: dec.trailing,
    };
    const isCommand = m.type === M.CREATE || m.type === M.DELETE || m.type === M.STATUS ||
      m.type === M.GETTGT;
    const txKey = isCommand || m.type === M.ACK
      ? `${u.src}|${u.dst}|${m.xid}`
      : `${u.dst}|${u.src}|${m.xid}`;
    let tx = this.#tx.get(txKey);
    if (isCommand) {
      // A retransmission keeps its XID with a new authenticator; the REPLY may answer any of
      // them (RFC 4430 §9), so the authenticators seen so far stay with the transaction.
      const prev = tx && tx.command === m.type ? tx.authenticators : [];
      tx = {
        command: m.type,
        commandFrame: u.frame,
        initiator: u.src,
        responder: u.dst,
        qms: [],
        authenticators: prev,
      };
      this.#tx.delete(txKey); // re-inserted last: the oldest transaction is evicted first
      this.#tx.set(txKey, tx);
      if (this.#tx.size > MAX_TRANSACTIONS) this.#tx.delete(this.#tx.keys().next().value!);
      r.transaction = { role: "command", command: messageTypeName(m.type) };
    } else if (tx) {
      r.transaction = {
        role: m.type === M.ACK ? "ack" : "reply",
        command: messageTypeName(tx.command),
        commandFrame: tx.commandFrame,
      };
    } else if (m.type === M.REPLY || m.type === M.ACK) {
      r.problems.push(`no command with XID ${m.xid} between these peers in the capture`);
    }

    // Session key: from the AP-REQ's ticket, or the transaction's.
    let session: Session | undefined;
    const payloads: Json[] = [];
    for (const p of m.payloads) {
      if (p.kind === "ap-req") {
        const { report, session: s } = this.#apReq(p.apReq, p.epoch, r, tx, u.frame);
        payloads.push(report);
        if (s) {
          session = s;
          if (tx) tx.session = s;
        }
      } else if (p.kind === "ap-rep") {
        session = tx?.session;
        payloads.push(this.#apRep(p.apRep, p.epoch, session, tx, r));
      } else if (p.kind !== "encrypt") payloads.push(this.#payload(p));
    }
    if (!session && !isCommand && m.type !== M.REPLY) session = tx?.session;
    if (session) {
      r.session = { enctype: session.key.enctype, source: session.source };
      if (this.#opts.showKeys) {
        const kb = session.key.exportBytes();
        r.session.key = toHex(kb);
        kb.fill(0);
      }
    }
    const ops: KinkKeyOps | undefined = session ? keyOps(session.key) : undefined;

    // Cksum
    if (dec.header.cksumLen === 0) {
      r.cksum = { length: 0, status: "absent" };
      if (m.type === M.REPLY && !m.payloads.some((p) => p.kind === "ap-rep")) {
        r.problems.push("unauthenticated reply (CksumLen 0): contents not protected");
      } else if (m.payloads.some((p) => p.kind === "ap-req" || p.kind === "ap-rep")) {
        r.problems.push("keyed message without Cksum: a receiver must drop it");
      }
    } else if (!ops) {
      r.cksum = { length: dec.header.cksumLen, status: "no-key" };
      r.problems.push("Cksum not verified: session key unknown");
    } else {
      const ok = verifyKinkChecksum(u.payload, ops);
      r.cksum = { length: dec.header.cksumLen, status: ok ? "verified" : "failed" };
      if (!ok) r.problems.push("Cksum does not verify: a receiver must drop this message");
    }

    // KINK_ENCRYPT
    let inner: KinkPayload[] = [];
    const enc = m.payloads.find((p) => p.kind === "encrypt");
    if (enc && enc.kind === "encrypt") {
      const er: { [k: string]: Json } = {
        type: P.ENCRYPT,
        name: "KINK_ENCRYPT",
        length: 4 + enc.ciphertext!.length,
        ciphertextLength: enc.ciphertext!.length,
        decrypted: false,
      };
      if (ops) {
        try {
          inner = openEncryptPayload(enc.ciphertext!, m.doi, ops);
          er.decrypted = true;
          er.inner = inner.map((x) => this.#payload(x));
        } catch (e) {
          r.problems.push(`KINK_ENCRYPT not opened: ${errText(e)}`);
        }
      } else r.problems.push("KINK_ENCRYPT not decrypted: session key unknown");
      payloads.push(er);
    }
    r.payloads = payloads;

    // Transactions and KEYMAT
    const eff = [...m.payloads.filter((p) => p.kind !== "encrypt"), ...inner];
    const qms: QmInfo[] = eff.filter((p) => p.kind === "isakmp").map((p) => {
      const qm = p.kind === "isakmp" ? p.payloads : [];
      const q: QmInfo = { sas: qm.filter((x): x is SaPayload => x.kind === "sa") };
      const n = qm.find((x) => x.kind === "nonce");
      if (n && n.kind === "nonce") q.nonce = n.nonce;
      return q;
    });
    if (m.type === M.CREATE && tx) {
      tx.qms = qms;
      if (session && (!enc || inner.length)) this.#optimistic(tx, r, session);
    } else if (
      m.type === M.REPLY && tx && tx.command === M.CREATE && session && (!enc || inner.length)
    ) {
      this.#replySas(tx, qms, r, session);
    }
  }

  #apReq(
    der: Uint8Array,
    epoch: number,
    r: MessageReport,
    tx: Transaction | undefined,
    frame: number,
  ): { report: { [k: string]: Json }; session?: Session } {
    const rep: { [k: string]: Json } = {
      type: P.AP_REQ,
      name: "KINK_AP_REQ",
      length: 8 + der.length,
      epoch,
      epochTime: iso(new Date(epoch * 1000)),
    };
    let ap;
    try {
      ap = decodeApReq(der);
    } catch (e) {
      r.problems.push(`AP-REQ not decodable: ${errText(e)}`);
      return { report: rep };
    }
    rep.apOptions = `0x${(ap.apOptions >>> 0).toString(16).padStart(8, "0")}`;
    const t = ap.ticket;
    const server = pname(t.sname, t.realm);
    const tr: { [k: string]: Json } = {
      server,
      etype: t.encPart.etype,
      kvno: t.encPart.kvno ?? null,
      decrypted: false,
    };
    rep.ticket = tr;
    let session: Session | undefined;
    // A ticket seen before (retransmissions, later commands under the same ticket) is
    // not decrypted again: one session Key per ticket, not one per datagram.
    const ticketId = `${t.encPart.etype}/${t.encPart.kvno ?? "-"}/${toHex(t.encPart.cipher)}`;
    const known = this.#openedTickets.get(ticketId);
    const lt = known ? [] : this.#keytabKeys(server, t.encPart.etype, t.encPart.kvno);
    if (known) {
      tr.decrypted = true;
      tr.client = known.client;
      tr.authtime = known.authtime;
      tr.endtime = known.endtime;
      if (known.session) session = known.session;
      else r.problems.push(known.problem ?? "session key not usable");
    } else if (lt.length) {
      try {
        const pt = this.#tryDecrypt(lt, KeyUsage.KDC_REP_TICKET, t.encPart.cipher);
        if (!pt) throw new Error("integrity check failed with every matching key");
        const etp = decodeEncTicketPart(pt);
        tr.decrypted = true;
        tr.client = pname(etp.cname, etp.crealm);
        tr.authtime = iso(etp.authtime);
        tr.endtime = iso(etp.endtime);
        let problem: string | undefined;
        if (isSupportedEnctype(etp.key.keytype)) {
          session = {
            key: this.#key(etp.key.keytype, etp.key.keyvalue),
            source: `ticket decrypted with ${server} kvno ${t.encPart.kvno ?? "?"}`,
          };
        } else {
          problem = `session key enctype ${etp.key.keytype} is not supported`;
          r.problems.push(problem);
        }
        etp.key.keyvalue.fill(0);
        pt.fill(0);
        if (this.#openedTickets.size >= MAX_OPENED_TICKETS) {
          this.#openedTickets.delete(this.#openedTickets.keys().next().value!);
        }
        this.#openedTickets.set(ticketId, {
          client: tr.client,
          authtime: tr.authtime,
          endtime: tr.endtime,
          ...(session ? { session } : {}),
          ...(problem ? { problem } : {}),
        });
      } catch (e) {
        r.problems.push(`ticket not decryptable with the keytab entry: ${errText(e)}`);
      }
    } else {
      r.problems.push(`ticket not decryptable: no key for ${this.#ticketDesc(t)} in the keytabs`);
    }
    if (!session) {
      const s = this.#ticketKeys.get(toHex(t.encPart.cipher));
      if (s) {
        session = s;
        tr.sessionKeyFrom = s.source;
      }
    }
    if (session) {
      try {
        const au = decodeAuthenticator(
          decrypt(session.key, KeyUsage.AP_REQ_AUTHENTICATOR, ap.authenticator.cipher),
        );
        rep.authenticator = {
          client: pname(au.cname, au.crealm),
          ctime: iso(au.ctime),
          cusec: au.cusec,
          subkey: au.subkey !== undefined,
        };
        au.subkey?.keyvalue.fill(0);
        tx?.authenticators.push({ frame, ctime: au.ctime.getTime(), cusec: au.cusec });
        // Retransmissions of one command: keep the latest authenticators only.
        if (tx && tx.authenticators.length > MAX_AUTHENTICATORS) tx.authenticators.shift();
      } catch (e) {
        r.problems.push(`authenticator not decryptable: ${errText(e)}`);
      }
    }
    return session ? { report: rep, session } : { report: rep };
  }

  #apRep(
    der: Uint8Array,
    epoch: number,
    session: Session | undefined,
    tx: Transaction | undefined,
    r: MessageReport,
  ): { [k: string]: Json } {
    const rep: { [k: string]: Json } = {
      type: P.AP_REP,
      name: "KINK_AP_REP",
      length: 8 + der.length,
      epoch,
      epochTime: iso(new Date(epoch * 1000)),
      decrypted: false,
    };
    if (!session) {
      r.problems.push("AP-REP not decrypted: session key unknown");
      return rep;
    }
    try {
      const part = decodeEncApRepPart(decrypt(
        session.key,
        KeyUsage.AP_REP_ENC_PART,
        decodeApRep(der).encPart.cipher,
      ));
      rep.decrypted = true;
      rep.ctime = iso(part.ctime);
      rep.cusec = part.cusec;
      const a = tx?.authenticators.find((x) =>
        x.ctime === part.ctime.getTime() && x.cusec === part.cusec
      );
      if (a) rep.answersFrame = a.frame;
      else r.problems.push("AP-REP answers no authenticator seen in the capture");
    } catch (e) {
      r.problems.push(`AP-REP not decryptable: ${errText(e)}`);
    }
    return rep;
  }

  #payload(p: KinkPayload): { [k: string]: Json } {
    switch (p.kind) {
      case "ap-req":
        return { type: P.AP_REQ, name: "KINK_AP_REQ", length: 8 + p.apReq.length, epoch: p.epoch };
      case "ap-rep":
        return { type: P.AP_REP, name: "KINK_AP_REP", length: 8 + p.apRep.length, epoch: p.epoch };
      case "krb-error": {
        const out: { [k: string]: Json } = {
          type: P.KRB_ERROR,
          name: "KINK_KRB_ERROR",
          length: 4 + p.krbError.length,
        };
        try {
          const e = decodeKrbError(p.krbError);
          out.errorCode = e.errorCode;
          out.errorName = errorCodeName(e.errorCode);
          out.stime = iso(e.stime);
          out.realm = e.realm;
          out.sname = pname(e.sname, e.realm);
          if (e.eText !== undefined) out.eText = e.eText;
        } catch (e) {
          out.decodeError = errText(e);
        }
        return out;
      }
      case "tgt-req":
        return {
          type: P.TGT_REQ,
          name: "KINK_TGT_REQ",
          length: 4 + new TextEncoder().encode(p.princName).length,
          princName: p.princName,
        };
      case "tgt-rep": {
        const out: { [k: string]: Json } = {
          type: P.TGT_REP,
          name: "KINK_TGT_REP",
          length: 4 + p.tgt.length,
        };
        try {
          const t = decodeTicket(p.tgt);
          out.server = pname(t.sname, t.realm);
          out.etype = t.encPart.etype;
          out.kvno = t.encPart.kvno ?? null;
        } catch (e) {
          out.decodeError = errText(e);
        }
        return out;
      }
      case "isakmp":
        return {
          type: P.ISAKMP,
          name: "KINK_ISAKMP",
          // The decoder keeps every octet (TV/TLV forms, no slack accepted), so the re-encoded
          // chain has the length it had on the wire: 4 header + 4 (InnerNextPload, QM version,
          // RESERVED) + the chain.
          length: 8 + encodeIsakmpPayloads(p.payloads).bytes.length,
          qmVersion: "1.0",
          payloads: p.payloads.map((q) => this.#isakmp(q)),
        };
      case "encrypt":
        return {
          type: P.ENCRYPT,
          name: "KINK_ENCRYPT",
          ciphertextLength: p.ciphertext?.length ?? 0,
        };
      case "error":
        return {
          type: P.ERROR,
          name: "KINK_ERROR",
          length: 8,
          code: p.code,
          codeName: kinkErrorName(p.code),
        };
    }
  }

  #isakmp(q: IsakmpPayload): { [k: string]: Json } {
    switch (q.kind) {
      case "sa":
        return {
          type: Q.SA,
          name: "SA",
          doi: q.doi,
          situation: q.situation,
          proposals: q.proposals.map((p) => ({
            number: p.number,
            protocol: p.protocol,
            protocolName: protocolName(p.protocol),
            spi: spiHex(p.spi),
            transforms: p.transforms.map((t) => ({
              number: t.number,
              id: t.id,
              name: transformName(p.protocol, t.id),
              attributes: t.attributes.map((a) => {
                const v = attributeValue(a);
                return {
                  type: a.type,
                  name: attributeName(a.type),
                  format: typeof a.value === "number" ? "TV" : "TLV",
                  value: typeof v === "bigint" ? `0x${v.toString(16)}` : v,
                  valueName: attributeValueName(a.type, v),
                };
              }),
            })),
          })),
        };
      case "nonce": {
        const o: { [k: string]: Json } = { type: Q.NONCE, name: "NONCE", length: q.nonce.length };
        if (this.#opts.showKeys) o.data = toHex(q.nonce);
        return o;
      }
      case "ke":
        return { type: Q.KE, name: "KE", length: q.data.length };
      case "id":
        return {
          type: Q.ID,
          name: "ID",
          idType: q.idType,
          idTypeName: idTypeName(q.idType),
          protocol: q.protocol,
          port: q.port,
          data: toHex(q.data),
        };
      case "notify":
        return {
          type: Q.NOTIFY,
          name: "NOTIFY",
          notifyType: q.notifyType,
          notifyName: notifyTypeName(q.notifyType),
          protocol: q.protocol,
          spi: spiHex(q.spi),
          data: toHex(q.data),
        };
      case "delete":
        return {
          type: Q.DELETE,
          name: "DELETE",
          protocol: q.protocol,
          protocolName: protocolName(q.protocol),
          spiSize: q.spiSize,
          spis: q.spis.map(spiHex),
        };
    }
    return { name: isakmpPayloadName(0) };
  }

  /** The initiator's optimistic inbound SA(s): first transform of each first proposal. */
  #optimistic(tx: Transaction, r: MessageReport, s: Session): void {
    for (const q of tx.qms) {
      if (!q.nonce) continue;
      for (const sa of q.sas) {
        const first = sa.proposals[0];
        if (!first) continue;
        for (const p of sa.proposals.filter((x) => x.number === first.number)) {
          const t = p.transforms[0];
          if (!t) continue;
          this.#derive(r, s, {
            src: tx.responder,
            dst: tx.initiator,
            protocol: p.protocol,
            spi: p.spi,
            transform: t.id,
            attrs: t.attributes,
            ni: q.nonce,
            optimistic: true,
            toInitiator: true,
          });
        }
      }
    }
  }

  /** Both SAs of every proposal a REPLY chose. */
  #replySas(tx: Transaction, qms: QmInfo[], r: MessageReport, s: Session): void {
    qms.forEach((rq, i) => {
      const cq = tx.qms[i];
      if (!cq?.nonce) {
        r.problems.push(`no Ni known for KINK_ISAKMP #${i + 1}: SAs not keyed`);
        return;
      }
      rq.sas.forEach((rsa, j) => {
        const csa = cq.sas[j];
        for (const rp of rsa.proposals) {
          const cp = csa?.proposals.find((x) =>
            x.number === rp.number && x.protocol === rp.protocol
          );
          const t = rp.transforms[0];
          if (!cp || !t) {
            r.problems.push(`chosen proposal #${rp.number} not found in the CREATE`);
            continue;
          }
          const base = {
            protocol: rp.protocol,
            transform: t.id,
            attrs: t.attributes,
            ni: cq.nonce!,
            optimistic: false,
            ...(rq.nonce ? { nr: rq.nonce } : {}),
          };
          // initiator → responder: the responder's SPI (in the REPLY)
          this.#derive(r, s, {
            ...base,
            src: tx.initiator,
            dst: tx.responder,
            spi: rp.spi,
            toInitiator: false,
          });
          // responder → initiator: the initiator's SPI (in the CREATE)
          this.#derive(r, s, {
            ...base,
            src: tx.responder,
            dst: tx.initiator,
            spi: cp.spi,
            toInitiator: true,
          });
        }
      });
    });
  }

  #derive(
    r: MessageReport,
    s: Session,
    d: {
      src: string;
      dst: string;
      protocol: number;
      spi: Uint8Array;
      transform: number;
      attrs: SaAttribute[];
      ni: Uint8Array;
      nr?: Uint8Array;
      optimistic: boolean;
      /** The SA is towards the initiator (keyed with the initiator's SPI). */
      toInitiator: boolean;
    },
  ): void {
    const attr = (t: number) => {
      const a = d.attrs.find((x) => x.type === t);
      return a === undefined ? undefined : Number(attributeValue(a));
    };
    const keyBits = attr(SaAttributeType.KEY_LENGTH);
    const auth = attr(SaAttributeType.AUTH_ALGORITHM);
    const spi = spiNumber(d.spi);
    const sa: SaReport = {
      src: d.src,
      dst: d.dst,
      protocol: d.protocol,
      protocolName: protocolName(d.protocol),
      spi: spiHex(d.spi),
      transform: d.transform,
      transformName: transformName(d.protocol, d.transform),
      usesNr: d.nr !== undefined,
      optimistic: d.optimistic,
      keymatLength: 0,
    };
    if (keyBits !== undefined) sa.keyBits = keyBits;
    if (auth !== undefined) {
      sa.authAlgorithm = auth;
      sa.authName = attributeValueName(SaAttributeType.AUTH_ALGORITHM, auth);
    }
    if (spi === undefined) {
      r.problems.push(`SA with a ${d.spi.length}-octet SPI not keyed`);
      return;
    }
    try {
      const transform = transformSpec(d.protocol, {
        number: 0,
        id: d.transform,
        attributes: d.attrs,
      });
      const [keyed] = keyQuickMode({
        sas: [{
          protocol: d.protocol,
          transform,
          ...(d.toInitiator ? { initiatorSpi: spi } : { responderSpi: spi }),
        }],
        initiator: d.toInitiator ? d.dst : d.src,
        responder: d.toInitiator ? d.src : d.dst,
        ni: d.ni,
        ...(d.nr ? { nr: d.nr } : {}),
        sessionKey: s.key,
        prf: this.#opts.prf,
      });
      sa.keymatLength = keyed!.keymatLength;
      const c = keyed!.config;
      if (c && this.#opts.showKeys) {
        if (c.aead) {
          const k = c.aead.key;
          sa.encKey = toHex(k.subarray(0, k.length - 4));
          sa.authKey = "";
          sa.salt = toHex(k.subarray(k.length - 4));
        } else if (d.protocol === ProtocolId.ESP) {
          sa.encKey = toHex(c.enc?.key ?? new Uint8Array(0));
          sa.authKey = toHex(c.auth?.key ?? new Uint8Array(0));
        } else if (c.auth) sa.authKey = toHex(c.auth.key);
      }
      if (c) wipeSaConfig(c);
    } catch (e) {
      r.problems.push(`KEYMAT for SPI ${sa.spi} not derived: ${errText(e)}`);
      return;
    }
    (r.sas ??= []).push(sa);
    this.sas.push(sa);
  }
}
