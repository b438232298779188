/**
 * IP address, prefix and endpoint parsing for the configuration.
 *
 * @module
 */

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

function v4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (const [i, p] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function v6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === "") return [];
    const groups: number[] = [];
    const toks = h.split(":");
    for (const [i, t] of toks.entries()) {
      if (i === toks.length - 1 && t.includes(".")) {
        const b = v4(t);
        if (!b) return undefined;
        groups.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(t)) return undefined;
        groups.push(parseInt(t, 16));
      }
    }
    return groups;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** RFC 5952 text of 16 octets. */
function v6Text(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Parses an IP address literal; undefined if it is not one. */
export function parseIp(text: string): (IpAddress & { bytes: Uint8Array }) | undefined {
  const b4 = v4(text);
  if (b4) return { address: Array.from(b4).join("."), family: 4, bytes: b4 };
  const b6 = v6(text);
  if (b6) return { address: v6Text(b6), family: 6, bytes: b6 };
  return undefined;
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
