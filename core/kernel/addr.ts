/**
 * IPv4/IPv6 address text ⇄ bytes, with the same text form `ip` prints
 * (dotted quad; RFC 5952 compressed IPv6, as glibc's `inet_ntop`).
 *
 * @module
 */
import { ipv4Text, ipv6Text, parseIp } from "../util/ip.ts";
import { KernelError } from "./errors.ts";

/** Address family by name. */
export type Family = "inet" | "inet6";
interface Parsed {
  family: Family;
  bytes: Uint8Array;
  text?: string;
}
const cache = new Map<string, Parsed>();
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
  const r: Parsed | undefined = parseIp(s);
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

/**
 * True when `s` is an IPv4 dotted quad already in normal form (no leading
 * zeros): such text is its own normal form, so the hot paths skip the
 * parse and its allocation.
 */
function isNormalV4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let parts = 0, digits = 0, val = 0, lead = 0;
  for (let i = 0; i <= n; i++) {
    const ch = i < n ? s.charCodeAt(i) : 46;
    if (ch >= 48 && ch <= 57) {
      if (digits === 0) lead = ch;
      else if (lead === 48) return false;
      val = val * 10 + ch - 48;
      if (++digits > 3 || val > 255) return false;
    } else if (ch === 46 && digits > 0) {
      parts++;
      digits = 0;
      val = 0;
    } else return false;
  }
  return parts === 4;
}

/**
 * The normal text form of an address (what `ip` prints and the kernel's
 * replies decode to), e.g. `"FD00:0::1"` → `"fd00::1"`; throws
 * `KernelError("invalid")` for a non-address. Cached with the parse.
 */
export function normalizeAddr(s: string, context = "parse address"): string {
  if (isNormalV4(s)) return s;
  const p: Parsed = parseAddr(s, context);
  return p.text ??= formatAddr(p.family, p.bytes);
}

/** The family of address `s`; throws `KernelError("invalid")` for a non-address. */
export function addrFamily(s: string, context = "parse address"): Family {
  return isNormalV4(s) ? "inet" : parseAddr(s, context).family;
}

/** Family of an address string, or undefined when it is not one. */
export function familyOf(s: string): Family | undefined {
  try {
    return parseAddr(s).family;
  } catch {
    return undefined;
  }
}

/** Formats 4 or 16 address bytes (of `family`) as text (RFC 5952 for IPv6). */
export function formatAddr(family: Family, b: Uint8Array): string {
  return family === "inet" ? ipv4Text(b) : ipv6Text(b);
}

/** The all-zero address text of a family (`0.0.0.0` or `::`). */
export function anyAddr(family: Family): string {
  return family === "inet" ? "0.0.0.0" : "::";
}

/** Maximum prefix length of a family (32 or 128). */
export function maxPrefix(family: Family): number {
  return family === "inet" ? 32 : 128;
}
