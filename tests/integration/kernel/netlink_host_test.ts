/**
 * The kernel contract and `ip xfrm` cross-checks on the host kernel (root),
 * each test in its own throwaway network namespace. The host kernel has
 * XFRM but no ESP: policies, SPI allocation and POLEXPIRE run here; every SA
 * install must come back as a typed EPROTONOSUPPORT error. SA behaviour is
 * checked in tests/vm/kernel on a kernel with ESP (and here too, when the
 * host kernel has ESP).
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { NetlinkKernel, selector } from "../../../core/kernel/mod.ts";
import {
  POLICY_CASES,
  registerContract,
  rejectsKernel,
  saCases,
} from "../../unit/kernel/contract.ts";
import { kernelHasEsp, kernelInNetns, kernelSkipReason, parseIpXfrmPolicy } from "./env.ts";
import { skipUnless } from "../../harness/tiers.ts";

const noKernel = kernelSkipReason();
const esp = noKernel ? false : await kernelHasEsp();

registerContract("netlink host", kernelInNetns, {
  policies: true,
  sas: esp || "this kernel has no ESP (the VM tier runs the SA contract)",
}, noKernel);

async function inNs(
  fn: (k: NetlinkKernel, ip: (args: string[]) => Promise<string>) => Promise<void>,
) {
  await withNetns(1, async ([ns]) => {
    const k = NetlinkKernel.open({ netns: `/run/netns/${ns!.name}` });
    try {
      await fn(k, (args) => ns!.runOk(["ip", ...args]));
    } finally {
      await k.close();
    }
  });
}

Deno.test({
  ...skipUnless(
    "kernel host: policies we install are what `ip xfrm policy` shows",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inNs(async (k, ip) => {
      for (const c of POLICY_CASES) await k.addPolicy(c.config);
      const shown = parseIpXfrmPolicy(await ip(["xfrm", "policy"]));
      const pick = (dir: string, src: string) => {
        const p = shown.find((x) => x.dir === dir && x.src === src);
        assert.ok(p, `ip shows the ${dir} policy from ${src}`);
        return p;
      };
      const a = pick("out", "10.1.0.0/24");
      assert.equal(a.dst, "10.2.0.0/24");
      assert.equal(a.proto, "tcp");
      assert.equal(a.dport, "443");
      assert.equal(a.priority, 100);
      assert.deepEqual(a.tmpls, [{
        src: "192.0.2.1",
        dst: "192.0.2.2",
        proto: "esp",
        reqid: 7,
        mode: "tunnel",
      }]);
      const b = pick("in", "fd00::1/128");
      assert.equal(b.mark, "0x5/0xff");
      assert.deepEqual(b.tmpls, [
        { src: "::", dst: "::", proto: "ah", reqid: 3, mode: "transport" },
        { src: "::", dst: "::", proto: "esp", reqid: 3, mode: "transport", level: "use" },
      ]);
      const c = pick("fwd", "10.9.0.0/16");
      assert.equal(c.action, "block");
      assert.equal(c.proto, "udp");
      assert.equal(c.sport, "53");
      assert.equal(c.priority, 7);
      const d = pick("out", "2001:db8:1::/48");
      assert.equal(d.proto, "ipv6-icmp");
      assert.equal(d.sport, "128", "ICMPv6 type travels in the source port");
      assert.equal(d.tmpls[0]?.reqid, 0x1234);
      assert.equal(shown.length, POLICY_CASES.length);
      // and what ip deletes is gone for us too
      await ip([
        "xfrm",
        "policy",
        "delete",
        "src",
        "10.1.0.0/24",
        "dst",
        "10.2.0.0/24",
        "proto",
        "tcp",
        "dport",
        "443",
        "dir",
        "out",
      ]);
      await rejectsKernel(
        k.getPolicy({ dir: "out", selector: POLICY_CASES[0]!.config.selector }),
        "kernel",
        "ENOENT",
      );
    }),
});

Deno.test({
  ...skipUnless(
    "kernel host: policies `ip xfrm policy add` installs decode field for field",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inNs(async (k, ip) => {
      await ip([
        "xfrm",
        "policy",
        "add",
        "src",
        "172.16.0.0/12",
        "dst",
        "192.168.7.0/24",
        "proto",
        "udp",
        "sport",
        "500",
        "dir",
        "in",
        "priority",
        "33",
        "mark",
        "7",
        "mask",
        "0xf",
        "tmpl",
        "src",
        "203.0.113.1",
        "dst",
        "203.0.113.2",
        "proto",
        "esp",
        "reqid",
        "12",
        "mode",
        "tunnel",
      ]);
      await ip([
        "xfrm",
        "policy",
        "add",
        "src",
        "2001:db8::/32",
        "dst",
        "::/0",
        "dir",
        "fwd",
        "action",
        "block",
        "priority",
        "4",
      ]);
      const got = await k.listPolicies();
      assert.equal(got.length, 2);
      const a = got.find((p) => p.dir === "in")!;
      assert.deepEqual(a.selector, {
        family: "inet",
        src: "172.16.0.0",
        srcPrefixLen: 12,
        dst: "192.168.7.0",
        dstPrefixLen: 24,
        proto: 17,
        sport: 500,
        dport: 0,
        ifindex: 0,
      });
      assert.equal(a.priority, 33);
      assert.deepEqual(a.mark, { value: 7, mask: 15 });
      assert.deepEqual(a.templates, [{
        proto: "esp",
        mode: "tunnel",
        src: "203.0.113.1",
        dst: "203.0.113.2",
        spi: 0,
        reqid: 12,
        level: "required",
      }]);
      const b = got.find((p) => p.dir === "fwd")!;
      assert.equal(b.action, "block");
      assert.equal(b.priority, 4);
      assert.deepEqual(b.selector, {
        family: "inet6",
        src: "2001:db8::",
        srcPrefixLen: 32,
        dst: "::",
        dstPrefixLen: 0,
        proto: 0,
        sport: 0,
        dport: 0,
        ifindex: 0,
      });
      await k.deletePolicy({ dir: "fwd", index: b.index });
      assert.equal((await ip(["xfrm", "policy", "list", "dir", "fwd"])).trim(), "");
    }),
});

Deno.test({
  ...skipUnless(
    "kernel host: without ESP in the kernel every SA install is a typed EPROTONOSUPPORT",
    noKernel,
    esp ? "this kernel has ESP (this test is for kernels without it)" : undefined,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inNs(async (k, ip) => {
      const cases = saCases();
      // The kernel checks algorithms first (one it lacks is ENOSYS), then the protocol.
      const e0 = await rejectsKernel(k.addSa(cases[1]!), "kernel", "EPROTONOSUPPORT");
      assert.equal(e0.errno, 93);
      assert.equal(e0.kernelMessage, "Requested type not found");
      for (const c of cases) {
        const e = await rejectsKernel(k.addSa(c), "kernel");
        assert.ok(e.errnoName === "EPROTONOSUPPORT" || e.errnoName === "ENOSYS", e.message);
        assert.ok(e.kernelMessage, "the kernel's extended ack text is kept");
        assert.match(
          e.message,
          /^XFRM_MSG_NEWSA (esp|ah) spi 0x[0-9a-f]{8} dst \S+: (EPROTONOSUPPORT \(93\)|ENOSYS \(38\))/,
        );
        for (const key of [c.enc?.key, c.auth?.key, c.aead?.key]) {
          if (key && key.length) {
            assert.ok(
              !e.message.includes(
                Array.from(key.slice(0, 4), (x) => x.toString(16).padStart(2, "0")).join(""),
              ),
              "no key bytes in the message",
            );
          }
        }
      }
      const res = await k.addSas(cases, 16);
      assert.equal(res.length, cases.length);
      for (const r of res) {
        assert.ok(r?.errnoName === "EPROTONOSUPPORT" || r?.errnoName === "ENOSYS", String(r));
      }
      await rejectsKernel(k.updateSa(cases[1]!), "kernel", "EPROTONOSUPPORT");
      assert.deepEqual(await k.listSas(), []);
      assert.equal((await ip(["xfrm", "state"])).trim(), "");
    }),
});

Deno.test({
  ...skipUnless(
    "kernel host: waiting for events leaves the event loop free",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inNs(async (k) => {
      const sub = await k.subscribe();
      let ticks = 0;
      const timer = setInterval(() => ticks++, 20);
      try {
        await k.addPolicy({
          selector: selector("10.8.0.0/24", "10.9.0.0/24"),
          dir: "in",
          lifetime: { hardAddSeconds: 1 },
        });
        // The hard POLEXPIRE is due after 1 s; waiting is bounded so that a missing event
        // fails the test instead of hanging it.
        const it = sub[Symbol.asyncIterator]();
        const deadline = Date.now() + 15_000;
        let expired = false;
        while (!expired && Date.now() < deadline) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const r = await Promise.race([
            it.next(),
            new Promise<"timeout">((
              res,
            ) => (timer = setTimeout(res, deadline - Date.now(), "timeout"))),
          ]);
          clearTimeout(timer);
          if (r === "timeout" || r.done) break;
          expired = r.value.type === "polexpire" && r.value.hard;
        }
        assert.ok(expired, "a hard POLEXPIRE arrived within 15 s of a policy with a 1 s lifetime");
        assert.ok(
          ticks >= 5,
          `timers kept running while the socket waited (${ticks} ticks in ~1 s)`,
        );
      } finally {
        clearInterval(timer);
        await sub.close();
      }
    }),
});

Deno.test({
  ...skipUnless(
    "kernel host: an event-queue overflow (ENOBUFS) is reported as an overrun event, not an error",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inNs(async (k) => {
      const sub = await k.subscribe({ rcvbuf: 4096 });
      try {
        const ps = [];
        for (let i = 0; i < 400; i++) {
          ps.push({
            selector: selector(`10.44.${i >> 8}.${i & 255}`, "10.45.0.1"),
            dir: "out" as const,
            lifetime: { hardAddSeconds: 1 },
          });
        }
        const res = await k.addPolicies(ps, 64);
        assert.ok(res.every((r) => r === undefined));
        await new Promise((r) => setTimeout(r, 2500)); // 400 POLEXPIREs overflow a 4 KiB queue meanwhile
        let overruns = 0, expires = 0;
        const done = new Promise((r) => setTimeout(r, 1500));
        const it = sub[Symbol.asyncIterator]();
        for (;;) {
          const n = await Promise.race([it.next(), done.then(() => "timeout" as const)]);
          if (n === "timeout" || n.done) break;
          if (n.value.type === "overrun") overruns++;
          if (n.value.type === "polexpire") expires++;
        }
        assert.ok(overruns >= 1, "the overflow is reported");
        assert.ok(
          expires >= 1 && expires < 400,
          `some events survive, some were lost (${expires})`,
        );
        assert.deepEqual(await k.listPolicies(), []);
      } finally {
        await sub.close();
      }
    }),
});
