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
 * Categories used by the Kerberos layer. `"decode"` and `"encode"` come from
 * the codecs; the others are used by the client, the service side and the
 * file formats. Other strings are allowed so that callers can add their own.
 */
export type KerberosErrorCategory =
  | "decode"
  | "encode"
  | "invalid-argument"
  | "unsupported"
  | "protocol"
  | "krb-error"
  | "transport"
  | "timeout"
  | "replay"
  | "skew"
  | "integrity"
  | "not-found"
  | "io"
  // deno-lint-ignore ban-types
  | (string & {});

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
  /** Octet offset of a decode problem, when known. */
  readonly offset: number | undefined;
  /** Kerberos error code (RFC 4120 §7.5.9) this error corresponds to, when known. */
  readonly errorCode: number | undefined;

  /**
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
