/**
 * kink — KINK (RFC 4430, Kerberized Internet Negotiation of Keys) for Linux
 * IPsec gateways.
 *
 * The library comes in layers, each its own entry point (subpath export of
 * the package), from the bottom:
 *
 * | import | layer |
 * | --- | --- |
 * | `@kink/kink/crypto` | Kerberos RFC 3961/3962/8009 enctypes 17–20, checksums, PRFs, string-to-key, KINK KEYMAT (Rust → wasm) |
 * | `@kink/kink/kerberos` | Kerberos V5: DER messages, principals, keytab, ccache, krb5.conf, KDC transport, AS/TGS client, AP-REQ/AP-REP service side, replay cache |
 * | `@kink/kink/wire` | the KINK wire format, the ISAKMP Quick Mode payloads it carries, a pcap/pcapng reader |
 * | `@kink/kink/kernel` | the kernel's IPsec SAs and policies: NETLINK_XFRM through Deno FFI, and an in-memory backend with the same semantics |
 * | `@kink/kink/net` | the datagram transport KINK messages travel on: UDP over Deno sockets (IPv4/IPv6), an in-memory hub with loss/delay hooks |
 * | `@kink/kink/ipsec` | IPsec SA negotiation and keying: proposals, the responder's choice, a negotiated Quick Mode turned into kernel SAs (KEYMAT), the inbound re-key |
 * | `@kink/kink/engine` | the KINK protocol engine: every exchange as a deterministic, sans-I/O state machine a driver feeds with datagrams, kernel events and time |
 *
 * This module gathers what every layer shares — the error family rooted at
 * {@link KinkError}, the clock and randomness seams, {@link VERSION} — and
 * each layer as a namespace (`import * as kink from "@kink/kink"; kink.wire…`).
 *
 * @module
 */
export { ConfigError, isKinkError, KinkError } from "./core/errors.ts";
export type { ConfigErrorCategory, ErrorLayer, KinkErrorOptions } from "./core/errors.ts";
export { CryptoError } from "./core/crypto/errors.ts";
export type { CryptoErrorCategory } from "./core/crypto/errors.ts";
export { isKerberosError, KerberosError } from "./core/kerberos/errors.ts";
export type { KerberosErrorCategory, KerberosErrorOptions } from "./core/kerberos/errors.ts";
export { WireError } from "./core/wire/errors.ts";
export type { WireErrorCategory, WireErrorOptions, WireReaction } from "./core/wire/errors.ts";
export { KernelError } from "./core/kernel/mod.ts";
export type { KernelErrorCategory } from "./core/kernel/mod.ts";
export { NetError } from "./core/net/errors.ts";
export type { NetErrorCategory } from "./core/net/errors.ts";
export { IpsecError } from "./core/ipsec/errors.ts";
export type { IpsecErrorCategory } from "./core/ipsec/errors.ts";
export { EngineError } from "./core/engine/errors.ts";
export type { EngineErrorCategory } from "./core/engine/errors.ts";
export { VERSION } from "./core/version.ts";

// The seams every layer takes its time and randomness from.
export { ManualClock, systemClock } from "./core/util/clock.ts";
export type { Clock, TimerClock, TimerId } from "./core/util/clock.ts";
export { SeededRandom, systemRandom } from "./core/util/random.ts";
export type { RandomSource } from "./core/util/random.ts";

/** Crypto core (Kerberos enctypes 17–20, checksums, PRF, string-to-key, KINK KEYMAT). */
export * as crypto from "./core/crypto/mod.ts";
/** Kerberos V5 (DER messages, files, KDC transport, AS/TGS client, AP service, replay cache). */
export * as kerberos from "./core/kerberos/mod.ts";
/** KINK wire format (RFC 4430 messages and payloads, ISAKMP Quick Mode payloads, pcap reader). */
export * as wire from "./core/wire/mod.ts";
/** Kernel (typed IPsec SA/policy interface; NETLINK_XFRM backend, in-memory backend). */
export * as kernel from "./core/kernel/mod.ts";
/** IPsec SA layer (proposal negotiation, KEYMAT → kernel SAs, inbound re-key). */
export * as ipsec from "./core/ipsec/mod.ts";
/** Network (datagram transport seam: UDP on Deno sockets, IPv4/IPv6; in-memory hub). */
export * as net from "./core/net/mod.ts";
/** KINK protocol engine (deterministic, sans-I/O state machine of every exchange). */
export * as engine from "./core/engine/mod.ts";
