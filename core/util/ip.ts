/**
 * Text forms of IP addresses, shared by every layer that prints one (the
 * capture reader, the kernel layer, the CLI).
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
