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
import { normalIpText } from "../util/ip.ts";
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
}

interface Sock {
  conn: Deno.DatagramConn;
  local: Endpoint;
  family: "inet" | "inet6";
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
  /** The bound endpoints (ports resolved). */
  readonly locals: readonly Endpoint[];

  private constructor(socks: Sock[], queueLimit: number) {
    this.#socks = socks;
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
    return new UdpTransport(socks, opts.queueLimit ?? 1024);
  }

  /** Datagrams dropped because the receive queue was full. */
  get dropped(): number {
    return this.#queue.dropped;
  }

  async #pump(s: Sock): Promise<void> {
    const buf = new Uint8Array(65536);
    for (;;) {
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
      const d: Datagram = {
        data: view.slice(), // the receive buffer is reused
        local: s.local,
        remote: { address: normalIpText(addr.hostname) ?? addr.hostname, port: addr.port },
      };
      this.#queue.push(d);
    }
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
    await Promise.all(this.#pumps);
    this.#queue.end();
  }
}
