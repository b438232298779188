/** IP address text forms against RFC 5952's own examples (§4) and inet_ntop's mapped forms. */
import { deepStrictEqual } from "node:assert/strict";
import { ipv4Text, ipv6Text } from "../../../core/util/ip.ts";

function v6(groups: number[]): Uint8Array {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 255;
  });
  return b;
}

Deno.test("ipv6Text follows RFC 5952 section 4", () => {
  // §4.1 leading zeros suppressed; §4.2.1 longest run; §4.2.2 a lone 0 group is not "::"
  deepStrictEqual(ipv6Text(v6([0x2001, 0xdb8, 0, 0, 0, 0, 2, 1])), "2001:db8::2:1");
  deepStrictEqual(ipv6Text(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])), "2001:db8:0:1:1:1:1:1");
  // §4.2.3 the first of equal runs is compressed
  deepStrictEqual(ipv6Text(v6([0x2001, 0, 0, 1, 0, 0, 0, 1])), "2001:0:0:1::1");
  deepStrictEqual(ipv6Text(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])), "2001:db8::1:0:0:1");
  // §4.3 lower case
  deepStrictEqual(ipv6Text(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0xabcd, 0xef])), "2001:db8::abcd:ef");
  deepStrictEqual(ipv6Text(new Uint8Array(16)), "::");
  deepStrictEqual(ipv6Text(v6([0, 0, 0, 0, 0, 0, 0, 1])), "::1");
  // §5 IPv4-mapped addresses
  deepStrictEqual(ipv6Text(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280])), "::ffff:192.0.2.128");
});

Deno.test("ipv4Text is dotted decimal", () => {
  deepStrictEqual(ipv4Text(Uint8Array.of(10, 77, 0, 2)), "10.77.0.2");
});
