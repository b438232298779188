/**
 * The Kerberos layer's error family.
 *
 * Every failure in `core/kerberos` (DER decoding, message validation, keytab
 * and ccache files, the AS/TGS client, AP-REQ verification) is a
 * {@link KerberosError}. Decoding failures carry the category `"decode"`, a
 * context naming the path inside the structure (e.g.
 * `"AP-REQ.ticket.enc-part"`) and the absolute octet offset where the problem
 * was found.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/**
 * Categories of {@link KerberosError}, a closed set:
 * - `"decode"`, `"encode"`: the DER codecs (decode errors carry `offset`);
 * - `"invalid-argument"`: a caller passed values that cannot be used;
 * - `"unsupported"`: an enctype, name type or file version kink does not handle;
 * - `"protocol"`: a peer or KDC broke the protocol (wrong nonce, wrong name, …);
 * - `"krb-error"`: a KDC answered with a KRB-ERROR ({@link KerberosError.errorCode});
 * - `"skew"`: a KRB_AP_ERR_SKEW, or an authenticator outside the allowed skew;
 * - `"kdc-unreachable"`: no KDC answered; `"kdc-bad-reply"`: a KDC answered
 *   with bytes that are not a Kerberos reply;
 * - `"aborted"`: the caller's `AbortSignal` fired;
 * - `"replay"`: an authenticator seen before;
 * - `"integrity"`: a ciphertext or checksum did not verify;
 * - `"not-found"`: no keytab entry, credential or principal matched;
 * - `"ccache"`: a credential cache cannot be used;
 * - `"io"`: a file could not be read or written;
 * - `"busy"`: a file another process (or object) holds locked, e.g. a replay cache;
 * - `"disposed"`: an object was used after being closed.
 */
export type KerberosErrorCategory =
  | "decode"
  | "encode"
  | "invalid-argument"
  | "unsupported"
  | "protocol"
  | "krb-error"
  | "skew"
  | "kdc-unreachable"
  | "kdc-bad-reply"
  | "aborted"
  | "replay"
  | "integrity"
  | "not-found"
  | "ccache"
  | "io"
  | "busy"
  | "disposed";

/** Options of a {@link KerberosError}. */
export interface KerberosErrorOptions extends KinkErrorOptions {
  /** Absolute octet offset in the input where a decode problem was found. */
  offset?: number;
  /** A Kerberos protocol error code (RFC 4120 §7.5.9) this error stands for. */
  errorCode?: number;
}

/** An error raised by the Kerberos layer. */
export class KerberosError extends KinkError {
  /** Always `"kerberos"`. */
  readonly layer = "kerberos" as const;
  /** The category (see {@link KerberosErrorCategory}). */
  declare readonly category: KerberosErrorCategory;
  /** Octet offset of a decode problem, when known. */
  readonly offset: number | undefined;
  /** Kerberos error code (RFC 4120 §7.5.9) this error corresponds to, when known. */
  readonly errorCode: number | undefined;

  /**
   * Creates a Kerberos error.
   *
   * @param category machine-readable category (see {@link KerberosErrorCategory})
   * @param context what was being done, or the path within a structure
   * @param detail what went wrong (never key material)
   * @param options cause, offset, error code
   */
  constructor(
    category: KerberosErrorCategory,
    context: string,
    detail: string,
    options?: KerberosErrorOptions,
  ) {
    super(category, context, detail, options);
    this.offset = options?.offset;
    this.errorCode = options?.errorCode;
  }
}

/** Returns true when `e` is a {@link KerberosError}. */
export function isKerberosError(e: unknown): e is KerberosError {
  return e instanceof KerberosError;
}
