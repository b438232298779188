import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import {
  checkKdcReplyFraming,
  formatEndpoint,
  KdcUnreachableError,
  parseKdcEndpoint,
} from "../../../core/kerberos/transport.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";

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
  assertEquals(e.category, "kdc-unreachable");
});
