/**
 * IP address, prefix and endpoint parsing for the configuration.
 *
 * @module
 */
import { ipv4Text, ipv6Text, parseIp as parseIpBytes } from "../util/ip.ts";

/** An IP address in canonical text form with its family. */
export interface IpAddress {
  /** Canonical text (dotted quad, or RFC 5952 IPv6). */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
}

/** An address prefix (`10.1.0.0/16`, `2001:db8::/32`). */
export interface Cidr extends IpAddress {
  /** Prefix length in bits. */
  prefix: number;
}

/** A UDP endpoint. */
export interface Endpoint {
  /** IP address text. */
  address: string;
  /** UDP port. */
  port: number;
}

/** Parses an IP address literal; undefined if it is not one. */
export function parseIp(text: string): (IpAddress & { bytes: Uint8Array }) | undefined {
  const p = parseIpBytes(text);
  if (!p) return undefined;
  return p.family === "inet"
    ? { address: ipv4Text(p.bytes), family: 4, bytes: p.bytes }
    : { address: ipv6Text(p.bytes), family: 6, bytes: p.bytes };
}

/** Parses `ADDR/PREFIX` (or a bare address = host prefix); a string describes the problem. */
export function parseCidr(text: string): Cidr | string {
  const [a, p, extra] = text.split("/");
  if (extra !== undefined) return `"${text}" is not ADDRESS/PREFIX`;
  const ip = parseIp(a ?? "");
  if (!ip) return `"${a}" is not an IPv4 or IPv6 address`;
  const max = ip.family === 4 ? 32 : 128;
  const prefix = p === undefined ? max : /^[0-9]{1,3}$/.test(p) ? Number(p) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `prefix "/${p}" is not 0..${max}`;
  for (let bit = prefix; bit < max; bit++) {
    if ((ip.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      return `"${text}" has host bits set beyond /${prefix}`;
    }
  }
  return { address: ip.address, family: ip.family, prefix };
}

/**
 * Parses `ADDR`, `ADDR:PORT`, `[V6]` or `[V6]:PORT` with a default port; a
 * string describes the problem.
 */
export function parseEndpoint(text: string, defaultPort: number): Endpoint | string {
  let host = text, portText: string | undefined;
  const br = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text);
  if (br) {
    host = br[1]!;
    portText = br[2];
  } else if (/^[0-9.]+:[0-9]+$/.test(text)) {
    const i = text.lastIndexOf(":");
    host = text.slice(0, i);
    portText = text.slice(i + 1);
  }
  const ip = parseIp(host);
  if (!ip) return `"${text}" is not ADDRESS[:PORT] with an IP address (IPv6 as [ADDR]:PORT)`;
  if (br && ip.family !== 6) return `"${text}": brackets are for IPv6 addresses`;
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `port in "${text}" is not 1..65535`;
  }
  return { address: ip.address, port };
}
