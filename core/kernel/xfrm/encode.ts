/**
 * Typed model → XFRM request payloads: maps {@link SaConfig},
 * {@link PolicyConfig} and the identifiers onto the `<linux/xfrm.h>` structs
 * laid out in `ffi/xfrm/layout.ts`, after validating them.
 *
 * @module
 */
import { encodeAttr } from "../../../ffi/netlink.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO,
  OFFSETOF as O,
  SIZEOF,
  XFRM_INF,
  XFRM_MODE,
  XFRM_POLICY_ACTION,
  XFRM_POLICY_DIR,
  XFRM_STATE_ESN,
  XFRMA,
} from "../../../ffi/xfrm/layout.ts";
import { attrSize, joinPayload, PayloadBuilder, StructWriter } from "../../../ffi/xfrm/wire.ts";
import { type Family, parseAddr } from "../addr.ts";
import type {
  AllocSpiRequest,
  Lifetime,
  Mark,
  PolicyConfig,
  PolicyId,
  SaConfig,
  SaId,
  Selector,
  Template,
  XfrmProto,
} from "../model.ts";
import { anySelector } from "../selector.ts";
import {
  invalid,
  validateAllocSpi,
  validatePolicy,
  validatePolicyId,
  validateSa,
  validateSaId,
  validateSelector,
} from "../validate.ts";

/** `AF_INET`/`AF_INET6` of a family. */
export function afOf(f: Family): number {
  return f === "inet" ? AF_INET : AF_INET6;
}

function putAddr(w: StructWriter, off: number, a: string | undefined, family: Family): void {
  if (!a) return;
  const p = parseAddr(a);
  if (p.family !== family) invalid("encode address", `${a} is not ${family}`);
  w.bytes(off, p.bytes);
}

function putSelector(w: StructWriter, off: number, s: Selector): void {
  putAddr(w, off + O["xfrm_selector.daddr"], s.dst, s.family);
  putAddr(w, off + O["xfrm_selector.saddr"], s.src, s.family);
  w.be16(off + O["xfrm_selector.dport"], s.dport);
  w.be16(off + O["xfrm_selector.dport_mask"], s.dport ? 0xffff : 0);
  w.be16(off + O["xfrm_selector.sport"], s.sport);
  w.be16(off + O["xfrm_selector.sport_mask"], s.sport ? 0xffff : 0);
  w.u16(off + O["xfrm_selector.family"], afOf(s.family));
  w.u8(off + O["xfrm_selector.prefixlen_d"], s.dstPrefixLen);
  w.u8(off + O["xfrm_selector.prefixlen_s"], s.srcPrefixLen);
  w.u8(off + O["xfrm_selector.proto"], s.proto);
  w.u32(off + O["xfrm_selector.ifindex"], s.ifindex);
}

function putLifetime(w: StructWriter, off: number, l: Lifetime | undefined): void {
  const lim = (v: number | undefined) => (v === undefined ? XFRM_INF : BigInt(v));
  const sec = (v: number | undefined) => BigInt(v ?? 0);
  w.u64(off, lim(l?.softBytes));
  w.u64(off + 8, lim(l?.hardBytes));
  w.u64(off + 16, lim(l?.softPackets));
  w.u64(off + 24, lim(l?.hardPackets));
  w.u64(off + 32, sec(l?.softAddSeconds));
  w.u64(off + 40, sec(l?.hardAddSeconds));
  w.u64(off + 48, sec(l?.softUseSeconds));
  w.u64(off + 56, sec(l?.hardUseSeconds));
}

function markAttr(m: Mark | undefined): Uint8Array[] {
  if (!m) return [];
  const w = new StructWriter(8);
  w.u32(0, m.value);
  w.u32(4, m.mask);
  return [encodeAttr(XFRMA.MARK, w.b)];
}

const utf8 = new TextEncoder();

function algoName(w: StructWriter, name: string): void {
  const n = utf8.encode(name);
  if (n.length > 63) invalid("encode algorithm", `name ${name} longer than 63 octets`);
  w.cName(n);
}

function encodeUsersaInfo(
  sa: SaConfig,
  family: Family,
  w = new StructWriter(SIZEOF.xfrm_usersa_info),
): StructWriter {
  putSelector(w, O["xfrm_usersa_info.sel"], sa.selector ?? anySelector(family));
  const id = O["xfrm_usersa_info.id"];
  putAddr(w, id + O["xfrm_id.daddr"], sa.dst, family);
  w.be32(id + O["xfrm_id.spi"], sa.spi);
  w.u8(id + O["xfrm_id.proto"], IPPROTO[sa.proto]);
  putAddr(w, O["xfrm_usersa_info.saddr"], sa.src, family);
  putLifetime(w, O["xfrm_usersa_info.lft"], sa.lifetime);
  if (sa.acquireSeq !== undefined) w.u32(O["xfrm_usersa_info.seq"], sa.acquireSeq);
  w.u32(O["xfrm_usersa_info.reqid"], sa.reqid ?? 0);
  w.u16(O["xfrm_usersa_info.family"], afOf(family));
  w.u8(O["xfrm_usersa_info.mode"], XFRM_MODE[sa.mode]);
  const win = sa.replayWindow ?? 0;
  const useEsnAttr = !!sa.esn || win > 32;
  w.u8(O["xfrm_usersa_info.replay_window"], useEsnAttr ? 0 : win);
  w.u8(O["xfrm_usersa_info.flags"], ((sa.flags ?? 0) | (sa.esn ? XFRM_STATE_ESN : 0)) & 0xff);
  return w;
}

/**
 * Payload of XFRM_MSG_NEWSA / XFRM_MSG_UPDSA for `sa` (validated first).
 * The caller must wipe the returned bytes (they hold keys) after sending.
 */
export function encodeSa(sa: SaConfig): Uint8Array {
  const family = validateSa(sa, "encode SA");
  const win = sa.replayWindow ?? 0;
  const esnAttr = !!sa.esn || win > 32;
  const bmpLen = Math.ceil(win / 32);
  const A = attrSize;
  const size = SIZEOF.xfrm_usersa_info +
    (sa.enc ? A(SIZEOF.xfrm_algo + sa.enc.key.length) : 0) +
    (sa.auth ? A(SIZEOF.xfrm_algo_auth + sa.auth.key.length) : 0) +
    (sa.aead ? A(SIZEOF.xfrm_algo_aead + sa.aead.key.length) : 0) +
    (esnAttr ? A(SIZEOF.xfrm_replay_state_esn + bmpLen * 4) : 0) +
    (sa.mark ? A(8) : 0);
  const out = new PayloadBuilder(size);
  encodeUsersaInfo(sa, family, out.struct(SIZEOF.xfrm_usersa_info));
  if (sa.enc) {
    const w = out.attr(XFRMA.ALG_CRYPT, SIZEOF.xfrm_algo + sa.enc.key.length);
    algoName(w, sa.enc.name);
    w.u32(O["xfrm_algo.alg_key_len"], sa.enc.key.length * 8);
    w.bytes(O["xfrm_algo.alg_key"], sa.enc.key);
  }
  if (sa.auth) {
    const w = out.attr(XFRMA.ALG_AUTH_TRUNC, SIZEOF.xfrm_algo_auth + sa.auth.key.length);
    algoName(w, sa.auth.name);
    w.u32(O["xfrm_algo_auth.alg_key_len"], sa.auth.key.length * 8);
    w.u32(O["xfrm_algo_auth.alg_trunc_len"], sa.auth.truncBits);
    w.bytes(O["xfrm_algo_auth.alg_key"], sa.auth.key);
  }
  if (sa.aead) {
    const w = out.attr(XFRMA.ALG_AEAD, SIZEOF.xfrm_algo_aead + sa.aead.key.length);
    algoName(w, sa.aead.name);
    w.u32(O["xfrm_algo_aead.alg_key_len"], sa.aead.key.length * 8);
    w.u32(O["xfrm_algo_aead.alg_icv_len"], sa.aead.icvBits);
    w.bytes(O["xfrm_algo_aead.alg_key"], sa.aead.key);
  }
  if (esnAttr) {
    const w = out.attr(XFRMA.REPLAY_ESN_VAL, SIZEOF.xfrm_replay_state_esn + bmpLen * 4);
    w.u32(O["xfrm_replay_state_esn.bmp_len"], bmpLen);
    w.u32(O["xfrm_replay_state_esn.replay_window"], win);
  }
  if (sa.mark) {
    const w = out.attr(XFRMA.MARK, 8);
    w.u32(0, sa.mark.value);
    w.u32(4, sa.mark.mask);
  }
  return out.b;
}

/** Payload of XFRM_MSG_GETSA / XFRM_MSG_DELSA (`struct xfrm_usersa_id` + attributes). */
export function encodeSaId(id: SaId): Uint8Array {
  const family = validateSaId(id, "encode SA id");
  const w = new StructWriter(SIZEOF.xfrm_usersa_id);
  putAddr(w, O["xfrm_usersa_id.daddr"], id.dst, family);
  w.be32(O["xfrm_usersa_id.spi"], id.spi);
  w.u16(O["xfrm_usersa_id.family"], afOf(family));
  w.u8(O["xfrm_usersa_id.proto"], IPPROTO[id.proto]);
  const attrs: Uint8Array[] = [];
  if (id.src) {
    const a = new Uint8Array(16);
    a.set(parseAddr(id.src).bytes);
    attrs.push(encodeAttr(XFRMA.SRCADDR, a));
  }
  attrs.push(...markAttr(id.mark));
  return joinPayload(w.b, attrs);
}

/** Payload of XFRM_MSG_ALLOCSPI (`struct xfrm_userspi_info`). */
export function encodeAllocSpi(r: AllocSpiRequest): Uint8Array {
  const family = validateAllocSpi(r, "encode ALLOCSPI");
  const sa: SaConfig = {
    src: r.src,
    dst: r.dst,
    proto: r.proto,
    spi: 0,
    mode: r.mode ?? "transport",
  };
  if (r.reqid !== undefined) sa.reqid = r.reqid;
  if (r.acquireSeq !== undefined) sa.acquireSeq = r.acquireSeq;
  const w = new StructWriter(SIZEOF.xfrm_userspi_info);
  encodeUsersaInfo(sa, family, new StructWriter(w.b.subarray(0, SIZEOF.xfrm_usersa_info)));
  w.u32(O["xfrm_userspi_info.min"], r.min ?? 0x100);
  w.u32(O["xfrm_userspi_info.max"], r.max ?? 0xffffffff);
  return joinPayload(w.b, markAttr(r.mark));
}

/** Payload of XFRM_MSG_FLUSHSA (proto 0 = every IPsec protocol). */
export function encodeFlushSa(proto?: XfrmProto): Uint8Array {
  const b = new Uint8Array(4); // struct xfrm_usersa_flush, padded
  b[0] = proto ? IPPROTO[proto] : 0;
  return b.subarray(0, 1);
}

function templateFamily(t: Template, selFamily: Family): Family {
  if (t.mode === "tunnel" && t.dst) return parseAddr(t.dst).family;
  return selFamily;
}

/** Payload of XFRM_MSG_NEWPOLICY / XFRM_MSG_UPDPOLICY (validated first). */
export function encodePolicy(p: PolicyConfig): Uint8Array {
  validatePolicy(p, "encode policy");
  const ts = p.templates ?? [];
  const out = new PayloadBuilder(
    SIZEOF.xfrm_userpolicy_info +
      (ts.length ? attrSize(SIZEOF.xfrm_user_tmpl * ts.length) : 0) +
      (p.mark ? attrSize(8) : 0),
  );
  const w = out.struct(SIZEOF.xfrm_userpolicy_info);
  putSelector(w, O["xfrm_userpolicy_info.sel"], p.selector);
  putLifetime(w, O["xfrm_userpolicy_info.lft"], p.lifetime);
  w.u32(O["xfrm_userpolicy_info.priority"], p.priority ?? 0);
  w.u32(O["xfrm_userpolicy_info.index"], p.index ?? 0);
  w.u8(O["xfrm_userpolicy_info.dir"], XFRM_POLICY_DIR[p.dir]);
  w.u8(O["xfrm_userpolicy_info.action"], XFRM_POLICY_ACTION[p.action ?? "allow"]);
  if (ts.length) {
    const t = out.attr(XFRMA.TMPL, SIZEOF.xfrm_user_tmpl * ts.length);
    ts.forEach((tm, i) => {
      const off = i * SIZEOF.xfrm_user_tmpl;
      const fam = templateFamily(tm, p.selector.family);
      if (tm.mode === "tunnel") {
        putAddr(t, off + O["xfrm_user_tmpl.id"] + O["xfrm_id.daddr"], tm.dst, fam);
        putAddr(t, off + O["xfrm_user_tmpl.saddr"], tm.src, fam);
      }
      t.be32(off + O["xfrm_user_tmpl.id"] + O["xfrm_id.spi"], tm.spi ?? 0);
      t.u8(off + O["xfrm_user_tmpl.id"] + O["xfrm_id.proto"], IPPROTO[tm.proto]);
      t.u16(off + O["xfrm_user_tmpl.family"], afOf(fam));
      t.u32(off + O["xfrm_user_tmpl.reqid"], tm.reqid ?? 0);
      t.u8(off + O["xfrm_user_tmpl.mode"], XFRM_MODE[tm.mode]);
      t.u8(off + O["xfrm_user_tmpl.optional"], tm.level === "use" ? 1 : 0);
      t.u32(off + O["xfrm_user_tmpl.aalgos"], 0xffffffff);
      t.u32(off + O["xfrm_user_tmpl.ealgos"], 0xffffffff);
      t.u32(off + O["xfrm_user_tmpl.calgos"], 0xffffffff);
    });
  }
  if (p.mark) {
    const m = out.attr(XFRMA.MARK, 8);
    m.u32(0, p.mark.value);
    m.u32(4, p.mark.mask);
  }
  return out.b;
}

/** Payload of XFRM_MSG_GETPOLICY / XFRM_MSG_DELPOLICY (`struct xfrm_userpolicy_id`). */
export function encodePolicyId(id: PolicyId): Uint8Array {
  validatePolicyId(id, "encode policy id");
  const w = new StructWriter(SIZEOF.xfrm_userpolicy_id);
  if (id.selector) {
    putSelector(w, O["xfrm_userpolicy_id.sel"], validateSelector(id.selector, "encode policy id"));
  }
  w.u32(O["xfrm_userpolicy_id.index"], id.index ?? 0);
  w.u8(O["xfrm_userpolicy_id.dir"], XFRM_POLICY_DIR[id.dir]);
  return joinPayload(w.b, markAttr(id.mark));
}
