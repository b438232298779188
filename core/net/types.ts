/**
 * Datagram transport types: {@link Endpoint}, {@link Datagram} and the
 * {@link DatagramTransport} seam the engine's driver sends and receives KINK
 * messages through, with endpoint validation and normalization.
 *
 * @module
 */
import { normalIpText, parseIp } from "../util/ip.ts";
import { NetError } from "./errors.ts";

/** An IP address and UDP port. */
export interface Endpoint {
  /** IPv4 dotted quad or IPv6 text (normal form in everything a transport reports). */
  address: string;
  /** UDP port (0 only when asking a transport to choose one). */
  port: number;
}

/** One datagram received, with both ends. */
export interface Datagram {
  /** The payload (owned by the receiver). */
  data: Uint8Array;
  /** Our endpoint it arrived at. */
  local: Endpoint;
  /** The sender's endpoint. */
  remote: Endpoint;
}

/**
 * Sends and receives datagrams on one or more local endpoints. An engine's
 * output `{ local?, remote, data }` maps onto {@link send}; its input is
 * each {@link Datagram} of {@link receive}.
 */
export interface DatagramTransport {
  /** The bound local endpoints (ports resolved when 0 was asked for). */
  readonly locals: readonly Endpoint[];
  /**
   * Sends `data` to `remote` from `local` (one of {@link locals}), or from
   * the first local endpoint of `remote`'s family. Resolves once handed to
   * the network; rejects with a {@link NetError} (`"invalid"`, `"send"`, `"closed"`).
   */
  send(data: Uint8Array, remote: Endpoint, local?: Endpoint): Promise<void>;
  /**
   * Every datagram received, in arrival order, until {@link close} (a single
   * consumer). Datagrams beyond the transport's receive-queue limit are
   * dropped and counted in {@link dropped}. A failure of the underlying
   * socket ends the iteration with a `NetError("receive")`.
   */
  receive(): AsyncIterable<Datagram>;
  /** Datagrams dropped because the receive queue was full. */
  readonly dropped: number;
  /** Closes every socket; the receive iteration ends. Idempotent. */
  close(): Promise<void>;
}

/** The largest UDP payload kink sends (the IPv4 maximum, 65,535 − 8 − 20). */
export const MAX_DATAGRAM = 65507;

/** Address family of an endpoint's address. */
export type AddressFamily = "inet" | "inet6";

/**
 * Validates `e` and returns it with the address in normal form (RFC 5952
 * for IPv6); `anyPort` allows port 0. Throws `NetError("invalid")`.
 */
export function normalizeEndpoint(
  e: Endpoint,
  context: string,
  anyPort = false,
): Endpoint & { family: AddressFamily } {
  const p = typeof e?.address === "string" ? parseIp(e.address) : undefined;
  if (!p) {
    throw new NetError(
      "invalid",
      context,
      `not an IP address: ${JSON.stringify(String(e?.address).slice(0, 64))}`,
    );
  }
  const min = anyPort ? 0 : 1;
  if (!Number.isInteger(e.port) || e.port < min || e.port > 65535) {
    throw new NetError("invalid", context, `port ${e.port} not in ${min}..65535`);
  }
  return { address: normalIpText(e.address)!, port: e.port, family: p.family };
}

/** `address:port`, with brackets around IPv6 (`[::1]:910`). */
export function endpointText(e: Endpoint): string {
  return e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Throws `NetError("invalid")` unless `data` fits one datagram. */
export function checkSize(data: Uint8Array, context: string): void {
  if (!(data instanceof Uint8Array)) {
    throw new NetError("invalid", context, "data is not a Uint8Array");
  }
  if (data.length > MAX_DATAGRAM) {
    throw new NetError("invalid", context, `${data.length} octets exceed ${MAX_DATAGRAM}`);
  }
}
