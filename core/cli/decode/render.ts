/**
 * Text rendering of a `kink decode` report: one block per KINK datagram
 * with the header, the payload tree (KINK_ENCRYPT contents indented), the
 * Quick Mode contents, the Cksum verdict, the SAs keyed and the problems.
 *
 * @module
 */
import type { CaptureReport, CaptureSummary, Json, MessageReport, SaReport } from "./analyze.ts";
import { escapeControl } from "../../util/text.ts";

type Obj = { [k: string]: Json };

function isObj(v: Json | undefined): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function attrs(list: Json): string {
  if (!Array.isArray(list)) return "";
  return list.filter(isObj).map((a) => `${String(a.name).toLowerCase()}=${a.valueName}`).join(
    " ",
  );
}

function isakmpLines(q: Obj, ind: string): string[] {
  const out: string[] = [];
  switch (q.name) {
    case "SA":
      out.push(`${ind}SA doi=${q.doi} situation=${q.situation}`);
      for (const p of Array.isArray(q.proposals) ? q.proposals.filter(isObj) : []) {
        out.push(`${ind}  Proposal #${p.number} ${p.protocolName} spi=${p.spi}`);
        for (const t of Array.isArray(p.transforms) ? p.transforms.filter(isObj) : []) {
          out.push(`${ind}    Transform #${t.number} ${t.name} ${attrs(t.attributes ?? [])}`);
        }
      }
      break;
    case "NONCE":
      out.push(`${ind}Nonce ${q.length} octets${q.data ? ` ${q.data}` : ""}`);
      break;
    case "KE":
      out.push(`${ind}KE ${q.length} octets`);
      break;
    case "ID":
      out.push(`${ind}ID ${q.idTypeName} proto=${q.protocol} port=${q.port} ${q.data}`);
      break;
    case "NOTIFY":
      out.push(`${ind}Notify ${q.notifyName} proto=${q.protocol} spi=${q.spi} data=${q.data}`);
      break;
    case "DELETE":
      out.push(
        `${ind}Delete ${q.protocolName} ${Array.isArray(q.spis) ? q.spis.join(" ") : ""}`,
      );
      break;
  }
  return out;
}

function payloadLines(p: Obj, ind: string): string[] {
  const out: string[] = [];
  switch (p.name) {
    case "KINK_AP_REQ": {
      out.push(`${ind}KINK_AP_REQ epoch=${p.epoch} (${p.epochTime}) ap-options=${p.apOptions}`);
      const t = p.ticket;
      if (isObj(t)) {
        out.push(
          `${ind}  ticket ${t.server} etype=${t.etype} kvno=${t.kvno} ${
            t.decrypted
              ? `decrypted: client ${t.client}, valid until ${t.endtime}`
              : t.sessionKeyFrom
              ? `session key from ${t.sessionKeyFrom}`
              : "not decrypted"
          }`,
        );
      }
      const a = p.authenticator;
      if (isObj(a)) {
        out.push(`${ind}  authenticator ${a.client} ctime=${a.ctime} cusec=${a.cusec}`);
      }
      break;
    }
    case "KINK_AP_REP":
      out.push(
        `${ind}KINK_AP_REP epoch=${p.epoch} (${p.epochTime}) ${
          p.decrypted
            ? `ctime=${p.ctime} cusec=${p.cusec}${
              p.answersFrame ? ` (answers frame ${p.answersFrame})` : ""
            }`
            : "not decrypted"
        }`,
      );
      break;
    case "KINK_KRB_ERROR":
      out.push(
        `${ind}KINK_KRB_ERROR ${p.errorCode} ${p.errorName} from ${p.sname} stime=${p.stime}${
          p.eText ? ` "${p.eText}"` : ""
        }`,
      );
      break;
    case "KINK_TGT_REQ":
      out.push(`${ind}KINK_TGT_REQ ${p.princName}`);
      break;
    case "KINK_TGT_REP":
      out.push(`${ind}KINK_TGT_REP ticket for ${p.server} etype=${p.etype}`);
      break;
    case "KINK_ISAKMP":
      out.push(`${ind}KINK_ISAKMP QM ${p.qmVersion}`);
      for (const q of Array.isArray(p.payloads) ? p.payloads.filter(isObj) : []) {
        out.push(...isakmpLines(q, `${ind}  `));
      }
      break;
    case "KINK_ENCRYPT":
      out.push(
        `${ind}KINK_ENCRYPT ${p.ciphertextLength} octets ${
          p.decrypted ? "decrypted:" : "not decrypted"
        }`,
      );
      for (const q of Array.isArray(p.inner) ? p.inner.filter(isObj) : []) {
        out.push(...payloadLines(q, `${ind}  `));
      }
      break;
    case "KINK_ERROR":
      out.push(`${ind}KINK_ERROR ${p.code} ${p.codeName}`);
      break;
  }
  return out;
}

/** One line describing a derived SA. */
export function saLine(s: SaReport): string {
  const alg = [
    `${s.transformName}${s.keyBits ? `-${s.keyBits}` : ""}`,
    s.authName ? s.authName : undefined,
  ].filter(Boolean).join("/");
  const keys = s.encKey !== undefined || s.authKey !== undefined
    ? ` enc=${s.encKey ?? "-"}${s.salt ? ` salt=${s.salt}` : ""} auth=${s.authKey ?? "-"}`
    : " (keys hidden; use --show-keys)";
  return `SA ${s.protocolName} spi=${s.spi} ${s.src} → ${s.dst} ${alg} keymat=${s.keymatLength}${
    s.optimistic ? " [initiator's optimistic inbound SA]" : ""
  }${s.usesNr ? " [with Nr]" : ""}${keys}`;
}

/**
 * Renders one message report as text lines. Names, e-texts and problem
 * texts come from the wire: every line goes through `escapeControl`, so no
 * control character of theirs reaches the terminal.
 */
export function renderMessage(m: MessageReport): string[] {
  return messageLines(m).map(escapeControl);
}

function messageLines(m: MessageReport): string[] {
  const h = m.header;
  const out = [
    `#${m.frame} ${m.time} ${m.src}:${m.srcPort} → ${m.dst}:${m.dstPort} ${
      h ? `${h.typeName} xid=${h.xid} len=${h.length}${h.ackReq ? " ACKREQ" : ""}` : "KINK?"
    }${
      m.transaction?.commandFrame
        ? ` (${m.transaction.role} to frame ${m.transaction.commandFrame})`
        : ""
    }`,
  ];
  for (const p of (m.payloads ?? []).filter(isObj)) out.push(...payloadLines(p, "  "));
  if (m.cksum) {
    out.push(
      `  Cksum ${m.cksum.length} octets: ${
        m.cksum.status === "absent" ? "none (unauthenticated)" : m.cksum.status
      }`,
    );
  }
  if (m.session) {
    out.push(
      `  session key enctype ${m.session.enctype} from ${m.session.source}${
        m.session.key ? `: ${m.session.key}` : ""
      }`,
    );
  }
  for (const s of m.sas ?? []) out.push(`  ${saLine(s)}`);
  for (const p of m.problems) out.push(`  ! ${p}`);
  return out;
}

/** The closing lines of a text report: counts, Kerberos notes and capture warnings. */
export function renderSummary(sum: CaptureSummary, warnings: readonly string[] = []): string[] {
  const out = [
    `${sum.packets} packets, ${sum.messages} KINK messages, ${sum.verified} checksums verified, ${sum.distinctSas} distinct SAs keyed`,
  ];
  for (const k of sum.kerberos) out.push(`kerberos: ${k}`);
  if (sum.kerberosNotesDropped > 0) {
    out.push(`kerberos: ${sum.kerberosNotesDropped} more notes left out`);
  }
  for (const w of warnings) out.push(`warning: ${w}`);
  return out.map(escapeControl);
}

/** Renders the whole report as text. */
export function renderReport(r: CaptureReport): string[] {
  const out: string[] = [];
  for (const m of r.messages) out.push(...renderMessage(m), "");
  const verified = r.messages.filter((m) => m.cksum?.status === "verified").length;
  const unique = new Set(
    r.sas.map((s) => `${s.src}>${s.dst} ${s.spi} ${s.transform} ${s.usesNr}`),
  ).size;
  out.push(...renderSummary({
    packets: r.packets,
    messages: r.messages.length,
    verified,
    distinctSas: unique,
    kerberos: r.kerberos,
    kerberosNotesDropped: 0,
  }));
  return out;
}
