/**
 * The network layer: the {@link DatagramTransport} seam through which kink
 * sends and receives KINK datagrams with both endpoints, its UDP
 * implementation ({@link UdpTransport}, IPv4 and IPv6) and an in-memory one
 * ({@link MemoryHub} / {@link MemoryTransport}) with loss, delay and
 * duplication hooks for tests and simulation. It depends only on
 * `core/util` and `core/errors.ts`.
 *
 * @module
 */
export { NetError, type NetErrorCategory } from "./errors.ts";
export {
  type AddressFamily,
  type Datagram,
  type DatagramTransport,
  type Endpoint,
  endpointText,
  MAX_DATAGRAM,
  normalizeEndpoint,
} from "./types.ts";
export {
  type ReceiveFilter,
  type SocketAccess,
  UdpTransport,
  type UdpTransportOptions,
} from "./udp.ts";
export {
  type HubHook,
  type HubStats,
  type HubVerdict,
  type ImpairmentOptions,
  impairments,
  MemoryHub,
  type MemoryHubOptions,
  MemoryTransport,
} from "./memory.ts";
/** The root of kink's error families, which {@link NetError} extends. */
export { type ErrorLayer, KinkError, type KinkErrorOptions } from "../errors.ts";
/** The seams the in-memory hub takes: a clock with timers and a source of randomness. */
export type { Clock, TimerClock, TimerId } from "../util/clock.ts";
export type { RandomSource } from "../util/random.ts";
