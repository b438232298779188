/**
 * A minimal, synchronous Kerberos client for the SimKdc's own tests: AS
 * (with PA-ENC-TIMESTAMP sent at once) and TGS (plain and user-to-user)
 * exchanges against a KDC sender, with an injected clock and a seeded random
 * source. The simulator's gateways use kink's `KerberosClient` through its
 * sender seam; this client drives the KDC without it, so that the KDC's
 * tests do not depend on the code they help to test.
 *
 * @module
 */
import { checksumType, decrypt, encrypt, getMic, Key } from "../../core/crypto/mod.ts";
import {
  type Credentials,
  decodeAsRep,
  decodeEncKdcRepPart,
  decodeKrbError,
  decodeTgsRep,
  encodeApReq,
  encodeAuthenticator,
  encodeEncryptedData,
  encodeKdcReq,
  encodeKdcReqBody,
  encodePaEncTsEnc,
  errorCodeName,
  formatPrincipal,
  KdcOption,
  type KdcReqBody,
  KerberosError,
  KeyUsage,
  makeFlags,
  MsgType,
  PaType,
  peekMessageType,
  type Principal,
  principalEquals,
  type ServiceKeyEntry,
  splitTime,
  tgsPrincipal,
  type Ticket,
  toPrincipal,
  toPrincipalName,
} from "../../core/kerberos/mod.ts";
import { randomBelow, type RandomSource, randomUint32 } from "../../core/util/random.ts";

/** Sends a KDC request for a realm and returns the reply (the KDC-sender seam's shape). */
export type KdcSender = (realm: string, request: Uint8Array) => Uint8Array;

/** A failed ticket request, with the KDC's error code when there was one. */
export class SimTicketError extends KerberosError {
  /** Creates the error. */
  constructor(context: string, detail: string, code?: number) {
    super(
      code === undefined ? "kdc-unreachable" : "krb-error",
      context,
      detail,
      code === undefined ? {} : { errorCode: code },
    );
  }
}

/** A gateway's ticket source; see the module documentation. */
export class SimTicketClient {
  /** Our principal. */
  readonly principal: Principal;
  readonly #keys: readonly ServiceKeyEntry[];
  readonly #send: KdcSender;
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #enctypes: readonly number[];
  #tgt: Credentials | undefined;
  #cache = new Map<string, Credentials>();
  /** Every credential ever obtained (the simulator searches logs for their keys). */
  readonly issued: Credentials[] = [];

  /** A client of `principal` with its keytab entries. */
  constructor(o: {
    principal: Principal;
    keytab: readonly ServiceKeyEntry[];
    send: KdcSender;
    now: () => number;
    random: RandomSource;
    enctypes?: readonly number[];
  }) {
    this.principal = o.principal;
    this.#keys = o.keytab;
    this.#send = o.send;
    this.#now = o.now;
    this.#random = o.random;
    this.#enctypes = o.enctypes ?? [18, 17, 20, 19];
  }

  /** The TGT (cached while valid for another minute). */
  getTgt(): Credentials {
    if (this.#tgt && this.#tgt.endtime.getTime() - this.#now() > 60_000) return this.#tgt;
    this.#tgt = this.#as();
    return this.#tgt;
  }

  /** A service ticket (cached unless `fresh` or user-to-user). */
  getServiceTicket(server: Principal, o: { peerTgt?: Ticket; fresh?: boolean } = {}): Credentials {
    const k = formatPrincipal(server);
    const c = this.#cache.get(k);
    if (!o.peerTgt && !o.fresh && c && c.endtime.getTime() - this.#now() > 60_000) return c;
    const t = this.#tgs(this.getTgt(), server, o.peerTgt);
    if (!o.peerTgt) this.#cache.set(k, t);
    return t;
  }

  /** Forgets cached tickets (a restart). */
  forget(): void {
    this.#tgt = undefined;
    this.#cache.clear();
  }

  #nonce(): number {
    return randomUint32(this.#random) & 0x7fffffff;
  }

  #body(server: Principal, options: number): KdcReqBody {
    return {
      kdcOptions: options,
      realm: server.realm,
      sname: toPrincipalName(server),
      till: new Date(Math.floor((this.#now() + 86_400_000) / 1000) * 1000),
      nonce: this.#nonce(),
      etype: [...this.#enctypes],
    };
  }

  #exchange(ctx: string, realm: string, req: Uint8Array, want: number): Uint8Array {
    let reply: Uint8Array;
    try {
      reply = this.#send(realm, req);
    } catch (e) {
      throw new SimTicketError(ctx, `KDC unreachable: ${(e as Error).message}`);
    }
    const type = peekMessageType(reply);
    if (type === MsgType.KRB_ERROR) {
      const err = decodeKrbError(reply);
      throw new SimTicketError(
        ctx,
        `${errorCodeName(err.errorCode)} (${err.errorCode})`,
        err.errorCode,
      );
    }
    if (type !== want) throw new SimTicketError(ctx, `unexpected message type ${type}`);
    return reply;
  }

  #as(): Credentials {
    const me = this.principal;
    const ctx = `AS for ${formatPrincipal(me)}`;
    const entry = this.#enctypes
      .map((et) => this.#keys.find((k) => k.enctype === et && principalEquals(k.principal, me)))
      .find((k) => k !== undefined);
    if (!entry) throw new SimTicketError(ctx, "no usable key in the keytab");
    const key = Key.fromBytes(entry.enctype, entry.key);
    try {
      const body = this.#body(tgsPrincipal(me.realm), 0);
      body.cname = toPrincipalName(me);
      body.etype = [entry.enctype];
      const { time, usec } = splitTime(this.#now(), randomBelow(this.#random, 1000));
      const ts = encrypt(
        key,
        KeyUsage.AS_REQ_PA_ENC_TIMESTAMP,
        encodePaEncTsEnc({ patimestamp: time, pausec: usec }),
        this.#random,
      );
      const req = encodeKdcReq({
        pvno: 5,
        msgType: MsgType.AS_REQ,
        padata: [{
          padataType: PaType.ENC_TIMESTAMP,
          padataValue: encodeEncryptedData({ etype: key.enctype, cipher: ts }),
        }],
        reqBody: body,
      });
      const rep = decodeAsRep(this.#exchange(ctx, me.realm, req, MsgType.AS_REP));
      return this.#credentials(ctx, rep, key, KeyUsage.AS_REP_ENC_PART, body.nonce, false);
    } finally {
      key.dispose();
    }
  }

  #tgs(tgt: Credentials, server: Principal, peerTgt: Ticket | undefined): Credentials {
    const ctx = `TGS for ${formatPrincipal(server)}`;
    const body = this.#body(server, peerTgt ? makeFlags(KdcOption.ENC_TKT_IN_SKEY) : 0);
    if (peerTgt) body.additionalTickets = [peerTgt];
    const bodyRaw = encodeKdcReqBody(body);
    const key = tgt.sessionKey;
    const { time, usec } = splitTime(this.#now(), randomBelow(this.#random, 1000));
    const auth = encrypt(
      key,
      KeyUsage.TGS_REQ_PA_AUTHENTICATOR,
      encodeAuthenticator({
        authenticatorVno: 5,
        crealm: this.principal.realm,
        cname: toPrincipalName(this.principal),
        cksum: {
          cksumtype: checksumType(key.enctype),
          checksum: getMic(key, KeyUsage.TGS_REQ_PA_AUTHENTICATOR_CKSUM, bodyRaw),
        },
        cusec: usec,
        ctime: time,
      }),
      this.#random,
    );
    const apReq = encodeApReq({
      pvno: 5,
      msgType: MsgType.AP_REQ,
      apOptions: 0,
      ticket: tgt.ticket,
      authenticator: { etype: key.enctype, cipher: auth },
    });
    const req = encodeKdcReq({
      pvno: 5,
      msgType: MsgType.TGS_REQ,
      padata: [{ padataType: PaType.TGS_REQ, padataValue: apReq }],
      reqBody: body,
      reqBodyRaw: bodyRaw,
    });
    const rep = decodeTgsRep(this.#exchange(ctx, server.realm, req, MsgType.TGS_REP));
    return this.#credentials(
      ctx,
      rep,
      key,
      KeyUsage.TGS_REP_ENC_PART_SESSKEY,
      body.nonce,
      peerTgt !== undefined,
    );
  }

  #credentials(
    ctx: string,
    rep: ReturnType<typeof decodeAsRep>,
    key: Key,
    usage: number,
    nonce: number,
    u2u: boolean,
  ): Credentials {
    let plain: Uint8Array;
    try {
      plain = decrypt(key, usage, rep.encPart.cipher);
    } catch (e) {
      throw new SimTicketError(ctx, `reply does not decrypt: ${(e as Error).message}`);
    }
    const part = decodeEncKdcRepPart(plain);
    plain.fill(0);
    if (part.nonce !== nonce) throw new SimTicketError(ctx, "nonce mismatch");
    const sessionKey = Key.fromBytes(part.key.keytype, part.key.keyvalue);
    part.key.keyvalue.fill(0);
    const c: Credentials = {
      client: toPrincipal(rep.cname, rep.crealm),
      server: toPrincipal(part.sname, part.srealm),
      ticket: rep.ticket,
      sessionKey,
      flags: part.flags,
      authtime: part.authtime,
      endtime: part.endtime,
    };
    if (part.starttime) c.starttime = part.starttime;
    if (u2u) c.userToUser = true;
    this.issued.push(c);
    return c;
  }
}
