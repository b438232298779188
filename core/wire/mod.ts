/**
 * The KINK wire layer: RFC 4430 messages and payloads (codec, Cksum,
 * KINK_ENCRYPT, §6 rules, §15 receive order, builders), the ISAKMP Quick
 * Mode payloads with the IPsec DOI tables, and a pcap/pcapng reader.
 *
 * @module
 */
export { KinkErrorCode, WireError } from "./errors.ts";
export type { WireErrorCategory, WireErrorOptions, WireReaction } from "./errors.ts";
export {
  DOI_IPSEC,
  KINK_HEADER_SIZE,
  KINK_MAJOR_VERSION,
  KINK_PORT,
  kinkErrorName,
  MessageType,
  messageTypeName,
  PayloadType,
  payloadTypeName,
} from "./constants.ts";
export * from "./ipsec_doi.ts";
export * from "./isakmp.ts";
export * from "./kink.ts";
export * from "./rules.ts";
export * from "./receive.ts";
export * from "./builders.ts";
export { keyOps } from "./session.ts";
export * from "./pcap.ts";
