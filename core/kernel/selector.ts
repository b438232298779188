/**
 * Traffic selectors: building them ({@link anySelector}, the `ip`-style
 * {@link selector}) and matching flows against them ({@link selectorMatches}).
 *
 * @module
 */
import { anyAddr, type Family, familyOf, maxPrefix, parseAddr } from "./addr.ts";
import type { Flow, Selector } from "./model.ts";
import { invalid } from "./validate.ts";

/** A selector that matches everything of `family`. */
export function anySelector(family: Family): Selector {
  const a = anyAddr(family);
  return {
    family,
    src: a,
    srcPrefixLen: 0,
    dst: a,
    dstPrefixLen: 0,
    proto: 0,
    sport: 0,
    dport: 0,
    ifindex: 0,
  };
}

/**
 * Builds a selector from `ip`-style prefixes, e.g.
 * `selector("10.0.0.0/24", "10.0.1.5", { proto: 6, dport: 443 })`.
 */
export function selector(
  src: string,
  dst: string,
  opts: { proto?: number; sport?: number; dport?: number; ifindex?: number } = {},
): Selector {
  const [sa, sl] = splitPrefix(src);
  const [da, dl] = splitPrefix(dst);
  const family = familyOf(sa);
  if (!family) invalid("selector", `not an IP address: ${JSON.stringify(sa.slice(0, 64))}`);
  return {
    family,
    src: sa,
    srcPrefixLen: sl ?? maxPrefix(family),
    dst: da,
    dstPrefixLen: dl ?? maxPrefix(family),
    proto: opts.proto ?? 0,
    sport: opts.sport ?? 0,
    dport: opts.dport ?? 0,
    ifindex: opts.ifindex ?? 0,
  };
}

function splitPrefix(s: string): [string, number | undefined] {
  const i = s.indexOf("/");
  if (i < 0) return [s, undefined];
  const n = Number(s.slice(i + 1));
  if (!/^\d{1,3}$/.test(s.slice(i + 1))) {
    invalid("selector", `bad prefix length in ${JSON.stringify(s.slice(0, 64))}`);
  }
  return [s.slice(0, i), n];
}

function prefixMatch(addr: Uint8Array, net: Uint8Array, len: number): boolean {
  const whole = len >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== net[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[whole]! ^ net[whole]!) & mask) === 0;
}

/**
 * True when selector `s` covers `flow`, by the kernel's rules
 * (`xfrm_selector_match`): same family, both addresses inside the
 * prefixes, protocol 0 or equal, each port 0 (any) or equal. The selector's
 * interface index is not compared (a flow here has no interface).
 */
export function selectorMatches(s: Selector, flow: Flow): boolean {
  // The cheap comparisons first: most selectors of a large table fail on them.
  if (s.proto && s.proto !== (flow.proto ?? 0)) return false;
  if (s.sport && s.sport !== (flow.sport ?? 0)) return false;
  if (s.dport && s.dport !== (flow.dport ?? 0)) return false;
  const src = parseAddr(flow.src), dst = parseAddr(flow.dst);
  if (src.family !== s.family || dst.family !== s.family) return false;
  return prefixMatch(src.bytes, parseAddr(s.src).bytes, s.srcPrefixLen) &&
    prefixMatch(dst.bytes, parseAddr(s.dst).bytes, s.dstPrefixLen);
}
