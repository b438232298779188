/**
 * The UDP datagram transport over real loopback sockets, IPv4 and IPv6:
 * both endpoints of every datagram, replies to a datagram's remote, one
 * transport on both families, KINK's privileged port, the bounded receive
 * queue, and typed errors (a port in use, a peer Deno's --allow-net does not
 * grant, an oversized datagram, a closed transport).
 *
 * Needs `--allow-net=127.0.0.1,[::1]` (the integration tier's grant); the
 * project's deno.json enables `--unstable-net` for Deno.listenDatagram.
 */
import assert from "node:assert/strict";
import { type Datagram, NetError, UdpTransport } from "../../../core/net/mod.ts";
import { isRoot, skipUnless } from "../../harness/tiers.ts";

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
    "udp transport: the receive queue is bounded; datagrams beyond it are dropped and counted",
    netSkipReason("127.0.0.1"),
  ),
  async fn() {
    const a = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }] });
    const b = UdpTransport.open({ locals: [{ address: "127.0.0.1", port: 0 }], queueLimit: 8 });
    try {
      const n = 100;
      for (let i = 0; i < n; i++) await a.send(Uint8Array.of(i), b.locals[0]!);
      const deadline = Date.now() + 5000;
      while (b.dropped < n - 8 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(b.dropped, n - 8, "all but the queue's 8 dropped (loopback loses none)");
      const got: number[] = [];
      for (let i = 0; i < 8; i++) got.push((await next(b)).data[0]!);
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7], "the first eight, in order");
    } finally {
      await a.close();
      await b.close();
    }
  },
});
