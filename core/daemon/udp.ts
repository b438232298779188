/**
 * The daemon's KINK sockets: one UDP socket per listen endpoint (IPv4 and
 * IPv6), on `node:dgram` (stable in Deno, no `--unstable-net`), shaped as the
 * driver's {@link DriverTransport}. A datagram is sent from the socket bound
 * to the engine's chosen local address, else from the first socket of the
 * destination's family; received datagrams carry the socket's bound
 * endpoint as `local` (a wildcard socket reports the wildcard).
 *
 * core/net's `UdpTransport` has the same shape; the daemon takes whichever
 * the caller opens (`DaemonOptions.openTransport`).
 *
 * @module
 */
import dgram from "node:dgram";
import type { Datagram, Endpoint } from "../engine/api.ts";
import type { DriverTransport } from "./driver.ts";
import { DaemonError } from "./errors.ts";

/** Received datagrams held for the engine before new ones are dropped. */
export const RECEIVE_QUEUE_LIMIT = 4096;

interface Sock {
  s: dgram.Socket;
  local: Endpoint;
  v6: boolean;
}

/** An open set of KINK sockets. */
export interface UdpTransport extends DriverTransport {
  /** The bound endpoints. */
  readonly locals: readonly Endpoint[];
  /** Datagrams dropped because the receive queue was full. */
  readonly dropped: number;
  /** Closes every socket; the receive iteration ends. */
  close(): Promise<void>;
}

/** Binds one UDP socket per endpoint; throws {@link DaemonError} `"startup"` when one cannot be bound. */
export async function openUdpTransport(locals: readonly Endpoint[]): Promise<UdpTransport> {
  const socks: Sock[] = [];
  const queue: Datagram[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  let dropped = 0;
  const closeAll = () => {
    for (const k of socks) {
      try {
        k.s.close();
      } catch { /* closed */ }
    }
  };
  for (const l of locals) {
    const v6 = l.address.includes(":");
    const s = dgram.createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6 });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.bind(l.port, l.address, () => {
          s.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      closeAll();
      throw new DaemonError(
        "startup",
        `listen ${v6 ? `[${l.address}]` : l.address}:${l.port}`,
        `cannot bind: ${(e as Error).message}`,
      );
    }
    const local = { address: l.address, port: s.address().port };
    s.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
      if (queue.length >= RECEIVE_QUEUE_LIMIT) {
        dropped++;
        return;
      }
      queue.push({
        data: new Uint8Array(msg),
        local,
        remote: { address: rinfo.address, port: rinfo.port },
      });
      wake?.();
    });
    s.on("error", () => {/* counted by the driver on send; receive errors are not fatal */});
    socks.push({ s, local, v6 });
  }
  return {
    locals: socks.map((k) => k.local),
    get dropped() {
      return dropped;
    },
    send(data: Uint8Array, remote: Endpoint, local?: Endpoint): Promise<void> {
      const v6 = remote.address.includes(":");
      const k = (local && socks.find((x) => x.local.address === local.address)) ??
        socks.find((x) => x.v6 === v6);
      if (!k) {
        return Promise.reject(
          new DaemonError("startup", `send to ${remote.address}`, "no socket of that family"),
        );
      }
      return new Promise((resolve, reject) =>
        k.s.send(data, remote.port, remote.address, (e) => e ? reject(e) : resolve())
      );
    },
    async *receive(): AsyncGenerator<Datagram> {
      for (;;) {
        const d = queue.shift();
        if (d) {
          yield d;
          continue;
        }
        if (closed) return;
        await new Promise<void>((r) => wake = r);
        wake = undefined;
      }
    },
    close(): Promise<void> {
      closed = true;
      closeAll();
      wake?.();
      return Promise.resolve();
    },
  };
}
