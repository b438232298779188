/**
 * Netlink/XFRM codec tests against things we did not write: struct layouts
 * printed by a C program compiled against linux-libc-dev, replies recorded
 * from a real kernel, RFC 5952's address text forms, and a short fuzz run.
 */
import assert from "node:assert/strict";
import { KernelError } from "../../../core/kernel/mod.ts";
import { formatAddr, parseAddr } from "../../../core/kernel/addr.ts";
import {
  encodeAttr,
  encodeNlMsg,
  NLM_F_CAPPED,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAttrs,
  parseNlError,
  parseNlMsgs,
} from "../../../ffi/netlink.ts";
import { decodePolicy, decodeSa } from "../../../core/kernel/xfrm/decode.ts";
import { OFFSETOF, SIZEOF, XFRM_MSG } from "../../../ffi/xfrm/layout.ts";
import { fromHex } from "../../../core/util/bytes.ts";
import { POLICY_CASES } from "./contract.ts";
import { fuzzNetlink, loadSeeds } from "../../fuzz/netlink_fuzz.ts";

const fixture = (name: string) => new URL(`../../fixtures/netlink/${name}`, import.meta.url);

Deno.test("xfrm codec: every struct size and offset we use matches linux-libc-dev (offsetof)", async () => {
  const lines = (await Deno.readTextFile(fixture("xfrm_offsets.txt"))).split("\n");
  const c = new Map<string, number>();
  for (const l of lines) {
    const m = /^(\w+)(?:\.(\w+))? (?:size )?(\d+)$/.exec(l.trim());
    if (m) c.set(m[2] ? `${m[1]}.${m[2]}` : m[1]!, Number(m[3]));
  }
  let checked = 0;
  for (const [k, v] of Object.entries(SIZEOF)) {
    assert.equal(c.get(k), v, `sizeof(struct ${k})`);
    checked++;
  }
  for (const [k, v] of Object.entries(OFFSETOF)) {
    assert.equal(c.get(k), v, `offsetof(${k})`);
    checked++;
  }
  assert.ok(checked > 100);
});

interface Reply {
  name: string;
  hex: string[];
}
const replies =
  (JSON.parse(await Deno.readTextFile(fixture("replies.json"))) as { replies: Reply[] }).replies;
const datagrams = (name: string) =>
  replies.filter((r) => r.name === name).flatMap((r) => r.hex.map(fromHex));

Deno.test("netlink codec: the kernel's acks and error acks (capped, with extended ack text)", () => {
  for (const d of datagrams("newpolicy-ack")) {
    const [m] = parseNlMsgs(d);
    assert.equal(m!.type, NLMSG_ERROR);
    assert.equal(parseNlError(m!.payload, m!.flags).errno, 0);
  }
  const [dup] = parseNlMsgs(datagrams("newpolicy-eexist")[0]!);
  assert.ok(dup!.flags & NLM_F_CAPPED);
  const e = parseNlError(dup!.payload, dup!.flags);
  assert.equal(e.errno, 17);
  assert.equal(e.request.type, XFRM_MSG.NEWPOLICY);
  const [nosup] = parseNlMsgs(datagrams("newsa-eprotonosupport")[0]!);
  const e2 = parseNlError(nosup!.payload, nosup!.flags);
  assert.equal(e2.errno, 93);
  assert.equal(e2.message, "Requested type not found");
  const [noent] = parseNlMsgs(datagrams("getpolicy-enoent")[0]!);
  assert.equal(parseNlError(noent!.payload, noent!.flags).errno, 2);
});

Deno.test("xfrm codec: the kernel's GETPOLICY reply and policy dump decode to what was installed", () => {
  const [reply, ack] = datagrams("getpolicy-reply");
  const [m] = parseNlMsgs(reply!);
  assert.equal(m!.type, XFRM_MSG.NEWPOLICY);
  const { index, current: _c, ...p } = decodePolicy(m!.payload);
  assert.deepEqual(p, POLICY_CASES[0]!.expect);
  assert.equal(index & 7, 1);
  assert.equal(parseNlError(parseNlMsgs(ack!)[0]!.payload, 0).errno, 0);
  const msgs = datagrams("policy-dump").flatMap((d) => parseNlMsgs(d));
  assert.deepEqual(msgs.map((x) => x.type), [19, 19, 19, NLMSG_DONE]);
  const dirs = msgs.slice(0, 3).map((x) => decodePolicy(x.payload).dir);
  assert.deepEqual(dirs, ["fwd", "in", "out"], "newest first");
  const v6 = decodePolicy(msgs[1]!.payload);
  assert.deepEqual(v6.mark, { value: 5, mask: 0xff });
  assert.equal(v6.templates[0]!.level, "use");
  const blk = decodePolicy(msgs[0]!.payload);
  assert.equal(blk.action, "block");
  assert.deepEqual(blk.lifetime, { hardAddSeconds: 3600 });
  assert.equal(blk.selector.sport, 53);
});

Deno.test("xfrm codec: the kernel's ALLOCSPI reply and SA dump decode (larval SA)", () => {
  const [m] = parseNlMsgs(datagrams("allocspi-reply")[0]!);
  const sa = decodeSa(m!.payload);
  assert.equal(sa.spi, 0x1000);
  assert.equal(sa.src, "10.0.0.1");
  assert.equal(sa.dst, "10.0.0.2");
  assert.equal(sa.reqid, 9);
  assert.equal(sa.proto, "esp");
  assert.deepEqual(sa.lifetime, { hardAddSeconds: 30 });
  const dump = datagrams("sa-dump").flatMap((d) => parseNlMsgs(d));
  assert.deepEqual(dump.map((x) => x.type), [XFRM_MSG.NEWSA, NLMSG_DONE]);
  assert.equal(decodeSa(dump[0]!.payload).spi, 0x1000);
});

Deno.test("netlink codec: malformed framing is a typed error", () => {
  const bad = (b: Uint8Array) =>
    assert.throws(
      () => parseNlMsgs(b),
      (e) => e instanceof KernelError && e.category === "malformed",
    );
  bad(new Uint8Array(15));
  const m = encodeNlMsg(2, 0, 1, 0, new Uint8Array(20));
  new DataView(m.buffer).setUint32(0, 12, true);
  bad(m);
  new DataView(m.buffer).setUint32(0, 1000, true);
  bad(m);
  assert.throws(() => parseAttrs(Uint8Array.of(8, 0, 1, 0, 0)), KernelError);
  assert.throws(() => parseAttrs(Uint8Array.of(2, 0, 1, 0)), KernelError);
  assert.deepEqual(
    parseAttrs(encodeAttr(3, Uint8Array.of(1, 2, 3))).map((a) => [a.type, [...a.value]]),
    [[3, [1, 2, 3]]],
  );
  assert.throws(() => parseNlError(new Uint8Array(19), 0), KernelError);
  assert.throws(() => decodeSa(new Uint8Array(223)), KernelError);
  assert.throws(() => decodePolicy(new Uint8Array(100)), KernelError);
});

Deno.test("address text: RFC 5952 canonical forms (as inet_ntop prints them)", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["FE80::", "fe80::"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["192.0.2.33", "192.0.2.33"],
  ];
  for (const [input, want] of cases) {
    const p = parseAddr(input);
    assert.equal(formatAddr(p.family, p.bytes), want, input);
  }
  for (const badAddr of ["1.2.3", "256.1.1.1", "1::2::3", "12345::", "fe80::1%eth0", ""]) {
    assert.throws(() => parseAddr(badAddr), KernelError, badAddr);
  }
});

Deno.test("netlink fuzz (short run): 30,000 mutated kernel replies, only typed errors", async () => {
  const st = fuzzNetlink(await loadSeeds(), 30_000, 20261127);
  assert.equal(st.inputs, 30_000);
  assert.ok(st.decoded > 0 && st.rejected > 0);
});

Deno.test("xfrm codec: inspecting an SA never prints its keys", async () => {
  const { MemoryKernel } = await import("../../../core/kernel/mod.ts");
  const { saCases } = await import("./contract.ts");
  const { toHex } = await import("../../../core/util/bytes.ts");
  const k = new MemoryKernel();
  const c = saCases()[1]!;
  await k.addSa(c);
  const sa = await k.getSa({ dst: c.dst, spi: c.spi, proto: c.proto });
  const text = Deno.inspect(sa, { depth: 10 }) + Deno.inspect(await k.listSas(), { depth: 10 });
  assert.ok(
    !text.includes(toHex(c.enc!.key).slice(0, 8)) &&
      !text.includes(String(c.enc!.key[0]) + ", " + String(c.enc!.key[1])),
  );
  assert.match(text, /cbc\(aes\) <24-octet key redacted>/);
  assert.match(text, /hmac\(sha256\) <32-octet key redacted>/);
  await k.close();
});
