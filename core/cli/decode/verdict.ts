/**
 * The exit status of `kink decode`, so that scripts can rely on it:
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | every KINK message was decoded, and every one that carries a Cksum had it verified and its KINK_ENCRYPT opened (unauthenticated error replies, CksumLen 0, are reported but allowed) |
 * | 1 | the command failed (capture or keytab unreadable or malformed) |
 * | 2 | bad command line |
 * | 3 | something failed verification: a Cksum that does not verify, a keyed message without Cksum, a KINK_ENCRYPT that does not open under a key whose Cksum verified |
 * | 4 | something could not be verified: no key for a message (no keytab given, none fits, session key unknown), a datagram truncated or not decodable, a capture cut inside its last record |
 *
 * 3 wins over 4 when both apply.
 *
 * @module
 */
import type { MessageReport } from "./analyze.ts";

export type { MessageReport };

/** Exit codes of `kink decode` (see the module documentation). */
export const DecodeExit = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  NOT_AUTHENTIC: 3,
  UNVERIFIED: 4,
} as const;

const LIST = 10;

function frames(list: number[]): string {
  const shown = list.slice(0, LIST).join(", ");
  return list.length > LIST ? `${shown} and ${list.length - LIST} more` : shown;
}

/** Tallies the messages of one decode run into its exit code. */
export class DecodeVerdict {
  readonly #failed: number[] = [];
  readonly #unverified: number[] = [];
  #tail = false;

  /** Classifies one message. */
  add(m: MessageReport): void {
    const enc = (m.payloads ?? []).find((p) =>
      typeof p === "object" && p !== null && !Array.isArray(p) && p.name === "KINK_ENCRYPT"
    ) as { decrypted?: unknown } | undefined;
    const encClosed = enc !== undefined && enc.decrypted !== true;
    const status = m.cksum?.status;
    if (
      status === "failed" ||
      m.problems.some((p) => p.startsWith("keyed message without Cksum")) ||
      (encClosed && status === "verified")
    ) {
      this.#failed.push(m.frame);
    } else if (m.header === undefined || m.truncated || status === "no-key" || encClosed) {
      this.#unverified.push(m.frame);
    }
  }

  /** Records that the capture ended inside a record. */
  truncatedCapture(): void {
    this.#tail = true;
  }

  /** The exit code. */
  get code(): number {
    if (this.#failed.length > 0) return DecodeExit.NOT_AUTHENTIC;
    if (this.#unverified.length > 0 || this.#tail) return DecodeExit.UNVERIFIED;
    return DecodeExit.OK;
  }

  /** One line saying why the code is not 0 (empty when it is). */
  lines(): string[] {
    const out: string[] = [];
    if (this.#failed.length > 0) {
      out.push(
        `verdict: ${this.#failed.length} message(s) failed verification (frames ${
          frames(this.#failed)
        }) — exit ${DecodeExit.NOT_AUTHENTIC}`,
      );
    }
    if (this.#unverified.length > 0 || this.#tail) {
      const what = [
        ...(this.#unverified.length > 0
          ? [`${this.#unverified.length} message(s) (frames ${frames(this.#unverified)})`]
          : []),
        ...(this.#tail ? ["the truncated end of the capture"] : []),
      ].join(" and ");
      out.push(
        `verdict: could not verify ${what}${
          this.#failed.length > 0 ? "" : ` — exit ${DecodeExit.UNVERIFIED}`
        }`,
      );
    }
    return out;
  }
}
