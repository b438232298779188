/**
 * Decodes every RFC 4120 line of MIT's reference_encode.out to MIT's sample
 * values, and re-encodes those values byte for byte.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as M from "../../../core/kerberos/messages.ts";
import * as SPC from "../../../core/kerberos/messages/safe_priv_cred.ts";
import { toHex } from "../../../core/util/bytes.ts";
import * as S from "./mit_samples.ts";

const ref = S.loadReference();

/** Removes decoder-only bookkeeping fields (`raw`, `reqBodyRaw`) recursively. */
function strip(v: unknown): unknown {
  if (v instanceof Uint8Array || v instanceof Date || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(strip);
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "raw" || k === "reqBodyRaw") continue;
    o[k] = strip(x);
  }
  return o;
}

interface Case<T> {
  label: string;
  decode: (b: Uint8Array) => T;
  encode: (v: T) => Uint8Array;
  value: T;
}

// deno-lint-ignore no-explicit-any
const cases: Case<any>[] = [];
function add<T>(
  label: string,
  decode: (b: Uint8Array) => T,
  encode: (v: T) => Uint8Array,
  value: T,
) {
  cases.push({ label, decode, encode, value });
}

const T = S.SAMPLE_TIME;
add("encode_krb5_authenticator", M.decodeAuthenticator, M.encodeAuthenticator, {
  authenticatorVno: 5,
  crealm: S.REALM,
  cname: S.principal(),
  cksum: S.checksum(),
  cusec: S.SAMPLE_USEC,
  ctime: T,
  subkey: S.keyblock(),
  seqNumber: S.SAMPLE_SEQ_NUMBER,
  authorizationData: S.authData(),
});
for (const l of ["optionals empty", "optionals NULL"]) {
  add(`encode_krb5_authenticator(${l})`, M.decodeAuthenticator, M.encodeAuthenticator, {
    authenticatorVno: 5,
    crealm: S.REALM,
    cname: S.principal(),
    cusec: S.SAMPLE_USEC,
    ctime: T,
  });
}
add("encode_krb5_ticket", M.decodeTicket, M.encodeTicket, S.ticket());
add("encode_krb5_keyblock", M.decodeEncryptionKey, M.encodeEncryptionKey, S.keyblock());
add("encode_krb5_enc_tkt_part", M.decodeEncTicketPart, M.encodeEncTicketPart, {
  flags: S.SAMPLE_FLAGS,
  key: S.keyblock(),
  crealm: S.REALM,
  cname: S.principal(),
  transited: S.transited(),
  authtime: T,
  starttime: T,
  endtime: T,
  renewTill: T,
  caddr: S.addresses(),
  authorizationData: S.authData(),
});
add("encode_krb5_enc_tkt_part(optionals NULL)", M.decodeEncTicketPart, M.encodeEncTicketPart, {
  flags: S.SAMPLE_FLAGS,
  key: S.keyblock(),
  crealm: S.REALM,
  cname: S.principal(),
  transited: S.transited(),
  authtime: T,
  endtime: T,
});
add("encode_krb5_enc_kdc_rep_part", M.decodeEncKdcRepPart, M.encodeEncKdcRepPart, {
  key: S.keyblock(),
  lastReq: S.lastReq(),
  nonce: S.SAMPLE_NONCE,
  keyExpiration: T,
  flags: S.SAMPLE_FLAGS,
  authtime: T,
  starttime: T,
  endtime: T,
  renewTill: T,
  srealm: S.REALM,
  sname: S.principal(),
  caddr: S.addresses(),
  appTag: 26,
});
add(
  "encode_krb5_enc_kdc_rep_part(optionals NULL)",
  M.decodeEncKdcRepPart,
  M.encodeEncKdcRepPart,
  {
    key: S.keyblock(),
    lastReq: S.lastReq(),
    nonce: S.SAMPLE_NONCE,
    flags: 0xfe5cba98,
    authtime: T,
    endtime: T,
    srealm: S.REALM,
    sname: S.principal(),
    appTag: 26,
  },
);
for (
  const [name, type, dec] of [["as_rep", 11, M.decodeAsRep], [
    "tgs_rep",
    13,
    M.decodeTgsRep,
  ]] as const
) {
  const base = {
    pvno: 5,
    msgType: type,
    crealm: S.REALM,
    cname: S.principal(),
    ticket: S.ticket(),
    encPart: S.encData(),
  };
  add(`encode_krb5_${name}`, dec, M.encodeKdcRep, { ...base, padata: S.methodData() });
  add(`encode_krb5_${name}(optionals NULL)`, dec, M.encodeKdcRep, base);
  add(`encode_krb5_${name}`, M.decodeKdcRep, M.encodeKdcRep, { ...base, padata: S.methodData() });
}
add("encode_krb5_ap_req", M.decodeApReq, M.encodeApReq, S.apReq());
add("encode_krb5_ap_rep", M.decodeApRep, M.encodeApRep, {
  pvno: 5,
  msgType: 15,
  encPart: S.encData(),
});
add("encode_krb5_ap_rep_enc_part", M.decodeEncApRepPart, M.encodeEncApRepPart, {
  ctime: T,
  cusec: S.SAMPLE_USEC,
  subkey: S.keyblock(),
  seqNumber: S.SAMPLE_SEQ_NUMBER,
});
add("encode_krb5_ap_rep_enc_part(optionals NULL)", M.decodeEncApRepPart, M.encodeEncApRepPart, {
  ctime: T,
  cusec: S.SAMPLE_USEC,
});
for (
  const [name, type, dec] of [["as_req", 10, M.decodeAsReq], [
    "tgs_req",
    12,
    M.decodeTgsReq,
  ]] as const
) {
  add(`encode_krb5_${name}`, dec, M.encodeKdcReq, {
    pvno: 5,
    msgType: type,
    padata: S.methodData(),
    reqBody: S.reqBodyFull(),
  });
  add(`encode_krb5_${name}(optionals NULL except second_ticket)`, dec, M.encodeKdcReq, {
    pvno: 5,
    msgType: type,
    reqBody: S.reqBodySecondTicket(),
  });
  add(`encode_krb5_${name}(optionals NULL except server)`, M.decodeKdcReq, M.encodeKdcReq, {
    pvno: 5,
    msgType: type,
    reqBody: S.reqBodyServer(),
  });
}
add("encode_krb5_kdc_req_body", M.decodeKdcReqBody, M.encodeKdcReqBody, S.reqBodyFull());
add(
  "encode_krb5_kdc_req_body(optionals NULL except second_ticket)",
  M.decodeKdcReqBody,
  M.encodeKdcReqBody,
  S.reqBodySecondTicket(),
);
add(
  "encode_krb5_kdc_req_body(optionals NULL except server)",
  M.decodeKdcReqBody,
  M.encodeKdcReqBody,
  S.reqBodyServer(),
);
add("encode_krb5_error", M.decodeKrbError, M.encodeKrbError, {
  pvno: 5,
  msgType: 30,
  ctime: T,
  cusec: S.SAMPLE_USEC,
  stime: T,
  susec: S.SAMPLE_USEC,
  errorCode: S.SAMPLE_ERROR,
  crealm: S.REALM,
  cname: S.principal(),
  realm: S.REALM,
  sname: S.principal(),
  eText: "krb5data",
  eData: S.ascii("krb5data"),
});
add("encode_krb5_error(optionals NULL)", M.decodeKrbError, M.encodeKrbError, {
  pvno: 5,
  msgType: 30,
  cusec: S.SAMPLE_USEC,
  stime: T,
  susec: S.SAMPLE_USEC,
  errorCode: S.SAMPLE_ERROR,
  realm: S.REALM,
  sname: S.principal(),
});
add(
  "encode_krb5_authorization_data",
  M.decodeAuthorizationData,
  M.encodeAuthorizationData,
  S.authData(),
);
add("encode_krb5_padata_sequence", M.decodeMethodData, M.encodeMethodData, S.methodData());
add("encode_krb5_padata_sequence(empty)", M.decodeMethodData, M.encodeMethodData, []);
add("encode_krb5_typed_data", M.decodeTypedData, M.encodeTypedData, [
  { dataType: 13, dataValue: S.ascii("pa-data") },
  { dataType: 13, dataValue: S.ascii("pa-data") },
]);
const ei = [
  { etype: 0, salt: S.ascii("Morton's #0") },
  { etype: 1 },
  { etype: 2, salt: S.ascii("Morton's #2") },
];
add("encode_krb5_etype_info", M.decodeEtypeInfo, M.encodeEtypeInfo, ei);
add("encode_krb5_etype_info(only 1)", M.decodeEtypeInfo, M.encodeEtypeInfo, ei.slice(0, 1));
add("encode_krb5_etype_info(no info)", M.decodeEtypeInfo, M.encodeEtypeInfo, []);
const ei2 = [
  { etype: 0, salt: "Morton's #0", s2kparams: S.ascii("s2k: 0") },
  { etype: 1, s2kparams: S.ascii("s2k: 1") },
  { etype: 2, salt: "Morton's #2", s2kparams: S.ascii("s2k: 2") },
];
add("encode_krb5_etype_info2", M.decodeEtypeInfo2, M.encodeEtypeInfo2, ei2);
add("encode_krb5_etype_info2(only 1)", M.decodeEtypeInfo2, M.encodeEtypeInfo2, ei2.slice(0, 1));
add("encode_krb5_pa_enc_ts", M.decodePaEncTsEnc, M.encodePaEncTsEnc, {
  patimestamp: T,
  pausec: S.SAMPLE_USEC,
});
add("encode_krb5_pa_enc_ts (no usec)", M.decodePaEncTsEnc, M.encodePaEncTsEnc, {
  patimestamp: T,
});
add("encode_krb5_enc_data", M.decodeEncryptedData, M.encodeEncryptedData, S.encData());
add("encode_krb5_enc_data(MSB-set kvno)", M.decodeEncryptedData, M.encodeEncryptedData, {
  ...S.encData(),
  kvno: 0xff000000,
});
add("encode_krb5_enc_data(kvno=-1)", M.decodeEncryptedData, M.encodeEncryptedData, {
  ...S.encData(),
  kvno: 0xffffffff,
});

const addr = () => S.addresses()[0]!;
add("encode_krb5_safe", SPC.decodeKrbSafe, SPC.encodeKrbSafe, {
  pvno: 5,
  msgType: 20,
  safeBody: {
    userData: S.ascii("krb5data"),
    timestamp: T,
    usec: S.SAMPLE_USEC,
    seqNumber: S.SAMPLE_SEQ_NUMBER,
    sAddress: addr(),
    rAddress: addr(),
  },
  cksum: S.checksum(),
});
add("encode_krb5_safe(optionals NULL)", SPC.decodeKrbSafe, SPC.encodeKrbSafe, {
  pvno: 5,
  msgType: 20,
  safeBody: { userData: S.ascii("krb5data"), sAddress: addr() },
  cksum: S.checksum(),
});
add("encode_krb5_priv", SPC.decodeKrbPriv, SPC.encodeKrbPriv, {
  pvno: 5,
  msgType: 21,
  encPart: S.encData(),
});
add("encode_krb5_enc_priv_part", SPC.decodeEncKrbPrivPart, SPC.encodeEncKrbPrivPart, {
  userData: S.ascii("krb5data"),
  timestamp: T,
  usec: S.SAMPLE_USEC,
  seqNumber: S.SAMPLE_SEQ_NUMBER,
  sAddress: addr(),
  rAddress: addr(),
});
add(
  "encode_krb5_enc_priv_part(optionals NULL)",
  SPC.decodeEncKrbPrivPart,
  SPC.encodeEncKrbPrivPart,
  {
    userData: S.ascii("krb5data"),
    sAddress: addr(),
  },
);
add("encode_krb5_cred", SPC.decodeKrbCred, SPC.encodeKrbCred, {
  pvno: 5,
  msgType: 22,
  tickets: [S.ticket(), S.ticket()],
  encPart: S.encData(),
});
const credInfo = () => ({
  key: S.keyblock(),
  prealm: S.REALM,
  pname: S.principal(),
  flags: S.SAMPLE_FLAGS,
  authtime: T,
  starttime: T,
  endtime: T,
  renewTill: T,
  srealm: S.REALM,
  sname: S.principal(),
  caddr: S.addresses(),
});
add("encode_krb5_enc_cred_part", SPC.decodeEncKrbCredPart, SPC.encodeEncKrbCredPart, {
  ticketInfo: [credInfo(), credInfo()],
  nonce: S.SAMPLE_NONCE,
  timestamp: T,
  usec: S.SAMPLE_USEC,
  sAddress: addr(),
  rAddress: addr(),
});
add(
  "encode_krb5_enc_cred_part(optionals NULL)",
  SPC.decodeEncKrbCredPart,
  SPC.encodeEncKrbCredPart,
  {
    ticketInfo: [{ key: S.keyblock() }, credInfo()],
  },
);

for (const c of cases) {
  Deno.test(`MIT reference: ${c.label} (${c.decode.name})`, () => {
    const bytes = ref.get(c.label);
    ok(bytes, `label ${c.label} missing from reference_encode.out`);
    const decoded = c.decode(bytes);
    deepStrictEqual(strip(decoded), c.value);
    strictEqual(toHex(c.encode(c.value)), toHex(bytes), "encoding of the sample values");
    strictEqual(toHex(c.encode(decoded)), toHex(bytes), "re-encoding of the decoded value");
  });
}

Deno.test("MIT reference: every RFC 4120 line (1-50) is covered", () => {
  const labels = [...ref.keys()].slice(0, 50);
  const covered = new Set(cases.map((c) => c.label));
  const missing = labels.filter((l) => !covered.has(l));
  deepStrictEqual(missing, []);
});

Deno.test("MIT reference: Ticket.raw holds the exact ticket octets inside an AP-REQ", () => {
  const bytes = ref.get("encode_krb5_ap_req")!;
  const m = M.decodeApReq(bytes);
  strictEqual(toHex(m.ticket.raw!), toHex(ref.get("encode_krb5_ticket")!));
});

Deno.test("MIT reference: KDC-REQ keeps the req-body octets", () => {
  const m = M.decodeAsReq(ref.get("encode_krb5_as_req")!);
  strictEqual(toHex(m.reqBodyRaw!), toHex(ref.get("encode_krb5_kdc_req_body")!));
});
