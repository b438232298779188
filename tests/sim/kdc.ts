/**
 * An in-process Kerberos KDC for the simulator and for tests: AS exchange
 * with PA-ENC-TIMESTAMP pre-authentication, TGS exchange, and user-to-user
 * TGS (KDC option enc-tkt-in-skey with the peer's TGT as additional ticket),
 * for enctypes 17, 18, 19 and 20.
 *
 * It is built on kink's own Kerberos codec and crypto and issues real
 * tickets: real DER, encrypted under the principals' long-term keys (a
 * keytab written with {@link SimKdc.keytab} and kink's keytab writer is read
 * by MIT's libkrb5, whose `krb5_rd_req` accepts AP-REQs made with these
 * tickets — see tests/integration/sim/kdc_mit_test.ts).
 *
 * Everything that varies comes from the injected clock and random source, so
 * a simulated run reproduces bit for bit. Not for production: it keeps its
 * database in memory, has no replay cache for TGS authenticators, no
 * cross-realm, no renewal, no FAST.
 *
 * @module
 */
import {
  checksumType,
  decrypt,
  encrypt,
  isSupportedEnctype,
  Key,
  stringToKey,
  verifyMic,
} from "../../core/crypto/mod.ts";
import {
  decodeApReq,
  decodeAuthenticator,
  decodeEncryptedData,
  decodeEncTicketPart,
  decodeKdcReq,
  decodePaEncTsEnc,
  defaultSalt,
  type EncKdcRepPart,
  encodeEncKdcRepPart,
  encodeEncTicketPart,
  encodeEtypeInfo2,
  encodeKdcRep,
  encodeKrbError,
  encodeMethodData,
  type EncTicketPart,
  ErrorCode,
  type EtypeInfo2Entry,
  formatPrincipal,
  hasFlag,
  KdcOption,
  KdcUnreachableError,
  KerberosError,
  type KeytabEntry,
  KeyUsage,
  makeFlags,
  MsgType,
  NameType,
  parsePrincipal,
  PaType,
  type Principal,
  type PrincipalName,
  type ServiceKeyEntry,
  splitTime,
  type Ticket,
  TicketFlag,
  toPrincipal,
  toPrincipalName,
} from "../../core/kerberos/mod.ts";
import type { Clock } from "../../core/util/clock.ts";
import type { RandomSource } from "../../core/util/random.ts";

/** Options of {@link SimKdc}. */
export interface SimKdcOptions {
  /** The realm served, e.g. `"KINK.TEST"`. */
  realm: string;
  /** The KDC's clock (it may differ from the clients': that is how skew is simulated). */
  clock: Clock;
  /** Source of session keys, random long-term keys and confounders. */
  random: RandomSource;
  /** Allowed clock skew, ms. Default 300 000. */
  skewMs?: number;
  /** Longest ticket lifetime issued, ms. Default 10 h (MIT's default max_life). */
  maxLifetimeMs?: number;
  /** Enctypes of the krbtgt key, strongest first. Default [18]. */
  tgtEnctypes?: readonly number[];
  /** Ask for pre-authentication in every AS exchange. Default true (as MIT's requires_preauth). */
  requirePreauth?: boolean;
}

/** Options of {@link SimKdc.addPrincipal}. */
export interface SimPrincipalOptions {
  /** Enctypes of the principal's keys, preferred first. Default [18, 17]. */
  enctypes?: readonly number[];
  /** Derive the keys from this password (RFC 3962/8009 string-to-key, default salt). Default: random keys. */
  password?: string;
  /** Key version number. Default 1. */
  kvno?: number;
  /**
   * The principal has no long-term key usable for tickets (e.g. a gateway
   * that holds only a TGT obtained by PKINIT): TGS requests for it without
   * enc-tkt-in-skey get KDC_ERR_MUST_USE_USER2USER.
   */
  userToUserOnly?: boolean;
}

/** Requests counted by a {@link SimKdc}. */
export interface SimKdcCounters {
  /** AS-REQs answered with an AS-REP. */
  asReps: number;
  /** TGS-REQs answered with a TGS-REP (user-to-user included). */
  tgsReps: number;
  /** Of {@link tgsReps}, user-to-user tickets. */
  u2uReps: number;
  /** Requests answered with a KRB-ERROR. */
  errors: number;
  /** Requests refused because the KDC was down. */
  refused: number;
}

interface DbEntry {
  principal: Principal;
  kvno: number;
  keys: Map<number, Uint8Array>; // enctype → key octets, insertion order = preference
  order: number[];
  userToUserOnly: boolean;
}

const DAY = 86_400_000;

/** An in-process KDC; see the module documentation. */
export class SimKdc {
  /** The realm served. */
  readonly realm: string;
  /** What the KDC has done. */
  readonly counters: SimKdcCounters = { asReps: 0, tgsReps: 0, u2uReps: 0, errors: 0, refused: 0 };
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #skewMs: number;
  readonly #maxLifetimeMs: number;
  readonly #requirePreauth: boolean;
  readonly #db = new Map<string, DbEntry>();
  #up = true;

  /** A KDC for `opts.realm` with only its `krbtgt/REALM@REALM` principal. */
  constructor(opts: SimKdcOptions) {
    this.realm = opts.realm;
    this.#clock = opts.clock;
    this.#random = opts.random;
    this.#skewMs = opts.skewMs ?? 300_000;
    this.#maxLifetimeMs = opts.maxLifetimeMs ?? 10 * 3_600_000;
    this.#requirePreauth = opts.requirePreauth ?? true;
    this.addPrincipal(`krbtgt/${opts.realm}`, { enctypes: opts.tgtEnctypes ?? [18] });
  }

  /** Whether the KDC answers (see {@link setAvailable}). */
  get available(): boolean {
    return this.#up;
  }

  /** Takes the KDC down (requests fail as unreachable) or brings it back. */
  setAvailable(up: boolean): void {
    this.#up = up;
  }

  /**
   * Adds a principal (`"alice"`, `"kink/b.kink.test"`, with or without
   * `@REALM`) with keys of the given enctypes, and returns its key entries.
   * Adding an existing principal again replaces its keys (kvno + 1 unless given).
   */
  addPrincipal(name: string, opts: SimPrincipalOptions = {}): ServiceKeyEntry[] {
    const principal = this.#parse(name);
    const id = formatPrincipal(principal);
    const old = this.#db.get(id);
    const kvno = opts.kvno ?? (old ? old.kvno + 1 : 1);
    const order = [...(opts.enctypes ?? [18, 17])];
    const keys = new Map<number, Uint8Array>();
    for (const et of order) {
      if (!isSupportedEnctype(et)) {
        throw new KerberosError("unsupported", `SimKdc add ${id}`, `enctype ${et}`);
      }
      let k: Key;
      if (opts.password !== undefined) k = stringToKey(et, opts.password, defaultSalt(principal));
      else k = Key.random(et, this.#random);
      keys.set(et, k.exportBytes());
      k.dispose();
    }
    if (old) { for (const k of old.keys.values()) k.fill(0); }
    this.#db.set(id, {
      principal,
      kvno,
      keys,
      order,
      userToUserOnly: opts.userToUserOnly ?? false,
    });
    return this.keytab(name);
  }

  /** Whether the principal exists. */
  has(name: string): boolean {
    return this.#db.has(formatPrincipal(this.#parse(name)));
  }

  /** The principal's long-term keys as keytab entries (copies; wipe them when done). */
  keytab(name: string): KeytabEntry[] {
    const e = this.#entry(name);
    const ts = Math.floor(this.#clock.now() / 1000);
    return e.order.map((et) => ({
      principal: { ...e.principal, components: [...e.principal.components] },
      timestamp: ts,
      kvno: e.kvno,
      enctype: et,
      key: e.keys.get(et)!.slice(),
    }));
  }

  /** The full principal for a short name. */
  principal(name: string): Principal {
    return this.#entry(name).principal;
  }

  /**
   * The KDC-sender shape (`(realm, request) => reply`): answers an AS-REQ or
   * TGS-REQ with a reply or a KRB-ERROR. Rejects with
   * {@link KdcUnreachableError} while the KDC is down or for another realm.
   */
  handle(realm: string, request: Uint8Array, _signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.handleSync(realm, request));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link handle}, synchronously (for the simulator's event loop). */
  handleSync(realm: string, request: Uint8Array): Uint8Array {
    if (!this.#up || realm !== this.realm) {
      this.counters.refused++;
      throw new KdcUnreachableError("kdc-unreachable", [{
        address: `sim-kdc:${realm}`,
        protocol: "udp",
        outcome: this.#up ? "no KDC for this realm" : "timeout",
      }]);
    }
    try {
      return this.#dispatch(request);
    } catch (e) {
      this.counters.errors++;
      if (e instanceof KdcFailure) return this.#error(e.code, e.text, e.extra);
      // Undecodable input: KRB_ERR_GENERIC, as MIT answers garbage it can parse as a request.
      return this.#error(ErrorCode.KRB_ERR_GENERIC, "malformed request", {});
    }
  }

  #parse(name: string): Principal {
    const p = parsePrincipal(name.includes("@") ? name : `${name}@${this.realm}`);
    if (p.components.length === 2 && p.components[0] !== "krbtgt") {
      p.nameType = NameType.SRV_HST;
    }
    return p;
  }

  #entry(name: string): DbEntry {
    const e = this.#db.get(formatPrincipal(this.#parse(name)));
    if (!e) throw new KerberosError("not-found", "SimKdc", `no principal ${name}`);
    return e;
  }

  #lookup(pn: PrincipalName, realm: string): DbEntry | undefined {
    return this.#db.get(formatPrincipal(toPrincipal(pn, realm)));
  }

  #tgt(): DbEntry {
    return this.#db.get(`krbtgt/${this.realm}@${this.realm}`)!;
  }

  #dispatch(request: Uint8Array): Uint8Array {
    const req = decodeKdcReq(request);
    this.#server = req.reqBody.sname;
    if (req.pvno !== 5) throw new KdcFailure(ErrorCode.KDC_ERR_BAD_PVNO, "pvno");
    if (req.reqBody.realm !== this.realm) {
      throw new KdcFailure(ErrorCode.KDC_ERR_WRONG_REALM, "wrong realm");
    }
    if (req.msgType === MsgType.AS_REQ) return this.#as(req);
    if (req.msgType === MsgType.TGS_REQ) return this.#tgs(req);
    throw new KdcFailure(ErrorCode.KRB_ERR_GENERIC, "not a KDC-REQ");
  }

  #server: PrincipalName | undefined;

  // --- AS --------------------------------------------------------------------

  #as(req: ReturnType<typeof decodeKdcReq>): Uint8Array {
    const body = req.reqBody;
    if (!body.cname) throw new KdcFailure(ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "no cname");
    const client = this.#lookup(body.cname, this.realm);
    if (!client) {
      throw new KdcFailure(ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "client unknown", {
        cname: body.cname,
      });
    }
    if (!body.sname) throw new KdcFailure(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "no sname");
    const server = this.#lookup(body.sname, this.realm);
    if (!server) throw new KdcFailure(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server unknown");
    // The client's reply key: the first requested enctype it has a key of.
    const clientEt = body.etype.find((e) => client.keys.has(e));
    if (clientEt === undefined) {
      throw new KdcFailure(ErrorCode.KDC_ERR_ETYPE_NOSUPP, "no common enctype for the client");
    }
    const info = this.#etypeInfo(client, body.etype);
    const now = this.#clock.now();
    const pa = req.padata?.find((p) => p.padataType === PaType.ENC_TIMESTAMP);
    let preauth = false;
    if (pa) {
      const ed = decodeEncryptedData(pa.padataValue);
      const raw = client.keys.get(ed.etype);
      if (!raw) throw new KdcFailure(ErrorCode.KDC_ERR_ETYPE_NOSUPP, "pre-auth enctype");
      const key = Key.fromBytes(ed.etype, raw);
      let plain: Uint8Array;
      try {
        plain = decrypt(key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, ed.cipher);
      } catch {
        throw new KdcFailure(ErrorCode.KDC_ERR_PREAUTH_FAILED, "pre-authentication failed", {
          cname: body.cname,
          eData: this.#preauthData(info),
        });
      } finally {
        key.dispose();
      }
      const ts = decodePaEncTsEnc(plain);
      const t = ts.patimestamp.getTime() + (ts.pausec ?? 0) / 1000;
      if (Math.abs(t - now) > this.#skewMs) {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_SKEW, "clock skew too great", {
          cname: body.cname,
        });
      }
      preauth = true;
    } else if (this.#requirePreauth) {
      throw new KdcFailure(ErrorCode.KDC_ERR_PREAUTH_REQUIRED, "pre-authentication required", {
        cname: body.cname,
        eData: this.#preauthData(info),
      });
    }
    const flags: number[] = [TicketFlag.INITIAL];
    if (preauth) flags.push(TicketFlag.PRE_AUTHENT);
    const sessionEt = this.#sessionEnctype(body.etype, server);
    const issued = this.#issue({
      clientName: body.cname,
      server,
      ticketKey: {
        etype: server.order[0]!,
        kvno: server.kvno,
        raw: server.keys.get(server.order[0]!)!,
      },
      sessionEt,
      flags: makeFlags(...flags),
      authtime: now,
      till: body.till.getTime(),
      nonce: body.nonce,
      appTag: 25,
      sname: body.sname,
      limit: Infinity,
    });
    const replyKey = Key.fromBytes(clientEt, client.keys.get(clientEt)!);
    try {
      const cipher = encrypt(replyKey, KeyUsage.AS_REP_ENC_PART, issued.encRepPart, this.#random);
      issued.encRepPart.fill(0);
      this.counters.asReps++;
      return encodeKdcRep({
        pvno: 5,
        msgType: MsgType.AS_REP,
        padata: [{
          padataType: PaType.ETYPE_INFO2,
          padataValue: encodeEtypeInfo2(info.filter((i) => i.etype === clientEt)),
        }],
        crealm: this.realm,
        cname: body.cname,
        ticket: issued.ticket,
        encPart: { etype: clientEt, kvno: client.kvno, cipher },
      });
    } finally {
      replyKey.dispose();
    }
  }

  #etypeInfo(client: DbEntry, requested: readonly number[]): EtypeInfo2Entry[] {
    const salt = defaultSalt(client.principal);
    return requested.filter((e) => client.keys.has(e)).map((etype) => ({ etype, salt }));
  }

  #preauthData(info: EtypeInfo2Entry[]): Uint8Array {
    return encodeMethodData([
      { padataType: PaType.ENC_TIMESTAMP, padataValue: new Uint8Array(0) },
      { padataType: PaType.ETYPE_INFO2, padataValue: encodeEtypeInfo2(info) },
    ]);
  }

  #sessionEnctype(requested: readonly number[], server: DbEntry | undefined): number {
    // MIT: the first requested enctype the KDC supports and the server has a key of.
    const et =
      requested.find((e) =>
        isSupportedEnctype(e) && (server === undefined || server.keys.has(e))
      ) ?? requested.find((e) => isSupportedEnctype(e));
    if (et === undefined) throw new KdcFailure(ErrorCode.KDC_ERR_ETYPE_NOSUPP, "no enctype");
    return et;
  }

  // --- TGS -------------------------------------------------------------------

  #tgs(req: ReturnType<typeof decodeKdcReq>): Uint8Array {
    const body = req.reqBody;
    const pa = req.padata?.find((p) => p.padataType === PaType.TGS_REQ);
    if (!pa || !req.reqBodyRaw) {
      throw new KdcFailure(ErrorCode.KDC_ERR_PADATA_TYPE_NOSUPP, "no PA-TGS-REQ");
    }
    const ap = decodeApReq(pa.padataValue);
    const tgtPart = this.#openTgt(ap.ticket);
    const now = this.#clock.now();
    const tgtSession = Key.fromBytes(tgtPart.key.keytype, tgtPart.key.keyvalue);
    tgtPart.key.keyvalue.fill(0);
    try {
      let authPlain: Uint8Array;
      try {
        authPlain = decrypt(tgtSession, KeyUsage.TGS_REQ_PA_AUTHENTICATOR, ap.authenticator.cipher);
      } catch {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator");
      }
      const auth = decodeAuthenticator(authPlain);
      authPlain.fill(0);
      if (
        formatPrincipal(toPrincipal(auth.cname, auth.crealm)) !==
          formatPrincipal(toPrincipal(tgtPart.cname, tgtPart.crealm))
      ) {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_BADMATCH, "authenticator client");
      }
      const t = auth.ctime.getTime() + auth.cusec / 1000;
      if (Math.abs(t - now) > this.#skewMs) {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_SKEW, "clock skew too great", {
          cname: tgtPart.cname,
        });
      }
      if (tgtPart.endtime.getTime() < now) {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_TKT_EXPIRED, "TGT expired", {
          cname: tgtPart.cname,
        });
      }
      if (
        !auth.cksum ||
        auth.cksum.cksumtype !== checksumType(tgtSession.enctype) ||
        !verifyMic(
          tgtSession,
          KeyUsage.TGS_REQ_PA_AUTHENTICATOR_CKSUM,
          req.reqBodyRaw,
          auth.cksum.checksum,
        )
      ) {
        throw new KdcFailure(ErrorCode.KRB_AP_ERR_MODIFIED, "request body checksum");
      }
      if (!body.sname) throw new KdcFailure(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "no sname");
      const u2u = hasFlag(body.kdcOptions, KdcOption.ENC_TKT_IN_SKEY);
      let ticketKey: { etype: number; kvno?: number; raw: Uint8Array };
      let sessionEt: number;
      let second: EncTicketPart | undefined;
      if (u2u) {
        const add = body.additionalTickets?.[0];
        if (!add) throw new KdcFailure(ErrorCode.KDC_ERR_BADOPTION, "no additional ticket");
        second = this.#openTgt(add);
        if (
          formatPrincipal(toPrincipal(second.cname, second.crealm)) !==
            formatPrincipal(toPrincipal(body.sname, this.realm))
        ) {
          second.key.keyvalue.fill(0);
          throw new KdcFailure(ErrorCode.KDC_ERR_SERVER_NOMATCH, "additional ticket's client");
        }
        ticketKey = { etype: second.key.keytype, raw: second.key.keyvalue };
        sessionEt = this.#sessionEnctype(body.etype, undefined);
      } else {
        const server = this.#lookup(body.sname, this.realm);
        if (!server) {
          throw new KdcFailure(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server unknown", {
            cname: tgtPart.cname,
          });
        }
        if (server.userToUserOnly) {
          throw new KdcFailure(ErrorCode.KDC_ERR_MUST_USE_USER2USER, "server needs user-to-user", {
            cname: tgtPart.cname,
          });
        }
        const et = server.order[0]!;
        ticketKey = { etype: et, kvno: server.kvno, raw: server.keys.get(et)! };
        sessionEt = this.#sessionEnctype(body.etype, server);
      }
      try {
        const issued = this.#issue({
          clientName: tgtPart.cname,
          server: undefined,
          ticketKey,
          sessionEt,
          flags: tgtPart.flags & ~makeFlags(TicketFlag.INITIAL, TicketFlag.PRE_AUTHENT) |
            (tgtPart.flags & makeFlags(TicketFlag.PRE_AUTHENT)),
          authtime: tgtPart.authtime.getTime(),
          till: body.till.getTime(),
          nonce: body.nonce,
          appTag: 26,
          sname: body.sname,
          limit: tgtPart.endtime.getTime(),
        });
        const cipher = encrypt(
          tgtSession,
          KeyUsage.TGS_REP_ENC_PART_SESSKEY,
          issued.encRepPart,
          this.#random,
        );
        issued.encRepPart.fill(0);
        this.counters.tgsReps++;
        if (u2u) this.counters.u2uReps++;
        return encodeKdcRep({
          pvno: 5,
          msgType: MsgType.TGS_REP,
          crealm: tgtPart.crealm,
          cname: tgtPart.cname,
          ticket: issued.ticket,
          encPart: { etype: tgtSession.enctype, cipher },
        });
      } finally {
        if (second) second.key.keyvalue.fill(0);
      }
    } finally {
      tgtSession.dispose();
    }
  }

  /** Decrypts a TGT of this realm with the krbtgt key. */
  #openTgt(t: Ticket): EncTicketPart {
    const tgs = this.#tgt();
    const sname = toPrincipal(t.sname, t.realm);
    if (formatPrincipal(sname) !== formatPrincipal(tgs.principal)) {
      throw new KdcFailure(ErrorCode.KDC_ERR_POLICY, "ticket is not a TGT of this realm");
    }
    if (t.encPart.kvno !== undefined && t.encPart.kvno !== tgs.kvno) {
      throw new KdcFailure(ErrorCode.KRB_AP_ERR_BADKEYVER, "krbtgt kvno");
    }
    const raw = tgs.keys.get(t.encPart.etype);
    if (!raw) throw new KdcFailure(ErrorCode.KRB_AP_ERR_NOKEY, "krbtgt enctype");
    const key = Key.fromBytes(t.encPart.etype, raw);
    let plain: Uint8Array;
    try {
      plain = decrypt(key, KeyUsage.KDC_REP_TICKET, t.encPart.cipher);
    } catch {
      throw new KdcFailure(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY, "TGT integrity");
    } finally {
      key.dispose();
    }
    const part = decodeEncTicketPart(plain);
    plain.fill(0);
    return part;
  }

  #issue(o: {
    clientName: PrincipalName;
    server: DbEntry | undefined;
    ticketKey: { etype: number; kvno?: number; raw: Uint8Array };
    sessionEt: number;
    flags: number;
    authtime: number;
    till: number;
    nonce: number;
    appTag: 25 | 26;
    sname: PrincipalName;
    limit: number;
  }): { ticket: Ticket; encRepPart: Uint8Array } {
    const now = this.#clock.now();
    const start = splitTime(now).time;
    const authtime = splitTime(o.authtime).time;
    const tillMs = o.till <= 0 || o.till > now + 365 * DAY ? now + this.#maxLifetimeMs : o.till;
    const end = Math.min(tillMs, now + this.#maxLifetimeMs, o.limit);
    const endtime = splitTime(end).time;
    const session = Key.random(o.sessionEt, this.#random);
    const sessionRaw = session.exportBytes();
    session.dispose();
    const etp: EncTicketPart = {
      flags: o.flags,
      key: { keytype: o.sessionEt, keyvalue: sessionRaw },
      crealm: this.realm,
      cname: o.clientName,
      transited: { trType: 1, contents: new Uint8Array(0) },
      authtime,
      starttime: start,
      endtime,
    };
    const tk = Key.fromBytes(o.ticketKey.etype, o.ticketKey.raw);
    let ticketCipher: Uint8Array;
    try {
      const plain = encodeEncTicketPart(etp);
      ticketCipher = encrypt(tk, KeyUsage.KDC_REP_TICKET, plain, this.#random);
      plain.fill(0);
    } finally {
      tk.dispose();
    }
    const encPart: { etype: number; kvno?: number; cipher: Uint8Array } = {
      etype: o.ticketKey.etype,
      cipher: ticketCipher,
    };
    if (o.ticketKey.kvno !== undefined) encPart.kvno = o.ticketKey.kvno;
    const ticket: Ticket = { tktVno: 5, realm: this.realm, sname: o.sname, encPart };
    const rep: EncKdcRepPart = {
      key: { keytype: o.sessionEt, keyvalue: sessionRaw },
      lastReq: [{ lrType: 0, lrValue: authtime }],
      nonce: o.nonce,
      flags: o.flags,
      authtime,
      starttime: start,
      endtime,
      srealm: this.realm,
      sname: o.sname,
      appTag: o.appTag,
    };
    const encRepPart = encodeEncKdcRepPart(rep);
    sessionRaw.fill(0);
    return { ticket, encRepPart };
  }

  #error(
    code: number,
    text: string,
    extra: { cname?: PrincipalName; eData?: Uint8Array },
  ): Uint8Array {
    const { time, usec } = splitTime(this.#clock.now());
    const sname = this.#server ?? toPrincipalName(this.#tgt().principal);
    const m: Parameters<typeof encodeKrbError>[0] = {
      pvno: 5,
      msgType: MsgType.KRB_ERROR,
      stime: time,
      susec: usec,
      errorCode: code,
      realm: this.realm,
      sname,
      eText: text,
    };
    if (extra.cname) {
      m.cname = extra.cname;
      m.crealm = this.realm;
    }
    if (extra.eData) m.eData = extra.eData;
    this.#server = undefined;
    return encodeKrbError(m);
  }
}

class KdcFailure extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
    readonly extra: { cname?: PrincipalName; eData?: Uint8Array } = {},
  ) {
    super(text);
  }
}
