/**
 * IPv4/IPv6 address text ⇄ bytes, with the same text form `ip` prints
 * (dotted quad; RFC 5952 compressed IPv6, as glibc's `inet_ntop`).
 *
 * @module
 */
import { KernelError } from "./errors.ts";

/** Address family by name. */
export type Family = "inet" | "inet6";
/** `AF_INET`. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;

/** Family number of `f`. */
export function afOf(f: Family): number {
  return f === "inet" ? AF_INET : AF_INET6;
}

const cache = new Map<string, { family: Family; bytes: Uint8Array }>();
const CACHE_MAX = 4096;

/**
 * Parses an IPv4 or IPv6 address; throws `KernelError("invalid")` otherwise.
 * The returned bytes may be shared with other callers: never modify them.
 */
export function parseAddr(
  s: string,
  context = "parse address",
): { family: Family; bytes: Uint8Array } {
  const hit = cache.get(s);
  if (hit) return hit;
  const v4 = parseV4(s);
  const r = v4 ? { family: "inet" as const, bytes: v4 } : parseV6(s);
  if (!r) {
    throw new KernelError(
      "invalid",
      context,
      `not an IP address: ${JSON.stringify(s.slice(0, 64))}`,
    );
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(s, r);
  return r;
}

/** Family of an address string, or undefined when it is not one. */
export function familyOf(s: string): Family | undefined {
  try {
    return parseAddr(s).family;
  } catch {
    return undefined;
  }
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

function parseV6(s: string): { family: "inet6"; bytes: Uint8Array } | undefined {
  const b = parseV6Bytes(s);
  return b ? { family: "inet6", bytes: b } : undefined;
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

/** Formats 4 or 16 address bytes (of `family`) as text. */
export function formatAddr(family: Family, b: Uint8Array): string {
  if (family === "inet") return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms, as inet_ntop prints them.
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

/** The all-zero address text of a family (`0.0.0.0` or `::`). */
export function anyAddr(family: Family): string {
  return family === "inet" ? "0.0.0.0" : "::";
}

/** Maximum prefix length of a family (32 or 128). */
export function maxPrefix(family: Family): number {
  return family === "inet" ? 32 : 128;
}
