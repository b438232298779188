/**
 * The KINK protocol engine: CREATE (optimistic 2-way and 3-way), DELETE,
 * STATUS, GETTGT/user-to-user, retransmission, the responder's reply cache,
 * epochs and dead-peer detection, rekeying — as a deterministic sans-I/O
 * state machine. The contract (inputs, outputs, seams) is in `api.ts`.
 *
 * Design notes:
 * - Every transaction is keyed by (peer, role, XID); every timer is one
 *   {@link Slot} in a heap; SA pairs are indexed by our inbound SPI and, per
 *   peer, by the outbound SPI, so each message costs O(1) map operations.
 * - Our XIDs start at a random 32-bit value (kinkd restarts its XIDs at 0 and
 *   keys its reply cache on the XID; a random start keeps a restarted kink
 *   from being answered from a peer's old cache).
 * - The responder caches each REPLY under (peer, XID) together with the
 *   peer's epoch and the ticket that authenticated the command: a
 *   retransmission (new authenticator, same ticket and epoch) gets the cached
 *   REPLY again and never creates a second SA; a restarted peer (new epoch or
 *   new ticket) reusing the XID is processed afresh.
 * - Re-keying an installed inbound SA (3-way CREATE, Nr): Linux's UPDSA on a
 *   valid SA keeps the old algorithm and keys, so the engine DELETEs the
 *   optimistic inbound SA and ADDs it again under the same SPI (the SPI was
 *   already sent in the CREATE and is part of the responder's KEYMAT). The
 *   responder sends nothing on that SA before our ACK, so the short gap loses
 *   no traffic. A lifetime that the responder only lowered is applied with
 *   UPDSA, which is exactly what UPDSA does on a valid SA.
 *
 * @module
 */
import {
  buildAck,
  buildCreate,
  buildDelete,
  buildErrorReply,
  buildGetTgt,
  buildReply,
  buildStatus,
  buildTgtReply,
  type DeletePayload,
  type IdPayload,
  type IsakmpPayload,
  isNotifyError,
  keyOps,
  KinkErrorCode,
  kinkErrorName,
  type KinkKeyOps,
  type KinkPayload,
  MessageType as M,
  messageTypeName,
  type NotifyPayload,
  NotifyType,
  notifyTypeName,
  type ReceivedKinkMessage,
  receiveKinkMessage,
  spiBytes,
  spiNumber,
  WireError,
} from "../wire/mod.ts";
import { decodeKinkHeader } from "../wire/kink.ts";
import {
  ApError,
  ApOption,
  type ApReq,
  type AuthenticatorTime,
  AuthenticatorTimes,
  type Credentials,
  decodeApReq,
  decodeKrbError,
  decodeTicket,
  encodeTicket,
  enctypeName,
  ErrorCode,
  errorCodeName,
  formatPrincipal,
  hasFlag,
  KerberosService,
  makeApRep,
  makeApReq,
  parsePrincipal,
  type Principal,
  principalEquals,
  ReplayCache,
  type VerifiedApReq,
  verifyApRep,
} from "../kerberos/mod.ts";
import {
  type SaConfig,
  type Selector,
  selector,
  type XfrmEvent,
  type XfrmProto,
} from "../kernel/mod.ts";
import { randomBelow, type RandomSource, randomUint32 } from "../util/random.ts";
import {
  type Datagram,
  DEFAULT_LIMITS,
  DEFAULT_PEER_PRF,
  DEFAULT_TIMERS,
  type Endpoint,
  type EngineApi,
  type EngineCommand,
  type EngineConfig,
  type EngineEvent,
  type EngineLimits,
  type EngineOutput,
  type EngineSeams,
  type EngineStatus,
  type FailureReason,
  type KernelOp,
  type KernelResult,
  type LifetimeConfig,
  type PeerConfig,
  type ReconfigureResult,
  type ReplayChecker,
  type TicketRequest,
  type TicketResult,
  type TimerConfig,
} from "./api.ts";
import { EngineError } from "./errors.ts";
import { matchIds, parsePrefix, prefixContains, selectorIds } from "./ids.ts";
import { type DhPrivate, generateDh, isSupportedDhGroup } from "../crypto/mod.ts";
import {
  acceptReply,
  buildSaPayload,
  type Choice,
  chooseProposal,
  deriveSa,
  type ParsedTransform,
  replySaPayload,
  transformSupported,
  wipeSaConfig,
  xfrmProto,
} from "./proposals.ts";
import { scheduled, type Slot, slot, TimerHeap } from "./timers.ts";
import { FrontDoor, ticketKey, type TicketVerdict } from "./admission.ts";

const KINK_PORT = 910;
const NONCE_LEN = 16;
const MAX_RESTARTS = 2;
/** Abandoned CREATEs' SPI lists remembered per peer for a reclaiming DELETE. */
const MAX_RECLAIM = 4;
/** Remembered unknown DELETEd SPIs per peer (oldest dropped first). */
const TOMBSTONES_PER_PEER = 256;
/** DELETE retries pending per peer (more are not scheduled). */
const MAX_DELETE_RETRIES = 64;

/** One direction's SA of a protocol. */
interface Side {
  protocol: XfrmProto;
  spi: number;
}

type PairState = "larval" | "optimistic" | "mature" | "rekeying" | "dying";

interface Pair {
  id: number;
  peer: Peer;
  initiator: boolean;
  state: PairState;
  selector: number;
  xid: number;
  inbound: Side[];
  outbound: Side[];
  /** Outbound SAs actually in the kernel. */
  outboundInstalled: boolean;
  createdAt: number;
  expiresAt: number;
  rekeyAt: number | undefined;
  life: LifetimeConfig;
  optimistic: boolean;
  rekeySlot: Slot;
  endSlot: Slot;
  rekeyTx: Tx | undefined;
  /** Responder waiting for ACK. */
  ackTx: Tx | undefined;
  rekeyTries: number;
  /**
   * Negotiated under a peer configuration that {@link Engine.reconfigure} has since
   * changed: replaced by a new pair under the new one as soon as it is mature.
   */
  obsolete: boolean;
  /** Its `sa-down` event was emitted (when the outbound SAs went, before the grace period). */
  downReported: boolean;
}

interface Peer {
  cfg: PeerConfig;
  name: string;
  remote: Endpoint;
  local: Endpoint;
  principal: Principal;
  prf: "racoon2" | "mit";
  timers: TimerConfig;
  encrypt: boolean;
  life: LifetimeConfig;
  reqid: number;
  epoch: number | undefined;
  state: "unknown" | "alive" | "suspect" | "dead";
  srtt: number | undefined;
  rttvar: number;
  clockOffsetMs: number;
  cred: Credentials | undefined;
  ticketWaiters: ((c: Credentials | undefined, err?: TicketResult) => void)[];
  ticketPending: boolean;
  userToUser: boolean;
  peerTgt: Uint8Array | undefined;
  tgtWaiters: ((ok: boolean) => void)[];
  tgtPending: boolean;
  pairs: Set<Pair>;
  pairsByOut: Map<number, Pair>;
  /**
   * SPIs the peer asked us to DELETE that we did not know (its abandoned
   * CREATEs): a CREATE naming one arriving later (delayed or replayed within
   * the skew window) is refused, so it cannot leave SAs nobody uses.
   */
  tombstones: Map<number, number>;
  /** DELETE retries scheduled (shown in status as waiting transactions). */
  deleteRetries: Set<Slot>;
  /**
   * Inbound SPIs of CREATEs abandoned on an unauthenticated error hint: the
   * responder may hold their SAs (if the hint was forged), so they are
   * DELETEd once an authenticated REPLY shows our ticket works.
   */
  reclaim?: Side[][];
  /** Newest authenticator time (ms) seen from the peer, and when (our time). */
  newestAuthMs: number;
  newestAuthAt: number;
  txCount: number;
  creating: Map<number, Tx>;
  lastHeard: number;
  lastInBytes: number;
  idleSlot: Slot;
  probe: Tx | undefined;
  lastFailure: { reason: FailureReason; detail: string; at: number } | undefined;
  /**
   * Removed by {@link Engine.reconfigure}: no new work; kept (off the name table) only
   * until its DELETE exchanges and grace periods are over.
   */
  retired: boolean;
}

interface CreateTrigger {
  selector: number;
  acquireSeq?: number;
  rekeyOf?: Pair;
  restarts: number;
  freshTicket: boolean;
  noKe: boolean;
}

interface Tx {
  key: string;
  peer: Peer;
  xid: number;
  role: "initiator" | "responder";
  command: number;
  state: string;
  slot: Slot;
  transmissions: number;
  rto: number;
  firstSentAt: number;
  cred: Credentials | undefined;
  ops: KinkKeyOps | undefined;
  outstanding: AuthenticatorTime[];
  /** Builds the next transmission (a fresh authenticator each time). */
  build: (() => Uint8Array) | undefined;
  /** The bytes to retransmit when not rebuilt (responder REPLY, GETTGT). */
  bytes: Uint8Array | undefined;
  remote: Endpoint;
  onReply: ((m: ReceivedKinkMessage) => void) | undefined;
  onTimeout: (() => void) | undefined;
  lastError: string | undefined;
  /** Datagrams routed to this transaction as REPLYs (initiator), usable or not. */
  answers: number;
  /** Why the last of those was rejected before it reached the transaction, if it was. */
  lastRejected: string | undefined;
  finished: boolean;
  create: CreateState | undefined;
  /** Responder: the verified session key, disposed at the end. */
  ownedKey: VerifiedApReq | undefined;
  /**
   * An unauthenticated KRB-ERROR code received for this transaction that,
   * were it genuine, asks for a remedy (fresh ticket, user-to-user): acted
   * on only once the retransmissions are exhausted (see #krbError).
   */
  hint?: number;
}

interface CreateState {
  trig: CreateTrigger;
  spis: Map<XfrmProto, number>;
  ni: Uint8Array;
  optimisticInstalled: boolean;
  /** Our Diffie-Hellman private value when KE is sent (PFS). */
  dh: DhPrivate | undefined;
  /** g^xy once both KE payloads are known. */
  dhSecret: Uint8Array | undefined;
  /** IDci, IDcr (sent, or received and echoed). */
  ids?: IdPayload[];
  pair: Pair | undefined;
  choice: Choice | undefined;
  nr: Uint8Array | undefined;
  freshTried: boolean;
  /** Started under a peer configuration since changed (its pair is born obsolete). */
  obsolete?: boolean;
}

interface ReplyCacheEntry {
  bytes: Uint8Array;
  epoch: number;
  ticketTag: string;
  expires: number;
  remote: Endpoint;
}

/**
 * An SA's table key: protocol and SPI as one number (AH above ESP, the SPI
 * in the low 32 bits), exact and cheaper to hash than a string.
 */
function pk(protocol: XfrmProto, spi: number): number {
  return (protocol === "ah" ? 0x2_0000_0000 : 0x1_0000_0000) + (spi >>> 0);
}

function txKey(peer: Peer, role: "initiator" | "responder", xid: number): string {
  return `${peer.name}\u0000${role === "initiator" ? "i" : "r"}\u0000${xid >>> 0}`;
}

/** Escapes control characters (wire-derived text in events). */
function esc(s: string): string {
  return s.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function errText(e: unknown): string {
  return esc(e instanceof Error ? e.message : String(e));
}

/** What the front door decided about one command (see #onCommand). */
interface Gate {
  /** Digest of the AP-REQ's ticket ciphertext, once decoded. */
  digest: string | undefined;
  /** Digest of the AP-REQ's authenticator ciphertext, once decoded. */
  authDigest?: string;
  /** Set once a costly verification was admitted: whether the ticket was known. */
  known: boolean | undefined;
  /** The message passed every check. */
  accepted: boolean;
  /** The AP-REQ was verified (the costly work a failure is charged for). */
  verified?: boolean;
}

/**
 * A command refused at the front door (thrown out of `authenticate` when the
 * refusal comes from there). Not an Error: no stack to capture on a path
 * meant to be cheap.
 */
class FrontDoorRefusal {
  constructor(readonly verdict: TicketVerdict | "replay" | undefined) {}
}

function tagOf(bytes: Uint8Array): string {
  // Identity of a ticket for the reply cache: its ciphertext starts with the
  // encryption of a random confounder, so its first 16 octets (and length) tell
  // tickets apart without hashing the whole ticket on every message.
  let t = `${bytes.length}:`;
  for (let i = 0; i < 16 && i < bytes.length; i++) {
    t += String.fromCharCode(65 + (bytes[i]! >> 4), 65 + (bytes[i]! & 15));
  }
  return t;
}

/** The KINK protocol engine; see `api.ts` for the contract. */
export class Engine implements EngineApi {
  readonly #cfg: EngineConfig;
  readonly #random: RandomSource;
  readonly #limits: EngineLimits;
  readonly #me: Principal;
  readonly #service: KerberosService;
  readonly #lenient: KerberosService;
  readonly #door: FrontDoor;
  readonly #replay: ReplayChecker;
  readonly #authTimes = new AuthenticatorTimes();
  readonly #skewMs: number;
  #recovering: boolean;
  #recoverUntil = 0;
  #now = 0;
  readonly #out: EngineOutput[] = [];
  #outHead = 0;
  readonly #timers = new TimerHeap();
  readonly #peers = new Map<string, Peer>();
  readonly #peersByAddr = new Map<string, Peer>();
  readonly #txs = new Map<string, Tx>();
  /** Pairs by local address, then {@link pk} of an inbound SA. */
  readonly #pairsByIn = new Map<string, Map<number, Pair>>();
  /** Retired peers (see #retire) by address, until their DELETEs are over. */
  readonly #retiredByAddr = new Map<string, Set<Peer>>();
  /** Initiator DELETE transactions in flight. */
  readonly #deleting = new Set<Tx>();
  #pairCount = 0;
  readonly #replyCache = new Map<string, ReplyCacheEntry>();
  readonly #replySlot: Slot;
  readonly #kops = new Map<number, (r: KernelResult) => void>();
  readonly #tops = new Map<number, (r: TicketResult) => void>();
  #opId = 0;
  #xid: number;
  #pairId = 0;
  #tgt: Credentials | undefined;
  readonly #counters: Record<string, number> = {};

  /**
   * Builds an engine. Throws {@link EngineError} for a configuration it
   * refuses (duplicate peers, unsupported transforms, too many peers).
   */
  constructor(config: EngineConfig, seams: EngineSeams) {
    this.#cfg = config;
    this.#random = seams.random;
    this.#limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.#me = parsePrincipal(config.identity.principal);
    const skewMs = config.skewMs ?? 300_000;
    this.#skewMs = skewMs;
    const now = () => this.#now;
    this.#replay = seams.replayCache ?? ReplayCache.open({ skewMs, firstStart: true, now });
    // The engine checks AP-REQs with checkApReq and records authenticators in
    // #replay itself, after the message's Cksum verified (digest §15); the
    // services' own caches are never written.
    this.#service = new KerberosService({
      keys: config.identity.serviceKeys ?? [],
      principal: this.#me,
      skewMs,
      replayCache: ReplayCache.open({ skewMs, firstStart: true, now }),
      now,
      random: this.#random,
    });
    this.#door = new FrontDoor(config.admission);
    // Only to protect time-dependent errors with the ticket's key (§3.5).
    const lenientSkew = 100 * 365 * 86_400_000;
    this.#lenient = new KerberosService({
      keys: config.identity.serviceKeys ?? [],
      principal: this.#me,
      skewMs: lenientSkew,
      replayCache: ReplayCache.open({ skewMs: lenientSkew, firstStart: true, now }),
      now,
      random: this.#random,
    });
    // A fresh in-memory cache knows nothing of what an earlier incarnation accepted.
    this.#recovering = !seams.replayCache && !config.firstStart;
    if (config.identity.tgt) this.#setTgt(config.identity.tgt);
    if (config.peers.length > this.#limits.maxPeers) {
      throw new EngineError(
        "config",
        "engine",
        `${config.peers.length} peers exceed the limit ${this.#limits.maxPeers}`,
      );
    }
    for (const p of config.peers) this.#addPeer(p);
    this.#xid = randomUint32(this.#random);
    this.#replySlot = slot((now) => this.#sweepReplyCache(now));
  }

  #addPeer(p: PeerConfig): void {
    if (this.#peers.has(p.name)) {
      throw new EngineError("config", "peer", `duplicate peer ${p.name}`);
    }
    if (this.#peersByAddr.has(p.address)) {
      throw new EngineError("config", `peer ${p.name}`, `address ${p.address} used twice`);
    }
    this.#validatePeer(p);
    const peer = this.#newPeer(p);
    this.#peers.set(p.name, peer);
    this.#peersByAddr.set(p.address, peer);
  }

  /** Throws {@link EngineError} for a peer configuration the engine refuses. */
  #validatePeer(p: PeerConfig): void {
    parsePrincipal(p.principal);
    if (p.proposals.length === 0) throw new EngineError("config", `peer ${p.name}`, "no proposals");
    for (const pr of p.proposals) {
      if (pr.protocols.length === 0) {
        throw new EngineError("config", `peer ${p.name}`, "empty proposal");
      }
      for (const pc of pr.protocols) {
        if (pc.transforms.length === 0) {
          throw new EngineError("config", `peer ${p.name}`, `no transforms for ${pc.protocol}`);
        }
        for (const t of pc.transforms) {
          if (!transformSupported(pc.protocol, t)) {
            throw new EngineError(
              "unsupported",
              `peer ${p.name}`,
              `${pc.protocol} transform ${t.id} with authentication ${t.authAlgorithm ?? 0}`,
            );
          }
        }
      }
    }
    if (p.pfsGroup !== undefined && !isSupportedDhGroup(p.pfsGroup)) {
      throw new EngineError(
        "unsupported",
        `peer ${p.name}`,
        `PFS group ${p.pfsGroup} (supported: 14 MODP-2048, 19 ECP-256)`,
      );
    }
    for (const sel of p.selectors ?? []) {
      parsePrefix(sel.local);
      parsePrefix(sel.remote);
    }
  }

  #newPeer(p: PeerConfig): Peer {
    const peer: Peer = {
      cfg: p,
      name: p.name,
      remote: { address: p.address, port: p.port ?? KINK_PORT },
      local: { address: p.localAddress, port: KINK_PORT },
      principal: parsePrincipal(p.principal),
      prf: p.prf ?? DEFAULT_PEER_PRF,
      timers: { ...DEFAULT_TIMERS, ...this.#cfg.timers, ...p.timers },
      encrypt: p.encrypt ?? true,
      life: p.lifetime ?? { seconds: 28800 },
      reqid: p.reqid ?? 0,
      epoch: undefined,
      state: "unknown",
      srtt: undefined,
      rttvar: 0,
      clockOffsetMs: 0,
      cred: undefined,
      ticketWaiters: [],
      ticketPending: false,
      userToUser: p.userToUser ?? false,
      peerTgt: undefined,
      tgtWaiters: [],
      tgtPending: false,
      pairs: new Set(),
      pairsByOut: new Map(),
      tombstones: new Map(),
      deleteRetries: new Set(),
      newestAuthMs: 0,
      newestAuthAt: 0,
      txCount: 0,
      creating: new Map(),
      lastHeard: 0,
      lastInBytes: 0,
      idleSlot: slot(() => {}),
      probe: undefined,
      lastFailure: undefined,
      retired: false,
    };
    peer.idleSlot = slot((now) => this.#idleCheck(peer, now));
    return peer;
  }

  // -------------------------------------------------------------------------
  // Reconfiguration

  /**
   * Applies a new peer list, changing only what changed (see
   * {@link EngineApi.reconfigure} for the rules). The whole list is checked
   * first: a refused one throws {@link EngineError} and changes nothing.
   */
  reconfigure(now: number, peers: readonly PeerConfig[]): ReconfigureResult {
    this.#now = now;
    if (peers.length > this.#limits.maxPeers) {
      throw new EngineError(
        "config",
        "engine",
        `${peers.length} peers exceed the limit ${this.#limits.maxPeers}`,
      );
    }
    const names = new Set<string>(), addrs = new Set<string>();
    for (const p of peers) {
      if (names.has(p.name)) throw new EngineError("config", "peer", `duplicate peer ${p.name}`);
      if (addrs.has(p.address)) {
        throw new EngineError("config", `peer ${p.name}`, `address ${p.address} used twice`);
      }
      names.add(p.name);
      addrs.add(p.address);
      this.#validatePeer(p);
    }
    const r: ReconfigureResult = {
      added: [],
      removed: [],
      recreated: [],
      retuned: [],
      unchanged: [],
    };
    const next = new Map(peers.map((p) => [p.name, p]));
    // Removed peers and peers whose identity changed go first: their addresses become free.
    for (const peer of [...this.#peers.values()]) {
      const n = next.get(peer.name);
      if (!n) {
        this.#retire(peer, "peer removed from the configuration");
        r.removed.push(peer.name);
      } else if (peerChange(peer.cfg, n) === "identity") {
        this.#retire(peer, "peer address or principal changed");
      }
    }
    for (const p of peers) {
      const peer = this.#peers.get(p.name);
      if (!peer) {
        this.#addPeer(p);
        r.added.push(p.name);
        continue;
      }
      const change = peerChange(peer.cfg, p);
      if (change === "none") {
        r.unchanged.push(p.name);
      } else if (change === "timers") {
        peer.cfg = p;
        peer.timers = { ...DEFAULT_TIMERS, ...this.#cfg.timers, ...p.timers };
        r.retuned.push(p.name);
      } else {
        this.#recreate(peer, p);
        r.recreated.push(p.name);
      }
    }
    this.#count("reconfigurations");
    this.#door.reset(); // verdicts on clients and known tickets are per address
    return r;
  }

  /**
   * A peer whose SA parameters changed (proposals, mode, selectors, PFS,
   * lifetime, PRF, reqid, …): the new configuration applies at once; every
   * pair and CREATE in progress is marked obsolete and replaced make-before-
   * break, as a rekey does — a new pair under the new configuration first,
   * then a DELETE of the old one. Where no replacement may be made (a passive
   * peer, a selector that no longer exists) the old pair is DELETEd.
   */
  #recreate(peer: Peer, p: PeerConfig): void {
    const sameSelectors = stableJson(peer.cfg.selectors ?? []) === stableJson(p.selectors ?? []);
    peer.cfg = p;
    peer.prf = p.prf ?? DEFAULT_PEER_PRF;
    peer.timers = { ...DEFAULT_TIMERS, ...this.#cfg.timers, ...p.timers };
    peer.encrypt = p.encrypt ?? true;
    peer.life = p.lifetime ?? { seconds: 28800 };
    peer.reqid = p.reqid ?? 0;
    if ((p.userToUser ?? false) !== peer.userToUser) {
      peer.userToUser = p.userToUser ?? false;
      peer.peerTgt = undefined;
      peer.cred = undefined;
    }
    for (const tx of this.#txs.values()) {
      if (tx.peer === peer && tx.create) {
        tx.create.obsolete = true;
        if (tx.create.pair) tx.create.pair.obsolete = true;
      }
    }
    for (const pair of [...peer.pairs]) {
      if (pair.state === "dying") continue;
      pair.obsolete = true;
      if (!sameSelectors && pair.selector >= (p.selectors?.length ?? 0)) pair.selector = -2;
      if (pair.state === "mature") this.#replaceObsolete(pair);
    }
  }

  /** Replaces a mature obsolete pair (a rekey under the new configuration), or DELETEs it. */
  #replaceObsolete(pair: Pair): void {
    const peer = pair.peer;
    if (
      peer.cfg.passive || pair.selector === -2 ||
      (pair.selector === -1 && peer.cfg.selectors?.length)
    ) {
      this.#startDelete(peer, pair, "deleted");
      return;
    }
    this.#rekey(pair);
  }

  /**
   * Takes a peer out of service: its CREATEs are aborted (SPIs already sent
   * are DELETEd at the peer), responder transactions dropped with their
   * half-made pairs, every pair DELETEd (outbound SAs at once, inbound after
   * the grace period). The record stays, off the name and address tables,
   * only to match the REPLYs to those DELETEs, and is forgotten when nothing
   * of it is left.
   */
  #retire(peer: Peer, why: string): void {
    peer.retired = true;
    this.#peers.delete(peer.name);
    if (this.#peersByAddr.get(peer.cfg.address) === peer) {
      this.#peersByAddr.delete(peer.cfg.address);
    }
    let set = this.#retiredByAddr.get(peer.cfg.address);
    if (!set) this.#retiredByAddr.set(peer.cfg.address, set = new Set());
    set.add(peer);
    this.#timers.cancel(peer.idleSlot);
    for (const s of peer.deleteRetries) this.#timers.cancel(s);
    peer.deleteRetries.clear();
    for (const tx of [...this.#txs.values()]) {
      if (tx.peer !== peer || tx.finished) continue;
      if (tx.role === "responder") {
        const pair = tx.create?.pair;
        this.#finish(tx);
        if (pair) {
          const inbound = pair.inbound.map((x) => ({ ...x }));
          this.#removePair(pair, "aborted", true);
          if (inbound.length) this.#startDeleteSpis(peer, inbound);
        }
      } else if (tx.command === M.CREATE && tx.create) {
        const inbound = [...tx.create.spis].map(([protocol, spi]) => ({ protocol, spi }));
        const sent = tx.transmissions > 0;
        this.#abort(tx, "aborted", why);
        if (sent && inbound.length) this.#startDeleteSpis(peer, inbound);
      } else if (tx.command !== M.DELETE) {
        if (peer.probe === tx) peer.probe = undefined;
        this.#finish(tx);
      }
    }
    for (const pair of [...peer.pairs]) this.#startDelete(peer, pair, "deleted");
    this.#forgetIfDone(peer);
  }

  /** Forgets a retired peer once it has no pair and no transaction left. */
  #forgetIfDone(peer: Peer): void {
    if (!peer.retired || peer.pairs.size > 0 || peer.txCount > 0) return;
    const set = this.#retiredByAddr.get(peer.cfg.address);
    if (set?.delete(peer) && set.size === 0) this.#retiredByAddr.delete(peer.cfg.address);
  }

  // -------------------------------------------------------------------------
  // Outputs

  /** The next output, or undefined. */
  poll(): EngineOutput | undefined {
    if (this.#outHead >= this.#out.length) {
      if (this.#out.length) {
        this.#out.length = 0;
        this.#outHead = 0;
      }
      return undefined;
    }
    const o = this.#out[this.#outHead]!;
    this.#out[this.#outHead++] = undefined as unknown as EngineOutput;
    return o;
  }

  /** When handleTimeout is next due. */
  nextTimeout(): number | undefined {
    return this.#timers.next();
  }

  #count(name: string): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + 1;
  }

  #event(e: EngineEvent): void {
    this.#out.push({ kind: "event", event: e });
  }

  #send(remote: Endpoint, local: Endpoint | undefined, data: Uint8Array): void {
    this.#count("sent");
    this.#out.push(local ? { kind: "send", local, remote, data } : { kind: "send", remote, data });
  }

  #kernel(op: KernelOp, cb: (r: KernelResult) => void = () => {}): void {
    const id = ++this.#opId;
    this.#kops.set(id, cb);
    this.#out.push({ kind: "kernel", id, op });
  }

  /** Runs ops (concurrently allowed) and calls `cb` once all have results. */
  #kernelAll(ops: KernelOp[], cb: (rs: KernelResult[]) => void): void {
    if (ops.length === 0) {
      cb([]);
      return;
    }
    const rs: KernelResult[] = new Array(ops.length);
    let left = ops.length;
    ops.forEach((op, i) =>
      this.#kernel(op, (r) => {
        rs[i] = r;
        if (--left === 0) cb(rs);
      })
    );
  }

  #drop(remote: Endpoint, peer: Peer | undefined, reason: string, detail: string): void {
    this.#count(`dropped-${reason}`);
    const e: EngineEvent = {
      type: "dropped",
      remote: `${remote.address}:${remote.port}`,
      reason,
      detail: esc(detail),
    };
    if (peer) e.peer = peer.name;
    this.#event(e);
  }

  #fail(peer: Peer, xid: number, command: number, reason: FailureReason, detail: string): void {
    peer.lastFailure = { reason, detail: esc(detail), at: this.#now };
    this.#count(`failed-${reason}`);
    this.#event({
      type: "exchange-failed",
      peer: peer.name,
      xid,
      command: messageTypeName(command),
      reason,
      detail: esc(detail),
    });
  }

  // -------------------------------------------------------------------------
  // Inputs

  /** A kernel operation finished. */
  handleKernelResult(now: number, id: number, result: KernelResult): void {
    this.#now = now;
    const cb = this.#kops.get(id);
    if (!cb) return;
    this.#kops.delete(id);
    cb(result);
  }

  /** A ticket request finished. */
  handleTicket(now: number, id: number, result: TicketResult): void {
    this.#now = now;
    const cb = this.#tops.get(id);
    if (!cb) return;
    this.#tops.delete(id);
    cb(result);
  }

  /** Runs every timer due at `now`. */
  handleTimeout(now: number): void {
    this.#now = now;
    for (;;) {
      const s = this.#timers.popDue(now);
      if (!s) break;
      s.fire(now);
    }
  }

  /** An operator or policy command. */
  command(now: number, cmd: EngineCommand): void {
    this.#now = now;
    if (cmd.kind === "set-tgt") {
      this.#setTgt(cmd.tgt);
      return;
    }
    const peer = this.#peers.get(cmd.peer);
    if (!peer) {
      throw new EngineError("invalid-argument", `command ${cmd.kind}`, `unknown peer ${cmd.peer}`);
    }
    switch (cmd.kind) {
      case "up": {
        const n = peer.cfg.selectors?.length ?? 0;
        if (cmd.force) {
          this.#startCreate(peer, {
            selector: n ? 0 : -1,
            restarts: 0,
            freshTicket: false,
            noKe: false,
          });
          break;
        }
        if (n === 0) this.#ensureCreate(peer, -1, undefined);
        for (let i = 0; i < n; i++) this.#ensureCreate(peer, i, undefined);
        break;
      }
      case "down":
        for (const p of [...peer.pairs]) this.#startDelete(peer, p, "deleted");
        break;
      case "rekey":
        for (const p of [...peer.pairs]) if (p.initiator && p.state === "mature") this.#rekey(p);
        break;
      case "delete": {
        const p = [...peer.pairs].find((x) =>
          x.inbound.some((s) => s.spi === cmd.spi) || x.outbound.some((s) => s.spi === cmd.spi)
        );
        if (p) this.#startDelete(peer, p, "deleted");
        break;
      }
      case "status":
        this.#startStatus(peer, false);
        break;
    }
  }

  #setTgt(tgt: Credentials): void {
    this.#tgt = tgt;
    this.#service.setTgtSessionKeys([tgt.sessionKey]);
    this.#lenient.setTgtSessionKeys([tgt.sessionKey]);
  }

  /** A kernel event arrived. */
  handleKernelEvent(now: number, ev: XfrmEvent): void {
    this.#now = now;
    switch (ev.type) {
      case "acquire": {
        const peer = this.#peersByAddr.get(ev.dst);
        if (!peer) {
          this.#count("acquire-unknown-peer");
          return;
        }
        if (peer.cfg.passive) return;
        // The configured selector the packet falls in (addresses, protocol, ports; the
        // first one when none matches).
        const sels = peer.cfg.selectors ?? [];
        let sel = sels.length ? 0 : -1;
        for (let i = 0; i < sels.length; i++) {
          const s = sels[i]!;
          const ps = ev.selector;
          if (
            prefixContains(s.local, ps.src) && prefixContains(s.remote, ps.dst) &&
            (!s.proto || s.proto === ps.proto) && (!s.localPort || s.localPort === ps.sport) &&
            (!s.remotePort || s.remotePort === ps.dport)
          ) {
            sel = i;
            break;
          }
        }
        this.#ensureCreate(peer, sel, ev.seq);
        return;
      }
      case "expire": {
        const sa = ev.sa;
        let pair = this.#pairsByIn.get(sa.dst)?.get(pk(sa.proto, sa.spi));
        if (!pair) {
          const peer = this.#peersByAddr.get(sa.dst);
          pair = peer?.pairsByOut.get(pk(sa.proto, sa.spi));
        }
        if (!pair) return;
        if (!ev.hard) {
          if (pair.initiator && pair.state === "mature") this.#rekey(pair);
          return;
        }
        this.#removePair(pair, "expired", true);
        return;
      }
      default:
        return;
    }
  }

  /** A datagram arrived. */
  handleDatagram(now: number, dg: Datagram): void {
    this.#now = now;
    if (this.#recovering) {
      this.#recovering = false;
      this.#recoverUntil = now + this.#skewMs;
    }
    this.#count("received");
    const data = dg.data;
    if (data.length > this.#limits.maxDatagram) {
      this.#drop(dg.remote, undefined, "size", `${data.length} octets`);
      return;
    }
    // Unknown senders are the cheapest to refuse: before any decoding. A peer removed by
    // reconfigure() is heard only for the REPLYs to its DELETEs.
    const peer = this.#peersByAddr.get(dg.remote.address);
    if (!peer && !this.#retiredByAddr.has(dg.remote.address)) {
      this.#drop(dg.remote, undefined, "unknown-peer", "sender is no configured peer");
      return;
    }
    let header: ReturnType<typeof decodeKinkHeader>;
    try {
      header = decodeKinkHeader(data);
    } catch (e) {
      this.#headerError(dg, e);
      return;
    }
    try {
      switch (header.type) {
        case M.REPLY:
          this.#onReply(peer, dg, header.xid);
          return;
      }
      if (!peer) {
        this.#drop(dg.remote, undefined, "unknown-peer", "sender is no configured peer");
        return;
      }
      switch (header.type) {
        case M.CREATE:
        case M.DELETE:
        case M.STATUS:
        case M.ACK:
          this.#onCommand(peer, dg, header.type, header.xid);
          return;
        case M.GETTGT:
          this.#onGetTgt(peer, dg, header.xid);
          return;
        default:
          this.#drop(dg.remote, peer, "type", `message type ${header.type}`);
      }
    } catch (e) {
      // Nothing a peer sends may take the engine down.
      this.#drop(dg.remote, peer, "internal", errText(e));
    }
  }

  #headerError(dg: Datagram, e: unknown): void {
    if (!(e instanceof WireError)) {
      this.#drop(dg.remote, undefined, "internal", errText(e));
      return;
    }
    // Answer INVMAJ/INVDOI to a command from a known peer (unauthenticated, as kinkd).
    const peer = this.#peersByAddr.get(dg.remote.address);
    if (peer && e.reaction.action === "kink-error" && dg.data.length >= 12) {
      const type = dg.data[0]!;
      if (type === M.CREATE || type === M.DELETE || type === M.STATUS || type === M.GETTGT) {
        const xid = new DataView(dg.data.buffer, dg.data.byteOffset + 8, 4).getUint32(0);
        const bytes = buildErrorReply({ xid, errorCode: e.reaction.code });
        if (this.#mayAnswer(dg, bytes.length)) this.#send(dg.remote, peer.local, bytes);
      }
    }
    this.#drop(dg.remote, peer, "header", e.message);
  }

  // -------------------------------------------------------------------------
  // Transactions, retransmission

  #newTx(
    peer: Peer,
    role: "initiator" | "responder",
    command: number,
    xid?: number,
  ): Tx | undefined {
    if (
      this.#txs.size >= this.#limits.maxTransactions ||
      peer.txCount >= this.#limits.maxTransactionsPerPeer
    ) {
      this.#count("limit-transactions");
      this.#event({
        type: "limit",
        table: "transactions",
        detail: `peer ${peer.name}: ${peer.txCount} in progress, ${this.#txs.size} in all`,
      });
      return undefined;
    }
    if (xid === undefined) {
      do {
        xid = this.#xid;
        this.#xid = (this.#xid + 1) >>> 0;
      } while (this.#txs.has(txKey(peer, role, xid)));
    }
    const key = txKey(peer, role, xid);
    const tx: Tx = {
      key,
      peer,
      xid,
      role,
      command,
      state: "new",
      slot: slot(() => {}),
      transmissions: 0,
      rto: this.#rto(peer),
      firstSentAt: 0,
      cred: undefined,
      ops: undefined,
      outstanding: [],
      build: undefined,
      bytes: undefined,
      remote: peer.remote,
      onReply: undefined,
      onTimeout: undefined,
      lastError: undefined,
      answers: 0,
      lastRejected: undefined,
      finished: false,
      create: undefined,
      ownedKey: undefined,
    };
    tx.slot = slot(() => this.#retransmit(tx));
    this.#txs.set(key, tx);
    peer.txCount++;
    return tx;
  }

  #finish(tx: Tx): void {
    if (tx.finished) return;
    tx.finished = true;
    this.#timers.cancel(tx.slot);
    if (this.#txs.get(tx.key) === tx) {
      this.#txs.delete(tx.key);
      tx.peer.txCount--;
    }
    if (this.#deleting.delete(tx)) {
      this.#event({
        type: "delete-done",
        peer: tx.peer.name,
        xid: tx.xid,
        ok: tx.state === "answered",
      });
    }
    if (tx.peer.retired) this.#forgetIfDone(tx.peer);
    if (tx.ownedKey) {
      tx.ownedKey.sessionKey.dispose();
      tx.ownedKey = undefined;
    }
    if (tx.create) {
      tx.create.dh?.dispose();
      tx.create.dh = undefined;
      tx.create.dhSecret?.fill(0);
    }
    tx.outstanding.length = 0;
  }

  #rto(peer: Peer): number {
    const t = peer.timers;
    if (peer.srtt === undefined) return t.retransmitInitialMs;
    return Math.min(
      t.retransmitInitialMs,
      Math.max(t.retransmitMinMs, peer.srtt + 4 * peer.rttvar),
    );
  }

  #rttSample(peer: Peer, ms: number): void {
    if (peer.srtt === undefined) {
      peer.srtt = ms;
      peer.rttvar = ms / 2;
    } else {
      peer.rttvar = 0.75 * peer.rttvar + 0.25 * Math.abs(peer.srtt - ms);
      peer.srtt = 0.875 * peer.srtt + 0.125 * ms;
    }
  }

  /** First transmission of a transaction's message, with its retransmission timer. */
  #transmit(tx: Tx): void {
    tx.firstSentAt = this.#now;
    tx.transmissions = 0;
    tx.rto = this.#rto(tx.peer);
    this.#sendTx(tx);
  }

  #sendTx(tx: Tx): void {
    const data = tx.build ? tx.build() : tx.bytes!;
    tx.transmissions++;
    this.#send(tx.remote, tx.peer.local, data);
    const t = tx.peer.timers;
    const interval = Math.min(t.retransmitMaxMs, tx.rto * 2 ** (tx.transmissions - 1));
    this.#timers.set(tx.slot, this.#now + interval);
  }

  #retransmit(tx: Tx): void {
    if (tx.finished) return;
    if (tx.transmissions >= tx.peer.timers.retransmitTries) {
      this.#count("timeouts");
      if (tx.hint !== undefined && !tx.create && tx.command !== M.GETTGT) {
        // Only unauthenticated errors came back: the next transaction takes the hint.
        if (tx.hint === ErrorCode.KRB_AP_ERR_USER_TO_USER_REQUIRED) {
          tx.peer.userToUser = true;
          tx.peer.peerTgt = undefined;
        }
        tx.peer.cred = undefined;
      }
      const cb = tx.onTimeout;
      if (cb) cb();
      else this.#finish(tx);
      return;
    }
    this.#count("retransmissions");
    this.#sendTx(tx);
  }

  /** A fresh AP-REQ for a transaction (unique ctime/cusec per peer). */
  #apReq(tx: Tx): Uint8Array {
    const peer = tx.peer;
    const cred = tx.cred!;
    // (ctime, cusec) never repeat per engine (RFC 4120 §3.2.3); the sub-ms part is random.
    const built = makeApReq(this.#me, cred.ticket, cred.sessionKey, {
      now: () => this.#now,
      clockOffsetMs: peer.clockOffsetMs,
      times: this.#authTimes,
      random: this.#random,
      userToUser: cred.userToUser === true,
    });
    tx.outstanding.push(built.time);
    return built.apReq;
  }

  // -------------------------------------------------------------------------
  // Tickets and peer TGTs

  #withTicket(
    tx: Tx,
    fresh: boolean,
    cb: (c: Credentials | undefined, err?: string) => void,
  ): void {
    const peer = tx.peer;
    if (peer.userToUser && !peer.peerTgt) {
      this.#withPeerTgt(peer, (ok) => {
        if (tx.finished) return;
        if (!ok && peer.userToUser) {
          cb(undefined, "the peer's TGT could not be obtained (GETTGT)");
          return;
        }
        this.#withTicket(tx, fresh, cb);
      });
      return;
    }
    const c = peer.cred;
    if (
      !fresh && c && c.endtime.getTime() - this.#now > peer.timers.ticketMarginMs &&
      (c.userToUser === true) === peer.userToUser
    ) {
      cb(c);
      return;
    }
    peer.ticketWaiters.push((cred, err) => {
      if (tx.finished) return;
      if (cred) cb(cred);
      else cb(undefined, err && !err.ok ? esc(err.message) : "no ticket");
    });
    if (peer.ticketPending) return;
    peer.ticketPending = true;
    const id = ++this.#opId;
    const request: TicketRequest = { server: formatPrincipal(peer.principal) };
    if (peer.userToUser && peer.peerTgt) request.peerTgt = peer.peerTgt;
    if (fresh) request.fresh = true;
    this.#tops.set(id, (r) => {
      peer.ticketPending = false;
      const waiters = peer.ticketWaiters;
      peer.ticketWaiters = [];
      if (r.ok) {
        peer.cred = r.credentials;
        for (const w of waiters) w(r.credentials);
        return;
      }
      if (r.errorCode === ErrorCode.KDC_ERR_MUST_USE_USER2USER && !peer.userToUser) {
        // §3.7.1 / §9 of the digest: switch this peer to user-to-user and retry.
        peer.userToUser = true;
        peer.peerTgt = undefined;
        for (const w of waiters) w(undefined, { ok: false, message: "retry-u2u" });
        return;
      }
      for (const w of waiters) w(undefined, r);
    });
    this.#out.push({ kind: "ticket", id, request });
  }

  #withPeerTgt(peer: Peer, cb: (ok: boolean) => void): void {
    peer.tgtWaiters.push(cb);
    if (peer.tgtPending) return;
    const tx = this.#newTx(peer, "initiator", M.GETTGT);
    if (!tx) {
      peer.tgtWaiters = [];
      cb(false);
      return;
    }
    peer.tgtPending = true;
    const done = (ok: boolean) => {
      peer.tgtPending = false;
      const ws = peer.tgtWaiters;
      peer.tgtWaiters = [];
      this.#finish(tx);
      for (const w of ws) w(ok);
    };
    tx.bytes = buildGetTgt({ xid: tx.xid, princName: formatPrincipal(peer.principal) });
    tx.state = "sent";
    tx.onReply = (m) => {
      const rep = m.message.payloads.find((p) => p.kind === "tgt-rep");
      if (rep && rep.kind === "tgt-rep") {
        try {
          const t = decodeTicket(rep.tgt);
          if (!isRealmTgt(t, peer.principal.realm)) {
            throw new Error(
              `TGT for ${t.sname.components.join("/")}@${t.realm} is not the peer realm's`,
            );
          }
          peer.peerTgt = rep.tgt;
          done(true);
        } catch (e) {
          this.#fail(peer, tx.xid, M.GETTGT, "protocol", errText(e));
          done(false);
        }
        return;
      }
      const err = m.message.payloads.find((p) => p.kind === "error");
      if (err && err.kind === "error" && err.code === KinkErrorCode.U2UDENIED) {
        // §4.2.8: the peer refuses U2U; fall back to a normal ticket.
        peer.userToUser = false;
        this.#fail(
          peer,
          tx.xid,
          M.GETTGT,
          "kink-error",
          "KINK_U2UDENIED: falling back to a service ticket",
        );
        done(false);
        return;
      }
      tx.lastError = "unexpected REPLY to GETTGT";
    };
    tx.onTimeout = () => {
      this.#fail(peer, tx.xid, M.GETTGT, "timeout", "no REPLY to GETTGT");
      done(false);
    };
    this.#transmit(tx);
  }

  // -------------------------------------------------------------------------
  // Received REPLYs (initiator side)

  #onReply(configured: Peer | undefined, dg: Datagram, xid: number): void {
    let tx = configured ? this.#txs.get(txKey(configured, "initiator", xid)) : undefined;
    if (!tx) {
      for (const r of this.#retiredByAddr.get(dg.remote.address) ?? []) {
        tx = this.#txs.get(txKey(r, "initiator", xid));
        if (tx) break;
      }
    }
    if (!tx || tx.finished) {
      this.#drop(dg.remote, configured, "no-transaction", `REPLY for XID ${xid}`);
      return;
    }
    const peer = tx.peer;
    tx.answers++;
    let rec: ReceivedKinkMessage;
    let apRepEpoch: number | undefined;
    try {
      // §3.7.1: a REPLY to any command may be a lone KINK_TGT_REP (the responder's TGT
      // changed); the wire rules allow that form for every command.
      rec = receiveKinkMessage(dg.data, {
        rules: { command: tx.command },
        authenticate: (d) => {
          const ap = d.message.payloads.find((p) => p.kind === "ap-rep");
          if (ap && ap.kind === "ap-rep") {
            if (!tx.cred) return undefined;
            verifyApRep(ap.apRep, tx.cred.sessionKey, tx.outstanding);
            apRepEpoch = ap.epoch;
            return tx.ops;
          }
          // A-5: a lone error with a Cksum is checked with our ticket's key.
          if (d.header.cksumLen > 0 && tx.ops) return tx.ops;
          return undefined;
        },
      });
    } catch (e) {
      tx.lastRejected = errText(e);
      this.#drop(dg.remote, peer, "reply-rejected", tx.lastRejected);
      return;
    }
    if (rec.authenticated) {
      if (tx.transmissions === 1) this.#rttSample(peer, this.#now - tx.firstSentAt);
      this.#heard(peer);
      const reclaim = peer.reclaim;
      if (reclaim?.length) {
        delete peer.reclaim;
        for (const inbound of reclaim) this.#startDeleteSpis(peer, inbound);
      }
      if (apRepEpoch !== undefined && !this.#olderEpoch(peer, apRepEpoch)) {
        this.#noteEpoch(peer, apRepEpoch, tx);
      }
    }
    if (tx.onReply) tx.onReply(rec);
  }

  /**
   * The failure detail of a command of ours that timed out without an error to name: `base`
   * ("no REPLY …"), or "no usable REPLY …" with how many answers came and why the last was
   * rejected. A CREATE that got no answer at all under a session key other than enctypes
   * 17/18 names racoon2's kinkd, which drops exactly such a CREATE in silence (its PRF table
   * has no other enctype) — as what it is, a possible cause: silence has other causes too.
   */
  #noReply(tx: Tx, base: string): string {
    if (tx.answers > 0) {
      const usable = base.replace(/^no REPLY/, "no usable REPLY");
      const n = `${tx.answers} answer${tx.answers === 1 ? "" : "s"}`;
      return tx.lastRejected === undefined
        ? `${usable} (${n} ignored)`
        : `${usable} (${n} rejected, the last: ${tx.lastRejected})`;
    }
    const etype = tx.cred?.sessionKey.enctype;
    if (tx.command !== M.CREATE || etype === undefined || etype === 17 || etype === 18) {
      return base;
    }
    return `${base}, none answered; the ticket's session key is ${
      enctypeName(etype)
    } (enctype ${etype}), and racoon2's kinkd accepts only session keys of enctypes 17/18 ` +
      "(aes128/aes256-cts-hmac-sha1-96): it drops such a CREATE without an answer. If the " +
      "peer is kinkd, have the KDC issue its tickets with enctype 17 or 18 (the service " +
      "principal's keys, or permitted_enctypes)";
  }

  /** Payloads of a message with KINK_ENCRYPT opened. */
  #effective(m: ReceivedKinkMessage): KinkPayload[] {
    const out: KinkPayload[] = [];
    for (const p of m.message.payloads) {
      if (p.kind === "encrypt") out.push(...(p.inner ?? []));
      else out.push(p);
    }
    return out;
  }

  /**
   * Common handling of errors in a REPLY to one of our commands. Returns true
   * when the REPLY was an error and has been dealt with.
   */
  #replyErrors(tx: Tx, m: ReceivedKinkMessage, payloads: KinkPayload[]): boolean {
    const peer = tx.peer;
    const kerr = payloads.find((p) => p.kind === "krb-error");
    if (kerr && kerr.kind === "krb-error") {
      let code = -1, detail = "undecodable KRB-ERROR";
      let stimeMs: number | undefined;
      let ctimeMs: number | undefined;
      try {
        const k = decodeKrbError(kerr.krbError);
        code = k.errorCode;
        detail = `${errorCodeName(code)}${k.eText ? `: ${k.eText}` : ""}`;
        stimeMs = k.stime.getTime() + k.susec / 1000;
        if (k.ctime) ctimeMs = k.ctime.getTime() + (k.cusec ?? 0) / 1000;
      } catch {
        // keep the defaults
      }
      tx.lastError = esc(`KRB-ERROR ${detail}`);
      this.#krbError(tx, code, m.authenticated, stimeMs, ctimeMs);
      return true;
    }
    const tgtRep = payloads.find((p) => p.kind === "tgt-rep");
    if (tgtRep && tgtRep.kind === "tgt-rep" && tx.command !== M.GETTGT) {
      // §3.7.1: the peer's TGT changed; get a new U2U ticket and retry (keep the old one meanwhile).
      try {
        const t = decodeTicket(tgtRep.tgt);
        if (isRealmTgt(t, peer.principal.realm)) {
          peer.peerTgt = tgtRep.tgt;
          this.#restart(tx, { freshTicket: true });
          return true;
        }
      } catch {
        // ignore a bad TGT: forged TGT_REPs are possible
      }
      tx.lastError = "unusable KINK_TGT_REP";
      return true;
    }
    const kinkErr = payloads.find((p) => p.kind === "error");
    if (kinkErr && kinkErr.kind === "error" && kinkErr.code !== KinkErrorCode.OK) {
      const detail = kinkErrorName(kinkErr.code);
      tx.lastError = detail;
      if (m.authenticated) {
        this.#abort(tx, "kink-error", detail);
      } // unauthenticated: keep retransmitting; the timeout reports it (DoS caution)
      const hasIsakmp = payloads.some((p) => p.kind === "isakmp");
      if (!hasIsakmp || !m.authenticated) return true;
    }
    return false;
  }

  #krbError(tx: Tx, code: number, authed: boolean, stimeMs?: number, ctimeMs?: number): void {
    const peer = tx.peer;
    switch (code) {
      case ErrorCode.KRB_AP_ERR_SKEW:
        // §3.5: correct only from a Cksum-protected error.
        if (authed && stimeMs !== undefined) {
          const ours = ctimeMs ?? this.#now + peer.clockOffsetMs;
          peer.clockOffsetMs += Math.round(stimeMs - ours);
          // Our earlier (skewed) authenticators were refused, so none can collide with the new times.
          this.#event({ type: "clock-offset", peer: peer.name, offsetMs: peer.clockOffsetMs });
          this.#restart(tx, {});
        }
        return;
      case ErrorCode.KRB_AP_ERR_REPEAT:
        // A new authenticator at once (our ctime/cusec never repeat, so this was a clash).
        this.#timers.cancel(tx.slot);
        if (tx.transmissions < peer.timers.retransmitTries) this.#sendTx(tx);
        return;
      case ErrorCode.KRB_AP_ERR_TKT_EXPIRED:
      case ErrorCode.KRB_AP_ERR_BADKEYVER:
      case ErrorCode.KRB_AP_ERR_NOKEY:
        if (!authed) {
          // Anyone can forge this (no Cksum), and acting at once would abandon an XID
          // whose SAs the responder may already hold. Keep retransmitting; if no
          // authenticated answer comes, the timeout acts on the hint (#hintRemedy).
          tx.hint = code;
          this.#count("krb-error-hints");
          return;
        }
        if (tx.create && !tx.create.freshTried) {
          this.#restart(tx, { freshTicket: true });
        } else if (!tx.create && tx.command !== M.GETTGT && !tx.create) {
          peer.cred = undefined;
          this.#abort(tx, "krb-error", tx.lastError ?? errorCodeName(code));
        } else {
          this.#abort(
            tx,
            "krb-error",
            `${tx.lastError ?? errorCodeName(code)} (also with a fresh ticket)`,
          );
        }
        return;
      case ErrorCode.KRB_AP_ERR_USER_TO_USER_REQUIRED:
        if (!authed) {
          // As above: a hint acted on when the retransmissions are exhausted.
          if (!peer.userToUser) tx.hint = code;
          this.#count("krb-error-hints");
          return;
        }
        if (!peer.userToUser) {
          peer.userToUser = true;
          peer.peerTgt = undefined;
          if (tx.create) this.#restart(tx, { freshTicket: true });
          else this.#abort(tx, "krb-error", "peer requires user-to-user");
        }
        return;
      default:
        if (authed) this.#abort(tx, "krb-error", tx.lastError ?? `KRB-ERROR ${code}`);
        // unauthenticated: ignored (kinkd does the same); the timeout reports it
        return;
    }
  }

  /**
   * What an unauthenticated error hint of a CREATE whose retransmissions are
   * exhausted asks for, if it has not been tried: a fresh ticket
   * (TKT_EXPIRED, BADKEYVER, NOKEY) or user-to-user (USER_TO_USER_REQUIRED).
   */
  #hintRemedy(tx: Tx): "fresh" | "u2u" | undefined {
    const c = tx.create;
    if (tx.hint === undefined || !c || c.trig.restarts >= MAX_RESTARTS) return undefined;
    if (tx.hint === ErrorCode.KRB_AP_ERR_USER_TO_USER_REQUIRED) {
      return tx.peer.userToUser ? undefined : "u2u";
    }
    return c.freshTried ? undefined : "fresh";
  }

  /** Remembers an abandoned CREATE's inbound SPIs for a DELETE once our ticket works. */
  #reclaimLater(peer: Peer, inbound: Side[]): void {
    const r = peer.reclaim ?? (peer.reclaim = []);
    r.push(inbound);
    while (r.length > MAX_RECLAIM) r.shift();
  }

  /** Ends an initiator transaction with a failure, cleaning up what it installed. */
  #abort(tx: Tx, reason: FailureReason, detail: string): void {
    if (tx.finished) return;
    const peer = tx.peer;
    this.#fail(peer, tx.xid, tx.command, reason, detail);
    if (tx.create) this.#createCleanup(tx);
    if (tx === peer.probe) {
      peer.probe = undefined;
    }
    this.#finish(tx);
  }

  // -------------------------------------------------------------------------
  // CREATE, initiator

  #ensureCreate(peer: Peer, selector: number, acquireSeq: number | undefined): void {
    if (peer.creating.has(selector)) return;
    for (const p of peer.pairs) {
      if (
        p.selector === selector &&
        (p.state === "mature" || p.state === "optimistic" || p.state === "rekeying")
      ) return;
    }
    const trig: CreateTrigger = { selector, restarts: 0, freshTicket: false, noKe: false };
    if (acquireSeq !== undefined) trig.acquireSeq = acquireSeq;
    this.#startCreate(peer, trig);
  }

  #rekey(pair: Pair): void {
    if (pair.rekeyTx || pair.state !== "mature") return;
    pair.state = "rekeying";
    this.#timers.cancel(pair.rekeySlot);
    const tx = this.#startCreate(pair.peer, {
      selector: pair.selector,
      rekeyOf: pair,
      restarts: 0,
      freshTicket: false,
      noKe: false,
    });
    if (!tx) {
      pair.state = "mature";
      if (pair.obsolete) this.#startDelete(pair.peer, pair, "deleted");
    }
  }

  #pairLimit(peer: Peer): boolean {
    if (
      this.#pairCount >= this.#limits.maxSaPairs ||
      peer.pairs.size >= this.#limits.maxSaPairsPerPeer
    ) {
      this.#count("limit-sa-pairs");
      this.#event({
        type: "limit",
        table: "sa-pairs",
        detail: `peer ${peer.name}: ${peer.pairs.size} pairs, ${this.#pairCount} in all`,
      });
      return true;
    }
    return false;
  }

  #startCreate(peer: Peer, trig: CreateTrigger): Tx | undefined {
    if (this.#pairLimit(peer)) {
      this.#fail(peer, 0, M.CREATE, "limit", "SA pair table full");
      return undefined;
    }
    const tx = this.#newTx(peer, "initiator", M.CREATE);
    if (!tx) {
      this.#fail(peer, 0, M.CREATE, "limit", "transaction table full");
      return undefined;
    }
    tx.create = {
      trig,
      spis: new Map(),
      ni: this.#random.fill(new Uint8Array(NONCE_LEN)),
      optimisticInstalled: false,
      dh: undefined,
      dhSecret: undefined,
      pair: undefined,
      choice: undefined,
      nr: undefined,
      freshTried: trig.freshTicket,
    };
    peer.creating.set(trig.selector, tx);
    if (trig.rekeyOf) trig.rekeyOf.rekeyTx = tx;
    tx.state = "ticket";
    tx.onTimeout = () => {
      const c = tx.create!;
      const sent = tx.transmissions > 0;
      const inbound = [...c.spis].map(([protocol, spi]) => ({ protocol, spi }));
      const remedy = this.#hintRemedy(tx);
      if (remedy) {
        // Only unauthenticated errors answered: act on the hint now, and reclaim this
        // XID's SAs at the responder (it holds them if the errors were forged) once an
        // authenticated REPLY shows the new ticket works.
        if (sent && inbound.length) this.#reclaimLater(peer, inbound);
        if (remedy === "u2u") {
          peer.userToUser = true;
          peer.peerTgt = undefined;
        }
        this.#restart(tx, { freshTicket: true });
        return;
      }
      const hinted = tx.hint !== undefined && tx.lastError !== undefined;
      this.#fail(
        peer,
        tx.xid,
        M.CREATE,
        hinted ? "krb-error" : "timeout",
        hinted
          ? `${tx.lastError} (${c.freshTried ? "also with a fresh ticket" : "unauthenticated"})`
          : tx.lastError ?? this.#noReply(tx, `no REPLY after ${tx.transmissions} transmissions`),
      );
      this.#createCleanup(tx);
      this.#finish(tx);
      // The responder may hold the SAs although every REPLY was lost: ask it to drop them
      // (after an error hint about our ticket, once a REPLY shows a ticket of ours works).
      if (sent && inbound.length) {
        if (hinted) this.#reclaimLater(peer, inbound);
        else this.#startDeleteSpis(peer, inbound);
      }
    };
    this.#withTicket(tx, trig.freshTicket, (cred, err) => {
      if (!cred) {
        if (err === "retry-u2u") {
          this.#restart(tx, { freshTicket: true });
          return;
        }
        this.#abort(tx, "ticket", err ?? "no ticket");
        return;
      }
      tx.cred = cred;
      tx.ops = keyOps(cred.sessionKey, this.#random);
      this.#createAllocSpis(tx);
    });
    return tx;
  }

  #createAllocSpis(tx: Tx): void {
    const peer = tx.peer;
    const c = tx.create!;
    tx.state = "spi";
    const protos: XfrmProto[] = [];
    for (const p of peer.cfg.proposals) {
      for (const pc of p.protocols) if (!protos.includes(pc.protocol)) protos.push(pc.protocol);
    }
    this.#kernelAll(
      protos.map((proto) => ({
        kind: "allocSpi",
        request: {
          src: peer.cfg.address,
          dst: peer.cfg.localAddress,
          proto,
          mode: peer.cfg.mode,
          reqid: peer.reqid,
        },
      })),
      (rs) => {
        rs.forEach((r, i) => {
          if (r.ok && r.spi !== undefined) c.spis.set(protos[i]!, r.spi);
        });
        if (tx.finished) {
          this.#releaseSpis(peer, c.spis);
          return;
        }
        const bad = rs.find((r) => !r.ok);
        if (bad && !bad.ok) {
          this.#abort(tx, "kernel", `allocSpi: ${errText(bad.error)}`);
          return;
        }
        if (peer.cfg.pfsGroup !== undefined && !c.trig.noKe) {
          // With KE the exchange is 3-way from the start: no optimistic SA (§7).
          c.dh = generateDh(peer.cfg.pfsGroup, this.#random);
          this.#createSend(tx);
        } else {
          this.#createOptimistic(tx);
        }
      },
    );
  }

  #releaseSpis(peer: Peer, spis: Map<XfrmProto, number>): void {
    for (const [proto, spi] of spis) {
      this.#kernel({ kind: "deleteSa", id: { dst: peer.cfg.localAddress, spi, proto } });
    }
  }

  #lifetime(peer: Peer, life: LifetimeConfig, softMs: number | undefined) {
    const lt: SaConfig["lifetime"] = { hardAddSeconds: life.seconds };
    if (softMs !== undefined) lt.softAddSeconds = Math.max(1, Math.floor(softMs / 1000));
    if (life.kilobytes !== undefined) {
      lt.hardBytes = life.kilobytes * 1024;
      if (softMs !== undefined) lt.softBytes = Math.floor(life.kilobytes * 1024 * 0.9);
    }
    void peer;
    return lt;
  }

  #optimisticTransforms(peer: Peer): { protocol: XfrmProto; t: ParsedTransform }[] {
    const first = peer.cfg.proposals[0]!;
    return first.protocols.map((pc) => {
      const t = pc.transforms[0]!;
      const auth = pc.protocol === "ah"
        ? (t.authAlgorithm ?? (t.id === 3 ? 2 : t.id))
        : (t.authAlgorithm ?? 0);
      const parsed: ParsedTransform = {
        id: t.id,
        keyBits: t.keyBits,
        auth,
        mode: undefined,
        group: undefined,
        lifeSeconds: peer.life.seconds,
        lifeKb: peer.life.kilobytes,
        raw: { number: 1, id: t.id, attributes: [] },
      };
      return { protocol: pc.protocol, t: parsed };
    });
  }

  #createOptimistic(tx: Tx): void {
    const peer = tx.peer;
    const c = tx.create!;
    tx.state = "optimistic-install";
    const sas = this.#optimisticTransforms(peer).map(({ protocol, t }) =>
      deriveSa({
        sessionKey: tx.cred!.sessionKey,
        prf: peer.prf,
        protocol,
        transform: t,
        spi: c.spis.get(protocol)!,
        ni: c.ni,
        src: peer.cfg.address,
        dst: peer.cfg.localAddress,
        mode: peer.cfg.mode,
        reqid: peer.reqid,
        lifetime: this.#lifetime(peer, peer.life, undefined),
        selector: this.#saSelector(peer, c.trig.selector, false),
      })
    );
    this.#kernelAll(sas.map((sa) => ({ kind: "updateSa", sa })), (rs) => {
      for (const sa of sas) wipeSaConfig(sa);
      if (tx.finished) return;
      const bad = rs.find((r) => !r.ok);
      if (bad && !bad.ok) {
        this.#abort(tx, "kernel", `install optimistic inbound SA: ${errText(bad.error)}`);
        return;
      }
      c.optimisticInstalled = true;
      this.#createSend(tx);
    });
  }

  #createSend(tx: Tx): void {
    const peer = tx.peer;
    const c = tx.create!;
    tx.state = "sent";
    const sa = buildSaPayload(
      peer.cfg.proposals,
      c.spis,
      peer.cfg.mode,
      peer.life,
      c.dh ? c.dh.group : undefined,
      spiBytes,
    );
    const qm: IsakmpPayload[] = [sa, { kind: "nonce", nonce: c.ni }];
    if (c.dh) qm.push({ kind: "ke", data: c.dh.publicValue });
    const sel = peer.cfg.selectors?.[c.trig.selector];
    if (sel && (peer.cfg.sendIds ?? peer.cfg.mode === "tunnel")) {
      qm.push(...selectorIds(sel)); // IDci, IDcr (§5.3)
    }
    tx.build = () =>
      buildCreate({
        xid: tx.xid,
        epoch: this.#cfg.epoch,
        apReq: this.#apReq(tx),
        key: tx.ops!,
        encrypt: peer.encrypt,
        transactions: [qm],
      });
    tx.onReply = (m) => this.#createReply(tx, m);
    this.#transmit(tx);
  }

  #createReply(tx: Tx, m: ReceivedKinkMessage): void {
    const peer = tx.peer;
    const c = tx.create!;
    if (tx.state === "acked") {
      // ACK regeneration (§9): the responder did not get our ACK.
      if (m.authenticated && m.message.ackReq) this.#sendAck(tx);
      return;
    }
    if (tx.state !== "sent") return;
    const payloads = this.#effective(m);
    if (this.#replyErrors(tx, m, payloads)) return;
    if (!m.authenticated) {
      tx.lastError = "unauthenticated REPLY";
      return;
    }
    const qms = payloads.filter((p) => p.kind === "isakmp").flatMap((p) =>
      p.kind === "isakmp" ? p.payloads : []
    );
    const notify = qms.find((p): p is NotifyPayload =>
      p.kind === "notify" && isNotifyError(p.notifyType)
    );
    const sa = qms.find((p) => p.kind === "sa");
    if (!sa || sa.kind !== "sa") {
      if (notify) {
        this.#createNotify(tx, notify);
      } else {
        this.#abort(tx, "protocol", "REPLY to CREATE without SA payload");
      }
      return;
    }
    const acc = acceptReply(sa, peer.cfg.proposals, peer.cfg.mode, peer.life, c.dh?.group);
    if (typeof acc === "string") {
      if (m.message.ackReq) this.#sendAck(tx);
      const inbound = [...c.spis].map(([protocol, spi]) => ({ protocol, spi }));
      this.#abort(tx, "no-proposal-chosen", acc);
      this.#startDeleteSpis(peer, inbound);
      return;
    }
    const nonce = qms.find((p) => p.kind === "nonce");
    const nr = nonce && nonce.kind === "nonce" ? nonce.nonce : undefined;
    if (c.dh) {
      const ke = qms.find((p) => p.kind === "ke");
      try {
        if (!ke || ke.kind !== "ke") throw new Error("REPLY without the responder's KE");
        c.dhSecret = c.dh.computeSecret(ke.data);
      } catch (e) {
        if (m.message.ackReq) this.#sendAck(tx);
        const inbound = [...c.spis].map(([protocol, spi]) => ({ protocol, spi }));
        this.#abort(tx, "protocol", errText(e));
        this.#startDeleteSpis(peer, inbound);
        return;
      } finally {
        c.dh.dispose();
        c.dh = undefined;
      }
    }
    const dhSecret = c.dhSecret;
    const replaceIn = !acc.sameAsOptimistic || nr !== undefined || dhSecret !== undefined;
    tx.state = "installing";
    const pair = this.#newPair(peer, true, tx.xid, c.trig.selector, acc.life);
    if (c.obsolete) pair.obsolete = true;
    pair.inbound = acc.chosen.map((x) => ({ protocol: x.protocol, spi: c.spis.get(x.protocol)! }));
    pair.outbound = acc.chosen.map((x) => ({ protocol: x.protocol, spi: x.responderSpi }));
    c.pair = pair;
    const softMs = pair.rekeyAt! - this.#now;
    const lt = this.#lifetime(peer, acc.life, softMs);
    const outSas = acc.chosen.map((x) => {
      const sa = deriveSa({
        sessionKey: tx.cred!.sessionKey,
        prf: peer.prf,
        protocol: x.protocol,
        transform: x.transform,
        spi: x.responderSpi,
        ni: c.ni,
        nr,
        dhSecret,
        src: peer.cfg.localAddress,
        dst: peer.cfg.address,
        mode: peer.cfg.mode,
        reqid: peer.reqid,
        lifetime: lt,
        selector: this.#saSelector(peer, c.trig.selector, true),
      });
      if (c.trig.acquireSeq !== undefined) sa.acquireSeq = c.trig.acquireSeq;
      return sa;
    });
    const inSas = acc.chosen.map((x) =>
      deriveSa({
        sessionKey: tx.cred!.sessionKey,
        prf: peer.prf,
        protocol: x.protocol,
        transform: x.transform,
        spi: c.spis.get(x.protocol)!,
        ni: c.ni,
        nr,
        dhSecret,
        src: peer.cfg.address,
        dst: peer.cfg.localAddress,
        mode: peer.cfg.mode,
        reqid: peer.reqid,
        lifetime: lt,
        selector: this.#saSelector(peer, c.trig.selector, false),
      })
    );
    // Larval SAs of protocols not chosen are released.
    for (const [proto, spi] of c.spis) {
      if (!acc.chosen.some((x) => x.protocol === proto)) {
        this.#kernel({ kind: "deleteSa", id: { dst: peer.cfg.localAddress, spi, proto } });
      }
    }
    const ackReq = m.message.ackReq;
    const done = (ok: boolean, detail?: string) => {
      for (const s of [...outSas, ...inSas]) wipeSaConfig(s);
      if (tx.finished) return;
      if (!ok) {
        if (ackReq) this.#sendAck(tx);
        this.#abort(tx, "kernel", detail ?? "kernel refused an SA");
        return;
      }
      pair.outboundInstalled = true;
      if (ackReq) this.#sendAck(tx);
      this.#pairUp(pair, acc.sameAsOptimistic && !nr && !ackReq, c.trig.rekeyOf);
      c.pair = undefined;
      if (peer.creating.get(c.trig.selector) === tx) peer.creating.delete(c.trig.selector);
      if (c.trig.rekeyOf) c.trig.rekeyOf.rekeyTx = undefined;
      if (ackReq) {
        // Keep the transaction for one retransmission cycle to regenerate the ACK.
        tx.state = "acked";
        tx.onTimeout = () => this.#finish(tx);
        tx.transmissions = peer.timers.retransmitTries - 1;
        this.#timers.set(tx.slot, this.#now + this.#ackWindow(peer));
        tx.transmissions = peer.timers.retransmitTries;
      } else {
        this.#finish(tx);
      }
    };
    const check = (rs: KernelResult[], what: string): string | undefined => {
      const bad = rs.find((r) => !r.ok);
      return bad && !bad.ok ? `${what}: ${errText(bad.error)}` : undefined;
    };
    this.#kernelAll(outSas.map((sa) => ({ kind: "addSa", sa })), (r1) => {
      const e1 = check(r1, "install outbound SA");
      if (e1) return done(false, e1);
      if (replaceIn && !c.optimisticInstalled) {
        // The inbound SA is still larval (KE sent): UPDSA fills it in.
        this.#kernelAll(inSas.map((sa) => ({ kind: "updateSa", sa })), (r3) => {
          const e3 = check(r3, "install inbound SA");
          done(!e3, e3);
        });
      } else if (replaceIn) {
        // UPDSA would keep the optimistic keys: delete, then add under the same SPI.
        this.#kernelAll(
          inSas.map((sa) => ({
            kind: "deleteSa",
            id: { dst: sa.dst, spi: sa.spi, proto: sa.proto },
          })),
          () => {
            this.#kernelAll(inSas.map((sa) => ({ kind: "addSa", sa })), (r3) => {
              const e3 = check(r3, "re-key inbound SA");
              done(!e3, e3);
            });
          },
        );
      } else if (
        acc.life.seconds < peer.life.seconds || acc.life.kilobytes !== peer.cfg.lifetime?.kilobytes
      ) {
        // Only the lifetime changed (lowered, A-9): UPDSA refreshes exactly that.
        this.#kernelAll(inSas.map((sa) => ({ kind: "updateSa", sa })), (r3) => {
          const e3 = check(r3, "lower inbound lifetime");
          done(!e3, e3);
        });
      } else {
        done(true);
      }
    });
  }

  #ackWindow(peer: Peer): number {
    const t = peer.timers;
    let sum = 0;
    for (let i = 0; i < t.retransmitTries; i++) {
      sum += Math.min(t.retransmitMaxMs, t.retransmitInitialMs * 2 ** i);
    }
    return sum;
  }

  #sendAck(tx: Tx): void {
    const data = buildAck({
      xid: tx.xid,
      epoch: this.#cfg.epoch,
      apReq: this.#apReq(tx),
      key: tx.ops!,
    });
    this.#send(tx.remote, tx.peer.local, data);
  }

  #createNotify(tx: Tx, n: NotifyPayload): void {
    const c = tx.create!;
    const name = notifyTypeName(n.notifyType);
    switch (n.notifyType) {
      case NotifyType.NO_PROPOSAL_CHOSEN:
        this.#abort(tx, "no-proposal-chosen", name);
        return;
      case NotifyType.INVALID_SPI:
        // The responder already uses our SPI: once more with new SPIs.
        if (c.trig.restarts < MAX_RESTARTS) this.#restart(tx, {});
        else this.#abort(tx, "invalid-spi", name);
        return;
      case NotifyType.INVALID_PAYLOAD_TYPE:
        // KE unsupported by the peer (§3.2, §5.5): a new transaction without KE, if policy allows.
        if (n.data[0] === 4 && !c.trig.noKe && !tx.peer.cfg.pfsRequired) {
          this.#restart(tx, { noKe: true });
        } else {
          this.#abort(tx, "invalid-payload-type", `${name} (payload ${n.data[0] ?? "?"})`);
        }
        return;
      case NotifyType.INVALID_ID_INFORMATION:
        this.#abort(tx, "invalid-id", name);
        return;
      default:
        this.#abort(tx, "protocol", name);
    }
  }

  /** Aborts a CREATE and starts it again as a new transaction (new XID, SPIs, nonce). */
  #restart(tx: Tx, o: { freshTicket?: boolean; noKe?: boolean }): void {
    if (tx.finished) return;
    const peer = tx.peer;
    if (!tx.create) {
      this.#abort(tx, "protocol", tx.lastError ?? "error");
      return;
    }
    const trig = tx.create.trig;
    if (trig.restarts >= MAX_RESTARTS) {
      this.#abort(
        tx,
        "krb-error",
        `${tx.lastError ?? "error"} (gave up after ${trig.restarts} new attempts)`,
      );
      return;
    }
    this.#createCleanup(tx);
    this.#finish(tx);
    const next: CreateTrigger = {
      selector: trig.selector,
      restarts: trig.restarts + 1,
      freshTicket: o.freshTicket ?? false,
      noKe: o.noKe ?? trig.noKe,
    };
    if (trig.acquireSeq !== undefined) next.acquireSeq = trig.acquireSeq;
    if (trig.rekeyOf && trig.rekeyOf.state === "rekeying") next.rekeyOf = trig.rekeyOf;
    if (o.freshTicket) peer.cred = undefined;
    this.#startCreate(peer, next);
  }

  /** Releases what a failed CREATE installed (larval / optimistic inbound SAs). */
  #createCleanup(tx: Tx): void {
    const c = tx.create;
    if (!c) return;
    c.dh?.dispose();
    c.dh = undefined;
    c.dhSecret?.fill(0);
    const peer = tx.peer;
    if (peer.creating.get(c.trig.selector) === tx) peer.creating.delete(c.trig.selector);
    if (c.trig.rekeyOf) {
      const old = c.trig.rekeyOf;
      old.rekeyTx = undefined;
      if (old.state === "rekeying" && old.obsolete) {
        // Its configuration is gone: no retry with the old parameters.
        old.state = "mature";
        this.#startDelete(peer, old, "deleted");
      } else if (old.state === "rekeying") {
        old.state = "mature";
        // Try again later while the old pair lives.
        if (old.rekeyTries++ < 3) {
          const at = Math.min(
            old.expiresAt - 1000,
            this.#now + Math.max(1000, (old.expiresAt - this.#now) / 4),
          );
          if (at > this.#now) this.#timers.set(old.rekeySlot, at);
        }
      }
    }
    if (c.pair) {
      this.#removePair(c.pair, "aborted", true);
      c.pair = undefined;
    } else {
      this.#releaseSpis(peer, c.spis);
    }
    c.spis = new Map();
  }

  // -------------------------------------------------------------------------
  // SA pairs

  #newPair(
    peer: Peer,
    initiator: boolean,
    xid: number,
    selector: number,
    life: LifetimeConfig,
  ): Pair {
    const lifeMs = life.seconds * 1000;
    const pair: Pair = {
      id: ++this.#pairId,
      peer,
      initiator,
      state: "larval",
      selector,
      xid,
      inbound: [],
      outbound: [],
      outboundInstalled: false,
      createdAt: this.#now,
      expiresAt: this.#now + lifeMs,
      rekeyAt: undefined,
      life,
      optimistic: false,
      rekeySlot: slot(() => {}),
      endSlot: slot(() => {}),
      rekeyTx: undefined,
      ackTx: undefined,
      rekeyTries: 0,
      obsolete: false,
      downReported: false,
    };
    if (initiator) {
      const t = peer.timers;
      const maxM = Math.min(t.rekeyMarginMaxMs, lifeMs / 2);
      const minM = Math.min(t.rekeyMarginMinMs, maxM / 2);
      const margin = minM + randomBelow(this.#random, Math.max(1, Math.floor(maxM - minM) + 1));
      pair.rekeyAt = this.#now + lifeMs - margin;
    }
    pair.rekeySlot = slot(() => this.#rekey(pair));
    pair.endSlot = slot(() => this.#removePair(pair, "expired", true));
    return pair;
  }

  #indexPair(pair: Pair): void {
    const peer = pair.peer;
    if (!peer.pairs.has(pair)) {
      peer.pairs.add(pair);
      this.#pairCount++;
    }
    if (pair.inbound.length) {
      let byIn = this.#pairsByIn.get(peer.cfg.localAddress);
      if (!byIn) this.#pairsByIn.set(peer.cfg.localAddress, byIn = new Map());
      for (const s of pair.inbound) byIn.set(pk(s.protocol, s.spi), pair);
    }
    for (const s of pair.outbound) peer.pairsByOut.set(pk(s.protocol, s.spi), pair);
  }

  #pairUp(pair: Pair, optimistic: boolean, replaces: Pair | undefined): void {
    const peer = pair.peer;
    pair.state = "mature";
    pair.optimistic = optimistic;
    this.#indexPair(pair);
    if (pair.initiator && pair.rekeyAt !== undefined) {
      this.#timers.set(pair.rekeySlot, pair.rekeyAt);
    }
    // The kernel removes the SAs at their hard lifetime; the record goes a little later.
    this.#timers.set(pair.endSlot, pair.expiresAt + 1000);
    this.#count("sa-up");
    this.#event({
      type: "sa-up",
      peer: peer.name,
      xid: pair.xid,
      initiator: pair.initiator,
      inbound: pair.inbound.map((s) => ({ ...s })),
      outbound: pair.outbound.map((s) => ({ ...s })),
      optimistic,
      rekey: replaces !== undefined,
      lifetimeSeconds: pair.life.seconds,
    });
    this.#armIdle(peer);
    if (replaces && replaces.state !== "dying") this.#startDelete(peer, replaces, "rekeyed");
    // Made under a configuration reconfigure() has replaced since: replace it in turn.
    if (pair.obsolete && pair.state === "mature") this.#replaceObsolete(pair);
  }

  /** Removes a pair from the tables; with `kernel`, deletes its SAs too. */
  /** Reports `pair` down once (the operator's `sa-down` event with copies of its SPIs). */
  #reportDown(
    pair: Pair,
    reason: EngineEvent & { type: "sa-down" } extends { reason: infer R } ? R : never,
  ): void {
    pair.downReported = true;
    this.#event({
      type: "sa-down",
      peer: pair.peer.name,
      inbound: pair.inbound.map((s) => ({ ...s })),
      outbound: pair.outbound.map((s) => ({ ...s })),
      reason,
    });
  }

  #removePair(
    pair: Pair,
    reason: EngineEvent & { type: "sa-down" } extends { reason: infer R } ? R : never,
    kernel: boolean,
  ): void {
    const peer = pair.peer;
    this.#timers.cancel(pair.rekeySlot);
    this.#timers.cancel(pair.endSlot);
    if (pair.ackTx) {
      const t = pair.ackTx;
      pair.ackTx = undefined;
      this.#finish(t);
    }
    if (kernel) {
      if (pair.outboundInstalled) {
        for (const s of pair.outbound) {
          this.#kernel({
            kind: "deleteSa",
            id: { dst: peer.cfg.address, spi: s.spi, proto: s.protocol },
          });
        }
      }
      for (const s of pair.inbound) {
        this.#kernel({
          kind: "deleteSa",
          id: { dst: peer.cfg.localAddress, spi: s.spi, proto: s.protocol },
        });
      }
    }
    let indexed = false;
    const byIn = this.#pairsByIn.get(peer.cfg.localAddress);
    for (const s of pair.inbound) {
      const k = pk(s.protocol, s.spi);
      if (byIn?.get(k) === pair) {
        byIn.delete(k);
        indexed = true;
      }
    }
    if (byIn?.size === 0) this.#pairsByIn.delete(peer.cfg.localAddress);
    for (const s of pair.outbound) {
      const k = pk(s.protocol, s.spi);
      if (peer.pairsByOut.get(k) === pair) peer.pairsByOut.delete(k);
    }
    if (peer.pairs.delete(pair)) {
      this.#pairCount--;
      indexed = true;
    }
    if (indexed && pair.state !== "larval" && !pair.downReported) {
      this.#reportDown(pair, reason);
    }
    pair.state = "dying";
    if (pair.rekeyTx) {
      const t = pair.rekeyTx;
      pair.rekeyTx = undefined;
      if (t.create) delete t.create.trig.rekeyOf;
    }
    if (peer.retired) this.#forgetIfDone(peer);
  }

  // -------------------------------------------------------------------------
  // DELETE, initiator

  #startDelete(peer: Peer, pair: Pair, reason: "deleted" | "rekeyed"): void {
    if (pair.state === "dying") return;
    // Outbound SAs go at once; inbound ones after the grace period.
    if (pair.outboundInstalled) {
      for (const s of pair.outbound) {
        this.#kernel({
          kind: "deleteSa",
          id: { dst: peer.cfg.address, spi: s.spi, proto: s.protocol },
        });
      }
      pair.outboundInstalled = false;
    }
    this.#timers.cancel(pair.rekeySlot);
    // The pair is down for traffic now (no outbound SA): say so now, not after the grace.
    // A larval pair (never up) is never reported.
    if (pair.state === "larval") pair.downReported = true;
    else if (!pair.downReported && peer.pairs.has(pair)) {
      this.#reportDown(pair, reason);
    }
    pair.state = "dying";
    const grace = () => {
      this.#timers.set(pair.endSlot, this.#now + peer.timers.deleteGraceMs);
    };
    // The end-of-life timer set when the pair came up goes: left scheduled, it
    // removed the pair a second time at its hard lifetime, deleting whatever SA
    // then held its inbound SPIs, and kept every deleted pair in memory till then.
    this.#timers.cancel(pair.endSlot);
    pair.endSlot = slot(() => this.#removePair(pair, reason, true));
    const inbound = pair.inbound.map((x) => ({ ...x }));
    const tx = this.#deleteTx(peer, inbound, (ok) => {
      grace();
      if (!ok) this.#retryDelete(peer, inbound, 1);
    });
    if (!tx) grace();
  }

  /**
   * A DELETE that got no answer is tried again later (30 s, 60 s, 120 s) as a
   * new transaction while the peer is not known dead: otherwise a lossy path
   * leaves the peer holding SAs we no longer have.
   */
  #retryDelete(peer: Peer, inbound: Side[], attempt: number): void {
    if (
      attempt > 3 || peer.deleteRetries.size >= MAX_DELETE_RETRIES || peer.state === "dead" ||
      peer.retired
    ) {
      return;
    }
    const s = slot(() => {
      peer.deleteRetries.delete(s);
      if (peer.state === "dead") return;
      this.#deleteTx(peer, inbound, (ok) => {
        if (!ok) this.#retryDelete(peer, inbound, attempt + 1);
      });
    });
    peer.deleteRetries.add(s);
    this.#timers.set(s, this.#now + 30_000 * 2 ** (attempt - 1));
  }

  /** A DELETE of SPIs we no longer hold state for (best effort). */
  #startDeleteSpis(peer: Peer, inbound: Side[]): void {
    this.#deleteTx(peer, inbound, (ok) => {
      if (!ok) this.#retryDelete(peer, inbound, 1);
    });
  }

  #deleteTx(peer: Peer, inbound: Side[], done: (ok: boolean) => void): Tx | undefined {
    const tx = this.#newTx(peer, "initiator", M.DELETE);
    if (!tx) return undefined;
    this.#deleting.add(tx);
    tx.state = "ticket";
    const byProto = new Map<XfrmProto, number[]>();
    for (const s of inbound) {
      const l = byProto.get(s.protocol) ?? [];
      l.push(s.spi);
      byProto.set(s.protocol, l);
    }
    const dels: DeletePayload[] = [...byProto].map(([proto, spis]) => ({
      kind: "delete",
      doi: 1,
      protocol: proto === "esp" ? 3 : 2,
      spiSize: 4,
      spis: spis.map(spiBytes),
    }));
    tx.onTimeout = () => {
      this.#fail(
        peer,
        tx.xid,
        M.DELETE,
        "timeout",
        tx.lastError ?? this.#noReply(tx, "no REPLY to DELETE"),
      );
      this.#finish(tx);
      done(false);
    };
    tx.onReply = (m) => {
      const payloads = this.#effective(m);
      if (this.#replyErrors(tx, m, payloads)) {
        if (tx.finished) done(false);
        return;
      }
      if (!m.authenticated) return;
      tx.state = "answered";
      this.#finish(tx);
      done(true);
    };
    this.#withTicket(tx, false, (cred, err) => {
      if (!cred) {
        this.#fail(peer, tx.xid, M.DELETE, "ticket", err ?? "no ticket");
        this.#finish(tx);
        done(false);
        return;
      }
      tx.cred = cred;
      tx.ops = keyOps(cred.sessionKey, this.#random);
      tx.state = "sent";
      tx.build = () =>
        buildDelete({
          xid: tx.xid,
          epoch: this.#cfg.epoch,
          apReq: this.#apReq(tx),
          key: tx.ops!,
          encrypt: peer.encrypt,
          transactions: [dels],
        });
      this.#transmit(tx);
    });
    return tx;
  }

  // -------------------------------------------------------------------------
  // STATUS, initiator; dead-peer detection

  #startStatus(peer: Peer, probe: boolean): void {
    if (probe && peer.probe) return;
    const tx = this.#newTx(peer, "initiator", M.STATUS);
    if (!tx) return;
    if (probe) {
      peer.probe = tx;
      peer.state = "suspect";
    }
    tx.state = "ticket";
    tx.onTimeout = () => {
      this.#finish(tx);
      if (peer.probe === tx) peer.probe = undefined;
      this.#fail(
        peer,
        tx.xid,
        M.STATUS,
        "timeout",
        tx.lastError ?? this.#noReply(tx, "no REPLY to STATUS"),
      );
      if (probe) this.#peerDead(peer);
    };
    tx.onReply = (m) => {
      const payloads = this.#effective(m);
      if (this.#replyErrors(tx, m, payloads) || !m.authenticated) return;
      this.#finish(tx);
      if (peer.probe === tx) peer.probe = undefined;
    };
    this.#withTicket(tx, false, (cred, err) => {
      if (!cred) {
        this.#fail(peer, tx.xid, M.STATUS, "ticket", err ?? "no ticket");
        this.#finish(tx);
        if (peer.probe === tx) peer.probe = undefined;
        return;
      }
      tx.cred = cred;
      tx.ops = keyOps(cred.sessionKey, this.#random);
      tx.state = "sent";
      tx.build = () =>
        buildStatus({
          xid: tx.xid,
          epoch: this.#cfg.epoch,
          apReq: this.#apReq(tx),
          key: tx.ops!,
          encrypt: peer.encrypt,
        });
      this.#transmit(tx);
    });
  }

  #heard(peer: Peer): void {
    peer.lastHeard = this.#now;
    if (peer.state !== "alive") {
      const was = peer.state;
      peer.state = "alive";
      if (was === "suspect" || was === "dead") this.#event({ type: "peer-alive", peer: peer.name });
    }
  }

  #armIdle(peer: Peer): void {
    const idle = peer.timers.deadPeerIdleMs;
    if (idle > 0 && !scheduled(peer.idleSlot) && peer.pairs.size > 0) {
      this.#timers.set(peer.idleSlot, Math.max(peer.lastHeard, this.#now) + idle);
    }
  }

  #idleCheck(peer: Peer, now: number): void {
    const idle = peer.timers.deadPeerIdleMs;
    if (idle <= 0 || peer.pairs.size === 0) return;
    if (now - peer.lastHeard < idle) {
      this.#timers.set(peer.idleSlot, peer.lastHeard + idle);
      return;
    }
    // Inbound bytes on the newest pair count as a sign of life.
    let newest: Pair | undefined;
    for (const p of peer.pairs) {
      if (p.state === "mature" && (!newest || p.createdAt > newest.createdAt)) newest = p;
    }
    const s = newest?.inbound[0];
    if (!s) {
      this.#startStatus(peer, true);
      this.#timers.set(peer.idleSlot, now + idle);
      return;
    }
    this.#kernel(
      { kind: "getSa", id: { dst: peer.cfg.localAddress, spi: s.spi, proto: s.protocol } },
      (r) => {
        const bytes = r.ok && r.sa ? r.sa.current.bytes : undefined;
        if (bytes !== undefined && bytes !== peer.lastInBytes) {
          peer.lastInBytes = bytes;
          peer.lastHeard = this.#now;
        } else {
          this.#startStatus(peer, true);
        }
        this.#timers.set(peer.idleSlot, this.#now + idle);
      },
    );
  }

  #peerDead(peer: Peer): void {
    peer.state = "dead";
    this.#count("peer-dead");
    this.#event({ type: "peer-dead", peer: peer.name });
    for (const p of [...peer.pairs]) this.#removePair(p, "peer-dead", true);
  }

  /** Records the peer's epoch; a change invalidates every SA shared with it (A-15). */
  /**
   * The kernel selector of one direction of a pair negotiated for the peer's
   * selector `index` (none for host-to-host pairs): Linux then uses the SA
   * only for that traffic and raises a new ACQUIRE for the other selectors.
   */
  #saSelector(peer: Peer, index: number, outbound: boolean): Selector | undefined {
    const s = peer.cfg.selectors?.[index];
    if (!s) return undefined;
    const proto = s.proto ?? 0;
    return outbound
      ? selector(s.local, s.remote, { proto, sport: s.localPort ?? 0, dport: s.remotePort ?? 0 })
      : selector(s.remote, s.local, { proto, sport: s.remotePort ?? 0, dport: s.localPort ?? 0 });
  }

  /** Whether `epoch` precedes the peer's recorded one (32-bit serial order). */
  #olderEpoch(peer: Peer, epoch: number): boolean {
    return peer.epoch !== undefined && ((epoch - peer.epoch) | 0) < 0;
  }

  /** How far behind the peer's newest authenticator a CREATE may be (its retransmission span, twice). */
  #staleMs(peer: Peer): number {
    return 2 * this.#ackWindow(peer) + 1000;
  }

  #noteEpoch(peer: Peer, epoch: number, current: Tx | undefined): void {
    if (peer.epoch === undefined || peer.epoch === epoch) {
      peer.epoch = epoch;
      return;
    }
    const previous = peer.epoch;
    peer.epoch = epoch;
    this.#count("peer-restarts");
    this.#event({ type: "peer-epoch-changed", peer: peer.name, previous, current: epoch });
    const keep = current?.create?.pair;
    for (const p of [...peer.pairs]) if (p !== keep) this.#removePair(p, "peer-restarted", true);
    // Responder transactions of the old incarnation are void; so are its cached REPLYs.
    for (const tx of [...this.#txs.values()]) {
      if (tx.peer === peer && tx.role === "responder" && tx !== current) {
        const pair = tx.create?.pair;
        this.#finish(tx);
        if (pair) this.#removePair(pair, "peer-restarted", true);
      }
    }
    for (const [k, e] of this.#replyCache) {
      if (k.startsWith(`${peer.name}\u0000`) && e.epoch !== epoch) this.#replyCache.delete(k);
    }
  }

  // -------------------------------------------------------------------------
  // Commands received (responder side)

  #onGetTgt(peer: Peer, dg: Datagram, xid: number): void {
    let rec: ReceivedKinkMessage;
    try {
      rec = receiveKinkMessage(dg.data, {});
    } catch (e) {
      this.#drop(dg.remote, peer, "malformed", errText(e));
      return;
    }
    const req = rec.message.payloads.find((p) => p.kind === "tgt-req");
    const tgt = this.#tgt;
    let wanted: Principal | undefined;
    try {
      if (req && req.kind === "tgt-req") wanted = parsePrincipal(req.princName);
    } catch {
      wanted = undefined;
    }
    if (!tgt || !wanted || !principalEquals(wanted, this.#me)) {
      const bytes = buildErrorReply({ xid, errorCode: KinkErrorCode.U2UDENIED });
      if (this.#mayAnswer(dg, bytes.length)) this.#send(dg.remote, peer.local, bytes);
      return;
    }
    // §6.6 answers GETTGT (unauthenticated by design) with our TGT, which is larger than
    // the request: the one answer that amplifies, so it is only rate-limited per source.
    const bytes = buildTgtReply({ xid, tgt: tgt.ticket.raw ?? encodeTicket(tgt.ticket) });
    if (!this.#mayAnswer(dg, bytes.length, true)) return;
    this.#count("gettgt-answered");
    this.#send(dg.remote, peer.local, bytes);
  }

  /**
   * A command from a peer's address: the front door (admission.ts) first, then
   * the AP-REQ, Cksum, replay and freshness checks. Any costly verification
   * that does not end in an accepted message costs the source a token.
   */
  #onCommand(peer: Peer, dg: Datagram, type: number, xid: number): void {
    const door: Gate = { digest: undefined, known: undefined, accepted: false };
    try {
      this.#onCommandChecked(peer, dg, type, xid, door);
    } finally {
      if (door.verified && door.known !== undefined && !door.accepted) {
        this.#door.failed(dg.remote.address, door.known, this.#now);
      }
    }
  }

  /**
   * The front door: decides from the AP-REQ alone whether it may be
   * verified. Returns the decoded AP-REQ when it may, a
   * {@link FrontDoorRefusal} when not.
   */
  #admit(peer: Peer, dg: Datagram, apBytes: Uint8Array, door: Gate): ApReq | FrontDoorRefusal {
    const apReq = decodeApReq(apBytes);
    const digest = ticketKey(apReq.ticket.encPart.cipher);
    const authDigest = ticketKey(apReq.authenticator.cipher);
    door.digest = digest;
    door.authDigest = authDigest;
    const gate = this.#door.admit(dg.remote.address, digest, authDigest, this.#now);
    if (gate.kind === "replay") return new FrontDoorRefusal("replay");
    if (gate.kind === "cached") {
      const verdict = gate.verdict;
      // A ticket naming this peer as its client is not refused by a verdict
      // recorded for another address: it is verified as any other.
      if (verdict.kind === "refused" || verdict.client !== formatPrincipal(peer.principal)) {
        return new FrontDoorRefusal(verdict);
      }
      door.known = false;
    } else if (gate.kind === "over-budget") {
      return new FrontDoorRefusal(undefined);
    } else {
      door.known = gate.known;
    }
    return apReq;
  }

  #onCommandChecked(peer: Peer, dg: Datagram, type: number, xid: number, door: Gate): void {
    let v: VerifiedApReq | undefined;
    let epoch = 0;
    let rec: ReceivedKinkMessage;
    try {
      // The AP-REQ comes first in every command: judge it before the rest is decoded.
      const first = receiveApReq(dg.data);
      let admitted: ApReq | undefined;
      if (first) {
        let r: ApReq | FrontDoorRefusal | undefined;
        try {
          r = this.#admit(peer, dg, first, door);
        } catch {
          r = undefined; // undecodable here: the full decoder reports it
        }
        if (r instanceof FrontDoorRefusal) {
          this.#frontDoorRefusal(peer, dg, type, xid, r.verdict, false);
          return;
        }
        admitted = r;
      }
      rec = receiveKinkMessage(dg.data, {
        authenticate: (d) => {
          const ap = d.message.payloads.find((p) => p.kind === "ap-req");
          if (!ap || ap.kind !== "ap-req") return undefined;
          const apReq = admitted !== undefined && sameBytes(ap.apReq, first)
            ? admitted
            : this.#admit(peer, dg, ap.apReq, door);
          if (apReq instanceof FrontDoorRefusal) throw apReq;
          const digest = door.digest!;
          this.#count("ap-verifications");
          door.verified = true;
          const u2u = hasFlag(apReq.apOptions, ApOption.USE_SESSION_KEY);
          try {
            v = this.#service.checkApReq(apReq);
          } catch (e) {
            if (
              e instanceof ApError && !u2u &&
              (e.ticketRefused || e.errorCode === ErrorCode.KRB_AP_ERR_TKT_EXPIRED)
            ) {
              this.#door.verdicts.set(
                digest,
                { kind: "refused", code: e.errorCode, detail: e.detail },
                this.#now,
              );
            }
            throw e;
          }
          epoch = ap.epoch;
          // The client check before the Cksum and KINK_ENCRYPT work.
          if (!principalEquals(v.client, peer.principal)) {
            const client = formatPrincipal(v.client);
            v.sessionKey.dispose();
            v = undefined;
            const verdict: TicketVerdict = { kind: "client", client };
            if (!u2u) this.#door.verdicts.set(digest, verdict, this.#now);
            throw new FrontDoorRefusal(verdict);
          }
          return keyOps(v.sessionKey, this.#random);
        },
      });
    } catch (e) {
      const key = v as VerifiedApReq | undefined;
      key?.sessionKey.dispose();
      if (e instanceof FrontDoorRefusal) {
        this.#frontDoorRefusal(peer, dg, type, xid, e.verdict, door.known !== undefined);
        return;
      }
      if (e instanceof ApError) {
        this.#apError(peer, dg, type, xid, e);
        return;
      }
      if (e instanceof WireError && key && e.reaction.action !== "drop" && type !== M.ACK) {
        // Authenticated but malformed: answer KINK_PROTOERR etc. without AP-REP is all we can do now.
        this.#drop(dg.remote, peer, "malformed", e.message);
        return;
      }
      this.#drop(dg.remote, peer, e instanceof WireError ? e.category : "rejected", errText(e));
      return;
    }
    const verified = v as VerifiedApReq | undefined;
    if (!verified || !rec.authenticated) {
      this.#drop(dg.remote, peer, "unauthenticated", `${messageTypeName(type)} without AP-REQ`);
      return;
    }
    if (!principalEquals(verified.client, peer.principal)) {
      verified.sessionKey.dispose();
      this.#drop(
        dg.remote,
        peer,
        "principal",
        `client ${formatPrincipal(verified.client)} is not ${formatPrincipal(peer.principal)}`,
      );
      return;
    }
    if (this.#now < this.#recoverUntil) {
      verified.sessionKey.dispose();
      this.#drop(
        dg.remote,
        peer,
        "replay",
        "replay cache recovering after a start (RFC 4120 §3.2.3)",
      );
      return;
    }
    const verdict = this.#replay.check({
      client: verified.clientName,
      server: verified.serverName,
      ctimeMs: verified.authenticator.ctime.getTime(),
      cusec: verified.authenticator.cusec,
    });
    if (!verdict.ok) {
      // kinkd answers a replayed AP-REQ with silence; so do we (no amplification).
      verified.sessionKey.dispose();
      this.#drop(dg.remote, peer, "replay", `authenticator ${verdict.reason}`);
      return;
    }
    if (this.#olderEpoch(peer, epoch)) {
      // A message of the peer's previous incarnation (delayed or replayed).
      verified.sessionKey.dispose();
      this.#drop(dg.remote, peer, "old-epoch", `epoch ${epoch} before ${peer.epoch}`);
      return;
    }
    // A CREATE whose authenticator is older than the peer's newest by more than
    // any live transaction can span belongs to a transaction its initiator has
    // given up: a delayed or replayed copy must not create SAs nobody uses.
    // (A peer whose clock steps back by more than that is refused CREATEs until
    // the newest time recorded is 10 spans old.)
    const ctimeMs = verified.authenticator.ctime.getTime() + verified.authenticator.cusec / 1000;
    const stale = this.#staleMs(peer);
    if (
      type === M.CREATE && ctimeMs < peer.newestAuthMs - stale &&
      this.#now - peer.newestAuthAt < 10 * stale
    ) {
      verified.sessionKey.dispose();
      this.#drop(dg.remote, peer, "stale", "CREATE older than the peer's abandoned transactions");
      return;
    }
    if (ctimeMs > peer.newestAuthMs || this.#now - peer.newestAuthAt >= 10 * stale) {
      peer.newestAuthMs = ctimeMs;
      peer.newestAuthAt = this.#now;
    }
    // Accepted: the ticket is now known from this address (a blind spoofer cannot know it).
    door.accepted = true;
    if (door.digest !== undefined && door.authDigest !== undefined) {
      this.#door.succeeded(
        dg.remote.address,
        door.digest,
        door.authDigest,
        this.#now,
        this.#now + 2 * this.#skewMs,
      );
    }
    this.#heard(peer);
    this.#noteEpoch(peer, epoch, undefined);
    const ticketTag = tagOf(verified.ticket.encPart.cipher);
    switch (type) {
      case M.ACK:
        this.#onAck(peer, xid, verified);
        return;
      default: {
        const ck = `${peer.name}\u0000${xid >>> 0}`;
        const cached = this.#replyCache.get(ck);
        if (
          cached && cached.epoch === epoch && cached.ticketTag === ticketTag &&
          cached.expires > this.#now
        ) {
          // A retransmission: the same answer, never a second SA (A-7).
          verified.sessionKey.dispose();
          this.#count("reply-cache-hits");
          this.#send(dg.remote, peer.local, cached.bytes);
          return;
        }
        const active = this.#txs.get(txKey(peer, "responder", xid));
        if (active) {
          verified.sessionKey.dispose();
          if (active.bytes && active.state === "wait-ack") {
            this.#send(dg.remote, peer.local, active.bytes);
          }
          return;
        }
        const ctx = { peer, dg, xid, v: verified, epoch, ticketTag, type };
        if (type === M.CREATE) this.#respondCreate(ctx, rec);
        else if (type === M.DELETE) this.#respondDelete(ctx, rec);
        else this.#respondStatus(ctx);
      }
    }
  }

  /** A command refused at the front door (cached verdict, over budget, other client). */
  #frontDoorRefusal(
    peer: Peer,
    dg: Datagram,
    type: number,
    xid: number,
    verdict: TicketVerdict | "replay" | undefined,
    verified: boolean,
  ): void {
    if (!verdict) {
      this.#drop(dg.remote, peer, "rate", "verification budget of this source spent");
      return;
    }
    if (verdict === "replay") {
      // As the replay cache's refusal: silence (no amplification).
      this.#drop(dg.remote, peer, "replay", "authenticator of an accepted message, again");
      return;
    }
    if (!verified) this.#count("ticket-verdict-hits");
    if (verdict.kind === "client") {
      this.#drop(
        dg.remote,
        peer,
        "principal",
        `client ${verdict.client} is not ${formatPrincipal(peer.principal)}`,
      );
      return;
    }
    if (!this.#door.mayAnswer(dg.remote.address, this.#now)) {
      // Nothing will be sent: skip building the KRB-ERROR.
      this.#count("answers-withheld");
      this.#count(`ap-error-${verdict.code}`);
      this.#drop(
        dg.remote,
        peer,
        "ap-req",
        `verify AP-REQ (${errorCodeName(verdict.code)}): ${verdict.detail}`,
      );
      return;
    }
    this.#apError(peer, dg, type, xid, new ApError(verdict.code, verdict.detail), true);
  }

  /**
   * Whether an unauthenticated answer of `octets` to `dg` may go out (the
   * source's answer budget; no larger than `dg` unless `mayAmplify`).
   */
  #mayAnswer(dg: Datagram, octets: number, mayAmplify = false): boolean {
    if (this.#door.answer(dg.remote.address, this.#now, octets, dg.data.length, mayAmplify)) {
      return true;
    }
    this.#count("answers-withheld");
    return false;
  }

  /** An AP-REQ was refused: answer as RFC 4430 §3.5 / §6 say. */
  #apError(
    peer: Peer,
    dg: Datagram,
    type: number,
    xid: number,
    e: ApError,
    cached = false,
  ): void {
    this.#count(`ap-error-${e.errorCode}`);
    if (type === M.ACK || e.errorCode === ErrorCode.KRB_AP_ERR_REPEAT) {
      this.#drop(dg.remote, peer, "ap-req", e.message);
      return;
    }
    // §3.7.1: a U2U ticket we cannot decrypt (our TGT changed): send our current TGT.
    // (Verdicts are never cached for U2U tickets.)
    let u2u = false;
    try {
      const ap = cached ? undefined : receiveApReq(dg.data);
      if (ap) u2u = hasFlag(decodeApReq(ap).apOptions, ApOption.USE_SESSION_KEY);
    } catch {
      u2u = false;
    }
    if (
      u2u && this.#tgt &&
      (e.errorCode === ErrorCode.KRB_AP_ERR_BAD_INTEGRITY ||
        e.errorCode === ErrorCode.KRB_AP_ERR_NO_TGT)
    ) {
      const tgt = this.#tgt;
      const bytes = buildTgtReply({ xid, tgt: tgt.ticket.raw ?? encodeTicket(tgt.ticket) });
      if (this.#mayAnswer(dg, bytes.length)) this.#send(dg.remote, peer.local, bytes);
      this.#drop(dg.remote, peer, "ap-req", e.message);
      return;
    }
    let krbError: Uint8Array;
    let paid = false;
    try {
      krbError = this.#service.makeKrbError(e);
    } catch (err) {
      this.#drop(dg.remote, peer, "internal", errText(err));
      return;
    }
    if (
      !cached &&
      (e.errorCode === ErrorCode.KRB_AP_ERR_SKEW || e.errorCode === ErrorCode.KRB_AP_ERR_TKT_NYV ||
        e.errorCode === ErrorCode.KRB_AP_ERR_TKT_EXPIRED)
    ) {
      // Time-dependent refusals: protected with the ticket's key so the peer may correct
      // its clock (§3.5) or act on the expiry at once (an unauthenticated TKT_EXPIRED is
      // only a hint to it), and cached (below) because the same command could pass later.
      // The lenient check costs a second verification: only within the answer budget.
      if (!this.#mayAnswer(dg, 0)) {
        this.#drop(dg.remote, peer, "ap-req", e.message);
        return;
      }
      paid = true;
      const ap = receiveApReq(dg.data);
      if (ap) {
        try {
          const lv = this.#lenient.checkApReq(ap.slice());
          try {
            const apRep = makeApRep(
              lv.sessionKey,
              lv.authenticator.ctime,
              lv.authenticator.cusec,
              this.#random,
            );
            const bytes = buildReply({
              xid,
              command: type,
              epoch: this.#cfg.epoch,
              apRep,
              key: keyOps(lv.sessionKey, this.#random),
              krbError,
              encrypt: true,
            });
            this.#send(dg.remote, peer.local, bytes);
            // Cached like any REPLY: once time has shrunk the skew, a copy of this command
            // (its authenticator never entered the replay cache) gets this answer again
            // instead of creating state its initiator abandoned.
            if (dg.data.length >= 24) {
              const peerEpoch = new DataView(dg.data.buffer, dg.data.byteOffset + 20, 4).getUint32(
                0,
              );
              this.#cacheReply(
                peer,
                xid,
                peerEpoch,
                tagOf(lv.ticket.encPart.cipher),
                bytes,
                dg.remote,
              );
            }
            this.#drop(
              dg.remote,
              peer,
              e.errorCode === ErrorCode.KRB_AP_ERR_SKEW
                ? "skew"
                : e.errorCode === ErrorCode.KRB_AP_ERR_TKT_NYV
                ? "ticket-not-yet-valid"
                : "ap-req",
              e.message,
            );
            return;
          } finally {
            lv.sessionKey.dispose();
          }
        } catch {
          // fall through to the unauthenticated error
        }
      }
    }
    const bytes = buildErrorReply({ xid, krbError });
    // Answered (RFC 4430 §3.5: lone KRB-ERROR) within the answer budget, and never
    // with more octets than the refused datagram had: no reflection amplifier.
    if (paid ? bytes.length <= dg.data.length : this.#mayAnswer(dg, bytes.length)) {
      this.#send(dg.remote, peer.local, bytes);
    }
    this.#drop(dg.remote, peer, "ap-req", e.message);
  }

  #tombstone(peer: Peer, key: number): void {
    const t = peer.tombstones;
    t.delete(key);
    while (t.size >= TOMBSTONES_PER_PEER) t.delete(t.keys().next().value as number);
    t.set(key, this.#now + 2 * this.#skewMs);
  }

  #cacheReply(
    peer: Peer,
    xid: number,
    epoch: number,
    ticketTag: string,
    bytes: Uint8Array,
    remote: Endpoint,
  ): void {
    const ck = `${peer.name}\u0000${xid >>> 0}`;
    this.#replyCache.delete(ck);
    while (this.#replyCache.size >= this.#limits.maxReplyCache) {
      const oldest = this.#replyCache.keys().next().value as string;
      this.#replyCache.delete(oldest);
      this.#count("reply-cache-evictions");
    }
    const ttl = Math.max(peer.timers.replyCacheMs, this.#skewMs + 2 * this.#ackWindow(peer));
    this.#replyCache.set(ck, { bytes, epoch, ticketTag, expires: this.#now + ttl, remote });
    if (!scheduled(this.#replySlot)) this.#timers.set(this.#replySlot, this.#now + ttl);
  }

  #sweepReplyCache(now: number): void {
    for (const [k, e] of this.#replyCache) {
      if (e.expires > now) {
        this.#timers.set(this.#replySlot, e.expires);
        return;
      }
      this.#replyCache.delete(k);
    }
  }

  #reply(
    c: RespondCtx,
    o: {
      transactions?: IsakmpPayload[][];
      ackReq?: boolean;
      errorCode?: number;
      cache?: boolean;
    },
  ): Uint8Array {
    const apRep = makeApRep(
      c.v.sessionKey,
      c.v.authenticator.ctime,
      c.v.authenticator.cusec,
      this.#random,
    );
    const r: Parameters<typeof buildReply>[0] = {
      xid: c.xid,
      command: c.type,
      epoch: this.#cfg.epoch,
      apRep,
      key: keyOps(c.v.sessionKey, this.#random),
      encrypt: c.peer.encrypt,
    };
    if (o.transactions) r.transactions = o.transactions;
    if (o.ackReq) r.ackReq = true;
    if (o.errorCode !== undefined) r.errorCode = o.errorCode;
    const bytes = buildReply(r);
    this.#send(c.dg.remote, c.peer.local, bytes);
    if (o.cache ?? true) this.#cacheReply(c.peer, c.xid, c.epoch, c.ticketTag, bytes, c.dg.remote);
    return bytes;
  }

  #notifyReply(
    c: RespondCtx,
    type: number,
    protocol: number,
    spi: Uint8Array,
    data: Uint8Array,
  ): void {
    this.#count(`notify-sent-${type}`);
    this.#reply(c, {
      transactions: [[{ kind: "notify", doi: 1, protocol, notifyType: type, spi, data }]],
    });
    c.v.sessionKey.dispose();
  }

  #respondStatus(c: RespondCtx): void {
    this.#reply(c, {});
    c.v.sessionKey.dispose();
  }

  #respondCreate(c: RespondCtx, rec: ReceivedKinkMessage): void {
    const peer = c.peer;
    const payloads = this.#effective(rec);
    const isakmp = payloads.find((p) => p.kind === "isakmp");
    const qm = isakmp && isakmp.kind === "isakmp" ? isakmp.payloads : [];
    const sa = qm.find((p) => p.kind === "sa");
    const ni = qm.find((p) => p.kind === "nonce");
    if (!sa || sa.kind !== "sa" || !ni || ni.kind !== "nonce") {
      this.#notifyReply(c, NotifyType.PAYLOAD_MALFORMED, 0, new Uint8Array(0), new Uint8Array(0));
      return;
    }
    const ke = qm.find((p) => p.kind === "ke");
    const group = peer.cfg.pfsGroup;
    if (ke && group === undefined) {
      // No PFS with this peer: INVALID-PAYLOAD-TYPE with data 4 (KE) (§3.2, §5.5).
      this.#notifyReply(c, NotifyType.INVALID_PAYLOAD_TYPE, 0, new Uint8Array(0), Uint8Array.of(4));
      return;
    }
    if (!ke && peer.cfg.pfsRequired) {
      this.#notifyReply(c, NotifyType.NO_PROPOSAL_CHOSEN, 0, new Uint8Array(0), new Uint8Array(0));
      return;
    }
    if (this.#pairLimit(peer)) {
      this.#notifyReply(c, NotifyType.NO_PROPOSAL_CHOSEN, 0, new Uint8Array(0), new Uint8Array(0));
      return;
    }
    const choice = chooseProposal(
      sa,
      peer.cfg.proposals,
      peer.cfg.mode,
      peer.life,
      ke ? group : undefined,
    );
    if (!choice) {
      this.#notifyReply(c, NotifyType.NO_PROPOSAL_CHOSEN, 0, new Uint8Array(0), new Uint8Array(0));
      return;
    }
    const ids = qm.filter((p): p is IdPayload => p.kind === "id");
    let selector = -1;
    if (ids.length !== 0) {
      const m = ids.length === 2
        ? matchIds(ids[0]!, ids[1]!, peer.cfg.selectors, peer.cfg.address, peer.cfg.localAddress)
        : undefined;
      if (m === undefined) {
        this.#notifyReply(
          c,
          NotifyType.INVALID_ID_INFORMATION,
          0,
          new Uint8Array(0),
          new Uint8Array(0),
        );
        return;
      }
      selector = m;
    }
    let dh: DhPrivate | undefined;
    let dhSecret: Uint8Array | undefined;
    if (ke && ke.kind === "ke" && group !== undefined) {
      dh = generateDh(group, this.#random);
      try {
        dhSecret = dh.computeSecret(ke.data);
      } catch {
        dh.dispose();
        this.#notifyReply(
          c,
          NotifyType.INVALID_KEY_INFORMATION,
          0,
          new Uint8Array(0),
          new Uint8Array(0),
        );
        return;
      }
      choice.optimistic = false; // KE makes the exchange 3-way (§7)
    }
    for (const x of choice.chosen) {
      const k = pk(x.protocol, x.initiatorSpi);
      const dead = peer.tombstones.get(k);
      if (peer.pairsByOut.has(k) || (dead !== undefined && dead > this.#now)) {
        this.#notifyReply(
          c,
          NotifyType.INVALID_SPI,
          x.protocol === "esp" ? 3 : 2,
          spiBytes(x.initiatorSpi),
          new Uint8Array(0),
        );
        return;
      }
    }
    const tx = this.#newTx(peer, "responder", M.CREATE, c.xid);
    if (!tx) {
      this.#notifyReply(c, NotifyType.NO_PROPOSAL_CHOSEN, 0, new Uint8Array(0), new Uint8Array(0));
      return;
    }
    tx.remote = c.dg.remote;
    tx.ownedKey = c.v;
    tx.state = "installing";
    const optimistic = choice.optimistic;
    const nr = optimistic ? undefined : this.#random.fill(new Uint8Array(NONCE_LEN));
    const pair = this.#newPair(peer, false, c.xid, selector, choice.life);
    pair.outbound = choice.chosen.map((x) => ({ protocol: x.protocol, spi: x.initiatorSpi }));
    tx.create = {
      trig: { selector: -1, restarts: 0, freshTicket: false, noKe: false },
      spis: new Map(),
      ni: ni.nonce,
      optimisticInstalled: false,
      dh,
      dhSecret,
      ids,
      pair,
      choice,
      nr,
      freshTried: false,
    };
    // Reserve the outbound SPIs at once so a concurrent CREATE naming them gets INVALID-SPI.
    for (const s of pair.outbound) peer.pairsByOut.set(pk(s.protocol, s.spi), pair);
    const protos = choice.chosen.map((x) => x.protocol);
    this.#kernelAll(
      protos.map((proto) => ({
        kind: "allocSpi",
        request: {
          src: peer.cfg.address,
          dst: peer.cfg.localAddress,
          proto,
          mode: peer.cfg.mode,
          reqid: peer.reqid,
        },
      })),
      (rs) => {
        rs.forEach((r, i) => {
          if (r.ok && r.spi !== undefined) tx.create!.spis.set(protos[i]!, r.spi);
        });
        if (tx.finished) {
          this.#releaseSpis(peer, tx.create!.spis);
          return;
        }
        const bad = rs.find((r) => !r.ok);
        if (bad && !bad.ok) {
          this.#respondFail(tx, c, `allocSpi: ${errText(bad.error)}`);
          return;
        }
        pair.inbound = protos.map((p) => ({ protocol: p, spi: tx.create!.spis.get(p)! }));
        this.#respondInstall(tx, c);
      },
    );
  }

  #respondFail(tx: Tx, c: RespondCtx, detail: string): void {
    const pair = tx.create?.pair;
    this.#fail(tx.peer, tx.xid, M.CREATE, "kernel", detail);
    if (!tx.finished) {
      this.#reply(c, {
        transactions: [[{
          kind: "notify",
          doi: 1,
          protocol: 0,
          notifyType: NotifyType.NO_PROPOSAL_CHOSEN,
          spi: new Uint8Array(0),
          data: new Uint8Array(0),
        }]],
      });
    }
    if (pair) this.#removePair(pair, "kernel", true);
    this.#finish(tx);
  }

  #respondInstall(tx: Tx, c: RespondCtx): void {
    const peer = tx.peer;
    const cr = tx.create!;
    const choice = cr.choice!;
    const pair = cr.pair!;
    const lt = this.#lifetime(peer, choice.life, undefined);
    const mk = (x: Choice["chosen"][number], inbound: boolean): SaConfig =>
      deriveSa({
        sessionKey: c.v.sessionKey,
        prf: peer.prf,
        protocol: x.protocol,
        transform: x.transform,
        spi: inbound ? cr.spis.get(x.protocol)! : x.initiatorSpi,
        ni: cr.ni,
        nr: cr.nr,
        dhSecret: cr.dhSecret,
        src: inbound ? peer.cfg.address : peer.cfg.localAddress,
        dst: inbound ? peer.cfg.localAddress : peer.cfg.address,
        mode: peer.cfg.mode,
        reqid: peer.reqid,
        lifetime: lt,
        selector: this.#saSelector(peer, pair.selector, !inbound),
      });
    const inSas = choice.chosen.map((x) => mk(x, true));
    const outSas = choice.optimistic ? choice.chosen.map((x) => mk(x, false)) : [];
    const ops: KernelOp[] = [
      ...inSas.map((sa): KernelOp => ({ kind: "updateSa", sa })),
      ...outSas.map((sa): KernelOp => ({ kind: "addSa", sa })),
    ];
    this.#kernelAll(ops, (rs) => {
      for (const s of [...inSas, ...outSas]) wipeSaConfig(s);
      if (tx.finished) return;
      const bad = rs.find((r) => !r.ok);
      pair.outboundInstalled = outSas.length > 0 && rs.slice(inSas.length).every((r) => r.ok);
      if (bad && !bad.ok) {
        this.#respondFail(tx, c, `install SA: ${errText(bad.error)}`);
        return;
      }
      const qm: IsakmpPayload[] = [
        replySaPayload(
          choice,
          cr.spis,
          peer.cfg.mode,
          cr.dhSecret ? peer.cfg.pfsGroup : undefined,
          spiBytes,
        ),
      ];
      if (cr.nr) qm.push({ kind: "nonce", nonce: cr.nr });
      if (cr.dh) {
        qm.push({ kind: "ke", data: cr.dh.publicValue });
        cr.dh.dispose();
        cr.dh = undefined;
      }
      if (cr.ids?.length) qm.push(...cr.ids);
      if (choice.optimistic) {
        this.#reply(c, { transactions: [qm] });
        this.#pairUp(pair, true, undefined);
        cr.pair = undefined;
        this.#finish(tx);
        return;
      }
      // 3-way: REPLY with ACKREQ and Nr, retransmitted until the ACK (§9).
      this.#indexPair(pair);
      pair.ackTx = tx;
      tx.bytes = this.#reply(c, { transactions: [qm], ackReq: true });
      tx.state = "wait-ack";
      tx.firstSentAt = this.#now;
      tx.transmissions = 1;
      tx.rto = this.#rto(peer);
      this.#timers.set(tx.slot, this.#now + tx.rto);
      tx.onTimeout = () => {
        // No ACK: drop our half and tell the initiator, whichever state it is in.
        this.#fail(peer, tx.xid, M.CREATE, "timeout", "no ACK");
        const inbound = pair.inbound.map((s) => ({ ...s }));
        pair.ackTx = undefined;
        this.#removePair(pair, "timeout", true);
        this.#finish(tx);
        this.#startDeleteSpis(peer, inbound);
      };
    });
  }

  #onAck(peer: Peer, xid: number, v: VerifiedApReq): void {
    const tx = this.#txs.get(txKey(peer, "responder", xid));
    if (!tx || tx.state !== "wait-ack" || !tx.create?.pair) {
      v.sessionKey.dispose();
      this.#count("ack-unmatched");
      return;
    }
    const cr = tx.create;
    const pair = cr.pair!;
    const choice = cr.choice!;
    tx.state = "installing";
    this.#timers.cancel(tx.slot);
    const lt = this.#lifetime(peer, choice.life, undefined);
    const outSas = choice.chosen.map((x) =>
      deriveSa({
        sessionKey: v.sessionKey,
        prf: peer.prf,
        protocol: x.protocol,
        transform: x.transform,
        spi: x.initiatorSpi,
        ni: cr.ni,
        nr: cr.nr,
        dhSecret: cr.dhSecret,
        src: peer.cfg.localAddress,
        dst: peer.cfg.address,
        mode: peer.cfg.mode,
        reqid: peer.reqid,
        lifetime: lt,
        selector: this.#saSelector(peer, pair.selector, true),
      })
    );
    v.sessionKey.dispose();
    this.#kernelAll(outSas.map((sa) => ({ kind: "addSa", sa })), (rs) => {
      for (const s of outSas) wipeSaConfig(s);
      if (tx.finished) return;
      const bad = rs.find((r) => !r.ok);
      pair.ackTx = undefined;
      if (bad && !bad.ok) {
        this.#fail(peer, xid, M.CREATE, "kernel", `install outbound SA: ${errText(bad.error)}`);
        const inbound = pair.inbound.map((s) => ({ ...s }));
        this.#removePair(pair, "kernel", true);
        this.#finish(tx);
        this.#startDeleteSpis(peer, inbound);
        return;
      }
      pair.outboundInstalled = true;
      this.#pairUp(pair, false, undefined);
      cr.pair = undefined;
      this.#finish(tx);
    });
  }

  #respondDelete(c: RespondCtx, rec: ReceivedKinkMessage): void {
    const peer = c.peer;
    const payloads = this.#effective(rec);
    const qm = payloads.flatMap((p) => p.kind === "isakmp" ? p.payloads : []);
    const found = new Set<Pair>();
    const notifies: IsakmpPayload[] = [];
    for (const d of qm) {
      if (d.kind !== "delete") continue;
      const proto = xfrmProto(d.protocol);
      for (const s of d.spis) {
        const n = spiNumber(s);
        const pair = proto && n !== undefined ? peer.pairsByOut.get(pk(proto, n)) : undefined;
        // Deleted SPIs, known or not, may not be CREATEd again by a late copy.
        if (proto && n !== undefined) this.#tombstone(peer, pk(proto, n));
        if (pair) found.add(pair);
        else {
          notifies.push({
            kind: "notify",
            doi: 1,
            protocol: d.protocol,
            notifyType: NotifyType.INVALID_SPI,
            spi: s,
            data: new Uint8Array(0),
          });
        }
      }
    }
    const byProto = new Map<XfrmProto, number[]>();
    for (const pair of found) {
      for (const s of pair.inbound) {
        const l = byProto.get(s.protocol) ?? [];
        l.push(s.spi);
        byProto.set(s.protocol, l);
      }
      // Both directions go (no half-open SAs): outbound now, inbound after the grace period.
      if (pair.outboundInstalled) {
        for (const s of pair.outbound) {
          this.#kernel({
            kind: "deleteSa",
            id: { dst: peer.cfg.address, spi: s.spi, proto: s.protocol },
          });
        }
        pair.outboundInstalled = false;
      }
      if (pair.ackTx) {
        const t = pair.ackTx;
        pair.ackTx = undefined;
        this.#finish(t);
      }
      this.#timers.cancel(pair.rekeySlot);
      if (pair.rekeyTx) {
        const t = pair.rekeyTx;
        pair.rekeyTx = undefined;
        if (t.create) delete t.create.trig.rekeyOf;
      }
      if (pair.state === "larval") pair.downReported = true;
      else if (pair.state !== "dying" && !pair.downReported) {
        this.#reportDown(pair, "deleted-by-peer");
      }
      pair.state = "dying";
      // As in #startDelete: the end-of-life timer goes before the grace one is set, or it
      // would remove the pair again at its hard lifetime and delete the SAs then holding
      // its inbound SPIs.
      this.#timers.cancel(pair.endSlot);
      pair.endSlot = slot(() => this.#removePair(pair, "deleted-by-peer", true));
      this.#timers.set(pair.endSlot, this.#now + peer.timers.deleteGraceMs);
    }
    if (notifies.length) this.#count(`notify-sent-${NotifyType.INVALID_SPI}`);
    const dels: IsakmpPayload[] = [...byProto].map(([proto, spis]) => ({
      kind: "delete",
      doi: 1,
      protocol: proto === "esp" ? 3 : 2,
      spiSize: 4,
      spis: spis.map(spiBytes),
    }));
    const t = [...dels, ...notifies];
    this.#reply(c, t.length ? { transactions: [t] } : {});
    c.v.sessionKey.dispose();
  }

  // -------------------------------------------------------------------------
  // Status

  /** The DELETE exchanges we initiated that are still in flight. */
  deletesInFlight(): { peer: string; xid: number }[] {
    return [...this.#deleting].map((t) => ({ peer: t.peer.name, xid: t.xid }));
  }

  /** A snapshot of peers, SA pairs and transactions (no keys). */
  status(): EngineStatus {
    const peers = [...this.#peers.values()].map((p) => {
      const s: EngineStatus["peers"][number] = {
        name: p.name,
        address: p.cfg.address,
        principal: formatPrincipal(p.principal),
        state: p.state,
        saPairs: p.pairs.size,
        transactions: p.txCount,
        clockOffsetMs: p.clockOffsetMs,
      };
      if (p.epoch !== undefined) s.peerEpoch = p.epoch;
      if (p.srtt !== undefined) s.srttMs = p.srtt;
      if (p.lastFailure) s.lastFailure = { ...p.lastFailure };
      return s;
    });
    const saPairs: EngineStatus["saPairs"] = [];
    const retired = [...this.#retiredByAddr.values()].flatMap((x) => [...x]);
    for (const p of [...this.#peers.values(), ...retired]) {
      for (const x of p.pairs) {
        const s: EngineStatus["saPairs"][number] = {
          peer: p.name,
          inbound: x.inbound.map((y) => ({ ...y })),
          outbound: x.outbound.map((y) => ({ ...y })),
          state: x.state,
          initiator: x.initiator,
          createdAt: x.createdAt,
          expiresAt: x.expiresAt,
        };
        if (x.rekeyAt !== undefined) s.rekeyAt = x.rekeyAt;
        saPairs.push(s);
      }
    }
    const transactions: EngineStatus["transactions"] = [...this.#txs.values()].map((t) => ({
      peer: t.peer.name,
      xid: t.xid,
      command: messageTypeName(t.command),
      role: t.role,
      state: t.state,
      transmissions: t.transmissions,
    }));
    for (const p of this.#peers.values()) {
      for (let i = 0; i < p.deleteRetries.size; i++) {
        transactions.push({
          peer: p.name,
          xid: 0,
          command: "DELETE",
          role: "initiator",
          state: "retry-wait",
          transmissions: 0,
        });
      }
    }
    return {
      epoch: this.#cfg.epoch,
      now: this.#now,
      peers,
      saPairs,
      transactions,
      replyCache: this.#replyCache.size,
      counters: { ...this.#counters },
    };
  }
}

interface RespondCtx {
  peer: Peer;
  dg: Datagram;
  xid: number;
  v: VerifiedApReq;
  epoch: number;
  ticketTag: string;
  type: number;
}

/** Whether `a` and `b` are the same view (same buffer, offset and length). */
/**
 * Whether `a` and `b` hold the same octets. The full decoder hands back its
 * own copy of the AP-REQ, never a view of the datagram, so a test of identity
 * (as this was) never matched and every command's AP-REQ was decoded and
 * admitted a second time; equal octets decode to the same AP-REQ.
 */
function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  if (a.buffer === b.buffer && a.byteOffset === b.byteOffset) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The DER AP-REQ of a KINK message, if its header and chain decode. */
function receiveApReq(data: Uint8Array): Uint8Array | undefined {
  try {
    const m = receiveKinkMessageHeaderOnly(data);
    return m;
  } catch {
    return undefined;
  }
}

function receiveKinkMessageHeaderOnly(data: Uint8Array): Uint8Array | undefined {
  const h = decodeKinkHeader(data);
  void h;
  // Walk the outer chain without crypto: the AP-REQ payload is always first.
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[12] !== 1 || data.length < 24) return undefined;
  const len = dv.getUint16(18);
  if (16 + len > data.length || len < 8) return undefined;
  return data.subarray(24, 16 + len);
}

/**
 * Whether `t` is `realm`'s own TGT, krbtgt/REALM@REALM: what a KINK_TGT_REP
 * must carry (RFC 4430 §4.2.4: the returned TGT MUST NOT be cross-realm).
 */
function isRealmTgt(t: { realm: string; sname: { components: string[] } }, realm: string): boolean {
  const c = t.sname.components;
  return t.realm === realm && c.length === 2 && c[0] === "krbtgt" && c[1] === realm;
}

/** JSON with sorted object keys (configuration comparison). */
function stableJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : x,
  );
}

/**
 * How a peer's configuration changed: `identity` (address, port, our
 * address, principal: another peer as far as SAs go), `sa` (anything the SAs
 * are made from), `timers` (only timers or the passive flag: nothing
 * negotiated changes) or `none`.
 */
function peerChange(a: PeerConfig, b: PeerConfig): "identity" | "sa" | "timers" | "none" {
  if (
    a.address !== b.address || (a.port ?? KINK_PORT) !== (b.port ?? KINK_PORT) ||
    a.localAddress !== b.localAddress || a.principal !== b.principal
  ) return "identity";
  const { timers: ta, passive: pa, ...ra } = a;
  const { timers: tb, passive: pb, ...rb } = b;
  if (stableJson(ra) !== stableJson(rb)) return "sa";
  if (stableJson(ta ?? {}) !== stableJson(tb ?? {}) || (pa ?? false) !== (pb ?? false)) {
    return "timers";
  }
  return "none";
}
