/**
 * Kerberos V5 messages and types (RFC 4120 §5, Appendix A): typed
 * interfaces plus strict DER `decodeX(bytes)` / `encodeX(value)` pairs.
 * Each message family lives in one file under `messages/` with its type,
 * decoder and encoder together:
 *
 * | file | contents |
 * | --- | --- |
 * | `messages/common.ts` | PrincipalName, EncryptedData, EncryptionKey, Checksum, HostAddress, AuthorizationData |
 * | `messages/ticket.ts` | Ticket, EncTicketPart, TransitedEncoding |
 * | `messages/authenticator.ts` | Authenticator |
 * | `messages/ap_req.ts`, `messages/ap_rep.ts` | KRB_AP_REQ; KRB_AP_REP and EncAPRepPart |
 * | `messages/kdc_req.ts`, `messages/kdc_rep.ts` | AS/TGS-REQ and KDC-REQ-BODY; AS/TGS-REP, EncKDCRepPart, LastReq |
 * | `messages/krb_error.ts` | KRB-ERROR, TYPED-DATA |
 * | `messages/padata.ts` | PA-DATA, METHOD-DATA, PA-ENC-TS-ENC, ETYPE-INFO2, ETYPE-INFO |
 * | `messages/codec.ts` | shared field readers and header checks (internal) |
 *
 * KRB-SAFE, KRB-PRIV and KRB-CRED, which KINK does not use, are in
 * `messages/safe_priv_cred.ts` and are not exported from here.
 *
 * Conventions:
 * - Times are JS `Date`s holding whole seconds; where the ASN.1 has a
 *   microseconds field it is a separate number (`cusec`, `susec`, …).
 * - Flags (TicketFlags, KDCOptions, APOptions) are 32-bit unsigned numbers
 *   with RFC 4120 bit 0 as the most significant bit (see `iana.ts`).
 * - Optional fields are `undefined` when absent; the encoders leave out
 *   exactly the fields that are `undefined`.
 * - The encoders produce the same octets as MIT krb5 for the same values
 *   (kvno and nonce are written as signed 32-bit values like MIT and Heimdal
 *   do; seq-number unsigned; flags always 32 bits).
 * - A decoded {@link Ticket} keeps its original encoding in `raw`, and
 *   {@link encodeTicket} writes `raw` verbatim when it is present, so a
 *   ticket obtained from a KDC is forwarded byte for byte.
 * - A decoded {@link KdcReq} keeps the original KDC-REQ-BODY octets in
 *   `reqBodyRaw` (the TGS-REQ authenticator checksum covers them).
 *
 * Decoders accept the [APPLICATION 25] and [APPLICATION 26] forms of
 * EncKDCRepPart for either reply type (RFC 4120 §5.4.2), and skip unknown
 * trailing context-tagged fields of a SEQUENCE (as MIT does).
 *
 * @module
 */
export {
  decodeAuthorizationData,
  decodeChecksum,
  decodeEncryptedData,
  decodeEncryptionKey,
  decodeHostAddresses,
  decodePrincipalName,
  encodeAuthorizationData,
  encodeChecksum,
  encodeEncryptedData,
  encodeEncryptionKey,
  encodeHostAddresses,
  encodePrincipalName,
  peekMessageType,
} from "./messages/common.ts";
export type {
  AuthorizationDataEntry,
  Checksum,
  EncryptedData,
  EncryptionKey,
  HostAddress,
  PrincipalName,
} from "./messages/common.ts";
export {
  decodeEncTicketPart,
  decodeTicket,
  encodeEncTicketPart,
  encodeTicket,
} from "./messages/ticket.ts";
export type { EncTicketPart, Ticket, TransitedEncoding } from "./messages/ticket.ts";
export { decodeAuthenticator, encodeAuthenticator } from "./messages/authenticator.ts";
export type { Authenticator } from "./messages/authenticator.ts";
export { decodeApReq, encodeApReq } from "./messages/ap_req.ts";
export type { ApReq } from "./messages/ap_req.ts";
export {
  decodeApRep,
  decodeEncApRepPart,
  encodeApRep,
  encodeEncApRepPart,
} from "./messages/ap_rep.ts";
export type { ApRep, EncApRepPart } from "./messages/ap_rep.ts";
export {
  decodeAsReq,
  decodeKdcReq,
  decodeKdcReqBody,
  decodeTgsReq,
  encodeKdcReq,
  encodeKdcReqBody,
} from "./messages/kdc_req.ts";
export type { KdcReq, KdcReqBody } from "./messages/kdc_req.ts";
export {
  decodeAsRep,
  decodeEncKdcRepPart,
  decodeKdcRep,
  decodeTgsRep,
  encodeEncKdcRepPart,
  encodeKdcRep,
} from "./messages/kdc_rep.ts";
export type { EncKdcRepPart, KdcRep, LastReqEntry } from "./messages/kdc_rep.ts";
export {
  decodeKrbError,
  decodeTypedData,
  encodeKrbError,
  encodeTypedData,
} from "./messages/krb_error.ts";
export type { KrbError, TypedDataEntry } from "./messages/krb_error.ts";
export {
  decodeEtypeInfo,
  decodeEtypeInfo2,
  decodeMethodData,
  decodePaData,
  decodePaEncTsEnc,
  encodeEtypeInfo,
  encodeEtypeInfo2,
  encodeMethodData,
  encodePaData,
  encodePaEncTsEnc,
} from "./messages/padata.ts";
export type {
  EtypeInfo2,
  EtypeInfo2Entry,
  EtypeInfoEntry,
  MethodData,
  PaData,
  PaEncTsEnc,
} from "./messages/padata.ts";
