/**
 * The service (acceptor) side of the Kerberos AP exchange (RFC 4120 §3.2)
 * as KINK uses it, plus the initiator's AP-REQ construction and AP-REP check.
 *
 * - {@link KerberosService.verifyApReq}: picks the service key from a keytab
 *   by principal, kvno and enctype (or, for user-to-user tickets, the session
 *   key of our own TGT), decrypts the ticket (key usage 2) and the
 *   authenticator (usage 11), checks the authenticator's client against the
 *   ticket's, the clock skew, the ticket's validity period and the replay
 *   cache. Subkeys and sequence numbers in the authenticator are ignored, as
 *   RFC 4430 §7 requires. Failures throw {@link ApError} carrying the
 *   KRB_AP_ERR_* code to answer with.
 * - {@link KerberosService.makeApRep}: the mutual-authentication reply
 *   (EncAPRepPart with the authenticator's ctime/cusec, usage 12).
 * - {@link KerberosService.makeKrbError}: KRB-ERROR messages, including
 *   KRB_AP_ERR_SKEW with the server's time and the client's ctime/cusec so a
 *   peer can correct its clock (RFC 4430 §3.5).
 * - {@link makeApReq} and {@link verifyApRep}: the initiator's side.
 *
 * @module
 */
import { checksumType, CryptoError, decrypt, encrypt, Key } from "../crypto/mod.ts";
import { randomBelow, type RandomSource, systemRandom } from "../util/random.ts";
import { KerberosError } from "./errors.ts";
import {
  ApOption,
  ErrorCode,
  errorCodeName,
  hasFlag,
  KeyUsage,
  makeFlags,
  MsgType,
} from "./iana.ts";
import { enctypeName } from "./iana.ts";
import {
  type ApReq,
  type Authenticator,
  decodeApRep,
  decodeApReq,
  decodeAuthenticator,
  decodeEncApRepPart,
  decodeEncTicketPart,
  type EncApRepPart,
  encodeApRep,
  encodeApReq,
  encodeAuthenticator,
  encodeEncApRepPart,
  encodeKrbError,
  type EncTicketPart,
  type KrbError,
  type PrincipalName,
  type Ticket,
} from "./messages.ts";
import { formatPrincipal, type Principal, principalEquals } from "./principal.ts";
import type { ReplayCache } from "./replay.ts";

/** Default allowed clock skew (krb5.conf `clockskew`), milliseconds. */
export const DEFAULT_CLOCK_SKEW_MS = 300_000;

/** One service key, as a keytab entry provides it. */
export interface ServiceKeyEntry {
  /** The principal the key belongs to. */
  principal: Principal;
  /** Key version number. */
  kvno: number;
  /** Enctype of the key. */
  enctype: number;
  /** Key bytes (copied when the service is built). */
  key: Uint8Array;
}

/** Options of {@link KerberosService}. */
export interface ServiceOptions {
  /** Keys the service may decrypt tickets with (a keytab's entries). */
  keys: readonly ServiceKeyEntry[];
  /**
   * Accept only tickets for this principal. Absent: any principal with a key
   * in `keys`.
   */
  principal?: Principal;
  /** Allowed clock skew, milliseconds. Default 300 000 (5 minutes). */
  skewMs?: number;
  /** Replay cache; absent means no replay detection (tests and tools only). */
  replayCache?: ReplayCache;
  /** Clock, milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** A verified AP-REQ. */
export interface VerifiedApReq {
  /** The decoded AP-REQ. */
  apReq: ApReq;
  /** The ticket (with its original DER in `raw`). */
  ticket: Ticket;
  /** The decrypted ticket contents. */
  encTicketPart: EncTicketPart;
  /** The decrypted authenticator (its subkey, if any, is ignored). */
  authenticator: Authenticator;
  /** The ticket session key. The caller owns it and should dispose it when done. */
  sessionKey: Key;
  /** The client, from the ticket. */
  client: Principal;
  /** The server the ticket was issued for. */
  server: Principal;
  /** Key version number of the service key used (undefined for user-to-user). */
  kvno: number | undefined;
  /** Whether the initiator asked for an AP-REP (ap-options mutual-required). */
  mutualRequired: boolean;
  /** Whether the ticket was a user-to-user ticket (ap-options use-session-key). */
  userToUser: boolean;
}

/**
 * An AP-REQ was refused. `errorCode` is the KRB_AP_ERR_* (RFC 4120 §7.5.9)
 * to put in the KRB-ERROR; `ctime`/`cusec` are the authenticator's when it
 * could be decrypted (KRB_AP_ERR_SKEW replies echo them).
 */
export class ApError extends KerberosError {
  /** The Kerberos error code to answer with. */
  override readonly errorCode: number;
  /** The authenticator's ctime, when known. */
  readonly ctime: Date | undefined;
  /** The authenticator's cusec, when known. */
  readonly cusec: number | undefined;
  /** Client principal, when known. */
  readonly client: Principal | undefined;
  /** Measured clock offset (client ctime minus server time), ms, for skew errors. */
  readonly offsetMs: number | undefined;

  /**
   * Builds the error with the code to answer.
   *
   * @param errorCode KRB_AP_ERR_* code
   * @param detail what is wrong, for logs and operators
   * @param extra authenticator time, client and measured offset when known
   */
  constructor(
    errorCode: number,
    detail: string,
    extra: {
      ctime?: Date;
      cusec?: number;
      client?: Principal;
      offsetMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(
      apCategory(errorCode),
      `verify AP-REQ (${errorCodeName(errorCode)})`,
      detail,
      extra.cause === undefined ? { errorCode } : { errorCode, cause: extra.cause },
    );
    this.errorCode = errorCode;
    this.ctime = extra.ctime;
    this.cusec = extra.cusec;
    this.client = extra.client;
    this.offsetMs = extra.offsetMs;
  }
}

function apCategory(code: number): KerberosError["category"] {
  switch (code) {
    case ErrorCode.KRB_AP_ERR_SKEW:
      return "skew";
    case ErrorCode.KRB_AP_ERR_REPEAT:
      return "replay";
    case ErrorCode.KRB_AP_ERR_BAD_INTEGRITY:
    case ErrorCode.KRB_AP_ERR_MODIFIED:
      return "integrity";
    default:
      return "protocol";
  }
}

/** Converts a PrincipalName plus realm into a {@link Principal}. */
export function toPrincipal(name: PrincipalName, realm: string): Principal {
  return { nameType: name.nameType, components: [...name.components], realm };
}

/** Converts a {@link Principal} into the PrincipalName of the wire format. */
export function toPrincipalName(p: Principal): PrincipalName {
  return { nameType: p.nameType, components: [...p.components] };
}

/** Splits milliseconds since the epoch into a whole-second Date and microseconds. */
export function splitTime(ms: number, extraMicros = 0): { time: Date; usec: number } {
  const totalUs = Math.floor(ms) * 1000 + extraMicros;
  const sec = Math.floor(totalUs / 1_000_000);
  return { time: new Date(sec * 1000), usec: totalUs - sec * 1_000_000 };
}

/** The acceptor side of the AP exchange; see the module documentation. */
export class KerberosService {
  readonly #keys: { principal: Principal; kvno: number; key: Key }[];
  readonly #principal: Principal | undefined;
  readonly #skewMs: number;
  readonly #replay: ReplayCache | undefined;
  readonly #now: () => number;
  #tgtKeys: Key[] = [];

  /**
   * Imports the service keys (only enctypes 17–20, only `principal`'s when given).
   *
   * @param opts keys, accepted principal, skew, replay cache, clock
   */
  constructor(opts: ServiceOptions) {
    this.#principal = opts.principal;
    this.#skewMs = opts.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
    this.#replay = opts.replayCache;
    this.#now = opts.now ?? Date.now;
    this.#keys = [];
    for (const e of opts.keys) {
      if (this.#principal && !principalEquals(e.principal, this.#principal)) continue;
      if (e.enctype < 17 || e.enctype > 20) continue; // only the enctypes kink implements
      this.#keys.push({
        principal: e.principal,
        kvno: e.kvno,
        key: Key.fromBytes(e.enctype, e.key),
      });
    }
  }

  /** The allowed clock skew in milliseconds. */
  get skewMs(): number {
    return this.#skewMs;
  }

  /**
   * Session keys of our own TGTs, used to decrypt user-to-user tickets
   * (AP-REQs with use-session-key). Replaces the previous list; the service
   * does not take ownership of the keys.
   */
  setTgtSessionKeys(keys: readonly Key[]): void {
    this.#tgtKeys = [...keys];
  }

  /** Releases the service keys. */
  dispose(): void {
    for (const k of this.#keys) k.key.dispose();
    this.#keys.length = 0;
  }

  /**
   * Verifies an AP-REQ (DER or decoded) as RFC 4120 §3.2.3 describes.
   * Throws {@link ApError} with the error code to answer, or a
   * {@link KerberosError} `"decode"` for bytes that are not an AP-REQ
   * (answer KRB_AP_ERR_MSG_TYPE / KRB_ERR_GENERIC).
   */
  verifyApReq(input: Uint8Array | ApReq): VerifiedApReq {
    const apReq = input instanceof Uint8Array ? decodeApReq(input) : input;
    if (apReq.pvno !== 5) {
      throw new ApError(ErrorCode.KRB_AP_ERR_BADVERSION, `pvno ${apReq.pvno}, expected 5`);
    }
    if (apReq.msgType !== MsgType.AP_REQ) {
      throw new ApError(ErrorCode.KRB_AP_ERR_MSG_TYPE, `msg-type ${apReq.msgType}, expected 14`);
    }
    const ticket = apReq.ticket;
    if (ticket.tktVno !== 5) {
      throw new ApError(ErrorCode.KRB_AP_ERR_BADVERSION, `tkt-vno ${ticket.tktVno}, expected 5`);
    }
    const server = toPrincipal(ticket.sname, ticket.realm);
    const userToUser = hasFlag(apReq.apOptions, ApOption.USE_SESSION_KEY);
    const mutualRequired = hasFlag(apReq.apOptions, ApOption.MUTUAL_REQUIRED);

    // 1. The ticket.
    let plain: Uint8Array | undefined;
    let kvno: number | undefined;
    const etype = ticket.encPart.etype;
    if (userToUser) {
      if (this.#principal && !principalEquals(server, this.#principal)) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_NOT_US,
          `user-to-user ticket is for ${formatPrincipal(server)}, this service is ${
            formatPrincipal(this.#principal)
          }`,
        );
      }
      const cands = this.#tgtKeys.filter((k) => k.enctype === etype);
      if (cands.length === 0) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_NO_TGT,
          `user-to-user ticket for ${formatPrincipal(server)} in ${
            enctypeName(etype)
          }, but no TGT session key of that enctype is held`,
        );
      }
      for (const k of cands) {
        plain = tryDecrypt(k, KeyUsage.KDC_REP_TICKET, ticket.encPart.cipher);
        if (plain) break;
      }
      if (!plain) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
          `user-to-user ticket for ${
            formatPrincipal(server)
          } does not decrypt with our TGT session key (our TGT may have been renewed)`,
        );
      }
    } else {
      const mine = this.#keys.filter((k) => principalEquals(k.principal, server));
      if (mine.length === 0) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_NOT_US,
          `ticket is for ${formatPrincipal(server)}, for which no key is held${
            this.#principal ? ` (this service is ${formatPrincipal(this.#principal)})` : ""
          }`,
        );
      }
      const wantKvno = ticket.encPart.kvno;
      const byKvno = wantKvno === undefined ? mine : mine.filter((k) => k.kvno === wantKvno);
      if (byKvno.length === 0) {
        const have = [...new Set(mine.map((k) => k.kvno))].join(", ");
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BADKEYVER,
          `ticket for ${
            formatPrincipal(server)
          } is encrypted with key version ${wantKvno}, the keytab holds kvno ${have}: ` +
            "re-export the keytab (ktadd -norandkey) after the key change",
        );
      }
      const cands = byKvno.filter((k) => k.key.enctype === etype).sort((a, b) => b.kvno - a.kvno);
      if (cands.length === 0) {
        const have = [...new Set(byKvno.map((k) => enctypeName(k.key.enctype)))].join(", ");
        throw new ApError(
          ErrorCode.KRB_AP_ERR_NOKEY,
          `ticket for ${formatPrincipal(server)} is encrypted with ${
            enctypeName(etype)
          }, the keytab holds only ${have} for that kvno`,
        );
      }
      for (const k of cands) {
        plain = tryDecrypt(k.key, KeyUsage.KDC_REP_TICKET, ticket.encPart.cipher);
        if (plain) {
          kvno = k.kvno;
          break;
        }
      }
      if (!plain) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
          `ticket for ${formatPrincipal(server)} (${enctypeName(etype)}, kvno ${
            wantKvno ?? "unspecified"
          }) fails the integrity check with the keytab's key: the keytab does not match the KDC`,
        );
      }
    }
    let encTicketPart: EncTicketPart;
    try {
      encTicketPart = decodeEncTicketPart(plain);
    } catch (e) {
      throw new ApError(ErrorCode.KRB_AP_ERR_MODIFIED, "ticket decrypts but does not decode", {
        cause: e,
      });
    }
    let sessionKey: Key;
    try {
      sessionKey = Key.fromBytes(encTicketPart.key.keytype, encTicketPart.key.keyvalue);
    } catch (e) {
      throw new ApError(
        ErrorCode.KRB_AP_ERR_NOKEY,
        `ticket session key is ${
          enctypeName(encTicketPart.key.keytype)
        }, which kink does not implement`,
        { cause: e },
      );
    } finally {
      encTicketPart.key.keyvalue.fill(0);
    }
    const client = toPrincipal(encTicketPart.cname, encTicketPart.crealm);

    // From here on the session key must be disposed on failure.
    try {
      // 2. The authenticator.
      if (apReq.authenticator.etype !== sessionKey.enctype) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
          `authenticator is in ${enctypeName(apReq.authenticator.etype)}, the session key is ${
            enctypeName(sessionKey.enctype)
          }`,
        );
      }
      const aplain = tryDecrypt(
        sessionKey,
        KeyUsage.AP_REQ_AUTHENTICATOR,
        apReq.authenticator.cipher,
      );
      if (!aplain) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
          "authenticator fails the integrity check with the ticket's session key",
        );
      }
      let authenticator: Authenticator;
      try {
        authenticator = decodeAuthenticator(aplain);
      } catch (e) {
        throw new ApError(ErrorCode.KRB_AP_ERR_MODIFIED, "authenticator does not decode", {
          cause: e,
        });
      }
      if (authenticator.subkey) authenticator.subkey.keyvalue.fill(0); // ignored (RFC 4430 §7)
      const ctime = authenticator.ctime;
      const cusec = authenticator.cusec;
      const authClient = toPrincipal(authenticator.cname, authenticator.crealm);
      if (!principalEquals(authClient, client)) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_BADMATCH,
          `authenticator names ${formatPrincipal(authClient)}, the ticket ${
            formatPrincipal(client)
          }`,
          { ctime, cusec, client },
        );
      }
      // 3. Clock skew.
      const now = this.#now();
      const offsetMs = ctime.getTime() + cusec / 1000 - now;
      if (Math.abs(offsetMs) > this.#skewMs) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_SKEW,
          `authenticator time of ${formatPrincipal(client)} is ${describeOffset(offsetMs)} ` +
            `(allowed skew ${this.#skewMs / 1000} s)`,
          { ctime, cusec, client, offsetMs },
        );
      }
      // 4. Ticket validity period.
      const start = (encTicketPart.starttime ?? encTicketPart.authtime).getTime();
      if (start - now > this.#skewMs || hasFlag(encTicketPart.flags, 7 /* invalid */)) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_TKT_NYV,
          `ticket of ${formatPrincipal(client)} is not valid before ${
            new Date(start).toISOString()
          }`,
          { ctime, cusec, client },
        );
      }
      if (now - encTicketPart.endtime.getTime() > this.#skewMs) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_TKT_EXPIRED,
          `ticket of ${formatPrincipal(client)} expired at ${encTicketPart.endtime.toISOString()}`,
          { ctime, cusec, client },
        );
      }
      // 5. Replay.
      if (this.#replay) {
        const v = this.#replay.check({
          client: formatPrincipal(client),
          server: formatPrincipal(server),
          ctimeMs: ctime.getTime(),
          cusec,
        });
        if (!v.ok) {
          const why = v.reason === "replay"
            ? "this authenticator was already presented"
            : v.reason === "recovering"
            ? `the replay cache was lost; every request is refused until ${
              new Date(v.until ?? 0).toISOString()
            }`
            : "the replay cache is full";
          throw new ApError(
            ErrorCode.KRB_AP_ERR_REPEAT,
            `${why} (client ${formatPrincipal(client)})`,
            { ctime, cusec, client },
          );
        }
      }
      return {
        apReq,
        ticket,
        encTicketPart,
        authenticator,
        sessionKey,
        client,
        server,
        kvno,
        mutualRequired,
        userToUser,
      };
    } catch (e) {
      sessionKey.dispose();
      throw e;
    }
  }

  /** Builds the AP-REP for a verified AP-REQ (EncAPRepPart, key usage 12, no subkey). */
  makeApRep(v: VerifiedApReq): Uint8Array {
    return makeApRep(v.sessionKey, v.authenticator.ctime, v.authenticator.cusec);
  }

  /**
   * Builds a KRB-ERROR from this service. For an {@link ApError} the code,
   * client and the authenticator's ctime/cusec are taken from it.
   */
  makeKrbError(
    err: ApError | number,
    opts: { server?: Principal; eText?: string; eData?: Uint8Array } = {},
  ): Uint8Array {
    const code = typeof err === "number" ? err : err.errorCode;
    const server = opts.server ?? this.#principal ?? this.#keys[0]?.principal;
    if (!server) {
      throw new KerberosError("invalid-argument", "make KRB-ERROR", "no server principal known");
    }
    const { time, usec } = splitTime(this.#now());
    const m: KrbError = {
      pvno: 5,
      msgType: MsgType.KRB_ERROR,
      stime: time,
      susec: usec,
      errorCode: code,
      realm: server.realm,
      sname: toPrincipalName(server),
    };
    if (typeof err !== "number") {
      if (err.ctime) m.ctime = err.ctime;
      if (err.cusec !== undefined) m.cusec = err.cusec;
      if (err.client) {
        m.crealm = err.client.realm;
        m.cname = toPrincipalName(err.client);
      }
    }
    if (opts.eText !== undefined) m.eText = opts.eText;
    if (opts.eData !== undefined) m.eData = opts.eData;
    return encodeKrbError(m);
  }
}

function describeOffset(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  return ms > 0 ? `${s} s ahead of ours` : `${s} s behind ours`;
}

/** Decrypts, or returns undefined when the ciphertext is not encrypted in `key`. */
export function tryDecrypt(key: Key, usage: number, cipher: Uint8Array): Uint8Array | undefined {
  try {
    return decrypt(key, usage, cipher);
  } catch (e) {
    // Integrity failures and ciphertexts too short for the enctype both mean
    // "not encrypted in this key"; a disposed key is a programming error.
    if (e instanceof CryptoError && e.category !== "disposed") return undefined;
    throw e;
  }
}

/**
 * Builds an AP-REP answering an authenticator (ctime, cusec), encrypted in
 * `sessionKey`; the confounder comes from `random` (default: the system CSPRNG).
 */
export function makeApRep(
  sessionKey: Key,
  ctime: Date,
  cusec: number,
  random: RandomSource = systemRandom,
): Uint8Array {
  const part: EncApRepPart = { ctime, cusec };
  const cipher = encrypt(sessionKey, KeyUsage.AP_REP_ENC_PART, encodeEncApRepPart(part), random);
  return encodeApRep({
    pvno: 5,
    msgType: MsgType.AP_REP,
    encPart: { etype: sessionKey.enctype, cipher },
  });
}

/** The time of one authenticator we sent, remembered to check AP-REP freshness. */
export interface AuthenticatorTime {
  /** ctime (whole seconds). */
  ctime: Date;
  /** cusec. */
  cusec: number;
}

/** A verified AP-REP. */
export interface VerifiedApRep {
  /** The decrypted EncAPRepPart (subkey and seq-number are not used by KINK). */
  encPart: EncApRepPart;
  /** Index in `outstanding` of the authenticator this AP-REP answers. */
  matched: number;
}

/**
 * Verifies an AP-REP with the ticket's session key (usage 12) and checks that
 * it echoes the ctime/cusec of one of the authenticators still outstanding
 * (RFC 4120 §3.2.5; several when the AP-REQ was retransmitted, RFC 4430 §9).
 * Throws {@link KerberosError} with errorCode KRB_AP_ERR_MUT_FAIL otherwise.
 */
export function verifyApRep(
  apRep: Uint8Array,
  sessionKey: Key,
  outstanding: readonly AuthenticatorTime[],
): VerifiedApRep {
  const rep = decodeApRep(apRep);
  const ctx = "verify AP-REP";
  if (rep.encPart.etype !== sessionKey.enctype) {
    throw new KerberosError(
      "integrity",
      ctx,
      `enc-part is ${enctypeName(rep.encPart.etype)}, the session key ${
        enctypeName(sessionKey.enctype)
      }`,
      { errorCode: ErrorCode.KRB_AP_ERR_MUT_FAIL },
    );
  }
  const plain = tryDecrypt(sessionKey, KeyUsage.AP_REP_ENC_PART, rep.encPart.cipher);
  if (!plain) {
    throw new KerberosError(
      "integrity",
      ctx,
      "enc-part fails the integrity check with the session key",
      { errorCode: ErrorCode.KRB_AP_ERR_MUT_FAIL },
    );
  }
  const encPart = decodeEncApRepPart(plain);
  if (encPart.subkey) encPart.subkey.keyvalue.fill(0);
  const sec = encPart.ctime.getTime();
  const matched = outstanding.findIndex((a) =>
    a.ctime.getTime() === sec && a.cusec === encPart.cusec
  );
  if (matched < 0) {
    throw new KerberosError(
      "protocol",
      ctx,
      `ctime ${encPart.ctime.toISOString()} cusec ${encPart.cusec} matches none of the ${outstanding.length} outstanding authenticator(s)`,
      { errorCode: ErrorCode.KRB_AP_ERR_MUT_FAIL },
    );
  }
  return { encPart, matched };
}

/** Options of {@link makeApReq}. */
export interface MakeApReqOptions {
  /** Ask for an AP-REP (mutual-required). Default true. */
  mutual?: boolean;
  /** The ticket is a user-to-user ticket (use-session-key). Default false. */
  userToUser?: boolean;
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Correction added to the clock (from a protected KRB_AP_ERR_SKEW), ms. */
  clockOffsetMs?: number;
  /** Checksum over application data (e.g. the TGS-REQ body), put in the authenticator. */
  checksum?: { cksumtype: number; checksum: Uint8Array };
  /** Key usage of the authenticator encryption. Default 11 (AP-REQ); 7 in a TGS-REQ. */
  usage?: number;
  /**
   * Source of the confounder and of the sub-millisecond part of cusec
   * (default: the system CSPRNG). A deterministic engine passes its own.
   */
  random?: RandomSource;
  /**
   * The authenticator time to use, exactly. The caller then guarantees that
   * no (ctime, cusec) pair repeats (the process-wide uniqueness set is not
   * consulted), as a deterministic engine with its own clock must.
   */
  time?: AuthenticatorTime;
}

/** An AP-REQ built by {@link makeApReq}. */
export interface BuiltApReq {
  /** The AP-REQ DER. */
  apReq: Uint8Array;
  /** The authenticator's time, to match the AP-REP against. */
  time: AuthenticatorTime;
}

/** Recently issued (ctime, cusec) pairs, so that none repeats (RFC 4120 §3.2.3). */
const ISSUED_MAX = 65_536;
const issued = new Set<string>();
const issuedRing: (string | undefined)[] = new Array(ISSUED_MAX);
let issuedNext = 0;

function uniqueTime(nowMs: number, random: RandomSource): { time: Date; usec: number } {
  const start = splitTime(nowMs, randomBelow(random, 1000));
  let sec = start.time.getTime() / 1000;
  let usec = start.usec;
  while (issued.has(`${sec}.${usec}`)) {
    if (++usec > 999_999) {
      sec++;
      usec = 0;
    }
  }
  const k = `${sec}.${usec}`;
  const old = issuedRing[issuedNext];
  if (old !== undefined) issued.delete(old);
  issuedRing[issuedNext] = k;
  issuedNext = (issuedNext + 1) % ISSUED_MAX;
  issued.add(k);
  return { time: new Date(sec * 1000), usec };
}

/**
 * Builds an AP-REQ presenting `ticket` (whose session key is `sessionKey`)
 * as `client`. No subkey, no sequence number (RFC 4430 §7). No (ctime,
 * cusec) pair is issued twice by this process (among the last 65 536).
 */
export function makeApReq(
  client: Principal,
  ticket: Ticket,
  sessionKey: Key,
  opts: MakeApReqOptions = {},
): BuiltApReq {
  const random = opts.random ?? systemRandom;
  const { time, usec } = opts.time
    ? { time: opts.time.ctime, usec: opts.time.cusec }
    : uniqueTime((opts.now ?? Date.now)() + (opts.clockOffsetMs ?? 0), random);
  const auth: Authenticator = {
    authenticatorVno: 5,
    crealm: client.realm,
    cname: toPrincipalName(client),
    cusec: usec,
    ctime: time,
  };
  if (opts.checksum) auth.cksum = opts.checksum;
  const cipher = encrypt(
    sessionKey,
    opts.usage ?? KeyUsage.AP_REQ_AUTHENTICATOR,
    encodeAuthenticator(auth),
    random,
  );
  const bits: number[] = [];
  if (opts.userToUser) bits.push(ApOption.USE_SESSION_KEY);
  if (opts.mutual ?? true) bits.push(ApOption.MUTUAL_REQUIRED);
  const apReq = encodeApReq({
    pvno: 5,
    msgType: MsgType.AP_REQ,
    apOptions: makeFlags(...bits),
    ticket,
    authenticator: { etype: sessionKey.enctype, cipher },
  });
  return { apReq, time: { ctime: time, cusec: usec } };
}

/** The checksum type that goes with a session key's enctype (RFC 3961/8009). */
export function checksumTypeFor(key: Key): number {
  return checksumType(key.enctype);
}
