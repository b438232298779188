/**
 * Building traffic selectors: {@link anySelector} and the `ip`-style
 * {@link selector}.
 *
 * @module
 */
import { anyAddr, type Family, familyOf, maxPrefix } from "./addr.ts";
import type { Selector } from "./model.ts";
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
