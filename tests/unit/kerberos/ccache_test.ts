/** FILE ccache reading and writing against MIT's t_marshal.c caches and fuzz seeds. */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  type Ccache,
  ccacheConfig,
  type CcacheCredential,
  readCcache,
  writeCcache,
} from "../../../core/kerberos/ccache.ts";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { toHex } from "../../../core/util/bytes.ts";

const fx = (p: string) =>
  Deno.readFileSync(new URL(`../../fixtures/vectors/mit-asn1/${p}`, import.meta.url));
const te = new TextEncoder();
const isDecode = (e: unknown) =>
  e instanceof KerberosError && e.category === "decode" && e.context === "ccache";

/** The values MIT's t_marshal.c stores (README §5), for a given format version. */
function expected(version: number): Ccache {
  const nt = version === 1 ? 0 : 1;
  const client = { nameType: nt, components: ["testclient"], realm: "KRBTEST.COM" };
  const cred1: CcacheCredential = {
    client,
    server: { nameType: nt, components: ["test", "host"], realm: "EXAMPLE.COM" },
    key: { keytype: 17, keyvalue: Uint8Array.from({ length: 16 }, (_, i) => i) },
    authtime: new Date(11000),
    starttime: new Date(222000),
    endtime: new Date(3333000),
    renewTill: new Date(1000000000000),
    isSkey: false,
    ticketFlags: 0x40800000,
    addresses: [{ addrType: 2, address: Uint8Array.of(10, 0, 0, 1) }],
    authdata: [
      { adType: 512, adData: te.encode("signticket") },
      { adType: -100, adData: new Uint8Array(0) },
    ],
    ticket: te.encode("ticket"),
    secondTicket: new Uint8Array(0),
  };
  const cred2: CcacheCredential = {
    client,
    server: { nameType: nt, components: [], realm: "" },
    key: { keytype: 23, keyvalue: Uint8Array.from({ length: 16 }, (_, i) => 15 - i) },
    authtime: new Date(0),
    endtime: new Date(0),
    isSkey: true,
    ticketFlags: 0,
    addresses: [],
    authdata: [],
    ticket: te.encode("ticket"),
    secondTicket: te.encode("2ticket"),
  };
  const cc: Ccache = {
    version,
    defaultPrincipal: client,
    credentials: [cred1, cred2],
    config: [],
  };
  if (version === 4) cc.kdcOffset = { seconds: 300, microseconds: 54321 };
  return cc;
}

for (const v of [1, 2, 3, 4]) {
  Deno.test(`ccache: MIT t_marshal version ${v} reads to MIT's values`, () => {
    deepStrictEqual(readCcache(fx(`derived/ccache/t_marshal_v${v}.ccache`)), expected(v));
  });
}

Deno.test("ccache: writing MIT's values reproduces t_marshal_v4 byte for byte", () => {
  strictEqual(toHex(writeCcache(expected(4))), toHex(fx("derived/ccache/t_marshal_v4.ccache")));
  // Older versions convert to version 4 with the same content.
  const v3 = readCcache(fx("derived/ccache/t_marshal_v3.ccache"));
  const back = readCcache(writeCcache(v3));
  deepStrictEqual(back, { ...v3, version: 4 });
});

Deno.test("ccache: MIT fuzz seeds", () => {
  deepStrictEqual(readCcache(fx("fuzz-seeds/ccache/v4_principal_only")), {
    version: 4,
    defaultPrincipal: { nameType: 1, components: ["user"], realm: "REALM" },
    credentials: [],
    config: [],
  });
  throws(() => readCcache(fx("fuzz-seeds/ccache/v1_principal_only")), isDecode);
});

Deno.test("ccache: configuration entries are kept apart and round-trip", () => {
  const cc = expected(4);
  const tgs = parsePrincipal("krbtgt/KRBTEST.COM@KRBTEST.COM");
  cc.config = [
    ccacheConfig("pa_type", te.encode("2"), tgs),
    ccacheConfig("refresh_time", te.encode("1700000000")),
  ];
  const back = readCcache(writeCcache(cc));
  deepStrictEqual(back.credentials, cc.credentials);
  deepStrictEqual(back.config, [
    { key: "pa_type", principal: "krbtgt/KRBTEST.COM@KRBTEST.COM", value: te.encode("2") },
    { key: "refresh_time", value: te.encode("1700000000") },
  ]);
});

Deno.test("ccache: truncations and bad headers give typed errors", () => {
  const good = fx("derived/ccache/t_marshal_v4.ccache");
  for (let n = 0; n < good.length; n += 7) {
    throws(() => readCcache(good.subarray(0, n)), isDecode, `truncated to ${n}`);
  }
  throws(() => readCcache(Uint8Array.of(5, 5)), isDecode);
  throws(() => readCcache(Uint8Array.of(4, 4)), isDecode);
  // header length beyond the file
  throws(() => readCcache(Uint8Array.of(5, 4, 0xff, 0xff, 0, 1)), isDecode);
  // KDC offset with the wrong size
  throws(() => readCcache(Uint8Array.of(5, 4, 0, 6, 0, 1, 0, 2, 0, 0)), isDecode);
  // A huge data length is refused before any allocation.
  const b = good.slice();
  new DataView(b.buffer).setUint32(0x18, 0xfffffff0); // default principal realm length
  throws(
    () => readCcache(b),
    (e) => isDecode(e) && /need 4294967280 octets/.test((e as Error).message),
  );
});
