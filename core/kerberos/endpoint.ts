/**
 * KDC addresses as krb5.conf writes them (`host`, `host:port`, `[v6]:port`,
 * `tcp/…`): parsing, formatting, and the local address a UDP socket for a KDC
 * binds to. Pure functions with no `node:` import, apart from the transport
 * (`transport.ts`, which re-exports them): the CLI's launcher and the daemon's
 * flag helper compute `--allow-net` entries from them, and under the VM tier's
 * emulation loading `node:dgram`/`node:net`/`node:dns` for that cost each of
 * those processes several hundred milliseconds.
 *
 * @module
 */
import { KerberosError } from "./errors.ts";

/** One KDC address, as listed in krb5.conf `[realms] kdc = ...`. */
export interface KdcEndpoint {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** Port, normally 88. */
  port: number;
  /** `"tcp"` or `"udp"` forces one transport; absent means UDP with TCP fallback. */
  protocol?: "udp" | "tcp";
}

/**
 * Parses one krb5.conf KDC entry: `host`, `host:port`, `[v6addr]:port`,
 * `v6addr` (no port), optionally prefixed `udp/` or `tcp/`.
 * A missing port means 88.
 */
export function parseKdcEndpoint(spec: string, defaultPort = 88): KdcEndpoint {
  let s = spec.trim();
  let protocol: "udp" | "tcp" | undefined;
  const m = /^(udp|tcp)\//i.exec(s);
  if (m) {
    protocol = m[1]!.toLowerCase() as "udp" | "tcp";
    s = s.slice(m[0].length);
  }
  let host: string;
  let port = defaultPort;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) throw badSpec(spec, "unclosed '['");
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw badSpec(spec, "expected ':' after ']'");
      port = parsePort(spec, rest.slice(1));
    }
  } else if ((s.match(/:/g) ?? []).length === 1) {
    const i = s.indexOf(":");
    host = s.slice(0, i);
    port = parsePort(spec, s.slice(i + 1));
  } else {
    host = s; // a bare name, IPv4 address or an IPv6 address without port
  }
  if (host === "") throw badSpec(spec, "empty host");
  const ep: KdcEndpoint = { host, port };
  if (protocol) ep.protocol = protocol;
  return ep;
}

function parsePort(spec: string, p: string): number {
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    throw badSpec(spec, `port '${p}' is not 1..65535`);
  }
  return Number(p);
}

function badSpec(spec: string, detail: string): KerberosError {
  return new KerberosError("invalid-argument", `KDC address '${spec}'`, detail);
}

/** Formats an endpoint as `host:port` (`[v6]:port`). */
export function formatEndpoint(ep: { host: string; port: number }): string {
  return ep.host.includes(":") ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * True when `host` is an IPv6 address in text form (optionally with a `%zone`), as
 * `node:net`'s `isIP(host) === 6` decides: eight groups, or fewer around one `::`, the last
 * two groups possibly a dotted IPv4 address.
 */
function isIPv6(host: string): boolean {
  const m = /^([0-9A-Fa-f:.]+)(%[^%]+)?$/.exec(host);
  if (!m) return false;
  let text = m[1]!;
  let groups = 0;
  const v4 = /^(.*:)((?:\d{1,3}\.){3}\d{1,3})$/.exec(text);
  if (v4) {
    if (!v4[2]!.split(".").every((o) => Number(o) <= 255 && !/^0\d/.test(o))) return false;
    text = v4[1]!.endsWith("::") ? v4[1]! : v4[1]!.slice(0, -1);
    groups = 2;
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const part = (h: string): string[] | undefined => {
    if (h === "") return [];
    const g = h.split(":");
    return g.every((x) => /^[0-9A-Fa-f]{1,4}$/.test(x)) ? g : undefined;
  };
  const left = part(halves[0]!);
  const right = halves.length === 2 ? part(halves[1]!) : [];
  if (!left || !right) return false;
  groups += left.length + right.length;
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/**
 * The local address a UDP socket for KDC `host` binds to (port 0): the
 * loopback address for a loopback KDC (so that a process allowed only
 * loopback traffic can talk to a local KDC), otherwise the wildcard address.
 * A process needs Deno net permission for `<address>:0` besides the KDC's
 * `host:port`. For a host name, give the address it resolves to.
 */
export function localBindAddress(host: string): string {
  const v6 = isIPv6(host);
  if (isLoopback(host)) return v6 ? "::1" : "127.0.0.1";
  return v6 ? "::" : "0.0.0.0";
}
