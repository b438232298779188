/**
 * The Kerberos client: AS and TGS exchanges (RFC 4120 §3.1, §3.3) against
 * real KDCs, with a ticket cache.
 *
 * - AS exchange with a keytab or a password. When the KDC answers
 *   KDC_ERR_PREAUTH_REQUIRED the client sends PA-ENC-TIMESTAMP encrypted in
 *   the key for the enctype, salt and string-to-key parameters the KDC
 *   announced in PA-ETYPE-INFO2 (RFC 4120 §5.2.7.2, §5.2.7.5).
 * - TGS exchange for a service (`kink/<fqdn>@REALM`), and the user-to-user
 *   variant (KDC option enc-tkt-in-skey plus the peer's TGT as additional
 *   ticket) used by KINK's GETTGT flow (RFC 4430 §3.1).
 * - A ticket cache in memory: {@link KerberosClient.getTgt} and
 *   {@link KerberosClient.getServiceTicket} reuse tickets until
 *   `refreshBeforeMs` before they expire, then fetch new ones.
 * - KRB-ERRORs from the KDC become {@link KdcError}s whose message says what
 *   to fix (unknown principal, outdated keytab, clock skew with the measured
 *   offset, …).
 *
 * @module
 */
import { checksumType, encrypt, getMic, Key, stringToKey } from "../crypto/mod.ts";
import { KerberosError } from "./errors.ts";
import {
  enctypeName,
  ErrorCode,
  errorCodeName,
  KdcOption,
  KeyUsage,
  makeFlags,
  MsgType,
  NameType,
  PaType,
} from "./iana.ts";
import {
  decodeAsRep,
  decodeEncKdcRepPart,
  decodeEtypeInfo,
  decodeEtypeInfo2,
  decodeKrbError,
  decodeMethodData,
  decodeTgsRep,
  type EncKdcRepPart,
  encodeEncryptedData,
  encodeKdcReq,
  encodeKdcReqBody,
  encodePaEncTsEnc,
  type EtypeInfo2Entry,
  type KdcRep,
  type KdcReqBody,
  type KrbError,
  type PaData,
  peekMessageType,
  type Ticket,
} from "./messages.ts";
import {
  formatPrincipal,
  formatPrincipalName,
  type Principal,
  principalEquals,
  tgsPrincipal,
} from "./principal.ts";
import {
  AuthenticatorTimes,
  makeApReq,
  type ServiceKeyEntry,
  splitTime,
  toPrincipal,
  toPrincipalName,
  tryDecrypt,
} from "./service.ts";
import { type KdcEndpoint, type KdcSendOptions, sendToKdc } from "./transport.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import { type RandomSource, randomUint32, systemRandom } from "../util/random.ts";
import {
  type Ccache,
  type CcacheCredential,
  readCcache,
  wipeCcache,
  writeCcacheFile,
} from "./ccache.ts";
import { decodeTicket, encodeTicket } from "./messages.ts";
import type { Krb5Conf } from "./krb5conf.ts";
import { parseKdcEndpoint } from "./endpoint.ts";

/** A ticket with its session key and times, as a ccache entry holds it. */
export interface Credentials {
  /** Client principal. */
  client: Principal;
  /** Server principal the ticket is for. */
  server: Principal;
  /** The ticket (with its DER in `raw`). */
  ticket: Ticket;
  /** The session key; owned by the cache that returned it. */
  sessionKey: Key;
  /** Ticket flags (bit 0 = MSB). */
  flags: number;
  /** Time of the initial authentication. */
  authtime: Date;
  /** Start of validity (absent: authtime). */
  starttime?: Date;
  /** End of validity. */
  endtime: Date;
  /** Renewable until. */
  renewTill?: Date;
  /** Whether this is a user-to-user ticket (encrypted in a peer TGT's session key). */
  userToUser?: boolean;
}

/** The client's long-term secret: keytab entries or a password. */
export type ClientSecret =
  | { keytab: readonly ServiceKeyEntry[] }
  | { password: string };

/**
 * Sends one KDC request (AS-REQ or TGS-REQ DER) for `realm` and resolves to
 * the reply (AS-REP, TGS-REP or KRB-ERROR DER). The seam between the client
 * and the network: {@link kdcSender} goes to real KDCs over UDP/TCP, a
 * simulator plugs an in-process KDC in. It must reject when `signal` fires.
 */
export type KdcSender = (
  realm: string,
  request: Uint8Array,
  signal?: AbortSignal,
) => Promise<Uint8Array>;

/**
 * The {@link KdcSender} over the network: {@link sendToKdc} to the KDCs
 * `kdcs(realm)` lists, with the given transport settings.
 */
export function kdcSender(
  kdcs: (realm: string) => readonly KdcEndpoint[],
  transport: Omit<KdcSendOptions, "signal"> = {},
): KdcSender {
  return async (realm, request, signal) => {
    const opts: KdcSendOptions = { ...transport };
    if (signal) opts.signal = signal;
    return (await sendToKdc(request, kdcs(realm), opts)).reply;
  };
}

/** Options of {@link KerberosClient}. */
export interface ClientOptions {
  /**
   * KDC addresses of a realm, in the order to try them. Used by the default
   * sender; required unless `send` is given.
   */
  kdcs?: (realm: string) => readonly KdcEndpoint[];
  /** How requests reach a KDC. Default: {@link kdcSender} over `kdcs` and `transport`. */
  send?: KdcSender;
  /** Enctypes to request, preferred first. Default [18, 17, 20, 19]. */
  enctypes?: readonly number[];
  /** Transport settings (per-try timeout, udp_preference_limit). */
  transport?: Omit<KdcSendOptions, "signal">;
  /** Requested ticket lifetime, ms. Default 24 h (the KDC caps it). */
  ticketLifetimeMs?: number;
  /** Fetch a new ticket when the cached one expires within this many ms. Default 5 min. */
  refreshBeforeMs?: number;
  /** The clock. Default {@link systemClock}. */
  clock?: Clock;
  /** Clock as a bare function (older form of `clock`; `clock` wins). */
  now?: () => number;
  /**
   * Randomness for request nonces, authenticator times and confounders.
   * Default {@link systemRandom}; a seeded source makes a simulated run
   * reproducible.
   */
  random?: RandomSource;
  /**
   * krb5.conf `[capaths]`: for a client realm, the intermediate realms on the
   * way to each server realm (`"."` = direct). Without an entry the path is
   * the hierarchical default ({@link realmPath}).
   */
  capaths?: Capaths;
}

/**
 * krb5.conf `[capaths]` as data: client realm → server realm → intermediate
 * realms in order (`["."]` for a direct trust).
 */
export type Capaths = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

/** Most cross-realm TGTs followed (hops) for one service ticket. */
const MAX_REALM_HOPS = 10;

/** The enctypes kink implements (RFC 3962, RFC 8009). */
const SUPPORTED_ENCTYPES: readonly number[] = [17, 18, 19, 20];

/** How to export a keytab without changing the keys, for MIT and Heimdal. */
const STALE_KEYTAB_HINT = "(MIT: kadmin ktadd -norandkey; Heimdal: kadmin ext_keytab)";

/** The default enctype preference: AES-SHA1 first (MIT's default), then RFC 8009. */
export const DEFAULT_CLIENT_ENCTYPES: readonly number[] = [18, 17, 20, 19];

/**
 * A KDC refused a request. `krbError` is the decoded KRB-ERROR; the message
 * explains the likely cause and what to fix.
 */
export class KdcError extends KerberosError {
  /** The KRB-ERROR the KDC sent. */
  readonly krbError: KrbError;
  /** KDC time minus local time, ms (from stime/susec), when the error is about skew. */
  readonly offsetMs: number | undefined;

  /**
   * Wraps a KRB-ERROR from a KDC.
   *
   * @param context the exchange, e.g. `"AS exchange for alice@KINK.TEST"`
   * @param detail explanation with the error name
   * @param krbError the decoded KRB-ERROR
   * @param offsetMs measured clock offset, for skew errors
   */
  constructor(context: string, detail: string, krbError: KrbError, offsetMs?: number) {
    super(
      krbError.errorCode === ErrorCode.KRB_AP_ERR_SKEW ? "skew" : "krb-error",
      context,
      detail,
      { errorCode: krbError.errorCode },
    );
    this.krbError = krbError;
    this.offsetMs = offsetMs;
  }
}

const ENC_AS_REP_USAGE = KeyUsage.AS_REP_ENC_PART;
const ENC_TGS_REP_USAGE = KeyUsage.TGS_REP_ENC_PART_SESSKEY;

/**
 * Describes a clock offset for an operator; an offset within `resolutionMs`
 * (the measurement's resolution) is reported as in step.
 */
export function describeClockOffset(offsetMs: number, resolutionMs = 0): string {
  const s = Math.round(Math.abs(offsetMs) / 1000);
  // An offset no larger than the measurement's resolution cannot be told from none.
  if (s === 0 || Math.abs(offsetMs) <= resolutionMs) return "in step with the KDC";
  return offsetMs > 0 ? `${s} s behind the KDC` : `${s} s ahead of the KDC`;
}

/** The Kerberos client of one principal; see the module documentation. */
export class KerberosClient {
  /** The client principal. */
  readonly principal: Principal;
  readonly #secret: ClientSecret;
  readonly #opts: ClientOptions;
  readonly #enctypes: readonly number[];
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #sendFn: KdcSender;
  readonly #times = new AuthenticatorTimes();
  #tgt: Credentials | undefined;
  #tickets = new Map<string, Credentials>();
  #retired: Credentials[] = [];
  #tgtInFlight: Flight<Credentials> | undefined;
  #tgsInFlight = new Map<string, Flight<Credentials>>();
  #clockOffsetMs = 0;
  #offsetMeasured = false;

  /**
   * Creates a client; no KDC is contacted until a ticket is asked for.
   *
   * @param principal the client principal
   * @param secret keytab entries (only those of `principal` are used) or a password
   * @param opts KDC lookup or sender, enctypes, timeouts, clock, randomness
   */
  constructor(principal: Principal, secret: ClientSecret, opts: ClientOptions) {
    if (!opts.send && !opts.kdcs) {
      throw new KerberosError(
        "invalid-argument",
        "Kerberos client",
        "neither a KDC list (kdcs) nor a sender (send) was given",
      );
    }
    this.principal = principal;
    this.#secret = "keytab" in secret
      ? { keytab: secret.keytab.filter((e) => principalEquals(e.principal, principal)) }
      : secret;
    this.#opts = opts;
    this.#enctypes = (opts.enctypes ?? DEFAULT_CLIENT_ENCTYPES).filter((e) => e >= 17 && e <= 20);
    const clock: Clock = opts.clock ?? (opts.now ? { now: opts.now } : systemClock);
    this.#now = () => clock.now();
    this.#random = opts.random ?? systemRandom;
    this.#sendFn = opts.send ?? kdcSender(opts.kdcs!, opts.transport);
  }

  /**
   * KDC time minus local time in ms, measured from the last AS-REP's authtime
   * (whole seconds, so ±1 s) or from a KRB_AP_ERR_SKEW. 0 before any exchange.
   */
  get clockOffsetMs(): number {
    return this.#clockOffsetMs;
  }

  /** Whether {@link clockOffsetMs} was measured. */
  get clockOffsetMeasured(): boolean {
    return this.#offsetMeasured;
  }

  /** Every credential held: the TGT first, then service tickets. */
  credentials(): Credentials[] {
    return [...(this.#tgt ? [this.#tgt] : []), ...this.#tickets.values()];
  }

  /** Adds credentials obtained elsewhere (e.g. read from a ccache) to the cache. */
  addCredentials(c: Credentials): void {
    if (isLocalTgs(c.server, this.principal.realm) && principalEquals(c.client, this.principal)) {
      this.#replaceTgt(c);
    } else {
      const k = cacheKey(c.server, c.userToUser === true);
      const old = this.#tickets.get(k);
      if (old && old !== c) this.#retire(old);
      this.#tickets.set(k, c);
    }
  }

  /**
   * Writes every credential held to a FILE ccache (format version 4, as
   * MIT's `klist` reads it), atomically, through {@link writeCcacheFile}: a
   * temporary file created exclusively beside it (random name when the
   * process may create files in the directory, else `path + ".tmp"`), mode
   * 0600, fsynced, renamed over `path`.
   */
  async saveCcache(path: string): Promise<void> {
    const cc = credentialsToCcache(this.principal, this.credentials(), this.#clockOffsetMs);
    try {
      await writeCcacheFile(path, cc, this.#random);
    } finally {
      wipeCcache(cc);
    }
  }

  /**
   * Loads the credentials of this client from a FILE ccache (e.g. written by
   * `kinit` and `kvno`) into the cache; expired ones are skipped. Resolves to
   * the number of credentials taken.
   */
  async loadCcache(path: string): Promise<number> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new KerberosError("io", `read ccache ${path}`, (e as Error).message, { cause: e });
    }
    const cc = readCcache(bytes);
    bytes.fill(0);
    let n = 0;
    try {
      for (const c of credentialsFromCcache(cc)) {
        if (!principalEquals(c.client, this.principal) || c.endtime.getTime() <= this.#now()) {
          c.sessionKey.dispose();
          continue;
        }
        this.addCredentials(c);
        n++;
      }
    } finally {
      wipeCcache(cc);
    }
    return n;
  }

  /** Disposes every session key held, including replaced credentials. */
  dispose(): void {
    for (const c of [...this.credentials(), ...this.#retired]) c.sessionKey.dispose();
    this.#tgt = undefined;
    this.#tickets.clear();
    this.#retired = [];
  }

  #fresh(c: Credentials | undefined): c is Credentials {
    if (!c) return false;
    const margin = this.#opts.refreshBeforeMs ?? 300_000;
    return c.endtime.getTime() - this.#now() > margin;
  }

  #replaceTgt(c: Credentials): void {
    if (this.#tgt && this.#tgt !== c) this.#retire(this.#tgt);
    this.#tgt = c;
  }

  /**
   * The TGT: cached while fresh, otherwise a new AS exchange. Concurrent
   * callers share one exchange; each caller's `signal` ends only that
   * caller's wait (the exchange itself is aborted when every waiter left).
   */
  async getTgt(signal?: AbortSignal): Promise<Credentials> {
    this.#sweepRetired();
    if (this.#fresh(this.#tgt)) return this.#tgt;
    let f = this.#tgtInFlight;
    if (!f) {
      const flight: Flight<Credentials> = startFlight(
        (s) => this.asExchange(s),
        (c) => this.#replaceTgt(c),
        () => {
          if (this.#tgtInFlight === flight) this.#tgtInFlight = undefined;
        },
      );
      f = this.#tgtInFlight = flight;
    }
    return await joinFlight(f, signal, "AS exchange");
  }

  /**
   * A service ticket for `server`: cached while fresh, otherwise a TGS
   * exchange (getting a TGT first when needed). With `peerTgt`, a
   * user-to-user ticket encrypted in that TGT's session key (never cached:
   * the peer's TGT decides). Concurrent requests for the same server share
   * one exchange; each caller's `signal` ends only that caller's wait.
   */
  async getServiceTicket(
    server: Principal,
    opts: { peerTgt?: Ticket; signal?: AbortSignal } = {},
  ): Promise<Credentials> {
    // A server in another realm: cross-realm TGTs along the realm path first
    // ({@link realmPath}); an empty realm asks the local KDC to refer us
    // (canonicalize, RFC 6806). A user-to-user ticket stays in one realm.
    this.#sweepRetired();
    const u2u = opts.peerTgt !== undefined;
    const key = cacheKey(server, u2u);
    const cached = this.#tickets.get(key);
    if (!u2u && this.#fresh(cached)) return cached;
    const store = (c: Credentials) => {
      const old = this.#tickets.get(key);
      if (old && old !== c) this.#retire(old);
      this.#tickets.set(key, c);
    };
    const run = async (signal: AbortSignal | undefined) => {
      if (server.realm === "" && !u2u) return await this.#referralTicket(server, signal);
      const tgt = server.realm === this.principal.realm || u2u
        ? await this.getTgt(signal)
        : await this.#crossRealmTgt(server.realm, signal);
      const tgsOpts: { additionalTicket?: Ticket; signal?: AbortSignal } = {};
      if (opts.peerTgt) tgsOpts.additionalTicket = opts.peerTgt;
      if (signal) tgsOpts.signal = signal;
      return await this.tgsExchange(tgt, server, tgsOpts);
    };
    if (u2u) {
      const c = await run(opts.signal);
      store(c);
      return c;
    }
    let f = this.#tgsInFlight.get(key);
    if (!f) {
      const flight: Flight<Credentials> = startFlight(run, store, () => {
        if (this.#tgsInFlight.get(key) === flight) this.#tgsInFlight.delete(key);
      });
      f = flight;
      this.#tgsInFlight.set(key, f);
    }
    return await joinFlight(f, opts.signal, `TGS exchange for ${formatPrincipal(server)}`);
  }

  /**
   * A TGT usable at `realm`'s KDC (`krbtgt/realm@X`), following the realm
   * path from this client's realm: at each KDC it asks for the TGT of the
   * farthest realm on the path first and steps closer when that KDC has no
   * such key (KDC_ERR_S_PRINCIPAL_UNKNOWN); a KDC may answer with a TGT for
   * another realm (an alternate path, RFC 4120 §3.3.1), which is followed
   * as long as no realm repeats. Cross-realm TGTs are cached like service
   * tickets; they never replace the client's own TGT.
   */
  async #crossRealmTgt(realm: string, signal: AbortSignal | undefined): Promise<Credentials> {
    const me = this.principal;
    const ctx = `cross-realm path from ${me.realm} to ${realm}`;
    const path = realmPath(me.realm, realm, this.#opts.capaths);
    let tgt = await this.getTgt(signal);
    let cur = me.realm;
    const visited = new Set([cur]);
    const tried: string[] = [];
    for (let hop = 0; hop < MAX_REALM_HOPS && cur !== realm; hop++) {
      const candidates = path.slice(path.indexOf(cur) + 1).reverse();
      let got: Credentials | undefined;
      for (const cand of candidates) {
        const want = tgsPrincipal(cur, cand);
        const cached = this.#tickets.get(cacheKey(want, false));
        if (this.#fresh(cached)) {
          got = cached;
          break;
        }
        tried.push(formatPrincipal(want));
        try {
          const o: { allowAlternateTgt: boolean; signal?: AbortSignal } = {
            allowAlternateTgt: true,
          };
          if (signal) o.signal = signal;
          got = await this.tgsExchange(tgt, want, o);
        } catch (e) {
          if (
            e instanceof KdcError &&
            e.krbError.errorCode === ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN
          ) continue;
          throw e;
        }
        const key = cacheKey(got.server, false);
        const old = this.#tickets.get(key);
        if (old && old !== got) this.#retire(old);
        this.#tickets.set(key, got);
        break;
      }
      if (!got) {
        throw new KerberosError(
          "not-found",
          ctx,
          `the KDC of ${cur} holds no cross-realm key toward ${realm} (asked for ${
            tried.join(", ")
          }; path ${[me.realm, ...path].join(" → ")}): create krbtgt/${realm}@${cur} in both ` +
            "realms with the same key, or set [capaths] in krb5.conf",
        );
      }
      const next = got.server.components[1]!;
      if (visited.has(next)) {
        throw new KerberosError(
          "protocol",
          ctx,
          `the KDC of ${cur} referred us back to ${next} (realms visited: ${
            [...visited].join(", ")
          })`,
        );
      }
      visited.add(next);
      tgt = got;
      cur = next;
    }
    if (cur !== realm) {
      throw new KerberosError("protocol", ctx, `more than ${MAX_REALM_HOPS} realms on the way`);
    }
    return tgt;
  }

  /**
   * A service ticket for a server whose realm is not known (`server.realm`
   * empty, MIT's referral realm): asked of the local KDC with the KDC option
   * canonicalize (RFC 6806 §8); when the KDC answers with a TGT for another
   * realm (a referral), the same name is asked of that realm's KDC.
   */
  async #referralTicket(server: Principal, signal: AbortSignal | undefined): Promise<Credentials> {
    let tgt = await this.getTgt(signal);
    let cur = this.principal.realm;
    const visited = new Set([cur]);
    for (let hop = 0; hop < MAX_REALM_HOPS; hop++) {
      const o: { canonicalize: boolean; allowAlternateTgt: boolean; signal?: AbortSignal } = {
        canonicalize: true,
        allowAlternateTgt: true,
      };
      if (signal) o.signal = signal;
      const c = await this.tgsExchange(tgt, { ...server, realm: cur }, o);
      if (!isTgs(c.server)) return c;
      const next = c.server.components[1]!;
      if (visited.has(next)) {
        c.sessionKey.dispose();
        throw new KerberosError(
          "protocol",
          `TGS exchange for ${formatPrincipalName(server.components)} (referrals)`,
          `the KDC of ${cur} referred us back to ${next}`,
        );
      }
      visited.add(next);
      this.#retire(c);
      tgt = c;
      cur = next;
    }
    throw new KerberosError(
      "protocol",
      `TGS exchange for ${formatPrincipalName(server.components)} (referrals)`,
      `more than ${MAX_REALM_HOPS} referrals`,
    );
  }

  /**
   * Replaced credentials stay usable (a KINK transaction keeps its ticket to
   * the end, RFC 4430 §9) until they expire; then their keys are zeroed.
   */
  #retire(c: Credentials): void {
    this.#retired.push(c);
  }

  #sweepRetired(): void {
    const now = this.#now();
    this.#retired = this.#retired.filter((c) => {
      if (c.endtime.getTime() + 600_000 > now) return true;
      c.sessionKey.dispose();
      return false;
    });
  }

  async #send(realm: string, req: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return await this.#sendFn(realm, req, signal);
  }

  /** Performs an AS exchange for `krbtgt/REALM@REALM` (with preauthentication when asked). */
  async asExchange(signal?: AbortSignal): Promise<Credentials> {
    const me = this.principal;
    const ctx = `AS exchange for ${formatPrincipal(me)}`;
    const enctypes = this.#asEnctypes(ctx);
    let padata: PaData[] | undefined;
    let usedInfo: EtypeInfo2Entry | undefined;
    for (let round = 0; round < 3; round++) {
      const nonce = randomNonce(this.#random);
      const body = this.#body(tgsPrincipal(me.realm), me.realm, nonce, enctypes, 0);
      body.cname = toPrincipalName(me);
      const req: Parameters<typeof encodeKdcReq>[0] = {
        pvno: 5,
        msgType: MsgType.AS_REQ,
        reqBody: body,
      };
      if (padata) req.padata = padata;
      const sentAt = this.#now();
      const reply = await this.#send(me.realm, encodeKdcReq(req), signal);
      const type = peekMessageType(reply);
      if (type === MsgType.KRB_ERROR) {
        const err = decodeKrbError(reply);
        if (err.errorCode === ErrorCode.KDC_ERR_PREAUTH_REQUIRED && !padata) {
          const r = this.#preauth(ctx, err, enctypes);
          padata = [r.pa];
          usedInfo = r.info;
          continue;
        }
        throw this.#kdcError(ctx, err, me);
      }
      if (type !== MsgType.AS_REP) {
        throw new KerberosError(
          "protocol",
          ctx,
          `KDC answered with message type ${type}, expected AS-REP (11) or KRB-ERROR (30)`,
        );
      }
      const rep = decodeAsRep(reply);
      const key = this.#replyKey(ctx, rep, usedInfo);
      let part: EncKdcRepPart;
      try {
        const plain = tryDecrypt(key, ENC_AS_REP_USAGE, rep.encPart.cipher) ??
          tryDecrypt(key, ENC_TGS_REP_USAGE, rep.encPart.cipher);
        if (!plain) throw this.#wrongKey(ctx, rep.encPart.etype, rep.encPart.kvno);
        part = decodeEncKdcRepPart(plain);
        plain.fill(0);
      } finally {
        key.dispose();
      }
      this.#checkReply(ctx, part, nonce, tgsPrincipal(me.realm));
      if (!principalEquals(toPrincipal(rep.cname, rep.crealm), me)) {
        throw new KerberosError(
          "protocol",
          ctx,
          `AS-REP is for ${formatPrincipal(toPrincipal(rep.cname, rep.crealm))}, not for ${
            formatPrincipal(me)
          }`,
        );
      }
      // The KDC's authtime is "now" at the KDC; it measures our clock offset.
      const mid = (sentAt + this.#now()) / 2;
      this.#clockOffsetMs = part.authtime.getTime() - Math.floor(mid / 1000) * 1000;
      this.#offsetMeasured = true;
      return this.#toCredentials(me, rep, part, false);
    }
    throw new KerberosError("protocol", ctx, "KDC kept asking for preauthentication");
  }

  /**
   * Performs a TGS exchange with `tgt` for `server`. With `additionalTicket`
   * (a peer's TGT) the KDC option enc-tkt-in-skey is set and the ticket comes
   * back encrypted in that TGT's session key (user-to-user).
   */
  async tgsExchange(
    tgt: Credentials,
    server: Principal,
    opts: {
      additionalTicket?: Ticket;
      signal?: AbortSignal;
      canonicalize?: boolean;
      allowAlternateTgt?: boolean;
    } = {},
  ): Promise<Credentials> {
    const me = tgt.client;
    const ctx = `TGS exchange for ${formatPrincipal(server)}`;
    // A TGT krbtgt/X@Y is used at X's KDC, for servers of realm X.
    const kdcRealm = isTgs(tgt.server) ? tgt.server.components[1]! : undefined;
    if (kdcRealm === undefined || server.realm !== kdcRealm) {
      throw new KerberosError(
        "invalid-argument",
        ctx,
        `the TGT ${formatPrincipal(tgt.server)} is not for the KDC of ${server.realm}`,
      );
    }
    const u2u = opts.additionalTicket !== undefined;
    const nonce = randomNonce(this.#random);
    const body = this.#body(
      server,
      server.realm,
      nonce,
      this.#enctypes,
      (u2u ? makeFlags(KdcOption.ENC_TKT_IN_SKEY) : 0) |
        (opts.canonicalize ? makeFlags(KdcOption.CANONICALIZE) : 0),
    );
    if (opts.additionalTicket) body.additionalTickets = [opts.additionalTicket];
    const bodyRaw = encodeKdcReqBody(body);
    const key = tgt.sessionKey;
    const checksum = {
      cksumtype: checksumType(key.enctype),
      checksum: getMic(key, KeyUsage.TGS_REQ_PA_AUTHENTICATOR_CKSUM, bodyRaw),
    };
    const ap = makeApReq(me, tgt.ticket, key, {
      mutual: false,
      checksum,
      usage: KeyUsage.TGS_REQ_PA_AUTHENTICATOR,
      now: this.#now,
      clockOffsetMs: this.#clockOffsetMs,
      random: this.#random,
      times: this.#times,
    });
    const req = encodeKdcReq({
      pvno: 5,
      msgType: MsgType.TGS_REQ,
      padata: [{ padataType: PaType.TGS_REQ, padataValue: ap.apReq }],
      reqBody: body,
      reqBodyRaw: bodyRaw,
    });
    const reply = await this.#send(kdcRealm, req, opts.signal);
    const type = peekMessageType(reply);
    if (type === MsgType.KRB_ERROR) throw this.#kdcError(ctx, decodeKrbError(reply), server);
    if (type !== MsgType.TGS_REP) {
      throw new KerberosError(
        "protocol",
        ctx,
        `KDC answered with message type ${type}, expected TGS-REP (13) or KRB-ERROR (30)`,
      );
    }
    const rep = decodeTgsRep(reply);
    const plain = tryDecrypt(key, ENC_TGS_REP_USAGE, rep.encPart.cipher);
    if (!plain) {
      throw new KerberosError(
        "integrity",
        ctx,
        "TGS-REP enc-part does not decrypt with the TGT session key",
        { errorCode: ErrorCode.KRB_AP_ERR_BAD_INTEGRITY },
      );
    }
    const part = decodeEncKdcRepPart(plain);
    plain.fill(0);
    // A KDC may answer with a TGT of its own realm for a realm closer to the
    // target (alternate path) or a referral (canonicalize) instead.
    const got = toPrincipal(part.sname, part.srealm);
    const alternate = opts.allowAlternateTgt === true && isTgs(got) &&
      got.realm === kdcRealm && got.components[1] !== kdcRealm && !principalEquals(got, server);
    this.#checkReply(ctx, part, nonce, alternate ? got : server);
    return this.#toCredentials(me, rep, part, u2u);
  }

  #body(
    server: Principal,
    realm: string,
    nonce: number,
    enctypes: readonly number[],
    kdcOptions: number,
  ): KdcReqBody {
    const till = new Date(
      Math.floor((this.#now() + (this.#opts.ticketLifetimeMs ?? 86_400_000)) / 1000) * 1000,
    );
    return {
      kdcOptions,
      realm,
      sname: toPrincipalName(server),
      till,
      nonce,
      etype: [...enctypes],
    };
  }

  #asEnctypes(ctx: string): number[] {
    if ("password" in this.#secret) return [...this.#enctypes];
    const have = new Set(this.#secret.keytab.map((e) => e.enctype));
    const list = this.#enctypes.filter((e) => have.has(e));
    if (list.length === 0) {
      const k = this.#secret.keytab;
      const me = formatPrincipal(this.principal);
      const held = [...have].map(enctypeName).join(", ");
      const usable = [...have].some((e) => SUPPORTED_ENCTYPES.includes(e));
      throw new KerberosError(
        "not-found",
        ctx,
        k.length === 0
          ? `the keytab holds no key for ${me}`
          : usable
          ? `the configured enctypes (${
            this.#enctypes.map(enctypeName).join(", ")
          }) and the keytab's keys for ${me} (${held}) do not meet: ` +
            "allow one of the keytab's enctypes (krb5.conf default_tkt_enctypes) or export a key " +
            "of a configured enctype"
          : `the keytab's keys for ${me} are ${held}, none of which kink supports (${
            SUPPORTED_ENCTYPES.map(enctypeName).join(", ")
          })`,
      );
    }
    return list;
  }

  /** Chooses the enctype from ETYPE-INFO2 and builds PA-ENC-TIMESTAMP. */
  #preauth(
    ctx: string,
    err: KrbError,
    enctypes: readonly number[],
  ): { pa: PaData; info: EtypeInfo2Entry } {
    const infos: EtypeInfo2Entry[] = [];
    if (err.eData) {
      let md: PaData[] = [];
      try {
        md = decodeMethodData(err.eData);
      } catch {
        md = [];
      }
      for (const pa of md) {
        try {
          if (pa.padataType === PaType.ETYPE_INFO2) infos.push(...decodeEtypeInfo2(pa.padataValue));
          else if (pa.padataType === PaType.ETYPE_INFO) {
            for (const e of decodeEtypeInfo(pa.padataValue)) {
              const x: EtypeInfo2Entry = { etype: e.etype };
              if (e.salt) x.salt = new TextDecoder().decode(e.salt);
              infos.push(x);
            }
          }
        } catch (e) {
          throw new KerberosError("protocol", ctx, "KDC sent an undecodable ETYPE-INFO2", {
            cause: e,
          });
        }
      }
    }
    // The KDC lists its enctypes in its order of preference; take the first we can use.
    const info = infos.find((i) => enctypes.includes(i.etype)) ??
      (infos.length === 0 ? { etype: enctypes[0]! } : undefined);
    if (!info) {
      throw new KerberosError(
        "unsupported",
        ctx,
        `the KDC offers ${
          infos.map((i) => enctypeName(i.etype)).join(", ")
        } for preauthentication, ` +
          `we have ${enctypes.map(enctypeName).join(", ")}`,
      );
    }
    const key = this.#longTermKey(ctx, info.etype, undefined, info);
    try {
      const { time, usec } = splitTime(this.#now() + this.#clockOffsetMs);
      const ts = encodePaEncTsEnc({ patimestamp: time, pausec: usec });
      const cipher = encrypt(key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, ts, this.#random);
      const ed: { etype: number; kvno?: number; cipher: Uint8Array } = {
        etype: key.enctype,
        cipher,
      };
      return {
        pa: { padataType: PaType.ENC_TIMESTAMP, padataValue: encodeEncryptedData(ed) },
        info,
      };
    } finally {
      key.dispose();
    }
  }

  /** The key the AS-REP enc-part is encrypted in. */
  #replyKey(ctx: string, rep: KdcRep, usedInfo: EtypeInfo2Entry | undefined): Key {
    let info = usedInfo;
    for (const pa of rep.padata ?? []) {
      if (pa.padataType === PaType.ETYPE_INFO2) {
        try {
          const list = decodeEtypeInfo2(pa.padataValue);
          info = list.find((i) => i.etype === rep.encPart.etype) ?? info;
        } catch {
          // fall back to what we used for preauthentication / the default salt
        }
      }
    }
    if (info && info.etype !== rep.encPart.etype) info = undefined;
    return this.#longTermKey(ctx, rep.encPart.etype, rep.encPart.kvno, info);
  }

  #longTermKey(
    ctx: string,
    etype: number,
    kvno: number | undefined,
    info: EtypeInfo2Entry | undefined,
  ): Key {
    const me = this.principal;
    if ("password" in this.#secret) {
      const salt = info?.salt ?? defaultSalt(me);
      return stringToKey(etype, this.#secret.password, salt, info?.s2kparams);
    }
    const ofType = this.#secret.keytab.filter((e) => e.enctype === etype);
    if (ofType.length === 0) {
      throw new KerberosError(
        "not-found",
        ctx,
        `the KDC used ${enctypeName(etype)} for ${
          formatPrincipal(me)
        }, the keytab has no key of that enctype`,
      );
    }
    let pick = ofType.sort((a, b) => b.kvno - a.kvno)[0]!;
    if (kvno !== undefined) {
      const exact = ofType.find((e) => e.kvno === kvno);
      if (!exact) {
        throw new KerberosError(
          "not-found",
          ctx,
          `the KDC's key for ${formatPrincipal(me)} is kvno ${kvno}, the keytab holds kvno ${
            [...new Set(ofType.map((e) => e.kvno))].join(", ")
          } (${enctypeName(etype)}): the keytab is outdated — export the current keys again ` +
            STALE_KEYTAB_HINT,
          { errorCode: ErrorCode.KRB_AP_ERR_BADKEYVER },
        );
      }
      pick = exact;
    }
    return Key.fromBytes(etype, pick.key);
  }

  #wrongKey(ctx: string, etype: number, kvno: number | undefined): KerberosError {
    const me = formatPrincipal(this.principal);
    if ("password" in this.#secret) {
      return new KerberosError(
        "integrity",
        ctx,
        `the AS-REP does not decrypt with the key from the password of ${me}: wrong password`,
        { errorCode: ErrorCode.KRB_AP_ERR_BAD_INTEGRITY },
      );
    }
    const held = [
      ...new Set(this.#secret.keytab.filter((e) => e.enctype === etype).map((e) => e.kvno)),
    ];
    return new KerberosError(
      "integrity",
      ctx,
      `the KDC's ${enctypeName(etype)} key for ${me}${
        kvno === undefined ? "" : ` (kvno ${kvno})`
      } is not the one in the keytab (kvno ${held.join(", ")}): ` +
        "the keytab is outdated or from another KDC — export the current keys again " +
        STALE_KEYTAB_HINT,
      { errorCode: ErrorCode.KRB_AP_ERR_BADKEYVER },
    );
  }

  #checkReply(ctx: string, part: EncKdcRepPart, nonce: number, server: Principal): void {
    if (part.nonce !== nonce) {
      throw new KerberosError(
        "protocol",
        ctx,
        `reply nonce ${part.nonce} does not match the request's ${nonce}`,
      );
    }
    const got = toPrincipal(part.sname, part.srealm);
    if (!principalEquals(got, server)) {
      throw new KerberosError(
        "protocol",
        ctx,
        `KDC issued a ticket for ${formatPrincipal(got)}, we asked for ${formatPrincipal(server)}`,
      );
    }
  }

  #toCredentials(
    client: Principal,
    rep: KdcRep,
    part: EncKdcRepPart,
    u2u: boolean,
  ): Credentials {
    let sessionKey: Key;
    try {
      sessionKey = Key.fromBytes(part.key.keytype, part.key.keyvalue);
    } finally {
      part.key.keyvalue.fill(0);
    }
    const c: Credentials = {
      client,
      server: toPrincipal(part.sname, part.srealm),
      ticket: rep.ticket,
      sessionKey,
      flags: part.flags,
      authtime: part.authtime,
      endtime: part.endtime,
    };
    if (part.starttime) c.starttime = part.starttime;
    if (part.renewTill) c.renewTill = part.renewTill;
    if (u2u) c.userToUser = true;
    return c;
  }

  #kdcError(ctx: string, err: KrbError, subject: Principal): KdcError {
    const name = `${errorCodeName(err.errorCode)} (${err.errorCode})`;
    const text = err.eText ? ` — KDC says: "${err.eText}"` : "";
    const who = formatPrincipal(subject);
    const me = formatPrincipal(this.principal);
    let detail: string;
    let offset: number | undefined;
    switch (err.errorCode) {
      case ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
        detail = `client principal ${me} is unknown to the KDC of ${this.principal.realm}: ` +
          `check the client name, or create it (kadmin: addprinc -randkey ${me})`;
        break;
      case ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
        detail = `service principal ${who} is unknown to the KDC of ${subject.realm}: ` +
          `check the service name, or create it (kadmin: addprinc -randkey ${who})`;
        break;
      case ErrorCode.KDC_ERR_PREAUTH_FAILED:
        detail = "password" in this.#secret
          ? `the KDC rejected the password of ${me}`
          : `the KDC rejected the keytab's key for ${me} (kvno ${
            [...new Set(this.#secret.keytab.map((e) => e.kvno))].join(", ")
          }): the keytab is outdated or from another KDC — export the current keys again ${STALE_KEYTAB_HINT}`;
        break;
      case ErrorCode.KRB_AP_ERR_SKEW: {
        offset = err.stime.getTime() + err.susec / 1000 - this.#now();
        this.#clockOffsetMs = offset;
        this.#offsetMeasured = true;
        detail = `our clock is ${
          describeClockOffset(offset)
        } (KDC time ${err.stime.toISOString()}), beyond the KDC's allowed skew: fix the system time (NTP)`;
        break;
      }
      case ErrorCode.KDC_ERR_ETYPE_NOSUPP:
        detail = `the KDC has no key for ${who} in any enctype we asked for (${
          this.#enctypes.map(enctypeName).join(", ")
        })`;
        break;
      case ErrorCode.KDC_ERR_CLIENT_REVOKED:
        detail = `${me} is disabled or locked out at the KDC`;
        break;
      case ErrorCode.KDC_ERR_KEY_EXPIRED:
        detail = `the password of ${me} has expired`;
        break;
      case ErrorCode.KDC_ERR_SERVER_NOMATCH:
        detail =
          `the KDC refused the user-to-user request: the additional ticket is not a TGT of ${who}`;
        break;
      case ErrorCode.KDC_ERR_MUST_USE_USER2USER:
        detail = `${who} has no long-term key; it requires user-to-user (GETTGT)`;
        break;
      case ErrorCode.KRB_AP_ERR_TKT_EXPIRED:
        detail = "the TGT has expired; get a new one";
        break;
      case ErrorCode.KRB_AP_ERR_BAD_INTEGRITY:
      case ErrorCode.KRB_AP_ERR_MODIFIED:
        detail = "the KDC could not decrypt our request (TGT or authenticator damaged)";
        break;
      default:
        detail = `KDC refused the request`;
    }
    return new KdcError(ctx, `${detail} [${name}]${text}`, err, offset);
  }
}

function isTgs(p: Principal): boolean {
  return p.components.length === 2 && p.components[0] === "krbtgt";
}

/** `krbtgt/REALM@REALM`: a realm's own TGT, never a cross-realm one. */
function isLocalTgs(p: Principal, realm: string): boolean {
  return isTgs(p) && p.realm === realm && p.components[1] === realm;
}

/**
 * The realms a client of `clientRealm` passes through to reach
 * `serverRealm`, in order, ending with `serverRealm` (empty when they are the
 * same). From `capaths[clientRealm][serverRealm]` when present (`"."` means
 * direct), else the hierarchical default of RFC 4120 §1.2: up from the client
 * realm to the nearest common parent domain, then down to the server realm
 * (e.g. A.EX.TEST → EX.TEST → B.EX.TEST); realms with no common parent are
 * reached directly.
 */
export function realmPath(clientRealm: string, serverRealm: string, capaths?: Capaths): string[] {
  if (clientRealm === serverRealm) return [];
  const configured = capaths?.[clientRealm]?.[serverRealm];
  if (configured !== undefined && configured.length > 0) {
    const hops = configured.filter((r) => r !== "." && r !== clientRealm && r !== serverRealm);
    return [...hops, serverRealm];
  }
  const c = clientRealm.split(".");
  const s = serverRealm.split(".");
  let common = 0;
  while (
    common < c.length && common < s.length &&
    c[c.length - 1 - common] === s[s.length - 1 - common]
  ) common++;
  if (common === 0) return [serverRealm];
  const path: string[] = [];
  for (let i = 1; i <= c.length - common; i++) path.push(c.slice(i).join("."));
  for (let j = s.length - common - 1; j >= 0; j--) path.push(s.slice(j).join("."));
  return [...new Set(path.filter((r) => r !== clientRealm))];
}

/**
 * krb5.conf `[capaths]` as {@link Capaths}: every `SERVER = HOP` value of a
 * client realm's subsection, in file order.
 */
export function capathsFromKrb5Conf(conf: Krb5Conf): Capaths {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [client, values] of conf.sections.get("capaths") ?? []) {
    for (const v of values) {
      if (typeof v.value === "string") continue;
      const per = (out[client] ??= {});
      for (const [server, hops] of v.value) {
        for (const h of hops) if (typeof h.value === "string") (per[server] ??= []).push(h.value);
      }
    }
  }
  return out;
}

function cacheKey(server: Principal, u2u: boolean): string {
  return `${u2u ? "u2u:" : ""}${formatPrincipal(server)}`;
}

/** The default salt of RFC 4120 §4: realm followed by the name components. */
export function defaultSalt(p: Principal): string {
  return p.realm + p.components.join("");
}

function randomNonce(random: RandomSource): number {
  return randomUint32(random) & 0x7fffffff;
}

/** One exchange shared by concurrent callers (see {@link startFlight}). */
interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
  /** Forgets the flight so that later callers start a new one. */
  forget: () => void;
}

/**
 * Starts `run` under a signal of its own. `onOk` sees the result before any
 * waiter does; `forget` is called once the flight settles or is abandoned.
 */
function startFlight<T>(
  run: (signal: AbortSignal) => Promise<T>,
  onOk: (v: T) => void,
  forget: () => void,
): Flight<T> {
  const controller = new AbortController();
  const f = { controller, waiters: 0, settled: false, forget } as Flight<T>;
  f.promise = run(controller.signal).then(
    (v) => {
      f.settled = true;
      forget();
      onOk(v);
      return v;
    },
    (e) => {
      f.settled = true;
      forget();
      throw e;
    },
  );
  f.promise.catch(() => {}); // an abandoned flight's failure has no waiter
  return f;
}

/**
 * Waits for a shared flight as one caller. The caller's `signal` rejects
 * only this wait; when the last waiter leaves an unsettled flight, the
 * flight is aborted and forgotten, so a later caller starts afresh.
 */
async function joinFlight<T>(
  f: Flight<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  const aborted = () => new KerberosError("aborted", what, "the caller gave up waiting");
  if (signal?.aborted) throw aborted();
  f.waiters++;
  try {
    if (!signal) return await f.promise;
    return await new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(aborted());
      signal.addEventListener("abort", onAbort, { once: true });
      f.promise.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  } finally {
    f.waiters--;
    if (f.waiters === 0 && !f.settled) {
      f.forget();
      f.controller.abort();
    }
  }
}

/** Builds `kink/<host>@REALM` (name type NT-SRV-HST). */
export function kinkServicePrincipal(host: string, realm: string): Principal {
  return { nameType: NameType.SRV_HST, components: ["kink", host.toLowerCase()], realm };
}

/**
 * Converts credentials into a ccache structure (for {@link writeCcache}).
 * The session keys are exported: wipe the result ({@link wipeCcache}) after use.
 */
export function credentialsToCcache(
  client: Principal,
  creds: readonly Credentials[],
  kdcOffsetMs = 0,
): Ccache {
  const credentials: CcacheCredential[] = creds.map((c) => {
    const e: CcacheCredential = {
      client: c.client,
      server: c.server,
      key: { keytype: c.sessionKey.enctype, keyvalue: c.sessionKey.exportBytes() },
      authtime: c.authtime,
      // A KDC may omit starttime (it then equals authtime); MIT and Heimdal
      // store authtime there rather than 0.
      starttime: c.starttime ?? c.authtime,
      endtime: c.endtime,
      isSkey: c.userToUser === true,
      ticketFlags: c.flags,
      addresses: [],
      authdata: [],
      ticket: encodeTicket(c.ticket),
      secondTicket: new Uint8Array(0),
    };
    if (c.renewTill) e.renewTill = c.renewTill;
    return e;
  });
  const cc: Ccache = { version: 4, defaultPrincipal: client, credentials, config: [] };
  if (kdcOffsetMs !== 0) {
    const sec = Math.trunc(kdcOffsetMs / 1000);
    cc.kdcOffset = { seconds: sec, microseconds: Math.trunc((kdcOffsetMs - sec * 1000) * 1000) };
  }
  return cc;
}

/**
 * Converts the credentials of a ccache (configuration entries are already
 * excluded by {@link readCcache}) into {@link Credentials}. Entries whose
 * session key kink cannot use (enctype outside 17–20) are skipped.
 */
export function credentialsFromCcache(cc: Ccache): Credentials[] {
  const out: Credentials[] = [];
  for (const e of cc.credentials) {
    if (e.key.keytype < 17 || e.key.keytype > 20) continue;
    const ticket = decodeTicket(e.ticket);
    const c: Credentials = {
      client: e.client,
      server: e.server,
      ticket,
      sessionKey: Key.fromBytes(e.key.keytype, e.key.keyvalue),
      flags: e.ticketFlags,
      authtime: e.authtime,
      endtime: e.endtime,
    };
    if (e.starttime) c.starttime = e.starttime;
    if (e.renewTill) c.renewTill = e.renewTill;
    if (e.isSkey) c.userToUser = true;
    out.push(c);
  }
  return out;
}

/**
 * Client options taken from krb5.conf: the `[realms] kdc` lists,
 * `default_tkt_enctypes` (those kink implements), `kdc_timeout` and
 * `udp_preference_limit`. Throws {@link KerberosError} for a KDC address it
 * cannot parse.
 */
export function clientOptionsFromKrb5Conf(
  conf: Krb5Conf,
): ClientOptions & { kdcs: (realm: string) => readonly KdcEndpoint[] } {
  const cache = new Map<string, KdcEndpoint[]>();
  const opts: ClientOptions & { kdcs: (realm: string) => readonly KdcEndpoint[] } = {
    kdcs: (realm) => {
      let list = cache.get(realm);
      if (!list) {
        list = (conf.realms.get(realm)?.kdc ?? []).map((k) => parseKdcEndpoint(k));
        cache.set(realm, list);
      }
      return list;
    },
  };
  const ld = conf.libdefaults;
  const enctypes = (ld.defaultTktEnctypes ?? []).filter((e) => e >= 17 && e <= 20);
  if (enctypes.length > 0) opts.enctypes = enctypes;
  const transport: Omit<KdcSendOptions, "signal"> = {};
  if (ld.kdcTimeoutMs !== undefined) transport.timeoutMs = ld.kdcTimeoutMs;
  if (ld.udpPreferenceLimit !== undefined) transport.udpPreferenceLimit = ld.udpPreferenceLimit;
  opts.transport = transport;
  const capaths = capathsFromKrb5Conf(conf);
  if (Object.keys(capaths).length > 0) opts.capaths = capaths;
  return opts;
}
