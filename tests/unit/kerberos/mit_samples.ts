/**
 * MIT krb5's "ktest" sample values (../shared vectors mit-asn1 README §2),
 * used to rebuild the lines of `reference_encode.out` byte for byte, and a
 * loader for that file. Test support only.
 */
import type {
  ApReq,
  AuthorizationDataEntry,
  Checksum,
  EncryptedData,
  EncryptionKey,
  HostAddress,
  KdcReqBody,
  PaData,
  PrincipalName,
  Ticket,
} from "../../../core/kerberos/messages.ts";
import { fromHex } from "../../../core/util/bytes.ts";

const te = new TextEncoder();
/** ASCII bytes of `s`. */
export const ascii = (s: string): Uint8Array => te.encode(s);

/** 1994-06-10 06:03:17 UTC. */
export const SAMPLE_TIME = new Date(771228197 * 1000);
export const SAMPLE_USEC = 123456;
export const SAMPLE_SEQ_NUMBER = 17;
export const SAMPLE_NONCE = 42;
export const SAMPLE_FLAGS = 0xfedcba98;
export const SAMPLE_ERROR = 60;
export const REALM = "ATHENA.MIT.EDU";

export const principal = (): PrincipalName => ({ nameType: 1, components: ["hftsai", "extra"] });
export const keyblock = (): EncryptionKey => ({ keytype: 1, keyvalue: ascii("12345678") });
export const checksum = (): Checksum => ({ cksumtype: 1, checksum: ascii("1234") });
export const encData = (): EncryptedData => ({
  etype: 0,
  kvno: 5,
  cipher: ascii("krbASN.1 test message"),
});
export const ticket = (): Ticket => ({
  tktVno: 5,
  realm: REALM,
  sname: principal(),
  encPart: encData(),
});
export const addresses = (): HostAddress[] => [
  { addrType: 2, address: Uint8Array.of(0x12, 0xd0, 0x00, 0x23) },
  { addrType: 2, address: Uint8Array.of(0x12, 0xd0, 0x00, 0x23) },
];
export const authData = (): AuthorizationDataEntry[] => [
  { adType: 1, adData: ascii("foobar") },
  { adType: 1, adData: ascii("foobar") },
];
export const paData = (): PaData => ({ padataType: 13, padataValue: ascii("pa-data") });
export const methodData = (): PaData[] => [paData(), paData()];
export const transited = () => ({
  trType: 1,
  contents: ascii("EDU,MIT.,ATHENA.,WASHINGTON.EDU,CS."),
});
export const lastReq = () => [
  { lrType: -5, lrValue: SAMPLE_TIME },
  { lrType: -5, lrValue: SAMPLE_TIME },
];

/** KDC-REQ-BODY of line 18 (full). */
export const reqBodyFull = (): KdcReqBody => ({
  kdcOptions: 0xfedcba90,
  cname: principal(),
  realm: REALM,
  sname: principal(),
  from: SAMPLE_TIME,
  till: SAMPLE_TIME,
  rtime: SAMPLE_TIME,
  nonce: SAMPLE_NONCE,
  etype: [0, 1],
  addresses: addresses(),
  encAuthorizationData: encData(),
  additionalTickets: [ticket(), ticket()],
});
/** KDC-REQ-BODY of line 19 (optionals NULL except second_ticket). */
export const reqBodySecondTicket = (): KdcReqBody => ({
  kdcOptions: 0xfedcba98,
  realm: REALM,
  till: SAMPLE_TIME,
  nonce: SAMPLE_NONCE,
  etype: [0, 1],
  additionalTickets: [ticket(), ticket()],
});
/** KDC-REQ-BODY of line 20 (optionals NULL except server). */
export const reqBodyServer = (): KdcReqBody => ({
  kdcOptions: 0xfedcba90,
  realm: REALM,
  sname: principal(),
  till: SAMPLE_TIME,
  nonce: SAMPLE_NONCE,
  etype: [0, 1],
});

export const apReq = (): ApReq => ({
  pvno: 5,
  msgType: 14,
  apOptions: SAMPLE_FLAGS,
  ticket: ticket(),
  authenticator: encData(),
});

/** The lines of reference_encode.out as label → bytes (in file order). */
export function loadReference(): Map<string, Uint8Array> {
  const url = new URL("../../fixtures/vectors/mit-asn1/reference_encode.out", import.meta.url);
  const text = Deno.readTextFileSync(url);
  const out = new Map<string, Uint8Array>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const i = line.indexOf(": ");
    out.set(line.slice(0, i), fromHex(line.slice(i + 2)));
  }
  return out;
}
