/**
 * The UDP datagram transport over real loopback sockets, IPv4 and IPv6:
 * both endpoints of every datagram, replies to a datagram's remote, one
 * transport on both families, KINK's privileged port, the bounded receive
 * queue (back-pressure into the socket's buffer), the receive filter, the
 * libc path (larger receive buffer, waiting datagrams read at once), and
 * typed errors (a port in use, a peer Deno's --allow-net does not
 * grant, an oversized datagram, a closed transport).
 *
 * Needs `--allow-net=127.0.0.1,[::1]` (the integration tier's grant); the
 * project's deno.json enables `--unstable-net` for Deno.listenDatagram.
 */
import assert from "node:assert/strict";
import { type Datagram, NetError, UdpTransport } from "../../../core/net/mod.ts";
import { isRoot, skipUnless } from "../../harness/tiers.ts";
import {
  attachIpv4SourceFilter,
  LIBC_PATH,
  MAX_FILTER_SOURCES,
  recvFromNow,
  setReceiveBuffer,
  udpSocketOf,
} from "../../../core/kernel/mod.ts";

function netSkipReason(host: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") {
      return `needs --allow-net=${host}`;
    }
  } catch {
    return `needs --allow-net=${host}`;
  }
  return undefined;
}

function v6SkipReason(): string | undefined {
  const why = netSkipReason("[::1]");
  if (why) return why;
  try {
    UdpTransport.open({ locals: [{ address: "::1", port: 0 }] }).close();
  } catch (e) {
    return `no IPv6 loopback (${e instanceof Error ? e.message : String(e)})`;
  }
  return undefined;
}

const LOOPBACK = { inet: "127.0.0.1", inet6: "::1" } as const;
const te = new TextEncoder(), td = new TextDecoder();

async function next(t: UdpTransport, ms = 5000): Promise<Datagram> {
  const it = t.receive()[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    it.next(),
    new Promise<"timeout">((res) => (timer = setTimeout(() => res("timeout"), ms))),
  ]);
  clearTimeout(timer);
  if (r === "timeout") assert.fail(`no datagram within ${ms} ms`);
  if (r.done) assert.fail("receive ended");
  return r.value;
}

for (const family of ["inet", "inet6"] as const) {
  Deno.test({
    ...skipUnless(
      `udp transport (${family}): a datagram arrives with both endpoints; the reply goes back to its remote`,
      family === "inet" ? netSkipReason("127.0.0.1") : v6SkipReason(),
    ),
    async fn() {
      const lo = LOOPBACK[family];
      const a = UdpTransport.open({ locals: [{ address: lo, port: 0 }] });
      const b = UdpTransport.open({ locals: [{ address: lo, port: 0 }] });
      try {
        assert.ok(a.locals[0]!.port > 0 && a.locals[0]!.port !== b.locals[0]!.port);
        await a.send(te.encode("CREATE"), b.locals[0]!);
        const d = await next(b);
        assert.deepEqual(d, { data: te.encode("CREATE"), local: b.locals[0], remote: a.locals[0] });
        await b.send(te.encode("REPLY"), d.remote, d.local);
        const r = await next(a);
        assert.equal(td.decode(r.data), "REPLY");
        assert.deepEqual(r.remote, b.locals[0]);
      } finally {
        await a.close();
        await b.close();
      }
    },
  });
}

Deno.test({
  ...skipUnless(
    "udp transport: one transport on IPv4 and IPv6 picks the socket by family, or the local asked for",
    netSkipReason("127.0.0.1"),
    v6SkipReason(),
  ),
  async fn() {
    const a = UdpTransport.open({
      locals: [{ address: "127.0.0.1", port: 0 }, { address: "0:0::1", port: 0 }],
    });
    const b = UdpTransport.open({
      locals: [{ address: "127.0.0.1", port: 0 }, { address: "::1", port: 0 }],
    });
    try {
      assert.equal(a.locals[1]!.address, "::1", "locals are reported in normal form");
      await a.send(te.encode("six"), b.locals[1]!);
      const d6 = await next(b);
      assert.deepEqual([d6.local, d6.remote], [b.locals[1], a.locals[1]]);
      await a.send(te.encode("four"), b.locals[0]!, a.locals[0]);
      const d4 = await next(b);
      assert.deepEqual([d4.local, d4.remote, td.decode(d4.data)], [
        b.locals[0],
        a.locals[0],
        "four",
      ]);
      await assert.rejects(
        a.send(te.encode("x"), b.locals[0]!, a.locals[1]),
        (e) => e instanceof NetError && e.category === "invalid",
        "an IPv6 local cannot send to an IPv4 peer",
      );
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  ...skipUnless(
    "udp transport: KINK's port 910 binds as root (a privileged port)",
    netSkipReason("127.0.0.1"),
    isRoot() ? undefined : "needs root or CAP_NET_BIND_SERVICE",
  ),
  async fn() {
    let t: UdpTransport;
    try {
      t = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 910 }] });
    } catch (e) {
      // another kink (or kinkd) on this machine may hold it: that must be the typed bind error
      assert.ok(e instanceof NetError && e.category === "bind", String(e));
      return;
    }
    try {
      assert.deepEqual(t.locals, [{ address: "127.0.0.1", port: 910 }]);
      await t.send(te.encode("self"), t.locals[0]!);
      assert.deepEqual((await next(t)).remote, { address: "127.0.0.1", port: 910 });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  ...skipUnless(
    "udp transport: errors are typed (port in use, peer not granted, oversized, closed)",
    netSkipReason("127.0.0.1"),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    try {
      assert.throws(
        () => UdpTransport.open({ locals: [{ address: "127.0.0.1", port: a.locals[0]!.port }] }),
        (e) => e instanceof NetError && e.category === "bind",
      );
      assert.throws(
        () => UdpTransport.open({ locals: [{ address: "localhost", port: 0 }] }),
        (e) => e instanceof NetError && e.category === "invalid",
      );
      // --allow-net grants 127.0.0.1 only: another loopback address is refused, typed
      await assert.rejects(
        a.send(te.encode("x"), { address: "127.0.0.2", port: 910 }),
        (e) => e instanceof NetError && e.category === "send",
      );
      await assert.rejects(
        a.send(new Uint8Array(65508), a.locals[0]!),
        (e) => e instanceof NetError && e.category === "invalid",
      );
      await a.send(new Uint8Array(65507), a.locals[0]!);
      assert.equal((await next(a)).data.length, 65507, "the largest datagram arrives whole");
    } finally {
      await a.close();
    }
    const it = a.receive()[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: true, value: undefined }, "receive ends on close");
    await assert.rejects(
      a.send(te.encode("x"), { address: "127.0.0.1", port: 9 }),
      (e) => e instanceof NetError && e.category === "closed",
    );
  },
});

Deno.test({
  ...skipUnless(
    "udp transport: the receive queue is bounded; while it is full datagrams wait in the socket's buffer (none read only to be dropped) and all arrive in order once the consumer takes them",
    netSkipReason("127.0.0.1"),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    const b = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }], queueLimit: 8 });
    try {
      const n = 100; // far below the socket buffer's capacity (loopback loses none)
      for (let i = 0; i < n; i++) await a.send(Uint8Array.of(i), b.locals[0]!);
      await new Promise((r) => setTimeout(r, 200)); // the receive loop has had every chance to read
      assert.equal(b.dropped, 0, "nothing read only to be dropped");
      const got: number[] = [];
      for (let i = 0; i < n; i++) got.push((await next(b)).data[0]!);
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), "every datagram, in order");
      assert.equal(b.dropped, 0);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  ...skipUnless(
    "udp transport: the receive filter refuses datagrams before they are queued, and counts them",
    netSkipReason("127.0.0.1"),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    const b = UdpTransport.open({
      locals: [{ address: "127.0.0.1", port: 0 }],
      filter: (remote, size) => remote.address === "127.0.0.1" && size === 1,
    });
    try {
      await a.send(Uint8Array.of(1, 2), b.locals[0]!); // refused: two octets
      await a.send(Uint8Array.of(7), b.locals[0]!);
      assert.deepEqual([...(await next(b)).data], [7], "the first kept datagram comes first");
      assert.equal(b.filtered, 1);
      b.setFilter(() => false);
      await a.send(Uint8Array.of(8), b.locals[0]!);
      for (let i = 0; i < 250 && b.filtered < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(b.filtered, 2, "the second filter refused 8");
      b.setFilter(undefined);
      await a.send(Uint8Array.of(9), b.locals[0]!);
      assert.deepEqual([...(await next(b)).data], [9], "kept again without a filter");
    } finally {
      await a.close();
      await b.close();
    }
  },
});

function ffiSkipReason(): string | undefined {
  return Deno.permissions.querySync({ name: "ffi", path: LIBC_PATH }).state === "granted"
    ? netSkipReason("127.0.0.1")
    : `needs --allow-ffi=${LIBC_PATH}`;
}

Deno.test({
  ...skipUnless(
    "udp transport with libc on its socket: the kernel reports the larger receive buffer, the waiting datagrams are read at once after a wake-up, every one arrives in order from its sender",
    ffiSkipReason(),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    const b = UdpTransport.open({
      locals: [{ address: "127.0.0.1", port: 0 }],
      queueLimit: 8,
      receiveBuffer: 1 << 20,
      sockets: { find: (sa) => udpSocketOf(sa), setReceiveBuffer, recvFrom: recvFromNow },
    });
    try {
      // SO_RCVBUF reports twice what was set (the kernel's bookkeeping); without
      // CAP_NET_ADMIN the size is capped at net.core.rmem_max.
      const want = isRoot() ? 2 << 20 : Math.min(2 << 20, 2 * await rmemMax());
      assert.deepEqual(b.receiveBuffers, [want]);
      const n = 100;
      for (let i = 0; i < n; i++) await a.send(Uint8Array.of(i), b.locals[0]!);
      await new Promise((r) => setTimeout(r, 200));
      const got: number[] = [];
      for (let i = 0; i < n; i++) {
        const d = await next(b);
        assert.deepEqual(d.remote, a.locals[0], "the sender, from the socket address libc read");
        got.push(d.data[0]!);
      }
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), "every datagram, in order");
      assert.ok(b.drained > 0, "some were read at once after a wake-up");
      assert.equal(b.dropped, 0);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  ...skipUnless(
    "udp transport with libc on its socket: the kernel drops datagrams from addresses not kept before the process reads them; restricting again replaces the filter; too many addresses remove it",
    ffiSkipReason(),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    const b = UdpTransport.open({
      locals: [{ address: "127.0.0.1", port: 0 }],
      sockets: {
        find: (sa) => udpSocketOf(sa),
        setReceiveBuffer,
        recvFrom: recvFromNow,
        restrictSources: (fd, family, src) => family === "inet" && attachIpv4SourceFilter(fd, src),
      },
      filter: () => true, // counts what reaches the process
    });
    try {
      assert.equal(b.restrictSources(["127.0.0.2", "::1"]), 1);
      await a.send(Uint8Array.of(1), b.locals[0]!); // from 127.0.0.1: dropped by the kernel
      assert.equal(b.restrictSources(["127.0.0.3", "127.0.0.1"]), 1);
      await a.send(Uint8Array.of(2), b.locals[0]!);
      assert.deepEqual([...(await next(b)).data], [2], "the kept source's datagram, only");
      const many = Array.from(
        { length: MAX_FILTER_SOURCES + 1 },
        (_, i) => `10.9.${i >> 8}.${i & 255}`,
      );
      assert.equal(b.restrictSources(many), 0, "too many for one filter: none");
      await a.send(Uint8Array.of(3), b.locals[0]!);
      assert.deepEqual([...(await next(b)).data], [3], "no filter left that drops 127.0.0.1");
      assert.equal(b.filtered, 0);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

async function rmemMax(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/sys/net/core/rmem_max")).trim());
}
