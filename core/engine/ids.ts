/**
 * Identification payloads (IDci/IDcr, RFC 4430 §5.3, RFC 2407 §4.6.2) from
 * and against a peer's traffic selectors: an address prefix becomes
 * IPV4_ADDR / IPV6_ADDR (full length) or IPV4_ADDR_SUBNET /
 * IPV6_ADDR_SUBNET (address ‖ mask), with the selector's protocol and port.
 *
 * @module
 */
import { parseIp } from "../util/ip.ts";
import { type IdPayload, IdType } from "../wire/mod.ts";
import type { TrafficSelectorConfig } from "./api.ts";
import { EngineError } from "./errors.ts";

/** An address prefix `"10.1.0.0/16"` (no length = host) as octets and prefix length. */
export function parsePrefix(s: string): { addr: Uint8Array; len: number } {
  const [a, l] = s.split("/");
  const addr = parseIp(a ?? "")?.bytes;
  if (!addr) throw new EngineError("config", "traffic selector", `bad address ${s}`);
  const max = addr.length * 8;
  const len = l === undefined ? max : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > max) {
    throw new EngineError("config", "traffic selector", `bad prefix length in ${s}`);
  }
  return { addr, len };
}

/** The ID payload of one side of a selector. */
export function idPayload(prefix: string, proto: number, port: number): IdPayload {
  const { addr, len } = parsePrefix(prefix);
  const v4 = addr.length === 4;
  if (len === addr.length * 8) {
    return {
      kind: "id",
      idType: v4 ? IdType.IPV4_ADDR : IdType.IPV6_ADDR,
      protocol: proto,
      port,
      data: addr,
    };
  }
  const mask = new Uint8Array(addr.length);
  for (let i = 0; i < len; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
  const data = new Uint8Array(addr.length * 2);
  for (let i = 0; i < addr.length; i++) data[i] = addr[i]! & mask[i]!;
  data.set(mask, addr.length);
  return {
    kind: "id",
    idType: v4 ? IdType.IPV4_ADDR_SUBNET : IdType.IPV6_ADDR_SUBNET,
    protocol: proto,
    port,
    data,
  };
}

/** IDci and IDcr of a selector, from the initiator's point of view. */
export function selectorIds(s: TrafficSelectorConfig): [IdPayload, IdPayload] {
  const proto = s.proto ?? 0;
  return [
    idPayload(s.local, proto, s.localPort ?? 0),
    idPayload(s.remote, proto, s.remotePort ?? 0),
  ];
}

/** The address range of an ID payload as (octets, prefix length); undefined for ranges. */
function idPrefix(id: IdPayload): { addr: Uint8Array; len: number } | undefined {
  const n = id.idType === IdType.IPV4_ADDR || id.idType === IdType.IPV4_ADDR_SUBNET ? 4 : 16;
  if (id.idType === IdType.IPV4_ADDR || id.idType === IdType.IPV6_ADDR) {
    return { addr: id.data, len: n * 8 };
  }
  if (id.idType !== IdType.IPV4_ADDR_SUBNET && id.idType !== IdType.IPV6_ADDR_SUBNET) {
    return undefined;
  }
  const mask = id.data.subarray(n);
  let len = 0;
  while (len < n * 8 && (mask[len >> 3]! & (0x80 >> (len & 7)))) len++;
  for (let i = len; i < n * 8; i++) if (mask[i >> 3]! & (0x80 >> (i & 7))) return undefined;
  return { addr: id.data.subarray(0, n), len };
}

/** Whether the traffic an ID describes lies within one side of our selector. */
function within(id: IdPayload, prefix: string, proto: number, port: number): boolean {
  const got = idPrefix(id);
  const ours = parsePrefix(prefix);
  if (!got || got.addr.length !== ours.addr.length || got.len < ours.len) return false;
  for (let i = 0; i < ours.len; i++) {
    const bit = 0x80 >> (i & 7);
    if ((got.addr[i >> 3]! & bit) !== (ours.addr[i >> 3]! & bit)) return false;
  }
  return (proto === 0 || id.protocol === proto) && (port === 0 || id.port === port);
}

/**
 * The responder's check of received IDci/IDcr: the traffic they describe
 * must lie within one of its selectors seen from the other side (IDci in its
 * remote side, IDcr in its local side; a 0 protocol or port of ours is a
 * wildcard), or, without selectors, be the two gateway addresses. Returns
 * the index of the selector (-1 for host-to-host) or undefined.
 */
export function matchIds(
  idci: IdPayload,
  idcr: IdPayload,
  selectors: readonly TrafficSelectorConfig[] | undefined,
  peerAddress: string,
  localAddress: string,
): number | undefined {
  if (!selectors || selectors.length === 0) {
    return within(idci, peerAddress, 0, 0) && within(idcr, localAddress, 0, 0) ? -1 : undefined;
  }
  for (let i = 0; i < selectors.length; i++) {
    const s = selectors[i]!;
    const proto = s.proto ?? 0;
    if (
      within(idci, s.remote, proto, s.remotePort ?? 0) &&
      within(idcr, s.local, proto, s.localPort ?? 0)
    ) return i;
  }
  return undefined;
}

/** Whether `addr` (a literal) lies inside `prefix`. */
export function prefixContains(prefix: string, addr: string): boolean {
  let p: { addr: Uint8Array; len: number }, a: { addr: Uint8Array; len: number };
  try {
    p = parsePrefix(prefix);
    a = parsePrefix(addr);
  } catch {
    return false;
  }
  if (p.addr.length !== a.addr.length) return false;
  for (let i = 0; i < p.len; i++) {
    const bit = 0x80 >> (i & 7);
    if ((p.addr[i >> 3]! & bit) !== (a.addr[i >> 3]! & bit)) return false;
  }
  return true;
}
