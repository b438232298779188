/**
 * The contract of kink's KINK protocol engine (RFC 4430): a deterministic,
 * sans-I/O state machine in the style of quinn-proto, rustls and h11.
 *
 * The engine never reads a clock, draws randomness other than from the
 * injected {@link EngineSeams.random}, sets timers, opens sockets or calls
 * the kernel. A driver (the daemon, the simulator, a test) owns all I/O:
 *
 * 1. it feeds inputs, each stamped with the current time `now` (ms since the
 *    Unix epoch): {@link EngineApi.handleDatagram},
 *    {@link EngineApi.handleKernelEvent}, {@link EngineApi.handleKernelResult},
 *    {@link EngineApi.handleTicket}, {@link EngineApi.handleTimeout},
 *    {@link EngineApi.command};
 * 2. after each input it drains {@link EngineApi.poll} until `undefined`,
 *    performing every {@link EngineOutput} in order: datagrams to send,
 *    kernel operations to run on a `KernelIpsec` (their outcome is fed back
 *    with `handleKernelResult(now, id, result)`), service tickets to get from
 *    the KDC (fed back with `handleTicket`), and events to log;
 * 3. it calls `handleTimeout(now)` once the time reaches
 *    {@link EngineApi.nextTimeout}.
 *
 * Kernel operations may run concurrently: the engine never assumes an
 * operation happened before its result arrived (it waits for the result
 * wherever order matters, e.g. the optimistic inbound SA is installed before
 * the CREATE is sent). A driver may batch operations.
 *
 * Given the same configuration, seams and input sequence, the outputs are
 * identical bit for bit.
 *
 * Construction: `new Engine(config: EngineConfig, seams: EngineSeams)` from
 * `core/engine/mod.ts`; the class implements {@link EngineApi}.
 *
 * Secrets: key bytes never appear in events, errors or {@link EngineStatus};
 * they appear only inside `kernel` outputs (`SaConfig` keys, as the kernel
 * needs them) and `send` outputs (encrypted).
 *
 * @module
 */
import type { AdmissionLimits } from "./admission.ts";
import type { Credentials } from "../kerberos/mod.ts";
import type { ServiceKeyEntry } from "../kerberos/mod.ts";
import type { ReplayEntry, ReplayVerdict } from "../kerberos/mod.ts";
import type {
  AllocSpiRequest,
  KernelError,
  SaConfig,
  SaId,
  SaState,
  XfrmEvent,
  XfrmMode,
  XfrmProto,
} from "../kernel/mod.ts";
import type { RandomSource } from "../util/random.ts";

// ---------------------------------------------------------------------------
// Endpoints and datagrams (same structural shape as core/net)

/** A UDP endpoint. */
export interface Endpoint {
  /** IPv4 or IPv6 address literal. */
  address: string;
  /** UDP port. */
  port: number;
}

/** A received datagram. */
export interface Datagram {
  /** The octets. */
  data: Uint8Array;
  /** Where it was received (our address), when known. */
  local?: Endpoint;
  /** Who sent it. */
  remote: Endpoint;
}

// ---------------------------------------------------------------------------
// Configuration

/**
 * Which reading of the RFC 3961 PRF to use for KEYMAT with session keys of
 * enctypes 17/18 (the project digest's A-2): `"racoon2"` (20 octets, the
 * literal RFC text and what racoon2's kinkd computes) or `"mit"` (16 octets,
 * MIT/Heimdal `krb5_c_prf`). Enctypes 19/20 are the same in both. The
 * engine's default is `"racoon2"` ({@link DEFAULT_PEER_PRF}): it is the only
 * deployed KINK peer and the literal RFC reading.
 */
export type PrfReading = "racoon2" | "mit";

/** The default {@link PrfReading} of a peer. */
export const DEFAULT_PEER_PRF: PrfReading = "racoon2";

/** One transform of a proposal, in preference order. */
export interface TransformConfig {
  /**
   * IPsec DOI transform ID: ESP (3 3DES, 11 NULL, 12 AES-CBC, 18/19/20
   * AES-GCM-8/12/16) or AH (3 AH_SHA, 5/6/7 AH_SHA2_256/384/512).
   */
  id: number;
  /** Key Length attribute in bits (AES: 128, 192, 256). */
  keyBits?: number;
  /**
   * Authentication Algorithm attribute (ESP: 2 HMAC-SHA1, 5/6/7
   * HMAC-SHA2-256/384/512; none for AES-GCM). For AH it is implied by the
   * transform ID and sent too, as RFC 2407 requires.
   */
  authAlgorithm?: number;
}

/** One protocol of a proposal (several form an AH+ESP bundle). */
export interface ProtocolConfig {
  /** IPsec protocol. */
  protocol: XfrmProto;
  /** Transforms in preference order. */
  transforms: readonly TransformConfig[];
}

/** A proposal: one protocol, or an AH+ESP bundle (AH applied outermost). */
export interface ProposalConfig {
  /** The protocols of the proposal. */
  protocols: readonly ProtocolConfig[];
}

/**
 * A traffic selector as a pair of prefixes (`"10.1.0.0/16"`, a plain address
 * means /32 or /128), an IP protocol and ports (0 = any). Sent as IDci/IDcr
 * (IPV4/6_ADDR_SUBNET or _ADDR) and checked by the responder.
 */
export interface TrafficSelectorConfig {
  /** Our side. */
  local: string;
  /** The peer's side. */
  remote: string;
  /** IP protocol (0 = any). */
  proto?: number;
  /** Our port (0 = any). */
  localPort?: number;
  /** The peer's port (0 = any). */
  remotePort?: number;
}

/** Timers (milliseconds). Every field has a default ({@link DEFAULT_TIMERS}). */
export interface TimerConfig {
  /**
   * First retransmission interval before any RTT is measured, and the upper
   * bound of the RTT-derived one. kinkd: 1000.
   */
  retransmitInitialMs: number;
  /** Lower bound of the RTT-derived first interval. */
  retransmitMinMs: number;
  /** Cap of the doubled interval (truncated exponential back-off). */
  retransmitMaxMs: number;
  /**
   * Number of transmissions of a message before the transaction fails (the
   * last one is followed by one more interval). kinkd: 5 (0, 1, 3, 7, 15 s;
   * gives up at 31 s).
   */
  retransmitTries: number;
  /**
   * Dead-peer detection: after this long without authenticated KINK traffic
   * from a peer and without inbound bytes on its SAs, the peer is probed
   * with STATUS. 0 disables it.
   */
  deadPeerIdleMs: number;
  /**
   * Rekey margins (RFC 4430 §3.6): the initiator rekeys at
   * hard − random(rekeyMarginMinMs … rekeyMarginMaxMs). The minimum should
   * be at least one full retransmission cycle.
   */
  rekeyMarginMinMs: number;
  /** Upper bound of the rekey margin (T-rekey). */
  rekeyMarginMaxMs: number;
  /** How long an inbound SA stays after a DELETE (RFC 4430 §3.3 grace). */
  deleteGraceMs: number;
  /**
   * How long a responder keeps a REPLY to answer retransmitted commands
   * (kinkd: 60 s). A copy of a command with an authenticator the replay
   * cache has not seen stays acceptable to Kerberos for the whole clock-skew
   * window, so the engine keeps REPLYs at least skew + 2 retransmission
   * spans, whatever is set here: no copy can create a second SA.
   */
  replyCacheMs: number;
  /** Minimum time a service ticket must still be valid to be used for a new transaction. */
  ticketMarginMs: number;
}

/** Default timers: kinkd's retransmission schedule, 10 s DELETE grace, 60 s reply cache. */
export const DEFAULT_TIMERS: Readonly<TimerConfig> = Object.freeze({
  retransmitInitialMs: 1000,
  retransmitMinMs: 250,
  retransmitMaxMs: 16_000,
  retransmitTries: 5,
  deadPeerIdleMs: 0,
  rekeyMarginMinMs: 60_000,
  rekeyMarginMaxMs: 180_000,
  deleteGraceMs: 10_000,
  replyCacheMs: 60_000,
  ticketMarginMs: 60_000,
});

/** SA lifetimes offered (CREATE) or accepted at most (responder). */
export interface LifetimeConfig {
  /** Seconds (default 28800, RFC 2407). */
  seconds: number;
  /** Kilobytes (absent: none). */
  kilobytes?: number;
}

/** One peer gateway. */
export interface PeerConfig {
  /** Name for events and status (unique). */
  name: string;
  /** The peer's KINK endpoint (port default 910). */
  address: string;
  /** The peer's KINK port (default 910). */
  port?: number;
  /** Our address towards this peer (the SA endpoints). */
  localAddress: string;
  /** The peer's principal, e.g. `kink/b.example.com@EXAMPLE.COM`. */
  principal: string;
  /** PRF reading for KEYMAT with this peer (default {@link DEFAULT_PEER_PRF}). */
  prf?: PrfReading;
  /** Proposals in preference order (the first one's first transforms are the optimistic proposal). */
  proposals: readonly ProposalConfig[];
  /** SA mode. Tunnel mode uses the peer and local addresses as tunnel endpoints. */
  mode: XfrmMode;
  /**
   * Traffic selectors. An ACQUIRE creates the pair of the selector its
   * packet falls in (the first one otherwise). With {@link sendIds}, CREATE
   * carries that selector as IDci (our side) / IDcr (the peer's side). A
   * responder accepts received IDs when they lie within one of its
   * selectors seen from its side (IDci within its `remote`, IDcr within its
   * `local`; a 0 protocol or port is a wildcard) — so the two peers'
   * selectors must mirror each other — and otherwise answers
   * INVALID-ID-INFORMATION. Without selectors only the two gateway
   * addresses are accepted as IDs.
   */
  selectors?: readonly TrafficSelectorConfig[];
  /**
   * Send IDci/IDcr (RFC 4430 §5.3). Default: in tunnel mode only (kinkd
   * never sends them; in transport mode the SA is host-to-host).
   */
  sendIds?: boolean;
  /** PFS: the Diffie-Hellman group of the KE payload (14 MODP-2048, 19 ECP-256). */
  pfsGroup?: number;
  /** Refuse CREATEs without KE (default false: retry without KE when the peer cannot). */
  pfsRequired?: boolean;
  /** Lifetimes (default 28800 s). */
  lifetime?: LifetimeConfig;
  /** Only answer; never initiate towards this peer (ACQUIREs are reported and ignored). */
  passive?: boolean;
  /** Use a user-to-user ticket (GETTGT first) for this peer. */
  userToUser?: boolean;
  /** Wrap payloads in KINK_ENCRYPT (default true). */
  encrypt?: boolean;
  /** reqid of the SAs (ties them to policy templates; default 0). */
  reqid?: number;
  /** Per-peer timer overrides. */
  timers?: Partial<TimerConfig>;
}

/** Our identity. */
export interface IdentityConfig {
  /** Our principal, e.g. `kink/a.example.com@EXAMPLE.COM`. */
  principal: string;
  /** Service keys (keytab entries) to accept AP-REQs with. */
  serviceKeys?: readonly ServiceKeyEntry[];
  /**
   * Our TGT, for a gateway without a keytab: GETTGT is answered with it and
   * user-to-user AP-REQs are decrypted with its session key. Replace it with
   * the `set-tgt` command when it is renewed.
   */
  tgt?: Credentials;
}

/** Table limits. At a limit the engine refuses new work and says so in an event. */
export interface EngineLimits {
  /** Configured peers (the constructor refuses more). */
  maxPeers: number;
  /** Transactions in progress, all peers (initiator and responder). */
  maxTransactions: number;
  /** Transactions in progress per peer. */
  maxTransactionsPerPeer: number;
  /** SA pairs held, all peers (a new CREATE is refused with NO-PROPOSAL-CHOSEN / a failure event). */
  maxSaPairs: number;
  /** SA pairs held per peer. */
  maxSaPairsPerPeer: number;
  /** Cached REPLYs (the oldest is evicted first at the limit). */
  maxReplyCache: number;
  /** Largest datagram accepted. */
  maxDatagram: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: Readonly<EngineLimits> = Object.freeze({
  maxPeers: 100_000,
  maxTransactions: 65_536,
  maxTransactionsPerPeer: 64,
  maxSaPairs: 1_000_000,
  maxSaPairsPerPeer: 1024,
  maxReplyCache: 65_536,
  maxDatagram: 65_535,
});

/** The engine's configuration. */
export interface EngineConfig {
  /** Our identity. */
  identity: IdentityConfig;
  /** Our epoch (RFC 4430 §4.2.1): low 32 bits of POSIX seconds since which we hold SA state. */
  epoch: number;
  /** The peers. */
  peers: readonly PeerConfig[];
  /** Allowed Kerberos clock skew (default 300 000 ms). */
  skewMs?: number;
  /**
   * Only for the default in-memory replay cache (no {@link EngineSeams.replayCache}):
   * true when no AP-REQ was ever accepted under this identity before (a first
   * start). Default false: as RFC 4120 §3.2.3 requires of a service that lost
   * its replay cache, every AP-REQ is refused for one skew interval from the
   * first datagram — a restarted gateway must not accept a replay of a message
   * its previous incarnation accepted. A daemon passes a persisted cache instead.
   */
  firstStart?: boolean;
  /** Default timers (each peer may override). */
  timers?: Partial<TimerConfig>;
  /** Table limits. */
  limits?: Partial<EngineLimits>;
  /**
   * The responder's front door for unauthenticated input: per-source budgets
   * of failed verifications and of unauthenticated answers, and the cache of
   * refused tickets (defaults: `DEFAULT_ADMISSION`, core/engine/admission.ts).
   */
  admission?: Partial<AdmissionLimits>;
}

/** The replay cache the engine uses (core/kerberos `ReplayCache` fits). */
export interface ReplayChecker {
  /** Checks and records one authenticator. */
  check(e: ReplayEntry): ReplayVerdict;
}

/** The external systems the engine reads (everything else is an output). */
export interface EngineSeams {
  /** Every random octet (nonces, SPI ranges, XIDs, confounders, jitter). */
  random: RandomSource;
  /**
   * Authenticator replay cache (RFC 4120 §3.2.3), kept across restarts by
   * the driver (a daemon: the persisted `ReplayCache`; a simulator: the same
   * object handed to the restarted engine). Absent: an in-memory one whose
   * clock is the engine's `now`, refusing everything for one skew interval
   * unless {@link EngineConfig.firstStart}.
   */
  replayCache?: ReplayChecker;
}

// ---------------------------------------------------------------------------
// Inputs

/** An operator or policy command. */
export type EngineCommand =
  /**
   * Create an SA pair with the peer now (as an ACQUIRE would); nothing
   * happens when one exists or is being created, unless `force`.
   */
  | { kind: "up"; peer: string; force?: boolean }
  /** DELETE every SA pair with the peer. */
  | { kind: "down"; peer: string }
  /** Rekey every SA pair we initiated with the peer. */
  | { kind: "rekey"; peer: string }
  /** DELETE the pair whose inbound or outbound SPI is `spi`. */
  | { kind: "delete"; peer: string; spi: number }
  /** Probe the peer with STATUS. */
  | { kind: "status"; peer: string }
  /** Replace our TGT (user-to-user responder). The engine does not own it. */
  | { kind: "set-tgt"; tgt: Credentials };

/** Outcome of a kernel operation, fed back with {@link EngineApi.handleKernelResult}. */
export type KernelResult =
  | {
    ok: true;
    /** allocSpi: the SPI. */
    spi?: number;
    /** getSa: the SA (the engine reads only counters). */
    sa?: SaState;
  }
  | { ok: false; error: KernelError | Error };

/** Outcome of a ticket request, fed back with {@link EngineApi.handleTicket}. */
export type TicketResult =
  | {
    ok: true;
    /** The service ticket (its session key stays owned by the driver's cache). */
    credentials: Credentials;
  }
  | {
    ok: false;
    /** Kerberos error code from the KDC, when there was one (e.g. 27 MUST_USE_USER2USER). */
    errorCode?: number;
    /** What failed (no secrets). */
    message: string;
  };

// ---------------------------------------------------------------------------
// Outputs

/** A kernel operation for the driver to run on its `KernelIpsec`. */
export type KernelOp =
  | { kind: "allocSpi"; request: AllocSpiRequest }
  | { kind: "addSa"; sa: SaConfig }
  | { kind: "updateSa"; sa: SaConfig }
  | { kind: "deleteSa"; id: SaId }
  | { kind: "getSa"; id: SaId };

/** A service-ticket request for the driver's Kerberos client. */
export interface TicketRequest {
  /** The service principal (`kink/<fqdn>@REALM`). */
  server: string;
  /** A user-to-user ticket encrypted in this TGT's session key (DER Ticket from GETTGT). */
  peerTgt?: Uint8Array;
  /** Do not answer from a cache (after KRB_AP_ERR_TKT_EXPIRED / BADKEYVER / NOKEY). */
  fresh?: boolean;
}

/** Why an exchange or an SA ended. */
export type FailureReason =
  | "timeout"
  | "no-proposal-chosen"
  | "invalid-spi"
  | "invalid-payload-type"
  | "invalid-id"
  | "kink-error"
  | "krb-error"
  | "ticket"
  | "kernel"
  | "limit"
  | "protocol"
  | "peer-restarted"
  | "peer-dead"
  | "aborted";

/**
 * Operator and log events. Never contain key bytes; wire strings are
 * escaped. `sa-up` / `sa-down`: an SA pair installed / removed;
 * `exchange-failed`: a transaction ended without success (per-peer reason);
 * `peer-epoch-changed`: the peer restarted (its SAs were torn down);
 * `peer-alive` / `peer-dead`: dead-peer detection; `clock-offset`: a
 * protected KRB_AP_ERR_SKEW corrected our authenticator time; `dropped`: a
 * datagram refused (with why); `limit`: a table is full.
 */
export type EngineEvent =
  | {
    type: "sa-up";
    peer: string;
    xid: number;
    initiator: boolean;
    /** Our inbound SPIs, per protocol. */
    inbound: { protocol: XfrmProto; spi: number }[];
    /** Our outbound SPIs, per protocol. */
    outbound: { protocol: XfrmProto; spi: number }[];
    /** Whether the optimistic 2-way exchange sufficed. */
    optimistic: boolean;
    /** Whether this pair replaces an older one (rekey). */
    rekey: boolean;
    /** Negotiated lifetime, seconds. */
    lifetimeSeconds: number;
  }
  | {
    type: "sa-down";
    peer: string;
    inbound: { protocol: XfrmProto; spi: number }[];
    outbound: { protocol: XfrmProto; spi: number }[];
    reason: "deleted" | "deleted-by-peer" | "expired" | "rekeyed" | FailureReason;
  }
  | {
    type: "exchange-failed";
    peer: string;
    xid: number;
    command: string;
    reason: FailureReason;
    /** Human-readable detail (escaped, no secrets). */
    detail: string;
  }
  | { type: "peer-epoch-changed"; peer: string; previous: number; current: number }
  | { type: "peer-alive"; peer: string }
  | { type: "peer-dead"; peer: string }
  | { type: "clock-offset"; peer: string; offsetMs: number }
  | {
    type: "dropped";
    /** Remote endpoint, `addr:port`. */
    remote: string;
    /** Peer name when the sender is a configured peer. */
    peer?: string;
    reason: string;
    detail: string;
  }
  | { type: "limit"; table: string; detail: string }
  | {
    /** A DELETE exchange we initiated ended: answered (`ok`) or given up. */
    type: "delete-done";
    peer: string;
    xid: number;
    ok: boolean;
  };

/** Everything the engine asks the driver to do. */
export type EngineOutput =
  | {
    kind: "send";
    /** Our endpoint to send from (absent: any). */
    local?: Endpoint;
    /** Destination. */
    remote: Endpoint;
    /** The datagram. */
    data: Uint8Array;
  }
  | { kind: "kernel"; id: number; op: KernelOp }
  | { kind: "ticket"; id: number; request: TicketRequest }
  | { kind: "event"; event: EngineEvent };

// ---------------------------------------------------------------------------
// Status snapshot

/** One protocol's SPI of an SA pair direction. */
export interface SpiOf {
  /** IPsec protocol. */
  protocol: XfrmProto;
  /** SPI. */
  spi: number;
}

/** One peer in {@link EngineStatus}. */
export interface PeerStatus {
  /** Configured name. */
  name: string;
  /** KINK address. */
  address: string;
  /** Principal. */
  principal: string;
  /** `unknown` before any exchange; `suspect` while a dead-peer STATUS is outstanding. */
  state: "unknown" | "alive" | "suspect" | "dead";
  /** The peer's epoch as last seen. */
  peerEpoch?: number;
  /** Smoothed RTT, ms. */
  srttMs?: number;
  /** SA pairs held with the peer. */
  saPairs: number;
  /** Transactions in progress with the peer. */
  transactions: number;
  /** Clock offset applied to our authenticators for this peer (from a protected SKEW). */
  clockOffsetMs: number;
  /** The last failure, for `kink status`. */
  lastFailure?: { reason: FailureReason; detail: string; at: number };
}

/** One SA pair in {@link EngineStatus}. */
export interface SaPairStatus {
  /** Peer name. */
  peer: string;
  /** Our inbound SPIs. */
  inbound: SpiOf[];
  /** Our outbound SPIs. */
  outbound: SpiOf[];
  /** `larval`: inbound only (3-way, waiting for the ACK); `dying`: deleted, inbound in grace. */
  state: "larval" | "optimistic" | "mature" | "rekeying" | "dying";
  /** Whether we initiated it (only the initiator rekeys). */
  initiator: boolean;
  /** When it was created (engine time, ms). */
  createdAt: number;
  /** When the initiator rekeys (initiator only). */
  rekeyAt?: number;
  /** Hard lifetime end. */
  expiresAt: number;
}

/** One transaction in {@link EngineStatus}. */
export interface TransactionStatus {
  /** Peer name. */
  peer: string;
  /** XID. */
  xid: number;
  /** Command name (`CREATE`, …). */
  command: string;
  /** Our role. */
  role: "initiator" | "responder";
  /** Internal state name (for operators). */
  state: string;
  /** Transmissions so far. */
  transmissions: number;
}

/** A snapshot for `kink status`. */
export interface EngineStatus {
  /** Our epoch. */
  epoch: number;
  /** Engine time of the last input. */
  now: number;
  /** Every peer. */
  peers: PeerStatus[];
  /** Every SA pair. */
  saPairs: SaPairStatus[];
  /** Every transaction in progress. */
  transactions: TransactionStatus[];
  /** REPLYs held in the reply cache. */
  replyCache: number;
  /** Event counters (sent, received, retransmissions, dropped-*, failed-*, …). */
  counters: Record<string, number>;
}

/** What {@link EngineApi.reconfigure} did, by peer name. */
export interface ReconfigureResult {
  /** New peers (nothing negotiated until an ACQUIRE or `up`). */
  added: string[];
  /** Peers gone: their pairs DELETEd, their transactions ended. */
  removed: string[];
  /** Peers whose SA parameters changed: their pairs are being replaced under the new ones. */
  recreated: string[];
  /** Peers where only timers (or the passive flag) changed: SAs untouched, new timers apply. */
  retuned: string[];
  /** Peers whose configuration is the same: untouched. */
  unchanged: string[];
}

// ---------------------------------------------------------------------------
// The engine

/** What the `Engine` class implements (see the module documentation). */
export interface EngineApi {
  /** A datagram arrived on the KINK socket. */
  handleDatagram(now: number, datagram: Datagram): void;
  /** A kernel event (ACQUIRE, soft/hard EXPIRE) arrived. */
  handleKernelEvent(now: number, event: XfrmEvent): void;
  /** The kernel operation `id` finished. */
  handleKernelResult(now: number, id: number, result: KernelResult): void;
  /** The ticket request `id` finished. */
  handleTicket(now: number, id: number, result: TicketResult): void;
  /** The time reached (or passed) {@link nextTimeout}. */
  handleTimeout(now: number): void;
  /** An operator or policy command. */
  command(now: number, cmd: EngineCommand): void;
  /** The next output, or undefined when there is none. */
  poll(): EngineOutput | undefined;
  /** When `handleTimeout` is next due, or undefined when nothing is scheduled. */
  nextTimeout(): number | undefined;
  /** A snapshot of peers, SAs and transactions (no keys). */
  status(): EngineStatus;
  /**
   * Applies a new peer list (a configuration reload), touching only peers
   * whose configuration changed. The whole list is checked first; a refused
   * one throws `EngineError` and changes nothing. Per peer, by name:
   * - **unchanged**: untouched (SAs, transactions, tickets, RTT, epoch);
   * - **only `timers` / `passive` changed**: the new values apply from now
   *   on (retransmissions, dead-peer interval, grace and the rekey margin of
   *   pairs made from now on); the SAs are kept — nothing negotiated changed;
   * - **SA parameters changed** (proposals, mode, selectors, PFS, lifetime,
   *   PRF, encryption, user-to-user, reqid, IDs): the new configuration
   *   applies at once and every pair is replaced make-before-break, as a
   *   rekey: a CREATE under the new parameters, then a DELETE of the old pair
   *   (CREATEs in progress are replaced once they finish). A passive peer's
   *   pairs, and pairs of selectors that no longer exist, are DELETEd;
   * - **address, port, our address or principal changed**, or **removed**:
   *   the old peer's CREATEs are aborted and its pairs DELETEd (outbound SAs
   *   at once, inbound after the grace period, `sa-down` at once); its
   *   REPLYs are still matched until those DELETEs end; a changed one is then
   *   a new peer;
   * - **added**: a new peer (the driver sends `up` if it should start now).
   */
  reconfigure(now: number, peers: readonly PeerConfig[]): ReconfigureResult;
  /**
   * The DELETE exchanges this engine initiated that are still in flight
   * (each ends with a `delete-done` event): a driver stopping after `down`
   * waits for exactly these.
   */
  deletesInFlight(): { peer: string; xid: number }[];
}
