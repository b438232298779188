/**
 * kink — KINK (RFC 4430, Kerberized Internet Negotiation of Keys) for Linux
 * IPsec gateways.
 *
 * This module is the public library API. Its layers, from the bottom:
 *
 * - the crypto core (Kerberos RFC 3961/3962/8009 enctypes, checksums, PRFs,
 *   KINK KEYMAT) compiled from Rust to WebAssembly;
 * - Kerberos V5 (DER, messages, keytab, ccache, krb5.conf, AS/TGS client,
 *   AP-REQ/AP-REP service side);
 * - the KINK wire format and the ISAKMP Quick Mode payloads it carries;
 * - the kernel interface (NETLINK_XFRM through Deno FFI, and an in-memory
 *   backend with the same semantics);
 * - IPsec SA keying: proposals, the responder's choice, and a negotiated
 *   Quick Mode turned into kernel SAs (KEYMAT, RFC 4430 §7).
 *
 * @module
 */
export { ConfigError, isKinkError, KinkError } from "./core/errors.ts";
export type { ErrorLayer, KinkErrorOptions } from "./core/errors.ts";
export { VERSION } from "./core/version.ts";

// Crypto core (Kerberos enctypes 17-20, checksums, PRF, string-to-key, KINK KEYMAT)
export * from "./core/crypto/mod.ts";

// Kerberos (DER, messages, files, KDC transport, AS/TGS client, AP service, replay cache)
export * from "./core/kerberos/mod.ts";

// KINK wire format (RFC 4430 messages and payloads, ISAKMP Quick Mode payloads, pcap reader)
export * from "./core/wire/mod.ts";

// Kernel (typed IPsec SA/policy interface; NETLINK_XFRM backend via libc FFI, in-memory backend)
export * from "./core/kernel/mod.ts";

// IPsec SA layer (proposal negotiation, KEYMAT → kernel SAs, inbound re-key)
export * from "./core/ipsec/mod.ts";
