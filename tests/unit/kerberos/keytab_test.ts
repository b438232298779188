/**
 * Keytab reading and writing against MIT's fixtures (t_keytab.py cases,
 * fuzz seeds) and the racoon2 responder keytab as MIT's `klist -k -e -K`
 * lists it.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { KerberosError } from "../../../core/kerberos/errors.ts";
import {
  findKeytabEntries,
  type KeytabEntry,
  readKeytab,
  writeKeytab,
} from "../../../core/kerberos/keytab.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { fromHex, toHex } from "../../../core/util/bytes.ts";

const fx = (p: string) => Deno.readFileSync(new URL(`../../fixtures/${p}`, import.meta.url));
const MIT = "vectors/mit-asn1";

function isDecodeError(e: unknown): boolean {
  return e instanceof KerberosError && e.category === "decode" && e.context === "keytab";
}

Deno.test("keytab: MIT t_keytab 8-bit kvno only → kvno 2", () => {
  const [e, ...rest] = readKeytab(fx(`${MIT}/derived/keytab/t_keytab_kvno8_only.keytab`));
  strictEqual(rest.length, 0);
  deepStrictEqual(e, {
    principal: { nameType: 1, components: ["user"], realm: "KRBTEST.COM" },
    timestamp: 1425493301,
    kvno: 2,
    enctype: 18,
    key: new Uint8Array(32),
  });
});

Deno.test("keytab: MIT t_keytab zero 32-bit kvno does not override", () => {
  const es = readKeytab(fx(`${MIT}/derived/keytab/t_keytab_kvno32_zero.keytab`));
  strictEqual(es.length, 1);
  strictEqual(es[0]!.kvno, 2);
});

Deno.test("keytab: MIT t_keytab non-zero 32-bit kvno overrides → kvno 3", () => {
  const es = readKeytab(fx(`${MIT}/derived/keytab/t_keytab_kvno32_3.keytab`));
  strictEqual(es[0]!.kvno, 3);
});

Deno.test("keytab: MIT bad record length INT32_MIN is rejected", () => {
  throws(() => readKeytab(fx(`${MIT}/derived/keytab/t_keytab_bad_reclen.keytab`)), isDecodeError);
});

Deno.test("keytab: MIT fuzz seeds", () => {
  const one = readKeytab(fx(`${MIT}/fuzz-seeds/keytab/v502_one_entry`));
  deepStrictEqual(one, [{
    principal: { nameType: 1, components: ["user"], realm: "REALM" },
    timestamp: 0,
    kvno: 1,
    enctype: 18,
    key: new Uint8Array(32),
  }]);
  deepStrictEqual(readKeytab(fx(`${MIT}/fuzz-seeds/keytab/version_only`)), []);
  deepStrictEqual(readKeytab(fx(`${MIT}/fuzz-seeds/keytab/version_0x501`)), []);
  throws(() => readKeytab(fx(`${MIT}/fuzz-seeds/keytab/big_size`)), (e) => {
    return isDecodeError(e) && /record of 2147483647 octets exceeds/.test((e as Error).message);
  });
});

// Expected values: MIT `klist -k -e -t -K tests/fixtures/racoon2/B.keytab`.
const B_KLIST: [number, number, string][] = [
  [2, 18, "4b9024133bb009cdf3cbc7a46eaa113a9a1fc01287c99fff6bb631e2462c364d"],
  [2, 17, "bad9a2e70999ec0b147d29f040a3d8af"],
  [3, 18, "ff3e939a6b504876792962d55e4457e0dee3fce4e7050c079d6ee336fb95fe1b"],
  [3, 17, "c5cc4521cfc9546e27835286e1cbe4ed"],
  [5, 18, "d5eec2cbd3e7888afb40a2aa7677128ae33be929af66c06950d2a43f43f26533"],
  [5, 17, "488d6f8a3930ff3d10b7da1ed90be73b"],
];

Deno.test("keytab: racoon2 B.keytab reads as klist lists it", () => {
  const es = readKeytab(fx("racoon2/B.keytab"));
  deepStrictEqual(
    es.map((e) => [e.kvno, e.enctype, toHex(e.key)]),
    B_KLIST,
  );
  for (const e of es) {
    deepStrictEqual(e.principal, {
      nameType: 1,
      components: ["kink", "b.kink.test"],
      realm: "KINK.TEST",
    });
  }
  // klist -t: 11/27/26 00:36:11 (UTC) for kvno 2
  strictEqual(new Date(es[0]!.timestamp * 1000).toISOString(), "2026-11-27T00:36:11.000Z");
  const p = parsePrincipal("kink/b.kink.test@KINK.TEST");
  deepStrictEqual(findKeytabEntries(es, p, { enctype: 18 }).map((e) => e.kvno), [5, 3, 2]);
  strictEqual(toHex(findKeytabEntries(es, p, { kvno: 3, enctype: 18 })[0]!.key), B_KLIST[2]![2]);
});

Deno.test("keytab: write then read round-trips, MIT fixture bytes reproduced", () => {
  // Our writer always writes the 8-bit and the 32-bit kvno, as MIT does; the
  // octets must match MIT's fixture up to the trailing 32-bit kvno.
  const entries: KeytabEntry[] = [
    {
      principal: { nameType: 1, components: ["user"], realm: "KRBTEST.COM" },
      timestamp: 1425493301,
      kvno: 2,
      enctype: 18,
      key: new Uint8Array(32),
    },
  ];
  const bytes = writeKeytab(entries);
  // Same as MIT's 32-bit-kvno layout: record length 0x46 and trailing kvno 2.
  const mit32zero = fx(`${MIT}/derived/keytab/t_keytab_kvno32_zero.keytab`);
  strictEqual(toHex(bytes.subarray(0, 6)), "050200000046");
  strictEqual(toHex(bytes.subarray(6, bytes.length - 4)), toHex(mit32zero.subarray(6, 72)));
  strictEqual(toHex(bytes.subarray(bytes.length - 4)), "00000002");
  deepStrictEqual(readKeytab(bytes), entries);
});

Deno.test("keytab: large kvno, several entries and holes", () => {
  const base = {
    principal: parsePrincipal("kink/gw.example@EXAMPLE.COM"),
    timestamp: 1700000000,
    enctype: 20,
    key: fromHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
  };
  const entries = [{ ...base, kvno: 300 }, { ...base, kvno: 0xfffffffe, enctype: 19 }];
  const bytes = writeKeytab(entries);
  deepStrictEqual(readKeytab(bytes), entries);
  // Turn the first record into a hole (negative length): it must be skipped.
  const holed = bytes.slice();
  const dv = new DataView(holed.buffer);
  dv.setInt32(2, -dv.getInt32(2));
  deepStrictEqual(readKeytab(holed), entries.slice(1));
  // A zero length ends the file.
  const ended = new Uint8Array([...bytes.subarray(0, 2), 0, 0, 0, 0, ...bytes.subarray(2)]);
  deepStrictEqual(readKeytab(ended), []);
});

Deno.test("keytab: v1 (0x0501) little-endian entries", () => {
  // v1: count includes realm, no name type; host (little-endian) order.
  const te = new TextEncoder();
  const le16 = (n: number) => [n & 0xff, n >> 8];
  const str = (s: string) => [...le16(s.length), ...te.encode(s)];
  const body = [
    ...le16(2),
    ...str("R"),
    ...str("u"),
    ...[0x10, 0, 0, 0], // timestamp 16
    7, // kvno
    ...le16(17),
    ...le16(16),
    ...new Array(16).fill(0xaa),
  ];
  const file = Uint8Array.from([5, 1, body.length, 0, 0, 0, ...body]);
  deepStrictEqual(readKeytab(file), [{
    principal: { nameType: 1, components: ["u"], realm: "R" },
    timestamp: 16,
    kvno: 7,
    enctype: 17,
    key: new Uint8Array(16).fill(0xaa),
  }]);
});

Deno.test("keytab: malformed inputs give positioned typed errors", () => {
  const good = fx(`${MIT}/fuzz-seeds/keytab/v502_one_entry`);
  for (
    const bad of [
      new Uint8Array(0),
      Uint8Array.of(5),
      Uint8Array.of(5, 3),
      Uint8Array.of(4, 2),
      good.subarray(0, 40),
      good.subarray(0, 4),
    ]
  ) {
    throws(() => readKeytab(bad), isDecodeError);
  }
  // A record whose strings run past the record end.
  const b = good.slice();
  b[7] = 0xff; // realm length high byte
  throws(
    () => readKeytab(b),
    (e) => isDecodeError(e) && /entry 0: need/.test((e as Error).message),
  );
});
