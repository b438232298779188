import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { KdcUnreachableError, sendToKdc } from "../../../core/kerberos/transport.ts";

// KDC faults on loopback: a UDP socket that never answers, a TCP port nobody
// listens on, a server that answers garbage. The process must keep running
// timers while the transport waits.

async function silentUdp(): Promise<{ port: number; close(): void; received: () => number }> {
  const s = dgram.createSocket("udp4");
  let n = 0;
  s.on("message", () => n++);
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return { port: s.address().port, close: () => s.close(), received: () => n };
}

async function garbageUdp(reply: Uint8Array): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket("udp4");
  s.on("message", (_m, r) => s.send(reply, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return { port: s.address().port, close: () => s.close() };
}

async function closedTcpPort(): Promise<number> {
  // Bind and close to find a port nobody listens on.
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function ticker(ms: number): { stop(): number } {
  let ticks = 0;
  const id = setInterval(() => ticks++, ms);
  return { stop: () => (clearInterval(id), ticks) };
}

Deno.test("transport: dead KDCs get their timeout per pass, then a typed error lists them", async () => {
  const silent = await silentUdp();
  const refused = await closedTcpPort();
  const t = ticker(10);
  const t0 = performance.now();
  try {
    await rejects(
      sendToKdc(new Uint8Array(100), [
        { host: "127.0.0.1", port: silent.port },
        { host: "127.0.0.1", port: refused, protocol: "tcp" },
      ], { timeoutMs: 300 }),
      (e: unknown) => {
        assert(e instanceof KdcUnreachableError);
        assertEquals(e.category, "kdc-unreachable");
        assertEquals(
          e.message,
          `KDC unreachable: tried 127.0.0.1:${silent.port} (timeout 300 ms), ` +
            `tcp/127.0.0.1:${refused} (connection refused), ` +
            `127.0.0.1:${silent.port} (timeout 600 ms)`,
        );
        return true;
      },
    );
  } finally {
    silent.close();
  }
  const elapsed = performance.now() - t0;
  const ticks = t.stop();
  // Two UDP passes (a datagram may be lost), the second with twice the
  // timeout, plus one refused connect; the event loop kept running.
  assertEquals(silent.received(), 2);
  assert(elapsed >= 890 && elapsed < 3000, `elapsed ${elapsed} ms`);
  assert(ticks >= 10, `only ${ticks} timer ticks while waiting`);
});

Deno.test("transport: a KDC slower than the first timeout is heard in the next pass, which waits twice as long", async () => {
  // Every request answered 450 ms late with a well-framed KRB-ERROR: the first pass (300 ms)
  // gives up on it, the second (600 ms) gets its answer. With a fixed timeout no pass would.
  const s = dgram.createSocket("udp4");
  let n = 0;
  const pending = new Set<ReturnType<typeof setTimeout>>();
  s.on("message", (_m, r) => {
    n++;
    const id = setTimeout(() => {
      pending.delete(id);
      s.send(new Uint8Array([0x7e, 0x02, 0x30, 0x00]), r.port, r.address);
    }, 450);
    pending.add(id);
  });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  try {
    const reply = await sendToKdc(new Uint8Array(60), [
      { host: "127.0.0.1", port: s.address().port },
    ], { timeoutMs: 300 });
    assertEquals([...reply.reply], [0x7e, 0x02, 0x30, 0x00]);
    assertEquals(n, 2);
    assertEquals(reply.attempts.map((a) => a.outcome), ["timeout 300 ms", "ok"]);
  } finally {
    for (const id of pending) clearTimeout(id);
    s.close();
  }
});

Deno.test("transport: a KDC answering garbage yields a typed bad-reply error", async () => {
  const g = await garbageUdp(new TextEncoder().encode("SSH-2.0-not-a-kdc\r\n"));
  const g2 = await garbageUdp(new Uint8Array([0x7e, 0x10, 0x30])); // truncated KRB-ERROR
  try {
    await rejects(
      sendToKdc(new Uint8Array(50), [
        { host: "127.0.0.1", port: g.port },
        { host: "127.0.0.1", port: g2.port },
      ], { timeoutMs: 500 }),
      (e: unknown) => {
        assert(e instanceof KdcUnreachableError);
        assertEquals(e.category, "kdc-bad-reply");
        assertEquals(e.attempts.length, 2);
        assert(e.attempts[0]!.outcome.includes("first octet 0x53"), e.message);
        assert(e.attempts[1]!.outcome.includes("does not match"), e.message);
        assert(e.message.startsWith("no usable KDC reply: tried "), e.message);
        return true;
      },
    );
  } finally {
    g.close();
    g2.close();
  }
});

Deno.test("transport: a TCP KDC that sends an oversized length prefix is cut off", async () => {
  const srv = net.createServer((c) => {
    c.on("data", () => c.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff])));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await rejects(
      sendToKdc(new Uint8Array(10), [{ host: "127.0.0.1", port, protocol: "tcp" }], {
        timeoutMs: 1000,
      }),
      (e: unknown) => {
        assert(e instanceof KdcUnreachableError);
        assert(e.message.includes("exceeds the 1048576-octet limit"), e.message);
        return true;
      },
    );
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

Deno.test("transport: abort stops waiting at once and releases the socket", async () => {
  const silent = await silentUdp();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const t0 = performance.now();
  try {
    await rejects(
      sendToKdc(new Uint8Array(10), [{ host: "127.0.0.1", port: silent.port }], {
        timeoutMs: 5000,
        signal: ac.signal,
      }),
      (e: unknown) => (e as Error).message.includes("aborted"),
    );
  } finally {
    silent.close();
  }
  assert(performance.now() - t0 < 2000);
});

Deno.test("transport: IPv6 loopback KDC over UDP", async () => {
  const s = dgram.createSocket("udp6");
  // A minimal well-framed KRB-ERROR-tagged reply; the transport only checks framing.
  s.on("message", (_m, r) => s.send(new Uint8Array([0x7e, 0x02, 0x30, 0x00]), r.port, r.address));
  await new Promise<void>((r) => s.bind(0, "::1", () => r()));
  try {
    const r = await sendToKdc(new Uint8Array(20), [{ host: "::1", port: s.address().port }], {
      timeoutMs: 1000,
    });
    assertEquals(r.protocol, "udp");
    assertEquals(r.address, `[::1]:${s.address().port}`);
    assertEquals([...r.reply], [0x7e, 0x02, 0x30, 0x00]);
  } finally {
    s.close();
  }
});
