/**
 * The UDP implementation of {@link DatagramTransport}, on Deno's own UDP
 * sockets (`Deno.listenDatagram`), IPv4 and IPv6.
 *
 * Deno's sockets were measured against `node:dgram` on loopback (a 200-octet
 * ping-pong, 20,000 round trips, same run): about 50–60 µs of CPU per round
 * trip against 65–100 µs, so kink uses them. They need `--unstable-net`,
 * which the project's `deno.json` enables (`"unstable": ["net"]`); without
 * it {@link UdpTransport.open} fails with `NetError("unsupported")`.
 *
 * One socket is bound per local endpoint. Bind specific addresses: Deno
 * does not report a datagram's destination address (no `IP_PKTINFO`), so on
 * a wildcard socket (`0.0.0.0`, `::`) {@link Datagram.local} is the
 * wildcard. Binding a port below 1024 (KINK's 910) needs root or
 * CAP_NET_BIND_SERVICE, and Deno's `--allow-net` must name the local
 * addresses (binding) and the peers (sending).
 *
 * @module
 */
import { ipv4Text, ipv6Text, normalIpText, parseIp } from "../util/ip.ts";
import { NetError } from "./errors.ts";
import { DatagramQueue } from "./queue.ts";
import {
  checkSize,
  type Datagram,
  type DatagramTransport,
  type Endpoint,
  endpointText,
  normalizeEndpoint,
} from "./types.ts";

/** Options of {@link UdpTransport.open}. */
export interface UdpTransportOptions {
  /** Local endpoints to bind, one socket each (port 0: any free port). */
  locals: Endpoint[];
  /** Most datagrams held for the consumer before new ones are dropped (default 1024). */
  queueLimit?: number;
  /** Datagrams to keep (see {@link ReceiveFilter}); default: every datagram. */
  filter?: ReceiveFilter;
  /**
   * Descriptor-level access to the sockets (libc through FFI; the daemon
   * passes it where FFI is granted). With it each socket's receive buffer is
   * set to {@link receiveBuffer} and, after each of Deno's reads, the
   * datagrams already waiting are read at once (up to {@link drainBatch}),
   * without one asynchronous read each. Without it, or when a socket's
   * descriptor cannot be told apart, Deno's reads alone.
   */
  sockets?: SocketAccess;
  /** Receive buffer asked for each socket with {@link sockets} (default 4 MiB). */
  receiveBuffer?: number;
  /** Most datagrams read at once after one of Deno's reads (default 64; then timers and other I/O run). */
  drainBatch?: number;
}

/** Descriptor-level calls on the transport's own UDP sockets (see {@link UdpTransportOptions.sockets}). */
export interface SocketAccess {
  /** The descriptor of the one UDP socket bound to exactly `sockaddr`, or undefined. */
  find(sockaddr: Uint8Array): number | undefined;
  /** Sets the receive buffer; returns the size in force. */
  setReceiveBuffer(fd: number, bytes: number): number;
  /**
   * Reads one waiting datagram without blocking: its full length, the
   * sender's `sockaddr` in `from`; or `-errno` (nothing waiting: `-EAGAIN`).
   */
  recvFrom(fd: number, buf: Uint8Array<ArrayBuffer>, from: Uint8Array<ArrayBuffer>): number;
  /**
   * Has the kernel drop, before the socket's buffer, datagrams from other
   * sources than `sources` (address octets of the socket's family); false
   * when it cannot (too many, or not for this family). Optional.
   */
  restrictSources?(fd: number, family: "inet" | "inet6", sources: Uint8Array[]): boolean;
}

/** `sockaddr_in`/`sockaddr_in6` of a bound endpoint, as getsockname reports it. */
function sockaddrOf(e: Endpoint, family: "inet" | "inet6"): Uint8Array {
  const ip = parseIp(e.address)!.bytes;
  const sa = new Uint8Array(family === "inet" ? 16 : 28);
  sa[0] = family === "inet" ? 2 : 10;
  sa[2] = e.port >> 8;
  sa[3] = e.port & 0xff;
  sa.set(ip, family === "inet" ? 4 : 8);
  return sa;
}

/** The endpoint in a `sockaddr` from recvfrom, or undefined for another family. */
function endpointOf(sa: Uint8Array): Endpoint | undefined {
  const family = sa[0]! | (sa[1]! << 8);
  const port = (sa[2]! << 8) | sa[3]!;
  if (family === 2) return { address: ipv4Text(sa.subarray(4, 8)), port };
  if (family === 10) return { address: ipv6Text(sa.subarray(8, 24)), port };
  return undefined;
}

/**
 * Decides in the receive loop, before a datagram is copied or queued,
 * whether it is wanted (`remote` is in normal form). A datagram refused here
 * costs the socket read and this call only, and is counted in
 * {@link UdpTransport.filtered}; the daemon refuses senders that are no
 * configured peer, which the engine would drop unread anyway, so that a
 * flood from other addresses does not take the receive queue's places.
 */
export type ReceiveFilter = (remote: Endpoint, size: number) => boolean;

interface Sock {
  conn: Deno.DatagramConn;
  local: Endpoint;
  family: "inet" | "inet6";
  /** The socket's descriptor, when {@link SocketAccess} found it. */
  fd?: number;
  /** Its receive buffer then (bytes, as the kernel reports it). */
  rcvbuf?: number;
}

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** {@link DatagramTransport} over Deno UDP sockets. */
export class UdpTransport implements DatagramTransport {
  readonly #socks: Sock[];
  readonly #queue: DatagramQueue;
  readonly #pumps: Promise<void>[];
  #closed = false;
  #filter: ReceiveFilter | undefined;
  #filtered = 0;
  #drained = 0;
  readonly #access: SocketAccess | undefined;
  readonly #batch: number;
  /** The bound endpoints (ports resolved). */
  readonly locals: readonly Endpoint[];

  private constructor(socks: Sock[], opts: UdpTransportOptions) {
    this.#socks = socks;
    this.#filter = opts.filter;
    this.#access = opts.sockets;
    this.#batch = opts.drainBatch ?? 64;
    const queueLimit = opts.queueLimit ?? 1024;
    this.locals = Object.freeze(socks.map((s) => Object.freeze({ ...s.local })));
    this.#queue = new DatagramQueue(queueLimit);
    this.#pumps = socks.map((s) => this.#pump(s));
  }

  /**
   * Binds one UDP socket per local endpoint. Throws `NetError("invalid")`
   * for a bad endpoint, `"bind"` when the system refuses one (every socket
   * bound so far is closed again), `"unsupported"` without `--unstable-net`.
   */
  static open(opts: UdpTransportOptions): UdpTransport {
    const ctx = "open UDP transport";
    if (typeof Deno.listenDatagram !== "function") {
      throw new NetError(
        "unsupported",
        ctx,
        'Deno.listenDatagram is unavailable: run with --unstable-net (or "unstable": ["net"] in deno.json)',
      );
    }
    if (!opts.locals?.length) throw new NetError("invalid", ctx, "no local endpoint");
    const socks: Sock[] = [];
    try {
      for (const l of opts.locals) {
        const e = normalizeEndpoint(l, ctx, true);
        let conn: Deno.DatagramConn;
        try {
          conn = Deno.listenDatagram({ transport: "udp", hostname: e.address, port: e.port });
        } catch (err) {
          throw new NetError("bind", `bind ${endpointText(e)}`, errText(err), { cause: err });
        }
        const addr = conn.addr as Deno.NetAddr;
        socks.push({ conn, local: { address: e.address, port: addr.port }, family: e.family });
      }
    } catch (e) {
      for (const s of socks) s.conn.close();
      throw e;
    }
    if (opts.sockets) {
      for (const s of socks) {
        try {
          const fd = opts.sockets.find(sockaddrOf(s.local, s.family));
          if (fd === undefined) continue;
          s.fd = fd;
          s.rcvbuf = opts.sockets.setReceiveBuffer(fd, opts.receiveBuffer ?? 4 << 20);
        } catch {
          delete s.fd; // Deno's reads alone
        }
      }
    }
    return new UdpTransport(socks, opts);
  }

  /** Datagrams dropped because the receive queue was full. */
  get dropped(): number {
    return this.#queue.dropped;
  }

  /** Datagrams refused by the {@link ReceiveFilter} (never queued). */
  get filtered(): number {
    return this.#filtered;
  }

  /** Datagrams read at once after Deno's reads (see {@link UdpTransportOptions.sockets}). */
  get drained(): number {
    return this.#drained;
  }

  /**
   * Tells the kernel (where {@link SocketAccess.restrictSources} can) to drop
   * datagrams from any other address than `addresses` before they take the
   * socket's buffer, so that a flood from elsewhere cannot crowd them out
   * there. Returns how many sockets are filtered in the kernel. The
   * {@link ReceiveFilter} stays the check in this process.
   */
  restrictSources(addresses: readonly string[]): number {
    let n = 0;
    for (const s of this.#socks) {
      if (s.fd === undefined || !this.#access?.restrictSources) continue;
      const mine = addresses.map((a) => parseIp(a)).filter((p) => p?.family === s.family)
        .map((p) => p!.bytes);
      try {
        if (this.#access.restrictSources(s.fd, s.family, mine)) n++;
      } catch { /* the process filter alone */ }
    }
    return n;
  }

  /** Each socket's receive buffer in force (bytes), where {@link UdpTransportOptions.sockets} set it. */
  get receiveBuffers(): (number | undefined)[] {
    return this.#socks.map((s) => s.rcvbuf);
  }

  /** Replaces the {@link ReceiveFilter} (undefined: keep every datagram). */
  setFilter(filter: ReceiveFilter | undefined): void {
    this.#filter = filter;
  }

  async #pump(s: Sock): Promise<void> {
    const buf = new Uint8Array(65536);
    for (;;) {
      // Back-pressure: while the consumer is behind, datagrams wait in the socket's buffer
      // (where the kernel drops what does not fit) rather than being read only to be dropped.
      if (this.#queue.room === 0) await this.#queue.space();
      if (this.#closed) return;
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await s.conn.receive(buf);
      } catch (e) {
        if (this.#closed) return;
        this.#queue.end(
          new NetError("receive", `receive on ${endpointText(s.local)}`, errText(e), { cause: e }),
        );
        return;
      }
      const [view, from] = got;
      const addr = from as Deno.NetAddr;
      this.#take(s, view, {
        address: normalIpText(addr.hostname) ?? addr.hostname,
        port: addr.port,
      });
      if (s.fd !== undefined && !this.#closed && this.#drain(s, buf)) {
        // A full batch, so more may wait: let timers and other I/O (the control socket, the
        // replay cache's commits that release the answers) run before the next batch.
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }

  /** Filters and queues one datagram read into the reused buffer. */
  #take(s: Sock, view: Uint8Array, remote: Endpoint): void {
    if (this.#filter && !this.#filter(remote, view.length)) {
      this.#filtered++;
      return;
    }
    // The receive buffer is reused: the datagram gets its own copy.
    this.#queue.push({ data: view.slice(), local: s.local, remote });
  }

  /**
   * Reads the datagrams already waiting on `s` (at most the batch), without
   * waiting; true when it stopped at the batch's end (more may wait).
   */
  #drain(s: Sock, buf: Uint8Array<ArrayBuffer>): boolean {
    const from = new Uint8Array(28);
    for (let i = 0; i < this.#batch; i++) {
      if (this.#queue.room === 0) return false;
      let n: number;
      try {
        n = this.#access!.recvFrom(s.fd!, buf, from);
      } catch {
        return false; // Deno's next read reports a broken socket
      }
      if (n < 0) return false; // EAGAIN: nothing waits; anything else: Deno's next read sees it
      this.#drained++;
      const remote = endpointOf(from);
      if (!remote || n > buf.length) continue; // not IP, or truncated (larger than any UDP payload)
      this.#take(s, buf.subarray(0, n), remote);
    }
    return true;
  }

  #pick(remote: Endpoint & { family: string }, local: Endpoint | undefined, ctx: string): Sock {
    if (local) {
      const l = normalizeEndpoint(local, ctx);
      const s = this.#socks.find((x) => x.local.address === l.address && x.local.port === l.port);
      if (!s) throw new NetError("invalid", ctx, `${endpointText(l)} is not a local endpoint`);
      if (s.family !== remote.family) {
        throw new NetError("invalid", ctx, `${endpointText(l)} and the peer differ in family`);
      }
      return s;
    }
    const s = this.#socks.find((x) => x.family === remote.family);
    if (!s) throw new NetError("invalid", ctx, `no local ${remote.family} endpoint`);
    return s;
  }

  /** Sends one datagram (see {@link DatagramTransport.send}). */
  async send(data: Uint8Array, remote: Endpoint, local?: Endpoint): Promise<void> {
    const ctx = `send to ${typeof remote?.address === "string" ? endpointText(remote) : "?"}`;
    if (this.#closed) throw new NetError("closed", ctx, "transport closed");
    checkSize(data, ctx);
    const r = normalizeEndpoint(remote, ctx);
    const s = this.#pick(r, local, ctx);
    let n: number;
    try {
      n = await s.conn.send(data, { transport: "udp", hostname: r.address, port: r.port });
    } catch (e) {
      if (this.#closed) throw new NetError("closed", ctx, "transport closed", { cause: e });
      throw new NetError("send", ctx, errText(e), { cause: e });
    }
    if (n !== data.length) throw new NetError("send", ctx, `sent ${n} of ${data.length} octets`);
  }

  /** The received datagrams (see {@link DatagramTransport.receive}). */
  receive(): AsyncIterable<Datagram> {
    return this.#queue;
  }

  /** Closes every socket and ends the receive iteration. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#socks) {
      try {
        s.conn.close();
      } catch { /* already closed */ }
    }
    // Ended first: a receive loop waiting for the consumer to make room returns at once.
    this.#queue.end();
    await Promise.all(this.#pumps);
  }
}
