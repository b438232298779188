/**
 * Receive-side processing of a KINK datagram in the order of the project
 * digest's §15 (RFC 4430 §4, §4.2.7, §6):
 *
 * 1. header: size, Length, CksumLen, MjVer (KINK_INVMAJ), DOI (KINK_INVDOI);
 * 2. outer payload chain: alignment, lengths, KINK_ENCRYPT last (KINK_PROTOERR);
 * 3. Kerberos: the caller's `authenticate` processes KINK_AP_REQ/KINK_AP_REP
 *    and returns the ticket session key's operations — checking the AP-REQ
 *    but not yet recording its authenticator in the replay cache;
 * 4. Cksum (usage 40): a keyed message without one, or one that does not
 *    verify, is dropped silently; once it verifies, the `commit` that
 *    `authenticate` returned records the authenticator (a replay is refused
 *    here). Recording only now keeps a forged datagram carrying a sniffed
 *    AP-REQ from burning the genuine one;
 * 5. KINK_ENCRYPT (usage 39) is opened and its inner chain decoded;
 * 6. KINK_ISAKMP contents (QM version → KINK_BADQMVERS; content → Notify) and
 *    the §6 payload rules (KINK_PROTOERR).
 *
 * Every failure is a {@link WireError} whose `reaction` says what to answer;
 * errors from step 3 on carry the message decoded so far in `received`, so
 * that a responder can build its REPLY (it needs the AP-REQ for the AP-REP).
 *
 * @module
 */
import { WireError } from "./errors.ts";
import {
  type DecodedKinkMessage,
  decodeKinkMessage,
  type KinkDecodeOptions,
  type KinkKeyOps,
  type KinkMessage,
  openKinkMessage,
  parseDeferredIsakmp,
  verifyKinkChecksum,
} from "./kink.ts";
import { checkPayloadRules, type RuleContext } from "./rules.ts";

/**
 * What `authenticate` returns for a message whose AP-REQ must be recorded
 * once the message is authenticated: the key, and `commit`, called exactly
 * once after the Cksum verified (e.g. `KerberosService.recordApReq`). It
 * throws to refuse the message (a replayed authenticator).
 */
export interface PendingAuthentication {
  /** The session key's operations. */
  key: KinkKeyOps;
  /** Records the authenticator; throws to refuse the message. */
  commit: () => void;
}

/** Options of {@link receiveKinkMessage}. */
export interface ReceiveOptions extends Omit<KinkDecodeOptions, "deferIsakmp"> {
  /**
   * Step 3: processes the KINK_AP_REQ / KINK_AP_REP of the decoded message
   * (ticket, authenticator, freshness) and returns the session key's
   * operations, or undefined when the message carries no key (GETTGT, lone
   * errors). For an AP-REQ it returns a {@link PendingAuthentication} so
   * that the authenticator is recorded only after the Cksum verified (use
   * `KerberosService.checkApReq`, not `verifyApReq`). May throw its own
   * (e.g. Kerberos) errors.
   */
  authenticate?: (
    decoded: DecodedKinkMessage,
  ) => KinkKeyOps | PendingAuthentication | undefined;
  /** Context for the §6 rules (e.g. the command a REPLY answers). */
  rules?: RuleContext;
}

/** A datagram that passed every receive step. */
export interface ReceivedKinkMessage extends DecodedKinkMessage {
  /** True when a Cksum was verified with the session key. */
  authenticated: boolean;
}

/** A wire error raised after the header and chain were decoded, with the message so far. */
export class ReceiveError extends WireError {
  /** The message as decoded before the failing step. */
  readonly received: DecodedKinkMessage;

  /**
   * Wraps the failing step's error, keeping its category, detail and reaction.
   *
   * @param cause the wire error of the failing step
   * @param received the message decoded so far
   */
  constructor(cause: WireError, received: DecodedKinkMessage) {
    super(cause.category, cause.context, cause.detail, { cause, reaction: cause.reaction });
    this.received = received;
  }
}

/** Runs the receive steps 1–6 on a datagram (see the module documentation). */
export function receiveKinkMessage(
  datagram: Uint8Array,
  options: ReceiveOptions = {},
): ReceivedKinkMessage {
  const decodeOpts: KinkDecodeOptions = { deferIsakmp: true };
  if (options.supportedDois) decodeOpts.supportedDois = options.supportedDois;
  const decoded = decodeKinkMessage(datagram, decodeOpts); // steps 1–2
  const hasKeyPayload = decoded.message.payloads.some((p) =>
    p.kind === "ap-req" || p.kind === "ap-rep"
  );
  const auth = options.authenticate?.(decoded); // step 3
  const pending = auth !== undefined && isPending(auth) ? auth : undefined;
  const key: KinkKeyOps | undefined = pending ? pending.key : auth as KinkKeyOps | undefined;
  let message: KinkMessage = decoded.message;
  try {
    if (hasKeyPayload && !key) {
      throw new WireError(
        "unauthenticated",
        "receive KINK message",
        "no session key for a message carrying KINK_AP_REQ/KINK_AP_REP",
        { reaction: { action: "drop" } },
      );
    }
    if (key) {
      // step 4
      if (decoded.header.cksumLen === 0) {
        throw new WireError(
          "unauthenticated",
          "verify KINK Cksum",
          "keyed message without Cksum (CksumLen 0)",
          { reaction: { action: "drop" } },
        );
      }
      if (!verifyKinkChecksum(datagram, key)) {
        throw new WireError("integrity", "verify KINK Cksum", "Cksum does not verify", {
          reaction: { action: "drop" },
        });
      }
      pending?.commit(); // step 4b: the message is authentic; record its authenticator
      message = openKinkMessage(message, key, true); // step 5
    } else if (message.payloads.some((p) => p.kind === "encrypt")) {
      throw new WireError("unauthenticated", "open KINK_ENCRYPT", "no session key", {
        reaction: { action: "drop" },
      });
    }
    message = parseDeferredIsakmp(message); // step 6
    checkPayloadRules(message, options.rules ?? {});
  } catch (e) {
    if (e instanceof WireError) {
      throw new ReceiveError(e, { ...decoded, message });
    }
    throw e;
  }
  return { ...decoded, message, authenticated: key !== undefined };
}

function isPending(a: KinkKeyOps | PendingAuthentication): a is PendingAuthentication {
  return typeof (a as Partial<PendingAuthentication>).commit === "function" &&
    typeof (a as Partial<PendingAuthentication>).key === "object";
}
