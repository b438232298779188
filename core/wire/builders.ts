/**
 * Builders of the KINK messages of RFC 4430 §6 for the IPsec DOI: CREATE,
 * DELETE, STATUS, ACK, GETTGT, and the REPLY forms (success with or without
 * ACKREQ/Nr, DOI error, Kerberos error with AP-REP, lone KRB-ERROR /
 * KINK_ERROR, TGT). Each builder assembles the payloads in the order §6
 * lists, checks the result against the §6 rules (we never send what we would
 * reject), seals KINK_ENCRYPT (usage 39) and appends the Cksum (usage 40)
 * when a session key is given.
 *
 * The Kerberos parts (AP-REQ, AP-REP, KRB-ERROR, TGT) come in as DER octets
 * from the Kerberos layer.
 *
 * @module
 */
import { WireError } from "./errors.ts";
import { DOI_IPSEC, MessageType as M, messageTypeName } from "./constants.ts";
import { encodeKinkMessage, type KinkKeyOps, type KinkMessage, type KinkPayload } from "./kink.ts";
import type { IsakmpPayload } from "./isakmp.ts";
import { checkPayloadRules } from "./rules.ts";

/** Fields common to every message. */
export interface MessageBase {
  /** Transaction id. */
  xid: number;
  /** DOI (default 1, IPsec). */
  doi?: number;
}

/** Fields of an authenticated command (CREATE, DELETE, STATUS). */
export interface CommandOptions extends MessageBase {
  /** Our epoch (low 32 bits of POSIX seconds). */
  epoch: number;
  /** DER AP-REQ (mutual-required) from the Kerberos layer. */
  apReq: Uint8Array;
  /** Operations of the ticket session key (Cksum, KINK_ENCRYPT). */
  key: KinkKeyOps;
  /** Wrap the KINK_ISAKMP payloads in KINK_ENCRYPT (default true). */
  encrypt?: boolean;
}

function finish(msg: KinkMessage, key: KinkKeyOps | undefined, command?: number): Uint8Array {
  try {
    checkPayloadRules(msg, command === undefined ? {} : { command });
  } catch (e) {
    if (e instanceof WireError) {
      throw new WireError("invalid-argument", `build ${messageTypeName(msg.type)}`, e.detail, {
        cause: e,
      });
    }
    throw e;
  }
  return encodeKinkMessage(msg, key ? { key } : {});
}

function wrap(
  first: KinkPayload,
  rest: KinkPayload[],
  encrypt: boolean,
): KinkPayload[] {
  if (rest.length === 0) return [first];
  return encrypt ? [first, { kind: "encrypt", inner: rest }] : [first, ...rest];
}

function isakmps(transactions: readonly IsakmpPayload[][]): KinkPayload[] {
  return transactions.map((payloads) => ({ kind: "isakmp", payloads: [...payloads] }));
}

function command(type: number, o: CommandOptions, rest: KinkPayload[]): Uint8Array {
  const msg: KinkMessage = {
    type,
    doi: o.doi ?? DOI_IPSEC,
    xid: o.xid,
    ackReq: false,
    payloads: wrap({ kind: "ap-req", epoch: o.epoch, apReq: o.apReq }, rest, o.encrypt ?? true),
  };
  return finish(msg, o.key);
}

/**
 * CREATE (§6.3): KINK_AP_REQ, [KINK_ENCRYPT]{KINK_ISAKMP…}. Each transaction
 * is SA payload(s), Nonce Ni, [KE], [IDci, IDcr], [Notify…].
 */
export function buildCreate(o: CommandOptions & { transactions: IsakmpPayload[][] }): Uint8Array {
  return command(M.CREATE, o, isakmps(o.transactions));
}

/** DELETE (§6.4): KINK_AP_REQ, [KINK_ENCRYPT]{KINK_ISAKMP{Delete…, [Notify…]}…}. */
export function buildDelete(o: CommandOptions & { transactions: IsakmpPayload[][] }): Uint8Array {
  return command(M.DELETE, o, isakmps(o.transactions));
}

/** STATUS (§6.5): KINK_AP_REQ [, [KINK_ENCRYPT]{KINK_ISAKMP{[Notify…]}}]. */
export function buildStatus(o: CommandOptions & { transactions?: IsakmpPayload[][] }): Uint8Array {
  return command(M.STATUS, o, isakmps(o.transactions ?? []));
}

/** ACK (§6.2): exactly one KINK_AP_REQ (fresh authenticator, same ticket), with Cksum. */
export function buildAck(o: Omit<CommandOptions, "encrypt">): Uint8Array {
  return command(M.ACK, { ...o, encrypt: false }, []);
}

/** GETTGT (§6.6): one KINK_TGT_REQ, no Cksum. */
export function buildGetTgt(o: MessageBase & { princName: string }): Uint8Array {
  return finish({
    type: M.GETTGT,
    doi: o.doi ?? DOI_IPSEC,
    xid: o.xid,
    ackReq: false,
    payloads: [{ kind: "tgt-req", princName: o.princName }],
  }, undefined);
}

/** Options of {@link buildReply}: a REPLY that carries a KINK_AP_REP. */
export interface ReplyOptions extends MessageBase {
  /** The command being answered (selects the §6 form that is checked). */
  command: number;
  /** Our epoch. */
  epoch: number;
  /** DER AP-REP. */
  apRep: Uint8Array;
  /** Operations of the ticket session key. */
  key: KinkKeyOps;
  /** ACKREQ (REPLY to CREATE only; required when a transaction carries Nr). */
  ackReq?: boolean;
  /** A KINK_ERROR code to include before the KINK_ISAKMP payloads. */
  errorCode?: number;
  /** A DER KRB-ERROR (Kerberos error with AP-REP): then nothing else is sent. */
  krbError?: Uint8Array;
  /** Quick Mode transactions (SA+[Nr]+…, Delete…, or Notify…). */
  transactions?: IsakmpPayload[][];
  /** Wrap the payloads after KINK_AP_REP in KINK_ENCRYPT (default true). */
  encrypt?: boolean;
}

/** REPLY with KINK_AP_REP (§6.3–§6.5 normal, DOI-error and Kerberos-error-with-AP-REP forms). */
export function buildReply(o: ReplyOptions): Uint8Array {
  const rest: KinkPayload[] = [];
  if (o.krbError) rest.push({ kind: "krb-error", krbError: o.krbError });
  if (o.errorCode !== undefined) rest.push({ kind: "error", code: o.errorCode });
  rest.push(...isakmps(o.transactions ?? []));
  const msg: KinkMessage = {
    type: M.REPLY,
    doi: o.doi ?? DOI_IPSEC,
    xid: o.xid,
    ackReq: o.ackReq ?? false,
    payloads: wrap({ kind: "ap-rep", epoch: o.epoch, apRep: o.apRep }, rest, o.encrypt ?? true),
  };
  return finish(msg, o.key, o.command);
}

/**
 * The lone error REPLY (§6.3–§6.5, last form) sent when no AP-REP can be
 * made: a KINK_KRB_ERROR and/or a KINK_ERROR, unauthenticated (no Cksum).
 */
export function buildErrorReply(
  o: MessageBase & { krbError?: Uint8Array; errorCode?: number },
): Uint8Array {
  const payloads: KinkPayload[] = [];
  if (o.krbError) payloads.push({ kind: "krb-error", krbError: o.krbError });
  if (o.errorCode !== undefined) payloads.push({ kind: "error", code: o.errorCode });
  return finish({
    type: M.REPLY,
    doi: o.doi ?? DOI_IPSEC,
    xid: o.xid,
    ackReq: false,
    payloads,
  }, undefined);
}

/** REPLY to GETTGT carrying the responder's TGT (§6.6), unauthenticated. */
export function buildTgtReply(o: MessageBase & { tgt: Uint8Array }): Uint8Array {
  return finish(
    {
      type: M.REPLY,
      doi: o.doi ?? DOI_IPSEC,
      xid: o.xid,
      ackReq: false,
      payloads: [{ kind: "tgt-rep", tgt: o.tgt }],
    },
    undefined,
    M.GETTGT,
  );
}
