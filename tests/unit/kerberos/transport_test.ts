import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import {
  checkKdcReplyFraming,
  formatEndpoint,
  isResponseTooBig,
  KdcUnreachableError,
  parseKdcEndpoint,
} from "../../../core/kerberos/transport.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { encodeKrbError } from "../../../core/kerberos/messages.ts";
import { ErrorCode, MsgType, NameType } from "../../../core/kerberos/iana.ts";

function krbError(code: number, eText?: string): Uint8Array {
  return encodeKrbError({
    pvno: 5,
    msgType: MsgType.KRB_ERROR,
    ctime: new Date(Date.UTC(2026, 0, 1)),
    cusec: 7,
    stime: new Date(Date.UTC(2026, 0, 1)),
    susec: 123456,
    errorCode: code,
    realm: "KINK.TEST",
    sname: { nameType: NameType.SRV_INST, components: ["krbtgt", "KINK.TEST"] },
    ...(eText ? { eText } : {}),
  });
}

// The forms MIT krb5.conf(5) documents for `kdc = ...` values.
Deno.test("transport: krb5.conf KDC address forms", () => {
  assertEquals(parseKdcEndpoint("kdc.kink.test"), { host: "kdc.kink.test", port: 88 });
  assertEquals(parseKdcEndpoint("127.0.0.1:7088"), { host: "127.0.0.1", port: 7088 });
  assertEquals(parseKdcEndpoint("[::1]:750"), { host: "::1", port: 750 });
  assertEquals(parseKdcEndpoint("fe80::1"), { host: "fe80::1", port: 88 });
  assertEquals(parseKdcEndpoint("tcp/kdc:88"), { host: "kdc", port: 88, protocol: "tcp" });
  assertEquals(parseKdcEndpoint("UDP/[::1]"), { host: "::1", port: 88, protocol: "udp" });
  for (const bad of ["", "host:0", "host:65536", "host:x", "[::1", "[::1]x", "tcp/"]) {
    throws(() => parseKdcEndpoint(bad), KerberosError, bad);
  }
  assertEquals(formatEndpoint({ host: "::1", port: 88 }), "[::1]:88");
  assertEquals(formatEndpoint({ host: "10.0.0.1", port: 88 }), "10.0.0.1:88");
});

// RFC 4120 §5.4.2 (KDC-REP is [APPLICATION 11]/[13]) and §5.9.1 (KRB-ERROR [APPLICATION 30]).
Deno.test("transport: only a complete AS-REP, TGS-REP or KRB-ERROR element is a reply", () => {
  assertEquals(checkKdcReplyFraming(new Uint8Array([0x7e, 0x02, 0x30, 0x00])), undefined);
  assertEquals(checkKdcReplyFraming(new Uint8Array([0x6b, 0x81, 0x01, 0x00])), undefined);
  assertEquals(checkKdcReplyFraming(new Uint8Array([0x6d, 0x00])), undefined);
  assert(checkKdcReplyFraming(new Uint8Array([0x6a, 0x00]))?.includes("first octet 0x6a"));
  assert(checkKdcReplyFraming(new Uint8Array([0x7e, 0x05, 0x30]))?.includes("does not match"));
  assert(checkKdcReplyFraming(new Uint8Array([0x7e, 0x85, 1, 1, 1, 1, 1]))?.includes("length"));
  assert(checkKdcReplyFraming(new Uint8Array([0x7e]))?.includes("1 octet"));
  assert(checkKdcReplyFraming(new TextEncoder().encode("HTTP/1.1 400"))?.includes("0x48"));
});

Deno.test("transport: the unreachable error lists every address tried", () => {
  const e = new KdcUnreachableError("kdc-unreachable", [
    { address: "127.0.0.1:7", protocol: "udp", outcome: "timeout 1000 ms" },
    { address: "127.0.0.1:8", protocol: "tcp", outcome: "connection refused" },
  ]);
  assertEquals(
    e.message,
    "KDC unreachable: tried 127.0.0.1:7 (timeout 1000 ms), tcp/127.0.0.1:8 (connection refused)",
  );
  assertEquals(e.layer, "kerberos");
  const twice = new KdcUnreachableError("kdc-unreachable", [
    { address: "127.0.0.1:7", protocol: "udp", outcome: "timeout 1000 ms" },
    { address: "[::1]:88", protocol: "udp", outcome: "timeout 1000 ms" },
    { address: "127.0.0.1:7", protocol: "udp", outcome: "timeout 1000 ms" },
    { address: "[::1]:88", protocol: "udp", outcome: "timeout 1000 ms" },
  ]);
  assertEquals(
    twice.message,
    "KDC unreachable: tried 127.0.0.1:7 (timeout 1000 ms ×2), [::1]:88 (timeout 1000 ms ×2)",
  );
  assertEquals(e.category, "kdc-unreachable");
});

// RFC 4120 §7.2.1: KRB_ERR_RESPONSE_TOO_BIG (52) over UDP means "retry over TCP".
Deno.test("transport: RESPONSE_TOO_BIG is recognised in a KRB-ERROR, nothing else is", () => {
  assert(isResponseTooBig(krbError(ErrorCode.KRB_ERR_RESPONSE_TOO_BIG)));
  assert(isResponseTooBig(krbError(ErrorCode.KRB_ERR_RESPONSE_TOO_BIG, "x".repeat(300))));
  assert(!isResponseTooBig(krbError(ErrorCode.KDC_ERR_PREAUTH_REQUIRED)));
  assert(!isResponseTooBig(krbError(ErrorCode.KRB_ERR_GENERIC)));
  assertEquals(checkKdcReplyFraming(krbError(52)), undefined);
});

Deno.test("transport: reply checks never throw on mutated replies (50k inputs)", () => {
  const seeds = [krbError(52), krbError(25, "NEEDED_PREAUTH"), krbError(6)];
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  for (let i = 0; i < 50_000; i++) {
    const seed = seeds[i % seeds.length]!;
    let b = seed.slice();
    if (rnd() < 0.6) {
      for (let j = 0, n = 1 + Math.floor(rnd() * 3); j < n; j++) {
        b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      }
    } else {
      b = b.subarray(0, Math.floor(rnd() * b.length));
    }
    const framing = checkKdcReplyFraming(b);
    assert(framing === undefined || typeof framing === "string");
    assertEquals(typeof isResponseTooBig(b), "boolean");
  }
});
