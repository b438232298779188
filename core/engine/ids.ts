/**
 * Identification payloads (IDci/IDcr, RFC 4430 §5.3, RFC 2407 §4.6.2) from
 * and against a peer's traffic selectors: an address prefix becomes
 * IPV4_ADDR / IPV6_ADDR (full length) or IPV4_ADDR_SUBNET /
 * IPV6_ADDR_SUBNET (address ‖ mask), with the selector's protocol and port.
 *
 * @module
 */
import { type IdPayload, IdType } from "../wire/mod.ts";
import type { TrafficSelectorConfig } from "./api.ts";
import { EngineError } from "./errors.ts";

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const parts = h.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const a = groups(halves[0]!);
  const b = halves.length === 2 ? groups(halves[1]!) : [];
  if (!a || !b) return undefined;
  const fill = 8 - a.length - b.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...a, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...b];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 255;
  });
  return out;
}

/** An address prefix `"10.1.0.0/16"` (no length = host) as octets and prefix length. */
export function parsePrefix(s: string): { addr: Uint8Array; len: number } {
  const [a, l] = s.split("/");
  const addr = parseV4(a ?? "") ?? parseV6(a ?? "");
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

function same(a: IdPayload, b: IdPayload): boolean {
  return a.idType === b.idType && a.protocol === b.protocol && a.port === b.port &&
    a.data.length === b.data.length && a.data.every((x, i) => x === b.data[i]);
}

/**
 * The responder's check of received IDci/IDcr: they must describe one of
 * its selectors seen from the other side (IDci = its remote side, IDcr = its
 * local side), or, without selectors, the two gateway addresses. Returns
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
    const host = (a: string, id: IdPayload) => same(idPayload(a, id.protocol, id.port), id);
    return host(peerAddress, idci) && host(localAddress, idcr) ? -1 : undefined;
  }
  for (let i = 0; i < selectors.length; i++) {
    const s = selectors[i]!;
    const proto = s.proto ?? 0;
    if (
      same(idPayload(s.remote, proto, s.remotePort ?? 0), idci) &&
      same(idPayload(s.local, proto, s.localPort ?? 0), idcr)
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
