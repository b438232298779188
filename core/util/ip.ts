/**
 * IP addresses as text, shared by every layer that parses or prints one (the
 * capture reader, the kernel and network layers, the CLI).
 *
 * @module
 */

/** Dotted-quad text of a 4-octet IPv4 address. */
export function ipv4Text(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * RFC 5952 text of a 16-octet IPv6 address: lower-case hex, the longest run
 * (first of equal runs) of two or more zero groups compressed to `::`, and the
 * IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible forms as `inet_ntop`
 * prints them.
 */
export function ipv6Text(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  if (
    g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 &&
    (g[5] === 0xffff || (g[5] === 0 && g[6] !== 0))
  ) {
    return (g[5] === 0xffff ? "::ffff:" : "::") + `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  const hex = (x: number) => x.toString(16);
  if (best < 0) return g.map(hex).join(":");
  return g.slice(0, best).map(hex).join(":") + "::" + g.slice(best + bestLen).map(hex).join(":");
}

/**
 * Parses IPv4 dotted-quad or IPv6 text (RFC 4291 §2.2 forms, with an
 * embedded IPv4 tail) into its family and octets; `undefined` when `s` is
 * not an address (no zone ids, no prefixes).
 */
export function parseIp(s: string): { family: "inet" | "inet6"; bytes: Uint8Array } | undefined {
  const v4 = parseV4(s);
  if (v4) return { family: "inet", bytes: v4 };
  const v6 = parseV6Bytes(s);
  return v6 ? { family: "inet6", bytes: v6 } : undefined;
}

/** The normal text form of address `s` (RFC 5952 for IPv6), or `undefined` when it is not one. */
export function normalIpText(s: string): string | undefined {
  const p = parseIp(s);
  if (!p) return undefined;
  return p.family === "inet" ? ipv4Text(p.bytes) : ipv6Text(p.bytes);
}

function parseV4(s: string): Uint8Array | undefined {
  if (s.length < 7 || s.length > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0, val = 0, digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const ch = i < s.length ? s.charCodeAt(i) : 46; // end acts as a final "."
    if (ch >= 48 && ch <= 57) {
      val = val * 10 + ch - 48;
      if (++digits > 3 || val > 255) return undefined;
    } else if (ch === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = val;
      val = 0;
      digits = 0;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

function parseV6Bytes(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return undefined;
  let tail: Uint8Array | undefined;
  let str = s;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    str = s.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = str.indexOf("::");
  if (dbl >= 0 && str.indexOf("::", dbl + 1) >= 0) return undefined;
  const groups = (x: string) => (x === "" ? [] : x.split(":"));
  let head: string[], rest: string[];
  if (dbl >= 0) {
    head = groups(str.slice(0, dbl));
    rest = groups(str.slice(dbl + 2));
    if (head.length + rest.length > 7) return undefined;
  } else {
    head = groups(str);
    rest = [];
    if (head.length !== 8) return undefined;
  }
  const all = [...head, ...new Array(8 - head.length - rest.length).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  }
  if (tail) out.set(tail, 12);
  return out;
}
