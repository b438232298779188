/**
 * Hostile datagrams for a KINK responder, built with kink's own Kerberos and
 * wire layers (real DER tickets and authenticators, real encryption) so that
 * each class exercises a distinct path of the receiver (how far the first
 * one gets; repeats of a refused ticket stop at the front door's verdict
 * cache, core/engine/admission.ts):
 *
 * | class          | what it is                                                     | how far it gets |
 * | ---            | ---                                                            | --- |
 * | `garbage`      | random octets, 1..1400                                         | header decoder |
 * | `header`       | a well-formed KINK header (CREATE, v1, DOI 1, right length), random body | payload decoder |
 * | `other-service`| STATUS with a real AP-REQ whose ticket is for another service  | AP-REQ check (no key) |
 * | `expired`      | STATUS with a real AP-REQ, ticket for the victim, expired      | ticket decryption |
 * | `wrong-key`    | STATUS with a real AP-REQ, ticket for the victim under a key it does not hold (same kvno) | ticket decryption (integrity fails) |
 * | `other-client` | STATUS with a valid ticket of another realm member             | ticket + authenticator decryption, client check |
 * | `replay`       | a captured genuine command, byte for byte                      | everything up to the replay cache |
 * | `huge`         | 65 507 octets (largest UDP payload), a KINK header claiming all of it | size / header |
 *
 * A {@link HostileSet} holds a pool of pre-built datagrams per class, so a
 * flood costs the sender nothing but the send. The same module is the
 * flood program run from a third namespace (see the bottom of the file).
 *
 * @module
 */
import {
  AuthenticatorTimes,
  type Credentials,
  makeApReq,
  parsePrincipal,
} from "../../core/kerberos/mod.ts";
import { buildStatus, keyOps } from "../../core/wire/mod.ts";
import { type RandomSource, SeededRandom } from "../../core/util/random.ts";
import { TicketOffice } from "../unit/engine/harness.ts";

/** The hostile classes, cheapest to reject first (as a well-built receiver should). */
export const HOSTILE_CLASSES = [
  "garbage",
  "header",
  "huge",
  "other-service",
  "expired",
  "wrong-key",
  "other-client",
  "replay",
] as const;

/** One hostile class. */
export type HostileClass = typeof HOSTILE_CLASSES[number];

/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;

/** A pool of pre-built hostile datagrams per class. */
export type HostileSet = Record<HostileClass, Uint8Array[]>;

/** What the builder needs to know about the victim. */
export interface HostileTarget {
  /** The victim's service principal, e.g. `kink/b.kink.test@KINK.TEST`. */
  victim: string;
  /** A client principal the victim knows as a peer (the tickets name it as client). */
  client: string;
  /** A client principal of the realm the victim does not know as this peer. */
  stranger: string;
  /**
   * Issues a ticket for `client` to `server` valid from `start` for `lifeMs`
   * (the victim's real key for `victim`: the KDC side of the test).
   */
  issue(client: string, server: string, start: number, lifeMs: number): Credentials;
  /** Issues a ticket for the victim's name under a key the victim does not hold. */
  issueForged(client: string, server: string, start: number, lifeMs: number): Credentials;
  /** Genuine commands captured on the wire (for `replay`); may be empty. */
  captured: Uint8Array[];
}

/** Random octets. */
function randomBytes(random: RandomSource, n: number): Uint8Array {
  const b = new Uint8Array(n);
  random.fill(b);
  return b;
}

/** A KINK header claiming `total` octets: type, version 1, length, DOI 1, XID, no payload, no Cksum. */
function kinkHeader(type: number, total: number, xid: number, next: number): Uint8Array {
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b[0] = type;
  b[1] = 0x10; // major 1, minor 0
  v.setUint16(2, total);
  v.setUint32(4, 1); // DOI IPsec
  v.setUint32(8, xid);
  b[12] = next;
  return b;
}

/**
 * Builds `perClass` datagrams of every class (fewer for `replay` when fewer
 * were captured; `huge` is one shared buffer).
 */
export function buildHostileSet(
  t: HostileTarget,
  now: number,
  perClass: number,
  seed = 15,
): HostileSet {
  const random = new SeededRandom(seed);
  const times = new AuthenticatorTimes();
  const set = Object.fromEntries(
    HOSTILE_CLASSES.map((c) => [c, [] as Uint8Array[]]),
  ) as unknown as HostileSet;
  const status = (cred: Credentials, client: string): Uint8Array => {
    const built = makeApReq(parsePrincipal(client), cred.ticket, cred.sessionKey, {
      now: () => now,
      times,
      random,
    });
    return buildStatus({
      xid: random.nextUint32(),
      epoch: Math.floor(now / 1000) >>> 0,
      apReq: built.apReq,
      key: keyOps(cred.sessionKey, random),
    });
  };
  const third = t.victim.replace(/^([^/@]+)\/[^@]+/, "$1/nobody.kink.test");
  const otherService = t.issue(t.client, third, now, 3600_000);
  const expired = t.issue(t.client, t.victim, now - 20 * 3600_000, 3600_000);
  const forged = t.issueForged(t.client, t.victim, now, 3600_000);
  const stranger = t.issue(t.stranger, t.victim, now, 3600_000);
  for (let i = 0; i < perClass; i++) {
    set.garbage.push(randomBytes(random, 1 + (random.nextUint32() % 1400)));
    const len = 28 + (random.nextUint32() % 400);
    const h = kinkHeader(1, len, random.nextUint32(), 14 /* KINK_AP_REQ */);
    h.set(randomBytes(random, len - 16), 16);
    set.header.push(h);
    set["other-service"].push(status(otherService, t.client));
    set.expired.push(status(expired, t.client));
    set["wrong-key"].push(status(forged, t.client));
    set["other-client"].push(status(stranger, t.stranger));
  }
  set.huge.push(kinkHeader(1, MAX_UDP_PAYLOAD, 7, 14));
  set.replay.push(...t.captured);
  return set;
}

/**
 * `n` STATUS datagrams with AP-REQs for the victim, each with its own forged
 * ticket (another key, same name and kvno): what a flood that defeats any
 * cache of refused tickets looks like.
 */
export function buildDistinctForged(
  t: HostileTarget,
  now: number,
  n: number,
  seed = 16,
): Uint8Array[] {
  const random = new SeededRandom(seed);
  const times = new AuthenticatorTimes();
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const cred = t.issueForged(t.client, t.victim, now, 3600_000);
    const built = makeApReq(parsePrincipal(t.client), cred.ticket, cred.sessionKey, {
      now: () => now,
      times,
      random,
    });
    out.push(buildStatus({
      xid: random.nextUint32(),
      epoch: Math.floor(now / 1000) >>> 0,
      apReq: built.apReq,
      key: keyOps(cred.sessionKey, random),
    }));
    cred.sessionKey.dispose();
  }
  return out;
}

/** A {@link HostileTarget} backed by kink's in-test ticket office (real DER and encryption). */
export function officeTarget(
  office: TicketOffice,
  victim: string,
  client: string,
  captured: Uint8Array[] = [],
): HostileTarget & { dispose(): void } {
  const forger = new TicketOffice(new SeededRandom(99));
  forger.addService(victim); // same name and kvno (3), another key
  const stranger = "kink/mallory.kink.test@KINK.TEST";
  const third = victim.replace(/^([^/@]+)\/[^@]+/, "$1/nobody.kink.test");
  office.addService(third);
  return {
    victim,
    client,
    stranger,
    captured,
    issue: (c, s, start, life) => office.issue(c, s, start, life),
    issueForged: (c, s, start, life) => forger.issue(c, s, start, life),
    dispose: () => forger.dispose(),
  };
}
