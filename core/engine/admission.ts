/**
 * The responder's front door: what an unauthenticated datagram from a
 * configured peer's address may cost before anything is known about it.
 *
 * UDP source addresses are trivially spoofed, so a datagram claiming to come
 * from a peer proves nothing until its AP-REQ verifies — and verifying means
 * decrypting the ticket (and the authenticator), the costliest thing the
 * responder does for a stranger. Three bounded, deterministic structures
 * keep that cost down (all time comes from the caller's `now`, never a wall
 * clock):
 *
 * - {@link TicketVerdicts}: the verdict on a ticket that was refused (keyed
 *   by the whole ticket ciphertext, see {@link ticketKey}). The same ciphertext
 *   decrypts to the same thing, so a flood repeating one bad ticket costs
 *   one decryption and then a lookup each. Only verdicts that
 *   depend on the ticket alone are kept: it is not for us (NOT_US, BADKEYVER,
 *   NOKEY), it fails its integrity check or does not decode, it has expired
 *   (TKT_EXPIRED, kept at most {@link AdmissionLimits.verdictTtlMs}), or it
 *   names another client than the peer at that address. Never a verdict that
 *   depends on the authenticator: a forged authenticator glued to a genuine
 *   ticket must not poison that ticket.
 * - {@link SourceBudget} for verification failures, per source address (a
 *   token bucket): a datagram whose ticket is unknown is verified only while
 *   its source has a token; each verification that fails (any reason, Cksum
 *   and replay included) takes one. Genuine peers do not fail, so they never
 *   run it dry; a spoofed flood of distinct bad tickets does, and is then
 *   dropped before any decryption (`dropped-rate`).
 * - Tickets that verified from a source before ("known") are verified
 *   against a second, larger bucket: an attacker off the path cannot know a
 *   peer's ticket (it travels only between the peers), so a blind spoofed
 *   flood cannot lock a peer with an established ticket out. An attacker on
 *   the path can replay the peer's ticket with forged authenticators; the
 *   second bucket bounds what that costs (such an attacker can block the
 *   exchange by dropping packets anyway).
 * - Authenticator ciphertexts of accepted messages, for the replay window:
 *   a byte-for-byte replay (or a copy with bits flipped outside its
 *   authenticator) is refused with a lookup instead of a verification.
 * - A third bucket limits the unauthenticated answers (KRB-ERROR, KINK_ERROR,
 *   the GETTGT REPLY) sent to one source, so that a spoofed flood is not
 *   reflected onto the real peer. See the engine README, "Hostile input".
 *
 * Tables are bounded: when one is full the least recently used source (or
 * verdict) is evicted.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Limits of the front door (defaults: {@link DEFAULT_ADMISSION}). */
export interface AdmissionLimits {
  /** Verification failures a source may cause in a burst (unknown tickets). */
  verifyBurst: number;
  /** Verification failures per second a source may cause over time (unknown tickets). */
  verifyPerSecond: number;
  /** As {@link verifyBurst}, for tickets that verified from that source before. */
  knownBurst: number;
  /** As {@link verifyPerSecond}, for tickets that verified from that source before. */
  knownPerSecond: number;
  /** Unauthenticated answers a source may receive in a burst. */
  answerBurst: number;
  /** Unauthenticated answers per second a source may receive over time. */
  answerPerSecond: number;
  /** Sources remembered per bucket table (least recently used evicted). */
  maxSources: number;
  /** Ticket verdicts remembered (least recently used evicted). */
  maxVerdicts: number;
  /** How long a verdict is kept, ms. */
  verdictTtlMs: number;
  /** Good tickets remembered per source. */
  knownPerSource: number;
  /** Authenticators of accepted messages remembered (cheap replay refusal). */
  maxSeenAuthenticators: number;
}

/** Default front-door limits. */
export const DEFAULT_ADMISSION: Readonly<AdmissionLimits> = Object.freeze({
  verifyBurst: 16,
  verifyPerSecond: 4,
  knownBurst: 32,
  knownPerSecond: 16,
  answerBurst: 8,
  answerPerSecond: 2,
  maxSources: 1024,
  maxVerdicts: 1024,
  verdictTtlMs: 300_000,
  knownPerSource: 4,
  maxSeenAuthenticators: 4096,
});

const REPLAYED: TicketVerdict = { kind: "refused", code: 34, detail: "replayed authenticator" };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per source address in a bounded table. Deterministic: the
 * caller passes the time. A clock that steps back refills nothing.
 */
export class SourceBudget {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #max: number;
  readonly #table = new Map<string, Bucket>();

  /**
   * @param burst bucket capacity (tokens a fresh source holds)
   * @param perSecond refill rate
   * @param maxSources sources remembered (least recently used evicted)
   */
  constructor(burst: number, perSecond: number, maxSources: number) {
    this.#burst = burst;
    this.#perMs = perSecond / 1000;
    this.#max = Math.max(1, maxSources);
  }

  #get(source: string, now: number): Bucket {
    let b = this.#table.get(source);
    if (b) {
      this.#table.delete(source); // re-inserted below: most recently used last
      if (now > b.at) b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    } else {
      while (this.#table.size >= this.#max) {
        this.#table.delete(this.#table.keys().next().value as string);
      }
      b = { tokens: this.#burst, at: now };
    }
    this.#table.set(source, b);
    return b;
  }

  /** Whether `source` holds a token at `now` (takes none). */
  has(source: string, now: number): boolean {
    return this.#get(source, now).tokens >= 1;
  }

  /** Takes a token from `source`; false (and nothing taken) when it holds none. */
  take(source: string, now: number): boolean {
    const b = this.#get(source, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Takes a token from `source` if it holds one (a failure already paid for). */
  charge(source: string, now: number): void {
    const b = this.#get(source, now);
    b.tokens = Math.max(0, b.tokens - 1);
  }

  /** Sources remembered. */
  get size(): number {
    return this.#table.size;
  }
}

/** What is known about a ticket ciphertext that was refused. */
export type TicketVerdict =
  /** Refused whatever the authenticator: answer `code`. */
  | { kind: "refused"; code: number; detail: string }
  /** Decrypts, and names `client` (refused for any peer that is not `client`). */
  | { kind: "client"; client: string };

/** A bounded cache of {@link TicketVerdict}s keyed by {@link ticketKey}. */
export class TicketVerdicts {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #map = new Map<string, { v: TicketVerdict; expires: number }>();

  /**
   * @param max verdicts remembered (least recently used evicted)
   * @param ttlMs how long one is kept
   */
  constructor(max: number, ttlMs: number) {
    this.#max = Math.max(1, max);
    this.#ttlMs = ttlMs;
  }

  /** The verdict on `key`, if one is held and fresh. */
  get(key: string, now: number): TicketVerdict | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    this.#map.delete(key);
    if (now >= e.expires) return undefined;
    this.#map.set(key, e);
    return e.v;
  }

  /** Remembers `v` for `key` (for at most `ttlMs`, less with `until`). */
  set(key: string, v: TicketVerdict, now: number, until?: number): void {
    this.#map.delete(key);
    while (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string);
    const expires = Math.min(now + this.#ttlMs, until ?? Infinity);
    this.#map.set(key, { v, expires });
  }

  /** Forgets everything (keys or peers changed). */
  clear(): void {
    this.#map.clear();
  }

  /** Verdicts held. */
  get size(): number {
    return this.#map.size;
  }
}

const LATIN1 = new TextDecoder("latin1");

/** Ciphertexts up to this size are their own table key; larger ones are hashed. */
const EXACT_KEY_MAX = 2048;

/**
 * The table key of a ticket (or authenticator) ciphertext: the ciphertext
 * itself as a one-octet-per-character string when it is small (exact: no
 * collision, and cheaper than a hash), else its SHA-256. Always the whole
 * ciphertext — a key made of a prefix would let a forgery sharing a genuine
 * ticket's first octets poison the verdict on the genuine one. The two
 * forms start with different characters, so they never meet.
 */
export function ticketKey(cipher: Uint8Array): string {
  if (cipher.length <= EXACT_KEY_MAX) return "=" + LATIN1.decode(cipher);
  return "#" + createHash("sha256").update(cipher).digest("base64");
}

/** What the front door says about an AP-REQ before it is verified. */
export type Admission =
  | { kind: "verify"; known: boolean }
  | { kind: "over-budget"; known: boolean }
  | { kind: "cached"; verdict: TicketVerdict }
  | { kind: "replay" };

/** The three budgets, the verdict cache and the known tickets, together. */
export class FrontDoor {
  readonly limits: Readonly<AdmissionLimits>;
  readonly #verify: SourceBudget;
  readonly #known: SourceBudget;
  readonly #answers: SourceBudget;
  readonly verdicts: TicketVerdicts;
  readonly #good = new Map<string, string[]>();
  readonly #seen: TicketVerdicts;

  /** @param limits overrides of {@link DEFAULT_ADMISSION} */
  constructor(limits: Partial<AdmissionLimits> = {}) {
    const l = { ...DEFAULT_ADMISSION, ...limits };
    this.limits = l;
    this.#verify = new SourceBudget(l.verifyBurst, l.verifyPerSecond, l.maxSources);
    this.#known = new SourceBudget(l.knownBurst, l.knownPerSecond, l.maxSources);
    this.#answers = new SourceBudget(l.answerBurst, l.answerPerSecond, l.maxSources);
    this.verdicts = new TicketVerdicts(l.maxVerdicts, l.verdictTtlMs);
    this.#seen = new TicketVerdicts(l.maxSeenAuthenticators, Infinity);
  }

  #isKnown(source: string, key: string): boolean {
    return this.#good.get(source)?.includes(key) ?? false;
  }

  /**
   * Decides what an AP-REQ with ticket `key` and authenticator
   * `authKey` from `source` may cost.
   */
  admit(source: string, key: string, authKey: string, now: number): Admission {
    const verdict = this.verdicts.get(key, now);
    if (verdict) return { kind: "cached", verdict };
    // The same authenticator ciphertext as an accepted message: the same (ctime,
    // cusec), a replay the replay cache would refuse after a full verification.
    if (this.#seen.get(authKey, now)) return { kind: "replay" };
    const known = this.#isKnown(source, key);
    const budget = known ? this.#known : this.#verify;
    return budget.has(source, now) ? { kind: "verify", known } : { kind: "over-budget", known };
  }

  /** A verification admitted by {@link admit} failed: it costs `source` a token. */
  failed(source: string, known: boolean, now: number): void {
    (known ? this.#known : this.#verify).charge(source, now);
  }

  /**
   * A message with ticket `key` and authenticator `authKey` from
   * `source` was fully authenticated and accepted; its authenticator is a
   * replay until `until` (the end of the replay window).
   */
  succeeded(source: string, key: string, authKey: string, now: number, until: number): void {
    this.#seen.set(authKey, REPLAYED, now, until);
    const list = this.#good.get(source);
    if (list?.includes(key)) return;
    if (!list) {
      while (this.#good.size >= this.limits.maxSources) {
        this.#good.delete(this.#good.keys().next().value as string);
      }
      this.#good.set(source, [key]);
      return;
    }
    list.push(key);
    while (list.length > this.limits.knownPerSource) list.shift();
  }

  /** Whether `source` has an answer left at `now` (takes none). */
  mayAnswer(source: string, now: number): boolean {
    return this.#answers.has(source, now);
  }

  /**
   * Whether an unauthenticated answer of `answerOctets` to a datagram of
   * `receivedOctets` from `source` may be sent now: within the source's
   * answer budget and, unless `mayAmplify`, no larger than what was received.
   */
  answer(
    source: string,
    now: number,
    answerOctets: number,
    receivedOctets: number,
    mayAmplify = false,
  ): boolean {
    if (!mayAmplify && answerOctets > receivedOctets) return false;
    return this.#answers.take(source, now);
  }

  /** Forgets the ticket verdicts and known tickets (service keys or peers changed). */
  reset(): void {
    this.verdicts.clear();
    this.#good.clear();
  }

  /** Table sizes, for status. */
  sizes(): { verdicts: number; sources: number } {
    return {
      verdicts: this.verdicts.size,
      sources: Math.max(this.#verify.size, this.#known.size, this.#answers.size),
    };
  }
}
