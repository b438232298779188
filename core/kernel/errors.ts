/**
 * The kernel layer's error family: everything that goes wrong between kink
 * and the Linux kernel (libc calls, netlink framing, XFRM validation, kernel
 * refusals) is a {@link KernelError}.
 *
 * This module is the kernel layer's error leaf: it imports only
 * `core/errors.ts`, so `ffi/` (the bottom of the kernel layer, below the
 * typed model) can throw the same family as `core/kernel/` without
 * depending on anything else in `core/kernel/`.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/**
 * Stable categories of {@link KernelError}:
 * - `"syscall"`: a libc call failed (see `errno`/`errnoName`);
 * - `"kernel"`: the kernel refused a netlink request (NLMSG_ERROR with a
 *   negative code; `errno`, `errnoName` and the kernel's extended-ack
 *   `kernelMessage` are set);
 * - `"malformed"`: a netlink message or attribute from the kernel does not parse;
 * - `"invalid"`: a request failed validation before it was sent;
 * - `"timeout"`: no answer in time;
 * - `"overrun"`: the socket's receive queue overflowed (ENOBUFS) and messages were lost;
 * - `"closed"`: the socket was closed.
 */
export type KernelErrorCategory =
  | "syscall"
  | "kernel"
  | "malformed"
  | "invalid"
  | "timeout"
  | "overrun"
  | "closed";

/** Options of {@link KernelError} beyond the common ones. */
export interface KernelErrorOptions extends KinkErrorOptions {
  /** Positive errno value, when the error comes from libc or the kernel. */
  errno?: number;
  /** The kernel's extended-ack message (NLMSGERR_ATTR_MSG), if it sent one. */
  kernelMessage?: string;
}

/** An error from the kernel layer (libc FFI, netlink, XFRM). */
export class KernelError extends KinkError {
  /** Always `"kernel"`. */
  readonly layer = "kernel" as const;
  /** The category (see {@link KernelErrorCategory}). */
  declare readonly category: KernelErrorCategory;
  /** Positive errno value, or undefined. */
  readonly errno: number | undefined;
  /** Symbolic errno name (e.g. `"EPROTONOSUPPORT"`), or undefined. */
  readonly errnoName: string | undefined;
  /** The kernel's extended-ack message, or undefined. */
  readonly kernelMessage: string | undefined;

  /**
   * A kernel-layer error.
   *
   * @param category one of {@link KernelErrorCategory}
   * @param context what was being done, e.g. `"XFRM_MSG_NEWSA"`
   * @param detail what went wrong (never key material)
   * @param options errno, kernel message, cause
   */
  constructor(
    category: KernelErrorCategory,
    context: string,
    detail: string,
    options?: KernelErrorOptions,
  ) {
    super(category, context, detail, options);
    this.errno = options?.errno;
    this.errnoName = options?.errno === undefined ? undefined : errnoName(options.errno);
    this.kernelMessage = options?.kernelMessage;
  }

  /** Builds the error for a failed libc call or kernel refusal with `errno`. */
  static fromErrno(
    category: "syscall" | "kernel",
    context: string,
    errno: number,
    kernelMessage?: string,
  ): KernelError {
    const name = errnoName(errno);
    let detail = `${name} (${errno}): ${errnoText(errno)}`;
    if (kernelMessage) detail += ` — kernel says: ${kernelMessage}`;
    const opts: KernelErrorOptions = { errno };
    if (kernelMessage !== undefined) opts.kernelMessage = kernelMessage;
    return new KernelError(category, context, detail, opts);
  }
}

/** Linux errno values kink may meet, by number (x86_64/generic numbering). */
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  7: ["E2BIG", "Argument list too long"],
  9: ["EBADF", "Bad file descriptor"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  19: ["ENODEV", "No such device"],
  22: ["EINVAL", "Invalid argument"],
  24: ["EMFILE", "Too many open files"],
  28: ["ENOSPC", "No space left on device"],
  34: ["ERANGE", "Numerical result out of range"],
  38: ["ENOSYS", "Function not implemented"],
  61: ["ENODATA", "No data available"],
  71: ["EPROTO", "Protocol error"],
  75: ["EOVERFLOW", "Value too large for defined data type"],
  88: ["ENOTSOCK", "Socket operation on non-socket"],
  90: ["EMSGSIZE", "Message too long"],
  92: ["ENOPROTOOPT", "Protocol not available"],
  93: ["EPROTONOSUPPORT", "Protocol not supported"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  97: ["EAFNOSUPPORT", "Address family not supported by protocol"],
  98: ["EADDRINUSE", "Address already in use"],
  99: ["EADDRNOTAVAIL", "Cannot assign requested address"],
  100: ["ENETDOWN", "Network is down"],
  105: ["ENOBUFS", "No buffer space available"],
  110: ["ETIMEDOUT", "Connection timed out"],
  111: ["ECONNREFUSED", "Connection refused"],
  113: ["EHOSTUNREACH", "No route to host"],
  114: ["EALREADY", "Operation already in progress"],
  115: ["EINPROGRESS", "Operation now in progress"],
};

/** Symbolic name of `errno` (e.g. 93 → `"EPROTONOSUPPORT"`), or `"E<n>"` if unknown. */
export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `E${errno}`;
}

/** Human-readable text of `errno` (glibc's wording), or `"Unknown error <n>"`. */
export function errnoText(errno: number): string {
  return ERRNO[errno]?.[1] ?? `Unknown error ${errno}`;
}

/** Errno numbers used by the kernel layer. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EAGAIN: 11,
  ENOMEM: 12,
  EEXIST: 17,
  EINVAL: 22,
  ENOSYS: 38,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  ENOBUFS: 105,
} as const;
