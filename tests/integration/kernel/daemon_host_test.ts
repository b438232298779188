/**
 * What a daemon needs from the kernel interface, checked against the host
 * kernel with real packets, each test in its own network namespace:
 *
 * - the bypass policies of its UDP socket let that socket's traffic through
 *   in clear where a policy requires IPsec, and nothing else;
 * - an ACQUIRE's policy is found again by {@link NetlinkKernel.matchPolicy}
 *   from the packet's selector and by index;
 * - a kernel message kink cannot decode is reported as an `"undecodable"`
 *   event and counted, not dropped in silence.
 *
 * UDP sockets are opened inside the namespace through libc (the namespace is
 * entered for the `socket()` call only), so the packets really cross the
 * namespace's XFRM policy checks.
 */
import assert from "node:assert/strict";
import { type Netns, withNetns } from "../../harness/netns.ts";
import { parseAddr } from "../../../core/kernel/addr.ts";
import {
  KernelError,
  NetlinkKernel,
  selector,
  socketBypassPolicies,
} from "../../../core/kernel/mod.ts";
import * as c from "../../../ffi/libc.ts";
import { eventReader } from "../../unit/kernel/contract.ts";
import { kernelSkipReason } from "./env.ts";
import { skipUnless } from "../../harness/tiers.ts";

const noKernel = kernelSkipReason();

const AF_INET = 2, AF_INET6 = 10, SOCK_DGRAM = 2;

function sockaddr(addr: string, port: number): Uint8Array<ArrayBuffer> {
  const p = parseAddr(addr);
  const b = new Uint8Array(p.family === "inet" ? 16 : 28);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, p.family === "inet" ? AF_INET : AF_INET6, true);
  dv.setUint16(2, port, false);
  b.set(p.bytes, p.family === "inet" ? 4 : 8);
  return b;
}

/** A nonblocking UDP socket bound to `addr`:`port` inside namespace `ns`. */
class NsUdp {
  readonly #fd: number;
  constructor(ns: Netns, readonly addr: string, readonly port: number) {
    const family = parseAddr(addr).family;
    this.#fd = c.withNetns(
      `/run/netns/${ns.name}`,
      () => c.socket(family === "inet" ? AF_INET : AF_INET6, SOCK_DGRAM, 0),
    );
    try {
      c.bind(this.#fd, sockaddr(addr, port));
    } catch (e) {
      c.close(this.#fd);
      throw e;
    }
  }
  /** Sends `data` to `to`; returns the octets sent or -errno. */
  sendTo(to: NsUdp, data: Uint8Array<ArrayBuffer>): number {
    return c.sendto(this.#fd, data, sockaddr(to.addr, to.port));
  }
  /** The next datagram within `ms`, or undefined. */
  async receive(ms: number): Promise<Uint8Array | undefined> {
    const buf = new Uint8Array(2048);
    const deadline = Date.now() + ms;
    for (;;) {
      const n = c.recv(this.#fd, buf);
      if (n >= 0) return buf.slice(0, n);
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await c.pollIn(this.#fd, Math.min(left, 100));
    }
  }
  close(): void {
    c.close(this.#fd);
  }
}

/** Two joined namespaces, each with a NetlinkKernel. */
async function inPair(
  fn: (a: { ns: Netns; k: NetlinkKernel }, b: { ns: Netns; k: NetlinkKernel }) => Promise<void>,
) {
  await withNetns(2, async ([na, nb]) => {
    const ka = NetlinkKernel.open({ netns: `/run/netns/${na!.name}` });
    const kb = NetlinkKernel.open({ netns: `/run/netns/${nb!.name}` });
    try {
      await fn({ ns: na!, k: ka }, { ns: nb!, k: kb });
    } finally {
      await ka.close();
      await kb.close();
    }
  });
}

/** UDP between `from` and `to` must be ESP-protected (transport mode), both ways. */
async function requireEsp(k: NetlinkKernel, from: string, to: string): Promise<void> {
  for (
    const [dir, s, d] of [["out", from, to], ["in", to, from]] as const
  ) {
    await k.addPolicy({
      selector: selector(s, d, { proto: 17 }),
      dir,
      priority: 100,
      templates: [{ proto: "esp", mode: "transport", reqid: 1 }],
    });
  }
}

for (const family of ["inet", "inet6"] as const) {
  Deno.test({
    ...skipUnless(
      `kernel host: a socket's bypass policies let its UDP through where IPsec is required, and nothing else (${family})`,
      noKernel,
    ),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      inPair(async (a, b) => {
        const addrA = family === "inet" ? a.ns.addr4 : a.ns.addr6;
        const addrB = family === "inet" ? b.ns.addr4 : b.ns.addr6;
        await requireEsp(a.k, addrA, addrB);
        await requireEsp(b.k, addrB, addrA);
        const daemonPort = 910, otherPort = 4910;
        const socks = [
          new NsUdp(a.ns, addrA, daemonPort),
          new NsUdp(b.ns, addrB, daemonPort),
          new NsUdp(a.ns, addrA, otherPort),
          new NsUdp(b.ns, addrB, otherPort),
        ];
        const [da, db, oa, ob] = socks as [NsUdp, NsUdp, NsUdp, NsUdp];
        try {
          const msg = new TextEncoder().encode("KINK?");
          da.sendTo(db, msg);
          assert.equal(await db.receive(300), undefined, "IPsec required: nothing in clear yet");
          for (const g of [a, b]) {
            await g.k.addPolicies(socketBypassPolicies(daemonPort, { families: [family] }));
          }
          assert.equal(da.sendTo(db, msg), msg.length);
          assert.deepEqual(await db.receive(2000), msg, "request to the daemon port arrives");
          const reply = new TextEncoder().encode("KINK!");
          assert.equal(db.sendTo(da, reply), reply.length);
          assert.deepEqual(await da.receive(2000), reply, "the reply arrives");
          const r = oa.sendTo(ob, msg);
          assert.ok(r < 0 || (await ob.receive(300)) === undefined, "another port stays protected");
        } finally {
          for (const x of socks) x.close();
        }
      }),
  });
}

Deno.test({
  ...skipUnless(
    "kernel host: an ACQUIRE's policy is found again by matchPolicy and by index",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inPair(async ({ ns, k }, b) => {
      const sub = await k.subscribe();
      const sock = new NsUdp(ns, ns.addr4, 4000);
      const peer = new NsUdp(b.ns, b.ns.addr4, 4000);
      try {
        await k.addPolicy({
          selector: selector(`${ns.addr4}/24`, `${b.ns.addr4}/24`, { proto: 17 }),
          dir: "out",
          priority: 20,
          templates: [{ proto: "esp", mode: "transport", reqid: 9 }],
        });
        await k.addPolicy({
          selector: selector(`${ns.addr4}/24`, `${b.ns.addr4}/24`),
          dir: "out",
          priority: 30,
        });
        const next = eventReader(sub, "acquire");
        sock.sendTo(peer, new Uint8Array([1, 2, 3]));
        const acq = await next(5000);
        assert.ok(acq, "the kernel sent an ACQUIRE");
        assert.equal(acq.proto, "esp");
        assert.equal(acq.policy.templates[0]?.reqid, 9);
        const s = acq.selector;
        const byFlow = await k.matchPolicy("out", {
          src: s.src,
          dst: s.dst,
          proto: s.proto,
          sport: s.sport,
          dport: s.dport,
        });
        assert.equal(
          byFlow?.index,
          acq.policy.index,
          "matchPolicy finds the policy the kernel used",
        );
        const byIndex = await k.findPolicy({ dir: "out", index: acq.policy.index });
        assert.equal(byIndex?.priority, 20);
        assert.equal(
          await k.findPolicy({ dir: "out", index: acq.policy.index + 8 * 1000 }),
          undefined,
        );
      } finally {
        sock.close();
        peer.close();
        await sub.close();
      }
    }),
});

Deno.test({
  ...skipUnless(
    "kernel host: an ACQUIRE and a dump entry kink cannot decode (IPComp) are reported and counted, not dropped",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inPair(async ({ ns, k }, b) => {
      const sub = await k.subscribe();
      const sock = new NsUdp(ns, ns.addr4, 4001);
      const peer = new NsUdp(b.ns, b.ns.addr4, 4001);
      try {
        // kink models ESP and AH only: an IPComp template's ACQUIRE does not decode.
        await ns.runOk([
          "ip",
          "xfrm",
          "policy",
          "add",
          "src",
          `${ns.addr4}/32`,
          "dst",
          `${b.ns.addr4}/32`,
          "proto",
          "udp",
          "dir",
          "out",
          "tmpl",
          "proto",
          "comp",
          "mode",
          "transport",
        ]);
        const next = eventReader(sub, "undecodable");
        assert.equal(sub.undecodable, 0);
        sock.sendTo(peer, new Uint8Array([1]));
        const ev = await next(5000);
        assert.ok(ev, "an undecodable event arrived");
        assert.equal(ev.messageType, 23, "XFRM_MSG_ACQUIRE");
        assert.ok(ev.error instanceof KernelError && ev.error.category === "malformed");
        assert.match(ev.error.message, /protocol 108/);
        assert.equal(sub.undecodable, 1);
        // a dump with that policy in it still lists what kink can describe, and counts the rest
        await k.addPolicy({ selector: selector("10.9.0.0/16", "10.8.0.0/16"), dir: "in" });
        const listed = await k.listPolicies();
        assert.deepEqual(listed.map((p) => p.selector.src), ["10.9.0.0"]);
        assert.equal(k.undecodable, 1);
      } finally {
        sock.close();
        peer.close();
        await sub.close();
      }
    }),
});
