/**
 * Kerberos V5 for KINK: DER codec, messages, constants, principals, keytab,
 * ccache and krb5.conf files, the KDC transport, the AS/TGS client, the
 * AP-REQ/AP-REP service side and the replay cache.
 *
 * Code above this layer imports it through this module only.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./iana.ts";
export * from "./principal.ts";
export * from "./messages.ts";
export * from "./keytab.ts";
export * from "./ccache.ts";
export * from "./krb5conf.ts";
export { DER_MAX_DEPTH, DER_MAX_INPUT, type DerLimits } from "./der.ts";
// The seams the client, the service and the replay cache take.
export type { Clock } from "../util/clock.ts";
export type { RandomSource } from "../util/random.ts";

// Kerberos exchanges (KDC transport, AS/TGS client, AP-REQ/AP-REP service side, replay cache)
export {
  DEFAULT_KDC_TIMEOUT_MS,
  DEFAULT_MAX_REPLY_OCTETS,
  DEFAULT_UDP_PREFERENCE_LIMIT,
  DEFAULT_UDP_ROUNDS,
  formatEndpoint,
  KdcUnreachableError,
  localBindAddress,
  parseKdcEndpoint,
  sendToKdc,
} from "./transport.ts";
export type { KdcAttempt, KdcEndpoint, KdcReply, KdcSendOptions } from "./transport.ts";
export { ReplayCache } from "./replay.ts";
export type { ReplayCacheOptions, ReplayEntry, ReplayVerdict } from "./replay.ts";
export {
  ApError,
  AuthenticatorTimes,
  checksumTypeFor,
  DEFAULT_CLOCK_SKEW_MS,
  ipAddressBytes,
  KerberosService,
  makeApRep,
  makeApReq,
  splitTime,
  toPrincipal,
  toPrincipalName,
  verifyApRep,
} from "./service.ts";
export type {
  AuthenticatorTime,
  BuiltApReq,
  MakeApReqOptions,
  ServiceKeyEntry,
  ServiceOptions,
  TicketAddressPolicy,
  VerifiedApRep,
  VerifiedApReq,
  VerifyApReqOptions,
} from "./service.ts";
export {
  capathsFromKrb5Conf,
  clientOptionsFromKrb5Conf,
  credentialsFromCcache,
  credentialsToCcache,
  DEFAULT_CLIENT_ENCTYPES,
  defaultSalt,
  describeClockOffset,
  KdcError,
  kdcSender,
  KerberosClient,
  kinkServicePrincipal,
  realmPath,
} from "./client.ts";
export type { Capaths, ClientOptions, ClientSecret, Credentials, KdcSender } from "./client.ts";
