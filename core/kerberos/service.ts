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
import { parseIp } from "../util/ip.ts";
import { checksumType, CryptoError, decrypt, encrypt, Key, verifyMic } from "../crypto/mod.ts";
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
  type HostAddress,
  type KrbError,
  type PrincipalName,
  type Ticket,
} from "./messages.ts";
import { formatPrincipal, type Principal, principalEquals } from "./principal.ts";
import type { ReplayCache, ReplayVerdict } from "./replay.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import { randomBelow, type RandomSource, systemRandom } from "../util/random.ts";

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

/**
 * Stands in for the replay cache in tests that verify the same AP-REQ more
 * than once on purpose. Not exported from `core/kerberos/mod.ts`: a service
 * outside tests always has a {@link ReplayCache}.
 */
export const NO_REPLAY_CACHE_FOR_TESTS: unique symbol = Symbol("no replay cache (tests only)");

/**
 * What the service does with the addresses a ticket may be restricted to
 * (EncTicketPart `caddr`):
 *
 * - `"check"` (default): an address-less ticket is accepted from anywhere
 *   (MIT's and Heimdal's default `noaddresses = true` asks the KDC for
 *   those); a ticket that lists addresses is accepted only from one of them,
 *   so the caller must give the sender's address (`senderAddress`) or the
 *   ticket is refused with KRB_AP_ERR_BADADDR.
 * - `"ignore"`: addresses in tickets are not looked at (behind NAT, where
 *   the address a ticket names is not the one the packet comes from).
 */
export type TicketAddressPolicy = "check" | "ignore";

/** Options of {@link KerberosService}. */
export interface ServiceOptions {
  /** Keys the service may decrypt tickets with (a keytab's entries). */
  keys: readonly ServiceKeyEntry[];
  /**
   * Accept only tickets for this principal. Absent: any principal with a key
   * in `keys`.
   */
  principal?: Principal;
  /**
   * Allowed clock skew, milliseconds. Default: the replay cache's window
   * (300 000 without one). It may not exceed the replay cache's window:
   * an authenticator must be remembered for as long as it could pass.
   */
  skewMs?: number;
  /**
   * The replay cache (RFC 4120 §3.2.3). Required; its skew must be at least
   * the service's. The symbol `NO_REPLAY_CACHE_FOR_TESTS` (exported by
   * `service.ts` only, not by the layer's `mod.ts`) stands in for it in tests;
   * any other symbol is refused.
   */
  replayCache: ReplayCache | symbol;
  /** The clock. Default {@link systemClock}. */
  clock?: Clock;
  /** Clock as a bare function (older form of `clock`; `clock` wins). */
  now?: () => number;
  /** Randomness for the AP-REP's confounder. Default {@link systemRandom}. */
  random?: RandomSource;
  /** Ticket address policy; see {@link TicketAddressPolicy}. Default `"check"`. */
  ticketAddresses?: TicketAddressPolicy;
  /**
   * How many decrypted tickets to keep (default {@link DEFAULT_TICKET_CACHE_SIZE};
   * 0 turns the cache off). A peer presents the same service ticket in every
   * AP-REQ until it expires; the service keeps the ticket's decrypted part
   * and its session key, with the key-usage keys derived from it, keyed on
   * the ticket's exact ciphertext, so that a known ticket costs no ticket
   * decryption and no key derivation. Entries go least recently used first
   * and once the ticket has expired; their keys are zeroed then, and by
   * {@link KerberosService.dispose}. Only keytab tickets are kept, never
   * user-to-user ones (those depend on our current TGT).
   */
  ticketCacheSize?: number;
}

/** Default number of decrypted tickets a {@link KerberosService} keeps. */
export const DEFAULT_TICKET_CACHE_SIZE = 1024;

/** Per-request inputs of {@link KerberosService.verifyApReq} and {@link KerberosService.checkApReq}. */
export interface VerifyApReqOptions {
  /** The sender's IP address (text form), for tickets restricted to addresses. */
  senderAddress?: string;
  /**
   * The application data an authenticator checksum covers. KINK defines
   * none, so a checksum, when present, must be over the empty string
   * (the default).
   */
  checksumData?: Uint8Array;
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
  /** `client` formatted ({@link formatPrincipal}), e.g. for a replay cache entry. */
  clientName: string;
  /** `server` formatted ({@link formatPrincipal}). */
  serverName: string;
  /** Key version number of the service key used (undefined for user-to-user). */
  kvno: number | undefined;
  /** Whether the initiator asked for an AP-REP (ap-options mutual-required). */
  mutualRequired: boolean;
  /** Whether the ticket was a user-to-user ticket (ap-options use-session-key). */
  userToUser: boolean;
  /** Whether the authenticator was recorded in the replay cache. */
  recorded: boolean;
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
   * True when the ticket itself was refused, before any authenticator was
   * looked at (not for us, no key, fails its integrity check, does not
   * decode): the same ticket ciphertext always gets the same refusal, so a
   * receiver may remember the verdict by ticket.
   */
  readonly ticketRefused: boolean;

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
      ticketRefused?: boolean;
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
    this.ticketRefused = extra.ticketRefused === true;
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

/** A decrypted keytab ticket, kept for the AP-REQs that present it again. */
interface TicketCacheEntry {
  /** The ticket's enc-part ciphertext (compared in full on a hit). */
  cipher: Uint8Array;
  etype: number;
  /** kvno of the ticket's enc-part (as sent). */
  ticketKvno: number | undefined;
  server: Principal;
  serverName: string;
  /** The decrypted part, its session key octets zeroed. */
  encTicketPart: EncTicketPart;
  /** Master copy of the session key; callers get clones. */
  sessionKey: Key;
  client: Principal;
  clientName: string;
  /** kvno of the service key that decrypted it. */
  kvno: number | undefined;
  /** When the entry is of no more use (ticket end time + skew), ms. */
  expiresMs: number;
}

/** What checkApReq needs from a ticket: decrypted now or from the cache. */
interface OpenedTicket {
  encTicketPart: EncTicketPart;
  /** Owned by the caller. */
  sessionKey: Key;
  client: Principal;
  clientName: string;
  serverName: string;
  kvno: number | undefined;
}

/** Map key of a ticket: its length and last 16 ciphertext octets (the integrity tag's). */
function ticketCacheKey(cipher: Uint8Array): string {
  let t = `${cipher.length}:`;
  for (let i = Math.max(0, cipher.length - 16); i < cipher.length; i++) {
    t += String.fromCharCode(65 + (cipher[i]! >> 4), 65 + (cipher[i]! & 15));
  }
  return t;
}

/** The acceptor side of the AP exchange; see the module documentation. */
export class KerberosService {
  readonly #keys: { principal: Principal; kvno: number; key: Key }[];
  readonly #principal: Principal | undefined;
  readonly #skewMs: number;
  readonly #replay: ReplayCache | undefined;
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #addressPolicy: TicketAddressPolicy;
  #tgtKeys: Key[] = [];
  readonly #ticketCacheSize: number;
  /** Decrypted tickets, least recently used first. */
  readonly #tickets = new Map<string, TicketCacheEntry>();

  /**
   * Imports the service keys (only enctypes 17–20, only `principal`'s when given).
   *
   * @param opts keys, accepted principal, skew, replay cache, clock
   */
  constructor(opts: ServiceOptions) {
    const rc = opts.replayCache;
    if (rc === undefined || rc === null) {
      throw new KerberosError(
        "invalid-argument",
        "Kerberos service",
        "a replay cache is required (RFC 4120 §3.2.3)",
      );
    }
    if (typeof rc === "symbol" && rc !== NO_REPLAY_CACHE_FOR_TESTS) {
      throw new KerberosError("invalid-argument", "Kerberos service", "not a replay cache");
    }
    this.#replay = typeof rc === "symbol" ? undefined : rc;
    this.#principal = opts.principal;
    this.#skewMs = opts.skewMs ?? this.#replay?.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
    if (!(this.#skewMs > 0)) {
      throw new KerberosError("invalid-argument", "Kerberos service", "skew must be positive");
    }
    if (this.#replay && this.#replay.skewMs < this.#skewMs) {
      throw new KerberosError(
        "invalid-argument",
        "Kerberos service",
        `the replay cache remembers authenticators for ${this.#replay.skewMs / 1000} s, ` +
          `the service accepts ${this.#skewMs / 1000} s of skew: a replay inside the difference ` +
          "would pass; give both the same skew",
      );
    }
    const clock: Clock = opts.clock ?? (opts.now ? { now: opts.now } : systemClock);
    this.#now = () => clock.now();
    this.#random = opts.random ?? systemRandom;
    this.#addressPolicy = opts.ticketAddresses ?? "check";
    const size = opts.ticketCacheSize ?? DEFAULT_TICKET_CACHE_SIZE;
    if (!Number.isInteger(size) || size < 0) {
      throw new KerberosError(
        "invalid-argument",
        "Kerberos service",
        `ticket cache size must be a non-negative integer, got ${size}`,
      );
    }
    this.#ticketCacheSize = size;
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

  /** Releases the service keys and zeroes the cached tickets' session keys. */
  dispose(): void {
    for (const k of this.#keys) k.key.dispose();
    this.#keys.length = 0;
    for (const e of this.#tickets.values()) e.sessionKey.dispose();
    this.#tickets.clear();
  }

  /** Number of decrypted tickets held (see {@link ServiceOptions.ticketCacheSize}). */
  get cachedTickets(): number {
    return this.#tickets.size;
  }

  /**
   * Verifies an AP-REQ (DER or decoded) as RFC 4120 §3.2.3 describes and
   * records its authenticator in the replay cache: {@link checkApReq} then
   * {@link recordApReq}. Throws {@link ApError} with the error code to
   * answer, or a {@link KerberosError} `"decode"` for bytes that are not an
   * AP-REQ (answer KRB_AP_ERR_MSG_TYPE / KRB_ERR_GENERIC).
   *
   * KINK must not use this for a message whose Cksum is not yet verified:
   * a forged message carrying a sniffed AP-REQ would burn the genuine one.
   * Use {@link checkApReq}, verify the Cksum, then {@link recordApReq}.
   */
  verifyApReq(input: Uint8Array | ApReq, opts: VerifyApReqOptions = {}): VerifiedApReq {
    const v = this.checkApReq(input, opts);
    try {
      this.recordApReq(v);
    } catch (e) {
      v.sessionKey.dispose();
      throw e;
    }
    return v;
  }

  /**
   * Records a checked AP-REQ's authenticator in the replay cache — call it
   * once the message that carried it is authenticated (KINK: its Cksum
   * verified with the session key), before answering. Throws {@link ApError}
   * KRB_AP_ERR_REPEAT when the authenticator was presented before (or the
   * cache is recovering or full), KRB_ERR_GENERIC when the cache cannot
   * persist it; the entry is persisted before this returns. On failure the
   * caller still owns `v.sessionKey`.
   */
  recordApReq(v: VerifiedApReq): void {
    if (v.recorded) return;
    if (this.#replay) {
      const { ctime, cusec } = v.authenticator;
      this.#replayReject(
        this.#replay.check({
          client: v.clientName,
          server: v.serverName,
          ctimeMs: ctime.getTime(),
          cusec,
        }),
        v.client,
        ctime,
        cusec,
      );
    }
    v.recorded = true;
  }

  #replayReject(v: ReplayVerdict, client: Principal, ctime: Date, cusec: number): void {
    if (v.ok) return;
    const why = v.reason === "replay"
      ? "this authenticator was already presented"
      : v.reason === "recovering"
      ? `the replay cache was lost; every request is refused until ${
        new Date(v.until ?? 0).toISOString()
      }`
      : v.reason === "full"
      ? "the replay cache is full"
      : "the replay cache cannot persist new entries";
    throw new ApError(
      v.reason === "unavailable" ? ErrorCode.KRB_ERR_GENERIC : ErrorCode.KRB_AP_ERR_REPEAT,
      `${why} (client ${formatPrincipal(client)})`,
      { ctime, cusec, client },
    );
  }

  /**
   * Checks an AP-REQ as {@link verifyApReq} does — ticket, authenticator,
   * checksum, addresses, skew, validity, and whether the replay cache
   * already holds the authenticator — without recording it. The result's
   * `recorded` is false until {@link recordApReq} is called.
   */
  checkApReq(input: Uint8Array | ApReq, opts: VerifyApReqOptions = {}): VerifiedApReq {
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

    // 1. The ticket (decrypted now, or known from an earlier AP-REQ).
    const { encTicketPart, sessionKey, client, clientName, serverName, kvno } = this.#openTicket(
      ticket,
      server,
      userToUser,
    );

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
      } finally {
        aplain.fill(0);
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
      // 2b. The authenticator checksum, when present (RFC 4120 §5.5.1).
      if (authenticator.cksum) {
        const want = checksumType(sessionKey.enctype);
        if (authenticator.cksum.cksumtype !== want) {
          throw new ApError(
            ErrorCode.KRB_AP_ERR_INAPP_CKSUM,
            `authenticator checksum type ${authenticator.cksum.cksumtype}, expected ${want} ` +
              `for a ${enctypeName(sessionKey.enctype)} session key`,
            { ctime, cusec, client },
          );
        }
        const data = opts.checksumData ?? new Uint8Array(0);
        if (
          !verifyMic(
            sessionKey,
            KeyUsage.AP_REQ_AUTHENTICATOR_CKSUM,
            data,
            authenticator.cksum.checksum,
          )
        ) {
          throw new ApError(
            ErrorCode.KRB_AP_ERR_MODIFIED,
            "authenticator checksum does not verify",
            { ctime, cusec, client },
          );
        }
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
      // 5. Ticket addresses.
      this.#checkAddresses(encTicketPart.caddr, opts.senderAddress, client, ctime, cusec);
      // 6. Replay (not recorded here).
      if (this.#replay) {
        this.#replayReject(
          this.#replay.peek({
            client: clientName,
            server: serverName,
            ctimeMs: ctime.getTime(),
            cusec,
          }),
          client,
          ctime,
          cusec,
        );
      }
      return {
        apReq,
        ticket,
        encTicketPart,
        authenticator,
        sessionKey,
        client,
        server,
        clientName,
        serverName,
        kvno,
        mutualRequired,
        userToUser,
        recorded: false,
      };
    } catch (e) {
      sessionKey.dispose();
      throw e;
    }
  }

  /**
   * Decrypts and decodes a ticket and imports its session key, or takes all
   * three from the ticket cache when the same ticket (same ciphertext, enctype,
   * kvno and server) was decrypted before. Ticket decryption is a function of
   * the ciphertext and the service key alone, so a cached ticket passes
   * exactly where a fresh decryption would. The session key returned is the
   * caller's.
   */
  #openTicket(ticket: Ticket, server: Principal, userToUser: boolean): OpenedTicket {
    const enc = ticket.encPart;
    const cacheable = !userToUser && this.#ticketCacheSize > 0;
    const ck = cacheable ? ticketCacheKey(enc.cipher) : "";
    if (cacheable) {
      const e = this.#tickets.get(ck);
      if (
        e && e.etype === enc.etype && e.ticketKvno === enc.kvno &&
        principalEquals(e.server, server) && equalBytes(e.cipher, enc.cipher)
      ) {
        // Most recently used last.
        this.#tickets.delete(ck);
        this.#tickets.set(ck, e);
        return {
          encTicketPart: { ...e.encTicketPart },
          sessionKey: e.sessionKey.clone(),
          client: e.client,
          clientName: e.clientName,
          serverName: e.serverName,
          kvno: e.kvno,
        };
      }
    }
    const { plain, kvno } = this.#decryptTicket(ticket, server, userToUser);
    let encTicketPart: EncTicketPart;
    try {
      encTicketPart = decodeEncTicketPart(plain);
    } catch (e) {
      throw new ApError(ErrorCode.KRB_AP_ERR_MODIFIED, "ticket decrypts but does not decode", {
        cause: e,
        ticketRefused: true,
      });
    } finally {
      plain.fill(0); // the decoded fields are copies
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
        { cause: e, ticketRefused: true },
      );
    } finally {
      encTicketPart.key.keyvalue.fill(0);
    }
    const client = toPrincipal(encTicketPart.cname, encTicketPart.crealm);
    const opened: OpenedTicket = {
      encTicketPart,
      sessionKey,
      client,
      clientName: formatPrincipal(client),
      serverName: formatPrincipal(server),
      kvno,
    };
    if (cacheable) this.#remember(ck, enc, server, opened);
    return opened;
  }

  #remember(ck: string, enc: Ticket["encPart"], server: Principal, t: OpenedTicket): void {
    const now = this.#now();
    // Expired entries first (oldest use first), then the least recently used.
    for (const [k, e] of this.#tickets) {
      if (this.#tickets.size < this.#ticketCacheSize && e.expiresMs > now) break;
      this.#tickets.delete(k);
      e.sessionKey.dispose();
    }
    const old = this.#tickets.get(ck);
    if (old) {
      this.#tickets.delete(ck);
      old.sessionKey.dispose();
    }
    this.#tickets.set(ck, {
      cipher: enc.cipher.slice(),
      etype: enc.etype,
      ticketKvno: enc.kvno,
      server,
      serverName: t.serverName,
      encTicketPart: { ...t.encTicketPart },
      sessionKey: t.sessionKey.clone(),
      client: t.client,
      clientName: t.clientName,
      kvno: t.kvno,
      expiresMs: t.encTicketPart.endtime.getTime() + this.#skewMs,
    });
  }

  #checkAddresses(
    caddr: HostAddress[] | undefined,
    sender: string | undefined,
    client: Principal,
    ctime: Date,
    cusec: number,
  ): void {
    if (this.#addressPolicy === "ignore" || !caddr || caddr.length === 0) return;
    const fail = (why: string) =>
      new ApError(
        ErrorCode.KRB_AP_ERR_BADADDR,
        `ticket of ${formatPrincipal(client)} is restricted to ${caddr.length} address(es); ${why}`,
        { ctime, cusec, client },
      );
    if (sender === undefined) throw fail("the sender's address is not known to check it");
    const b = ipAddressBytes(sender);
    if (!b) throw fail(`the sender's address '${sender}' is not an IP address`);
    const v4 = b.length === 16 && isV4Mapped(b) ? b.subarray(12) : b;
    const match = caddr.some((a) =>
      (a.addrType === 2 && v4.length === 4 && equalBytes(a.address, v4)) ||
      (a.addrType === 24 && b.length === 16 && equalBytes(a.address, b))
    );
    if (!match) throw fail(`the request comes from ${sender}, which is not one of them`);
  }

  #decryptTicket(
    ticket: Ticket,
    server: Principal,
    userToUser: boolean,
  ): { plain: Uint8Array; kvno: number | undefined } {
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
          { ticketRefused: true },
        );
      }
      const cands = this.#tgtKeys.filter((k) => k.enctype === etype);
      if (cands.length === 0) {
        throw new ApError(
          ErrorCode.KRB_AP_ERR_NO_TGT,
          `user-to-user ticket for ${formatPrincipal(server)} in ${
            enctypeName(etype)
          }, but no TGT session key of that enctype is held`,
          { ticketRefused: true },
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
          { ticketRefused: true },
        );
      }
      return { plain, kvno };
    }
    const mine = this.#keys.filter((k) => principalEquals(k.principal, server));
    if (mine.length === 0) {
      throw new ApError(
        ErrorCode.KRB_AP_ERR_NOT_US,
        `ticket is for ${formatPrincipal(server)}, for which no key is held${
          this.#principal ? ` (this service is ${formatPrincipal(this.#principal)})` : ""
        }`,
        { ticketRefused: true },
      );
    }
    const wantKvno = ticket.encPart.kvno;
    const byKvno = wantKvno === undefined ? mine : mine.filter((k) => k.kvno === wantKvno);
    if (byKvno.length === 0) {
      const kvnos = [...new Set(mine.map((k) => k.kvno))];
      // A ticket older than the newest key held predates a key change: its client needs a new
      // ticket. A ticket newer than every key held: the keytab is behind the KDC.
      const newest = Math.max(...kvnos);
      const hint = wantKvno !== undefined && wantKvno < newest
        ? `the ticket predates the key change to kvno ${newest}: the client needs a new ` +
          `ticket from the KDC (or the keytab lacks kvno ${wantKvno})`
        : "re-export the keytab after the key change (MIT: kadmin ktadd -norandkey; " +
          "Heimdal: kadmin ext_keytab)";
      throw new ApError(
        ErrorCode.KRB_AP_ERR_BADKEYVER,
        `ticket for ${formatPrincipal(server)} is encrypted with key version ${wantKvno}, ` +
          `the keytab holds kvno ${kvnos.join(", ")}: ${hint}`,
        { ticketRefused: true },
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
        { ticketRefused: true },
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
        { ticketRefused: true },
      );
    }
    return { plain, kvno };
  }

  /** Builds the AP-REP for a verified AP-REQ (EncAPRepPart, key usage 12, no subkey). */
  makeApRep(v: VerifiedApReq): Uint8Array {
    return makeApRep(v.sessionKey, v.authenticator.ctime, v.authenticator.cusec, this.#random);
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

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The octets of an IPv4 (dotted quad) or IPv6 address in text form, or undefined. */
export function ipAddressBytes(text: string): Uint8Array | undefined {
  const pct = text.indexOf("%");
  return parseIp(pct >= 0 ? text.slice(0, pct) : text)?.bytes; // a zone id is not part of it
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
 * `sessionKey` with a confounder from `random` (default {@link systemRandom}).
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
  /** The clock. Default {@link systemClock}. */
  clock?: Clock;
  /** Clock as a bare function (older form of `clock`; `clock` wins). */
  now?: () => number;
  /** Randomness for the cusec's low digits and the confounder. Default {@link systemRandom}. */
  random?: RandomSource;
  /** Where (ctime, cusec) uniqueness is tracked. Default: one tracker per process. */
  times?: AuthenticatorTimes;
  /** Correction added to the clock (from a protected KRB_AP_ERR_SKEW), ms. */
  clockOffsetMs?: number;
  /** Checksum over application data (e.g. the TGS-REQ body), put in the authenticator. */
  checksum?: { cksumtype: number; checksum: Uint8Array };
  /** Key usage of the authenticator encryption. Default 11 (AP-REQ); 7 in a TGS-REQ. */
  usage?: number;
}

/** An AP-REQ built by {@link makeApReq}. */
export interface BuiltApReq {
  /** The AP-REQ DER. */
  apReq: Uint8Array;
  /** The authenticator's time, to match the AP-REP against. */
  time: AuthenticatorTime;
}

const ISSUED_MAX = 65_536;

/**
 * Hands out authenticator times (ctime, cusec) so that none repeats among
 * the last 65 536 issued (RFC 4120 §3.2.3: a service rejects a second
 * authenticator with the same time from the same client). The sub-millisecond
 * part is random. Each {@link KerberosClient} has its own; {@link makeApReq}
 * uses one per process unless given another, so a simulated run that gives
 * each gateway its own instance does not depend on what ran before it.
 */
export class AuthenticatorTimes {
  /** Times issued (µs since the epoch), the last {@link ISSUED_MAX}. */
  readonly #issued = new Set<number>();
  readonly #ring: (number | undefined)[] = new Array(ISSUED_MAX);
  #next = 0;
  /** The latest time ever issued (µs): every later time is free. */
  #latest = -Infinity;

  /**
   * A (ctime, cusec) at `nowMs` not issued before by this instance: the
   * instant with random sub-millisecond digits, or — when that was issued
   * already (many AP-REQs in one millisecond, a burst) — one microsecond
   * after the latest time issued, which no earlier one can equal. O(1) per
   * call: probing upwards from the random start cost O(n) per AP-REQ when n
   * were built in one millisecond (quadratic in a burst of ACQUIREs).
   */
  next(nowMs: number, random: RandomSource = systemRandom): { time: Date; usec: number } {
    const start = Math.floor(nowMs) * 1000 + randomBelow(random, 1000);
    let us = start;
    if (this.#issued.has(us)) {
      us = this.#latest + 1;
      // after the clock stepped back, the latest may be far ahead: probe from the instant
      if (us > start + 1_000_000) { for (us = start + 1; this.#issued.has(us);) us++; }
    }
    if (us > this.#latest) this.#latest = us;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#issued.delete(old);
    this.#ring[this.#next] = us;
    this.#next = (this.#next + 1) % ISSUED_MAX;
    this.#issued.add(us);
    const sec = Math.floor(us / 1_000_000);
    return { time: new Date(sec * 1000), usec: us - sec * 1_000_000 };
  }
}

const processTimes = new AuthenticatorTimes();

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
  const clock: Clock = opts.clock ?? (opts.now ? { now: opts.now } : systemClock);
  const random = opts.random ?? systemRandom;
  const nowMs = clock.now() + (opts.clockOffsetMs ?? 0);
  const { time, usec } = (opts.times ?? processTimes).next(nowMs, random);
  const auth: Authenticator = {
    authenticatorVno: 5,
    crealm: client.realm,
    cname: toPrincipalName(client),
    cusec: usec,
    ctime: time,
  };
  if (opts.checksum) auth.cksum = opts.checksum;
  const authPlain = encodeAuthenticator(auth);
  let cipher: Uint8Array;
  try {
    cipher = encrypt(sessionKey, opts.usage ?? KeyUsage.AP_REQ_AUTHENTICATOR, authPlain, random);
  } finally {
    authPlain.fill(0);
  }
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
