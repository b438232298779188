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
 *   backend with the same semantics).
 *
 * @module
 */
export { ConfigError, isKinkError, KinkError } from "./core/errors.ts";
export type { ErrorLayer, KinkErrorOptions } from "./core/errors.ts";
export { VERSION } from "./core/version.ts";
