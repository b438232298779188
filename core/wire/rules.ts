/**
 * The message-construction rules of RFC 4430 §6 (IPsec DOI): which payloads
 * each message type carries, in which order, where KINK_ENCRYPT may be used,
 * and what each KINK_ISAKMP must contain. {@link checkPayloadRules} is used by
 * the receive path (a violation is answered with the RFC's reaction) and by
 * the builders (we never send a message that breaks them).
 *
 * KINK-level violations are KINK_PROTOERR; Quick Mode content violations are
 * answered with an ISAKMP Notify PAYLOAD-MALFORMED (RFC 4430 §5.5).
 *
 * @module
 */
import { isakmpError, malformed } from "./errors.ts";
import { MessageType as M, messageTypeName } from "./constants.ts";
import type { KinkMessage, KinkPayload } from "./kink.ts";
import type { IsakmpPayload } from "./isakmp.ts";

/** Context of a rule check. */
export interface RuleContext {
  /**
   * For a REPLY: the type of the command it answers, when known (the
   * initiator knows it from the XID). Enables the command-specific forms.
   */
  command?: number;
}

/** Kinds of the KINK payloads, for the order checks. */
type Kind = KinkPayload["kind"];

/** How many of `k` are `x`. */
function countKind(k: readonly Kind[], x: Kind): number {
  let n = 0;
  for (const y of k) if (y === x) n++;
  return n;
}

/** The error context of a message type's checks, made once per type (not per message). */
const ruleContexts = new Map<number, string>();
function ruleContext(type: number): string {
  let c = ruleContexts.get(type);
  if (c === undefined) {
    c = `check ${messageTypeName(type)} payloads`;
    // Bounded: the type is an octet.
    if (ruleContexts.size < 256) ruleContexts.set(type, c);
  }
  return c;
}

function kinds(ps: readonly KinkPayload[]): Kind[] {
  return ps.map((p) => p.kind);
}

/**
 * Checks a message against RFC 4430 §6. The message's KINK_ENCRYPT payload,
 * if any, must be opened (its `inner` filled). Throws a {@link WireError}
 * (KINK_PROTOERR, or a Notify for Quick Mode content) on the first
 * violation.
 */
export function checkPayloadRules(msg: KinkMessage, rc: RuleContext = {}): void {
  const ctx = ruleContext(msg.type);
  const bad = (detail: string) => malformed(ctx, detail);
  const outer = msg.payloads;
  const enc = outer.find((p) => p.kind === "encrypt");
  if (enc && enc.kind === "encrypt" && !enc.inner) {
    throw bad("KINK_ENCRYPT must be opened before the payload rules are checked");
  }
  const hasKey = outer.some((p) => p.kind === "ap-req" || p.kind === "ap-rep");
  if (enc && !hasKey) throw bad("KINK_ENCRYPT without KINK_AP_REQ or KINK_AP_REP");
  const inner = enc && enc.kind === "encrypt" ? enc.inner! : [];
  for (const p of inner) {
    if (p.kind === "ap-req" || p.kind === "ap-rep") {
      throw bad(`${p.kind === "ap-req" ? "KINK_AP_REQ" : "KINK_AP_REP"} inside KINK_ENCRYPT`);
    }
    if (p.kind === "tgt-req" || p.kind === "tgt-rep") {
      throw bad("KINK_TGT_REQ/KINK_TGT_REP inside KINK_ENCRYPT");
    }
  }
  // The effective list: outer without the KINK_ENCRYPT, followed by its inner chain.
  const eff: KinkPayload[] = [];
  for (const p of outer) if (p.kind !== "encrypt") eff.push(p);
  for (const p of inner) eff.push(p);
  const k = kinds(eff);
  const count = (x: Kind) => countKind(k, x);
  if (msg.ackReq && !(msg.type === M.REPLY && (rc.command ?? M.CREATE) === M.CREATE)) {
    throw bad("ACKREQ is set on a message other than a REPLY to CREATE");
  }
  const isakmps = eff.filter((p) => p.kind === "isakmp");
  switch (msg.type) {
    case M.CREATE:
    case M.DELETE:
    case M.STATUS: {
      if (k[0] !== "ap-req") throw bad("the first payload must be KINK_AP_REQ");
      if (count("ap-req") !== 1) throw bad("more than one KINK_AP_REQ");
      const rest = k.slice(1);
      if (rest.some((x) => x !== "isakmp")) {
        throw bad(`only KINK_ISAKMP may follow KINK_AP_REQ (found ${rest.join(", ")})`);
      }
      if (msg.type !== M.STATUS && isakmps.length === 0) throw bad("no KINK_ISAKMP payload");
      for (const p of isakmps) {
        if (p.kind !== "isakmp") continue;
        if (msg.type === M.CREATE) checkCreateQm(p.payloads, ctx);
        else if (msg.type === M.DELETE) checkDeleteQm(p.payloads, ctx, false);
        else checkNotifyOnlyQm(p.payloads, ctx, true);
      }
      break;
    }
    case M.ACK:
      if (k.length !== 1 || k[0] !== "ap-req") throw bad("an ACK carries exactly one KINK_AP_REQ");
      if (enc) throw bad("an ACK carries no KINK_ENCRYPT");
      break;
    case M.GETTGT:
      if (k.length !== 1 || k[0] !== "tgt-req") {
        throw bad("a GETTGT carries exactly one KINK_TGT_REQ");
      }
      if (msg.cksum && msg.cksum.length) throw bad("a GETTGT carries no Cksum");
      break;
    case M.REPLY:
      checkReply(msg, eff, rc, ctx);
      break;
    default:
      throw bad(`unknown message type ${msg.type}`);
  }
}

function checkReply(
  msg: KinkMessage,
  eff: KinkPayload[],
  rc: RuleContext,
  ctx: string,
): void {
  const bad = (detail: string) => malformed(ctx, detail);
  const k = kinds(eff);
  const count = (x: Kind) => countKind(k, x);
  if (k.length === 0) throw bad("a REPLY must carry KINK_AP_REP, KINK_KRB_ERROR or KINK_ERROR");
  if (k[0] === "ap-rep") {
    if (count("ap-rep") !== 1) throw bad("more than one KINK_AP_REP");
    const rest = eff.slice(1);
    const rk = k.slice(1);
    if (rk.some((x) => x === "tgt-req" || x === "tgt-rep" || x === "ap-req")) {
      throw bad(`unexpected ${rk.join(", ")} after KINK_AP_REP`);
    }
    if (rk.includes("krb-error")) {
      // KINK_AP_REP, [KINK_ENCRYPT]{KINK_KRB_ERROR}
      if (rk.length !== 1) throw bad("KINK_KRB_ERROR after KINK_AP_REP must be alone");
      return;
    }
    // [KINK_ERROR], KINK_ISAKMP…
    const errs = rest.filter((p) => p.kind === "error");
    if (errs.length > 1) throw bad("more than one KINK_ERROR");
    if (errs.length === 1 && rk[0] !== "error") throw bad("KINK_ERROR must precede KINK_ISAKMP");
    const isakmps = rest.filter((p) => p.kind === "isakmp");
    const cmd = rc.command;
    if (
      (cmd === M.CREATE || cmd === M.DELETE) && isakmps.length === 0 && errs.length === 0
    ) {
      throw bad(`a REPLY to ${messageTypeName(cmd)} without KINK_ISAKMP or KINK_ERROR`);
    }
    let nonce = false;
    for (const p of isakmps) {
      if (p.kind !== "isakmp") continue;
      const qm = p.payloads;
      const notifyOnly = qm.every((x) => x.kind === "notify");
      if (cmd === M.CREATE && !notifyOnly) checkCreateReplyQm(qm, ctx);
      else if (cmd === M.DELETE && !notifyOnly) checkDeleteQm(qm, ctx, true);
      else if (cmd === M.STATUS || notifyOnly) checkNotifyOnlyQm(qm, ctx, true);
      else if (cmd === undefined) checkAnyReplyQm(qm, ctx);
      else throw bad(`unexpected KINK_ISAKMP contents in a REPLY to ${messageTypeName(cmd)}`);
      if (qm.some((x) => x.kind === "nonce")) nonce = true;
    }
    if (nonce && !msg.ackReq) throw bad("a REPLY carrying Nr must set ACKREQ (RFC 4430 §6.3)");
    return;
  }
  if (k[0] === "tgt-rep") {
    if (k.length !== 1) throw bad("KINK_TGT_REP must be alone");
    // A lone KINK_TGT_REP answers GETTGT (§3.1) and, by §3.7.1, any command whose
    // user-to-user ticket the responder could no longer decrypt (its TGT changed). An ACK
    // is never answered.
    if (rc.command === M.ACK) throw bad("KINK_TGT_REP in a REPLY to ACK");
    return;
  }
  // Lone KINK_KRB_ERROR and/or KINK_ERROR.
  if (k.some((x) => x !== "krb-error" && x !== "error")) {
    throw bad(
      `a REPLY without KINK_AP_REP may carry only KINK_KRB_ERROR / KINK_ERROR (found ${
        k.join(", ")
      })`,
    );
  }
  if (k.filter((x) => x === "krb-error").length > 1 || k.filter((x) => x === "error").length > 1) {
    throw bad("more than one KINK_KRB_ERROR or KINK_ERROR");
  }
}

function qmKinds(qm: readonly IsakmpPayload[]): string[] {
  return qm.map((p) => p.kind);
}

/** Checks the optional tail shared by CREATE and its REPLY: [KE] [IDci, IDcr] [N…]. */
function checkTail(qm: readonly IsakmpPayload[], from: number, ctx: string): void {
  const k = qmKinds(qm).slice(from);
  let i = 0;
  if (k[i] === "ke") i++;
  if (k[i] === "id") {
    if (k[i + 1] !== "id") throw isakmpError(ctx, "IDci without IDcr");
    i += 2;
  }
  while (k[i] === "notify") i++;
  if (i !== k.length) {
    throw isakmpError(ctx, `unexpected Quick Mode payload order: ${qmKinds(qm).join(", ")}`);
  }
}

function checkSas(qm: readonly IsakmpPayload[], ctx: string, reply: boolean): number {
  let i = 0;
  while (qm[i]?.kind === "sa") {
    const sa = qm[i]!;
    if (sa.kind === "sa") {
      if (sa.proposals.length === 0) throw isakmpError(ctx, "SA payload without a Proposal");
      if (reply) {
        // exactly the chosen transform(s): one transform per proposal
        for (const p of sa.proposals) {
          if (p.transforms.length !== 1) {
            throw isakmpError(ctx, `a REPLY's Proposal carries ${p.transforms.length} transforms`);
          }
        }
      }
    }
    i++;
  }
  if (i === 0) throw isakmpError(ctx, "KINK_ISAKMP without an SA payload");
  return i;
}

function checkCreateQm(qm: readonly IsakmpPayload[], ctx: string): void {
  const i = checkSas(qm, ctx, false);
  if (qm[i]?.kind !== "nonce") throw isakmpError(ctx, "CREATE without the Nonce payload Ni");
  checkTail(qm, i + 1, ctx);
}

function checkCreateReplyQm(qm: readonly IsakmpPayload[], ctx: string): void {
  let i = checkSas(qm, ctx, true);
  if (qm[i]?.kind === "nonce") i++;
  checkTail(qm, i, ctx);
}

function checkDeleteQm(qm: readonly IsakmpPayload[], ctx: string, _reply: boolean): void {
  let i = 0;
  while (qm[i]?.kind === "delete") i++;
  if (i === 0) throw isakmpError(ctx, "KINK_ISAKMP of a DELETE without a Delete payload");
  while (qm[i]?.kind === "notify") i++;
  if (i !== qm.length) throw isakmpError(ctx, `unexpected payloads: ${qmKinds(qm).join(", ")}`);
}

function checkNotifyOnlyQm(qm: readonly IsakmpPayload[], ctx: string, _reply: boolean): void {
  if (qm.some((p) => p.kind !== "notify")) {
    throw isakmpError(ctx, `only Notify payloads allowed here: ${qmKinds(qm).join(", ")}`);
  }
}

function checkAnyReplyQm(qm: readonly IsakmpPayload[], ctx: string): void {
  if (qm.length === 0 || qm.every((p) => p.kind === "notify")) return;
  if (qm[0]?.kind === "sa") return checkCreateReplyQm(qm, ctx);
  if (qm[0]?.kind === "delete") return checkDeleteQm(qm, ctx, true);
  throw isakmpError(ctx, `unexpected payloads: ${qmKinds(qm).join(", ")}`);
}
