/**
 * DER strictness: what the reader rejects, what it accepts (the extra
 * decoder cases of MIT's krb5_decode_test), and the exact form of
 * positioned errors.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { DerReader, encFlags, encInteger, encTime, toDer } from "../../../core/kerberos/der.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { ErrorCode } from "../../../core/kerberos/iana.ts";
import * as M from "../../../core/kerberos/messages.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import * as S from "./mit_samples.ts";

const ref = S.loadReference();
const h = fromHex;

function decodeErr(re?: RegExp, code?: number) {
  return (e: unknown): boolean => {
    if (!(e instanceof KerberosError) || e.category !== "decode") return false;
    if (re && !re.test(e.message)) throw new Error(`message ${JSON.stringify(e.message)} !~ ${re}`);
    if (code !== undefined && e.errorCode !== code) return false;
    return true;
  };
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("DER: error names the path, the tags and the absolute offset", () => {
  const b = ref.get("encode_krb5_ap_req")!.slice();
  // The ticket's enc-part: ... A1 03 02 01 05 A2 17 04 15 ...; turn [2] cipher into [3].
  const i = indexOf(b, h("A1 03 02 01 05 A2 17")) + 5;
  b[i] = 0xa3;
  throws(
    () => M.decodeApReq(b),
    decodeErr(
      new RegExp(`^AP-REQ\\.ticket\\.enc-part: expected \\[2\\] got \\[3\\] at offset ${i}$`),
    ),
  );
  try {
    M.decodeApReq(b);
  } catch (e) {
    strictEqual((e as KerberosError).offset, i);
    strictEqual((e as KerberosError).context, "AP-REQ.ticket.enc-part");
  }
});

Deno.test("DER: indefinite length is rejected (MIT decode test form 30 80 … 00 00)", () => {
  throws(
    () =>
      M.decodeEncryptionKey(h("30 80 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38 00 00")),
    decodeErr(/indefinite length/),
  );
});

Deno.test("DER: non-minimal and oversized lengths are rejected", () => {
  // 0x81 with a length < 128
  throws(
    () => M.decodeEncryptionKey(h("30 81 11 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38")),
    decodeErr(/non-minimal length 17/),
  );
  // leading zero length octet
  throws(
    () =>
      M.decodeEncryptionKey(h("30 82 00 11 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38")),
    decodeErr(/non-minimal length .*leading zero/),
  );
  // 5 length octets
  throws(() => M.decodeEncryptionKey(h("30 85 00 00 00 00 11")), decodeErr(/uses 5 octets/));
  // length past the end of the parent
  throws(
    () => M.decodeEncryptionKey(h("30 11 A0 03 02 01 01 A1 0B 04 08 31 32 33 34 35 36 37 38")),
    decodeErr(/length 11 of \[1\] exceeds the 10 octets available at offset 7/),
  );
  // trailing octets after the top-level element
  throws(
    () => M.decodeEncryptionKey(h("30 11 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38 00")),
    decodeErr(/^EncryptionKey: unexpected/),
  );
  // truncated
  throws(() => M.decodeEncryptionKey(h("30")), decodeErr(/truncated length/));
  throws(() => M.decodeEncryptionKey(new Uint8Array(0)), decodeErr(/unexpected end of data/));
});

Deno.test("DER: INTEGER must be minimal and in range", () => {
  const key = (intHex: string) => {
    const i = h(intHex);
    const inner = Uint8Array.from([
      0xa0,
      i.length + 2,
      0x02,
      i.length,
      ...i,
      ...h("A1 06 04 04 31 32 33 34"),
    ]);
    return Uint8Array.from([0x30, inner.length, ...inner]);
  };
  // Accepted: MIT's krb5_decode_test enctypes −1, −255, 255, −2^31, 2^31−1.
  const cases: [string, number][] = [
    ["FF", -1],
    ["FF 01", -255],
    ["00 FF", 255],
    ["80 00 00 00", -0x80000000],
    ["7F FF FF FF", 0x7fffffff],
  ];
  for (const [hex, v] of cases) {
    strictEqual(M.decodeEncryptionKey(key(hex)).keytype, v, hex);
    strictEqual(toHex(toDer(encInteger(v))).slice(4), hex.replace(/ /g, "").toLowerCase());
  }
  throws(() => M.decodeEncryptionKey(key("00 05")), decodeErr(/non-minimal INTEGER/));
  throws(() => M.decodeEncryptionKey(key("FF 80")), decodeErr(/non-minimal INTEGER/));
  throws(() => M.decodeEncryptionKey(key("00 80 00 00 00")), decodeErr(/out of range/));
  const empty = h("30 0C A0 02 02 00 A1 06 04 04 31 32 33 34");
  throws(() => M.decodeEncryptionKey(empty), decodeErr(/empty INTEGER/));
});

Deno.test("DER: UInt32 kvno accepts the RFC unsigned and MIT signed forms", () => {
  const enc = (kvnoHex: string) => {
    const n = kvnoHex.split(" ").length;
    const inner = h(
      `A0 03 02 01 00 A1 ${(n + 2).toString(16).padStart(2, "0")} 02 ${
        n.toString(16).padStart(2, "0")
      } ${kvnoHex} A2 03 04 01 00`,
    );
    return Uint8Array.from([0x30, inner.length, ...inner]);
  };
  strictEqual(M.decodeEncryptedData(enc("00 FF 00 00 00")).kvno, 0xff000000);
  strictEqual(M.decodeEncryptedData(enc("FF 00 00 00")).kvno, 0xff000000);
  strictEqual(M.decodeEncryptedData(enc("00 FF FF FF FF")).kvno, 0xffffffff);
  throws(() => M.decodeEncryptedData(enc("01 00 00 00 00")), decodeErr(/outside UInt32/));
});

Deno.test("DER: microseconds must be 0..999999", () => {
  const base = ref.get("encode_krb5_ap_rep_enc_part(optionals NULL)")!;
  // cusec 123456 = 02 03 01 E2 40 → 1000000 = 02 03 0F 42 40
  const b = base.slice();
  const i = indexOf(b, h("02 03 01 E2 40"));
  b.set(h("02 03 0F 42 40"), i);
  throws(() => M.decodeEncApRepPart(b), decodeErr(/microseconds 1000000 outside 0\.\.999999/));
});

Deno.test("DER: KerberosTime accepts only YYYYMMDDHHMMSSZ with a valid date", () => {
  const ts = (s: string) => {
    const t = new TextEncoder().encode(s);
    const inner = Uint8Array.from([0xa0, t.length + 2, 0x18, t.length, ...t]);
    return Uint8Array.from([0x30, inner.length, ...inner]);
  };
  deepStrictEqual(M.decodePaEncTsEnc(ts("19940610060317Z")), { patimestamp: S.SAMPLE_TIME });
  deepStrictEqual(
    M.decodePaEncTsEnc(ts("20240229235959Z")).patimestamp.toISOString(),
    "2024-02-29T23:59:59.000Z",
  );
  for (
    const bad of [
      "19940610060317.5Z", // fraction
      "19940610060317", // no Z
      "1994061006031Z", // short
      "199406100603170", // no Z, 15 chars
      "19941310060317Z", // month 13
      "19940230060317Z", // Feb 30
      "20230229000000Z", // not a leap year
      "19940610246317Z", // hour 24
      "19940610066017Z", // minute 60
      "1994O610060317Z", // letter O
      "19940610060317+", // offset
    ]
  ) {
    throws(() => M.decodePaEncTsEnc(ts(bad)), decodeErr(/KerberosTime/), bad);
  }
  // UTCTime is not a KerberosTime
  const utc = h("30 11 A0 0F 17 0D 39 34 30 36 31 30 30 36 30 33 31 37 5A");
  throws(() => M.decodePaEncTsEnc(utc), decodeErr(/expected GeneralizedTime got UTCTime/));
  strictEqual(
    toHex(toDer(encTime(new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999))))),
    toHex(h("18 0F")) + toHex(new TextEncoder().encode("20240229235959Z")),
  );
});

Deno.test("DER: KerberosString must be a GeneralString", () => {
  const name = (tag: number) =>
    h(`30 0E A0 03 02 01 01 A1 07 30 05 ${tag.toString(16).padStart(2, "0")} 03 61 62 63`);
  deepStrictEqual(M.decodePrincipalName(name(0x1b)), { nameType: 1, components: ["abc"] });
  throws(
    () => M.decodePrincipalName(name(0x0c)),
    decodeErr(/expected GeneralString got UTF8String/),
  );
  // Invalid UTF-8 in a GeneralString is refused.
  const badUtf8 = h("30 0E A0 03 02 01 01 A1 07 30 05 1B 03 61 C3 28");
  throws(() => M.decodePrincipalName(badUtf8), decodeErr(/not valid UTF-8/));
  const utf8 = h("30 0E A0 03 02 01 01 A1 07 30 05 1B 03 61 C3 A9");
  deepStrictEqual(M.decodePrincipalName(utf8).components, ["aé"]);
});

Deno.test("DER: KerberosFlags BIT STRING", () => {
  const ap = (bits: string) => {
    const b = h(bits);
    const r = DerReader.top(b, "flags");
    const v = r.flags();
    r.finish();
    return v;
  };
  strictEqual(ap("03 05 00 FE DC BA 98"), 0xfedcba98);
  strictEqual(ap("03 05 00 20 00 00 00"), 0x20000000); // mutual-required
  strictEqual(ap("03 02 07 80"), 0x80000000); // 1 bit (Heimdal-style short form)
  strictEqual(ap("03 01 00"), 0); // no bits
  strictEqual(ap("03 06 00 01 02 03 04 05"), 0x01020304); // bits past 32 ignored
  throws(() => ap("03 00"), decodeErr(/empty BIT STRING/));
  throws(() => ap("03 02 08 00"), decodeErr(/8 unused bits/));
  throws(() => ap("03 02 01 81"), decodeErr(/unused bits are not zero/));
  throws(() => ap("03 01 03"), decodeErr(/empty BIT STRING with unused bits/));
  strictEqual(toHex(toDer(encFlags(0x60000000))), "03050060000000");
});

Deno.test("DER: unknown trailing context fields are skipped; out-of-place fields are not", () => {
  // MIT decode test: EncryptionKey followed by [2] INTEGER
  const ext = h("30 16 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38 A2 03 02 01 01");
  deepStrictEqual(M.decodeEncryptionKey(ext), S.keyblock());
  // A universal element after the last field is an error.
  const junk = h("30 16 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38 02 03 02 01 01");
  throws(() => M.decodeEncryptionKey(junk), decodeErr(/unexpected INTEGER after the last field/));
  // A known tag repeated is an error.
  const rep = h("30 16 A0 03 02 01 01 A1 0A 04 08 31 32 33 34 35 36 37 38 A1 03 02 01 01");
  throws(() => M.decodeEncryptionKey(rep), decodeErr(/unexpected \[1\] after the last field/));
  // Fields out of order: [1] before [0].
  const swapped = h("30 11 A1 0A 04 08 31 32 33 34 35 36 37 38 A0 03 02 01 01");
  throws(() => M.decodeEncryptionKey(swapped), decodeErr(/expected \[0\] got \[1\] at offset 2/));
});

Deno.test("DER: depth and size limits", () => {
  // 40 nested SEQUENCEs: the reader refuses to go deeper than the limit.
  let b: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 40; i++) b = Uint8Array.from([0x30, b.length, ...b]);
  const r = DerReader.top(b, "nest", { maxDepth: 32 });
  throws(() => {
    let cur = r;
    for (;;) cur = cur.sequence();
  }, decodeErr(/nesting deeper than 32/));
  // Input size limit.
  const apreq = ref.get("encode_krb5_ap_req")!;
  throws(() => M.decodeApReq(apreq, { maxInput: 100 }), decodeErr(/exceeds the limit of 100/));
  // Unknown trailing fields count against the depth limit as well.
  M.decodeApReq(apreq, { maxDepth: 12 });
  throws(() => M.decodeApReq(apreq, { maxDepth: 5 }), decodeErr(/nesting deeper than 5/));
});

Deno.test("DER: high-tag-number form is refused", () => {
  throws(() => M.decodeEncryptionKey(h("3F 81 00 00")), decodeErr(/high-tag-number/));
});

Deno.test("messages: pvno and msg-type checks carry the Kerberos error code", () => {
  const b = ref.get("encode_krb5_ap_req")!.slice();
  // pvno: A0 03 02 01 05 at offset 6
  const pv = indexOf(b, h("A0 03 02 01 05"));
  b[pv + 4] = 4;
  throws(() => M.decodeApReq(b), decodeErr(/pvno 4 is not 5/, ErrorCode.KRB_AP_ERR_BADVERSION));
  const c = ref.get("encode_krb5_ap_req")!.slice();
  const mt = indexOf(c, h("A1 03 02 01 0E"));
  c[mt + 4] = 15;
  throws(
    () => M.decodeApReq(c),
    decodeErr(/msg-type 15 does not match \[APPLICATION 14\]/, ErrorCode.KRB_AP_ERR_MSG_TYPE),
  );
  // An AS-REP is not a TGS-REP.
  throws(
    () => M.decodeTgsRep(ref.get("encode_krb5_as_rep")!),
    decodeErr(/expected \[APPLICATION 13\] got \[APPLICATION 11\]/),
  );
  // A KRB-ERROR is told apart before decoding.
  strictEqual(M.peekMessageType(ref.get("encode_krb5_error")!), 30);
});

Deno.test("messages: EncKDCRepPart with [APPLICATION 25] is accepted (RFC 4120 §5.4.2)", () => {
  const b = ref.get("encode_krb5_enc_kdc_rep_part")!.slice();
  b[0] = 0x79;
  const m = M.decodeEncKdcRepPart(b);
  strictEqual(m.appTag, 25);
  strictEqual(toHex(M.encodeEncKdcRepPart(m)), toHex(b));
  b[0] = 0x7c;
  throws(
    () => M.decodeEncKdcRepPart(b),
    decodeErr(/expected \[APPLICATION 26\] got \[APPLICATION 28\]/),
  );
});

Deno.test("encoders refuse values outside the ASN.1 ranges", () => {
  const isEnc = (e: unknown) => e instanceof KerberosError && e.category === "encode";
  throws(() => M.encodeEncryptionKey({ keytype: 2 ** 31, keyvalue: new Uint8Array(1) }), isEnc);
  throws(() => M.encodeEncApRepPart({ ctime: S.SAMPLE_TIME, cusec: 1000000 }), isEnc);
  throws(() => M.encodeEncApRepPart({ ctime: new Date(NaN), cusec: 0 }), isEnc);
  throws(() => M.encodePaEncTsEnc({ patimestamp: new Date(Date.UTC(10000, 0, 1)) }), isEnc);
  throws(
    () => M.encodeKdcRep({ ...M.decodeAsRep(ref.get("encode_krb5_as_rep")!), msgType: 14 }),
    isEnc,
  );
});
