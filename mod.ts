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

// Crypto core (Kerberos enctypes 17-20, checksums, PRF, string-to-key, KINK KEYMAT)
export * from "./core/crypto/mod.ts";

// Kerberos (DER codec, messages, constants, principals, keytab)
export * from "./core/kerberos/errors.ts";
export * from "./core/kerberos/iana.ts";
export * from "./core/kerberos/principal.ts";
export * from "./core/kerberos/messages.ts";
export * from "./core/kerberos/keytab.ts";
export * from "./core/kerberos/ccache.ts";
export * from "./core/kerberos/krb5conf.ts";
export { DER_MAX_DEPTH, DER_MAX_INPUT, type DerLimits } from "./core/kerberos/der.ts";

// Kerberos exchanges (KDC transport, AS/TGS client, AP-REQ/AP-REP service side, replay cache)
export {
  checkKdcReplyFraming,
  DEFAULT_KDC_TIMEOUT_MS,
  DEFAULT_MAX_REPLY_OCTETS,
  DEFAULT_UDP_PREFERENCE_LIMIT,
  DEFAULT_UDP_ROUNDS,
  formatEndpoint,
  KdcUnreachableError,
  localBindAddress,
  parseKdcEndpoint,
  sendToKdc,
} from "./core/kerberos/transport.ts";
export type {
  KdcAttempt,
  KdcEndpoint,
  KdcReply,
  KdcSendOptions,
} from "./core/kerberos/transport.ts";
export { ReplayCache } from "./core/kerberos/replay.ts";
export type { ReplayCacheOptions, ReplayEntry, ReplayVerdict } from "./core/kerberos/replay.ts";
export {
  ApError,
  checksumTypeFor,
  DEFAULT_CLOCK_SKEW_MS,
  KerberosService,
  makeApRep,
  makeApReq,
  splitTime,
  toPrincipal,
  toPrincipalName,
  verifyApRep,
} from "./core/kerberos/service.ts";
export type {
  AuthenticatorTime,
  BuiltApReq,
  MakeApReqOptions,
  ServiceKeyEntry,
  ServiceOptions,
  VerifiedApRep,
  VerifiedApReq,
} from "./core/kerberos/service.ts";
export {
  clientOptionsFromKrb5Conf,
  credentialsFromCcache,
  credentialsToCcache,
  DEFAULT_CLIENT_ENCTYPES,
  defaultSalt,
  describeClockOffset,
  KdcError,
  KerberosClient,
  kinkServicePrincipal,
} from "./core/kerberos/client.ts";
export type { ClientOptions, ClientSecret, Credentials } from "./core/kerberos/client.ts";

// KINK wire format (RFC 4430 messages and payloads, ISAKMP Quick Mode payloads, pcap reader)
export * from "./core/wire/mod.ts";

// Kernel (typed IPsec SA/policy interface; NETLINK_XFRM backend via libc FFI, in-memory backend)
export * from "./core/kernel/mod.ts";
