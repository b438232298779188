/**
 * The network layer's error family: everything that goes wrong while
 * sending or receiving datagrams is a {@link NetError}.
 *
 * @module
 */
import { KinkError, type KinkErrorOptions } from "../errors.ts";

/**
 * Stable categories of {@link NetError}:
 * - `"invalid"`: a bad endpoint, an oversized datagram, or no local socket
 *   for the destination's family (nothing was sent);
 * - `"bind"`: a local endpoint could not be bound (in use, not local, no permission);
 * - `"send"`: the operating system refused a send;
 * - `"receive"`: receiving failed (the stream ends with this error);
 * - `"closed"`: the transport was closed;
 * - `"unsupported"`: the runtime lacks what the transport needs (e.g. Deno
 *   without `--unstable-net`).
 */
export type NetErrorCategory =
  | "invalid"
  | "bind"
  | "send"
  | "receive"
  | "closed"
  | "unsupported";

/** An error of the network layer. */
export class NetError extends KinkError {
  /** Always `"net"`. */
  readonly layer = "net" as const;
  /** One of {@link NetErrorCategory}. */
  declare readonly category: NetErrorCategory;

  /**
   * A network-layer error.
   *
   * @param category one of {@link NetErrorCategory}
   * @param context what was being done, e.g. `"send to 192.0.2.1:910"`
   * @param detail what went wrong
   * @param options the underlying error as `cause`
   */
  constructor(
    category: NetErrorCategory,
    context: string,
    detail: string,
    options?: KinkErrorOptions,
  ) {
    super(category, context, detail, options);
  }
}
