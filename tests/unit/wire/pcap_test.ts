import { assert, assertEquals, assertThrows } from "./assert.ts";
import { racoon2Path } from "./capture.ts";
import { extractUdp, LinkType, readCapture } from "../../../core/wire/pcap.ts";
import { ipv6Text } from "../../../core/util/ip.ts";
import { WireError } from "../../../core/wire/errors.ts";
import { bytesEqual, concat } from "../../../core/util/bytes.ts";

const original = Deno.readFileSync(racoon2Path("kink.pcap"));
const packets = readCapture(original);

/** The IPv4 packet inside an SLL2 frame of the racoon2 capture. */
function ipOf(frame: number): Uint8Array {
  return packets[frame - 1]!.data.subarray(20);
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function u16le(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  return concat(u32le(type), u32le(len), body, new Uint8Array(pad), u32le(len));
}

/** A pcapng file with one interface of `linkType` (ns resolution) holding `frames`. */
function pcapng(linkType: number, frames: Uint8Array[]): Uint8Array {
  const shb = block(
    0x0a0d0d0a,
    concat(u32le(0x1a2b3c4d), u16le(1), u16le(0), new Uint8Array(8).fill(0xff)),
  );
  const tsresol = concat(u16le(9), u16le(1), Uint8Array.of(9, 0, 0, 0), u16le(0), u16le(0));
  const idb = block(1, concat(u16le(linkType), u16le(0), u32le(0), tsresol));
  const epbs = frames.map((f, i) =>
    block(
      6,
      concat(
        u32le(0),
        u32le(0),
        u32le(1_000_000_000 * (i + 1)),
        u32le(f.length),
        u32le(f.length),
        f,
        new Uint8Array((4 - f.length % 4) % 4),
      ),
    )
  );
  return concat(shb, idb, ...epbs);
}

Deno.test("pcap: the racoon2 capture is classic pcap with Linux SLL2 frames", () => {
  assertEquals(packets.length, 33);
  assert(packets.every((p) => p.linkType === LinkType.LINUX_SLL2));
  const u = extractUdp(packets[6]!);
  assert("payload" in u);
  assertEquals([u.src, u.srcPort, u.dst, u.dstPort, u.payload.length], [
    "10.77.0.1",
    910,
    "10.77.0.2",
    910,
    844,
  ]);
});

Deno.test("pcap: pcapng with Ethernet, SLL, raw IPv4 and IPv6/UDP frames", () => {
  const ip = ipOf(7);
  const eth = concat(new Uint8Array(12), Uint8Array.of(0x81, 0x00, 0, 5, 0x08, 0x00), ip); // VLAN-tagged
  const sll = concat(new Uint8Array(14), Uint8Array.of(0x08, 0x00), ip);
  const kink = ip.subarray(28);
  const udp = concat(
    Uint8Array.of(0x03, 0x8e, 0x03, 0x8e, (kink.length + 8) >> 8, (kink.length + 8) & 255, 0, 0),
    kink,
  );
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  new DataView(v6.buffer).setUint16(4, udp.length);
  v6[6] = 17;
  v6[23] = 1; // ::1
  v6.set([0xfe, 0x80], 24);
  v6[39] = 2;
  const ip6 = concat(v6, udp);
  for (const [lt, frame] of [[1, eth], [113, sll], [101, ip], [229, ip6]] as const) {
    const caps = readCapture(pcapng(lt, [frame]));
    assertEquals(caps.length, 1);
    assertEquals(caps[0]!.time, 1);
    const u = extractUdp(caps[0]!);
    assert("payload" in u, `link type ${lt}`);
    assert(bytesEqual(u.payload, kink), `link type ${lt}`);
    if (lt === 229) assertEquals([u.src, u.dst], ["::1", "fe80::2"]);
  }
});

Deno.test("pcap: fragments, truncation and bad files are reported, not thrown untyped", () => {
  const ip = ipOf(7).slice();
  ip[6] = 0x20; // MF
  const u = extractUdp({ frame: 1, time: 0, linkType: 101, data: ip, origLength: ip.length });
  assert("reason" in u && u.reason.includes("fragment"));
  const t = extractUdp({
    frame: 1,
    time: 0,
    linkType: 101,
    data: ipOf(7).subarray(0, 500),
    origLength: 872,
  });
  assert("payload" in t && t.truncated && t.payload.length === 472);
  assertThrows(() => readCapture(Uint8Array.of(1, 2, 3, 4, 5)), WireError);
  assertThrows(() => readCapture(original.subarray(0, original.length - 3)), WireError);
  assertEquals(ipv6Text(new Uint8Array(16)), "::");
});
