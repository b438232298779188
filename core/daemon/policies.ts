/**
 * The kernel policies a daemon installs for its peers, and how it recognises
 * what it owns.
 *
 * For each peer the daemon installs IPsec policies whose templates carry the
 * peer's reqid (from the daemon's reqid range, `daemon.reqid_base` …
 * `+ 65535`), so outbound traffic makes the kernel ACQUIRE an SA; and, in
 * transport mode, bypass policies for KINK's own UDP traffic between the two
 * gateways (it must not wait for the SAs it negotiates) and, over IPv6, for
 * Neighbor Discovery between them: Linux looks up XFRM policies for the
 * ICMPv6 Neighbor Solicitations and Advertisements it sends and receives
 * (RFC 4861 types 135/136), so without a bypass a gateway's unicast NA to its
 * peer falls on the "any protocol" policy before any SA exists — dropped,
 * and the peers never reach each other's KINK port (seen in the VM tier).
 * Ownership: an SA or policy is this daemon's when a reqid in its range
 * appears in it; bypass policies are recognised by their priority
 * ({@link BYPASS_PRIORITY}) and their UDP 910 or ICMPv6 NS/NA selector.
 * Everything else in the kernel is never touched.
 *
 * Equivalent `ip xfrm` commands for a transport-mode peer 192.0.2.2 seen
 * from 192.0.2.1 with reqid R:
 *
 * ```
 * ip xfrm policy add dir out src 192.0.2.1/32 dst 192.0.2.2/32 priority 2000 \
 *    tmpl proto esp mode transport reqid R level required
 * ip xfrm policy add dir in  src 192.0.2.2/32 dst 192.0.2.1/32 priority 2000 \
 *    tmpl proto esp mode transport reqid R level required
 * ip xfrm policy add dir out src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 910 priority 1000
 * …and the three other UDP 910 bypasses (sport 910 out, dport/sport 910 in)
 * ```
 *
 * and, for IPv6 peers, `ip xfrm policy add dir out|in … proto ipv6-icmp type 135|136
 * priority 1000` between the two addresses.
 *
 * @module
 */
import type { PeerConfig } from "../config/mod.ts";
import type {
  PolicyConfig,
  PolicyState,
  SaState,
  Selector,
  Template,
  XfrmProto,
} from "../kernel/mod.ts";
import { REQID_RANGE } from "../config/mod.ts";

/** Priority of the daemon's UDP bypass policies (lower wins over IPsec policies). */
export const BYPASS_PRIORITY = 1000;
/** Base priority of IPsec policies; more specific selectors get a lower number. */
export const IPSEC_PRIORITY = 2000;

const UDP = 17;
const ICMPV6 = 58;
/** ICMPv6 Neighbor Solicitation and Advertisement (RFC 4861 §4.3, §4.4). */
const ND_TYPES = [135, 136];

function hostLen(addr: string): number {
  return addr.includes(":") ? 128 : 32;
}

function sel(
  src: string,
  srcLen: number,
  dst: string,
  dstLen: number,
  proto = 0,
  sport = 0,
  dport = 0,
): Selector {
  return {
    family: src.includes(":") ? "inet6" : "inet",
    src,
    srcPrefixLen: srcLen,
    dst,
    dstPrefixLen: dstLen,
    proto,
    sport,
    dport,
    ifindex: 0,
  };
}

/** The protocols (outermost last, as XFRM templates are ordered) of a peer's proposals. */
export function templateProtocols(p: PeerConfig): XfrmProto[] {
  const first = p.proposals[0];
  if (!first) return ["esp"];
  const protos = first.protocols.map((x) => x.protocol);
  // XFRM applies templates in order: ESP first (inner), then AH (outer).
  return protos.includes("ah") && protos.includes("esp") ? ["esp", "ah"] : protos;
}

/**
 * The policies for one peer. `local` is this gateway's address toward it,
 * `reqid` the peer's reqid.
 */
export function peerPolicies(p: PeerConfig, local: string, reqid: number): PolicyConfig[] {
  const remote = p.addresses[0]!;
  const protos = templateProtocols(p);
  const out: PolicyConfig[] = [];
  if (p.mode === "transport") {
    const tmpl = (): Template[] =>
      protos.map((proto) => ({ proto, mode: "transport", reqid, level: "required" }));
    const pairs = p.traffic.length > 0
      ? p.traffic.map((t) => ({
        l: t.local,
        r: t.remote,
        proto: t.protocol,
        lp: t.localPort,
        rp: t.remotePort,
      }))
      : [{
        l: { address: local, prefix: hostLen(local) },
        r: { address: remote, prefix: hostLen(remote) },
        proto: 0,
        lp: 0,
        rp: 0,
      }];
    for (const s of pairs) {
      out.push({
        selector: sel(s.l.address, s.l.prefix, s.r.address, s.r.prefix, s.proto, s.lp, s.rp),
        dir: "out",
        priority: IPSEC_PRIORITY,
        templates: tmpl(),
      });
      out.push({
        selector: sel(s.r.address, s.r.prefix, s.l.address, s.l.prefix, s.proto, s.rp, s.lp),
        dir: "in",
        priority: IPSEC_PRIORITY,
        templates: tmpl(),
      });
    }
    const hl = hostLen(local), hr = hostLen(remote);
    for (
      const [dir, src, sl, dst, dl] of [["out", local, hl, remote, hr], [
        "in",
        remote,
        hr,
        local,
        hl,
      ]] as const
    ) {
      out.push({ selector: sel(src, sl, dst, dl, UDP, 0, p.port), dir, priority: BYPASS_PRIORITY });
      out.push({ selector: sel(src, sl, dst, dl, UDP, p.port, 0), dir, priority: BYPASS_PRIORITY });
      if (p.port !== 910) {
        out.push({ selector: sel(src, sl, dst, dl, UDP, 0, 910), dir, priority: BYPASS_PRIORITY });
        out.push({ selector: sel(src, sl, dst, dl, UDP, 910, 0), dir, priority: BYPASS_PRIORITY });
      }
      if (local.includes(":")) {
        // XFRM selectors carry the ICMP type in the source port field.
        for (const type of ND_TYPES) {
          out.push({
            selector: sel(src, sl, dst, dl, ICMPV6, type, 0),
            dir,
            priority: BYPASS_PRIORITY,
          });
        }
      }
    }
  } else {
    const tmplOut = (): Template[] =>
      protos.map((proto) => ({
        proto,
        mode: "tunnel",
        src: local,
        dst: remote,
        reqid,
        level: "required",
      }));
    const tmplIn = (): Template[] =>
      protos.map((proto) => ({
        proto,
        mode: "tunnel",
        src: remote,
        dst: local,
        reqid,
        level: "required",
      }));
    for (const t of p.traffic) {
      const prio = IPSEC_PRIORITY + (256 - t.local.prefix - t.remote.prefix);
      out.push({
        selector: sel(
          t.local.address,
          t.local.prefix,
          t.remote.address,
          t.remote.prefix,
          t.protocol,
          t.localPort,
          t.remotePort,
        ),
        dir: "out",
        priority: prio,
        templates: tmplOut(),
      });
      for (const dir of ["in", "fwd"] as const) {
        out.push({
          selector: sel(
            t.remote.address,
            t.remote.prefix,
            t.local.address,
            t.local.prefix,
            t.protocol,
            t.remotePort,
            t.localPort,
          ),
          dir,
          priority: prio,
          templates: tmplIn(),
        });
      }
    }
  }
  return out;
}

/** Whether `reqid` is in the daemon's range. */
export function ownsReqid(reqid: number | undefined, base: number): boolean {
  return reqid !== undefined && reqid >= base && reqid < base + REQID_RANGE;
}

/**
 * Whether a kernel policy is one this daemon installs (its reqid range, or its UDP or
 * ICMPv6 Neighbor Discovery bypass).
 */
export function ownsPolicy(
  p: PolicyState,
  base: number,
  kinkPorts: readonly number[] = [910],
): boolean {
  if ((p.templates ?? []).some((t) => ownsReqid(t.reqid, base))) return true;
  if (p.priority !== BYPASS_PRIORITY || (p.templates ?? []).length !== 0) return false;
  if (p.selector.proto === ICMPV6) {
    return ND_TYPES.includes(p.selector.sport) && p.selector.dport === 0;
  }
  return p.selector.proto === UDP &&
    (kinkPorts.includes(p.selector.sport) || kinkPorts.includes(p.selector.dport));
}

/** Whether a kernel SA is one this daemon installed. */
export function ownsSa(sa: SaState, base: number): boolean {
  return ownsReqid(sa.reqid, base);
}
