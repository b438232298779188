/**
 * Kernel messages → typed model: decodes XFRM payloads (NEWSA, NEWPOLICY,
 * ACQUIRE, EXPIRE, POLEXPIRE) laid out as in `ffi/xfrm/layout.ts` into
 * {@link SaState}, {@link PolicyState} and {@link XfrmEvent}. Malformed
 * input fails with `KernelError("malformed")`, never an untyped throw.
 *
 * @module
 */
import { attrMap, type NlAttr, parseAttrs } from "../../../ffi/netlink.ts";
import {
  AF_INET,
  AF_INET6,
  OFFSETOF as O,
  SIZEOF,
  XFRM_INF,
  XFRM_MSG,
  XFRM_STATE_ESN,
  XFRMA,
} from "../../../ffi/xfrm/layout.ts";
import { malformed as bad, StructReader } from "../../../ffi/xfrm/wire.ts";
import { type Family, familyOf, formatAddr, maxPrefix } from "../addr.ts";
import {
  type CurrentLifetime,
  type Lifetime,
  type Mark,
  type PolicyDir,
  type PolicyState,
  redactKeyInspect,
  type SaState,
  type Selector,
  type Template,
  type XfrmEvent,
  type XfrmMode,
  type XfrmProto,
} from "../model.ts";

/** Reads a struct with the typed fields of the model (family, address, protocol, mode). */
class Rd extends StructReader {
  family(o: number): Family {
    const f = this.u16(o);
    if (f === AF_INET) return "inet";
    if (f === AF_INET6) return "inet6";
    bad(this.ctx, `address family ${f} at offset ${o} is not AF_INET or AF_INET6`);
  }
  addr(o: number, f: Family): string {
    return formatAddr(f, this.view(o, f === "inet" ? 4 : 16));
  }
  proto(o: number): XfrmProto {
    const p = this.u8(o);
    if (p === 50) return "esp";
    if (p === 51) return "ah";
    bad(this.ctx, `protocol ${p} at offset ${o} is not esp (50) or ah (51)`);
  }
  mode(o: number): XfrmMode {
    const m = this.u8(o);
    if (m === 0) return "transport";
    if (m === 1) return "tunnel";
    bad(this.ctx, `mode ${m} at offset ${o} is not transport (0) or tunnel (1)`);
  }
}

function num(v: bigint): number {
  return Number(v > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : v);
}

function getSelector(r: Rd, off: number, fallback: Family): Selector {
  const raw = r.u16(off + O["xfrm_selector.family"]);
  const family = raw === 0 ? fallback : r.family(off + O["xfrm_selector.family"]);
  const dmask = r.be16(off + O["xfrm_selector.dport_mask"]);
  const smask = r.be16(off + O["xfrm_selector.sport_mask"]);
  const max = maxPrefix(family);
  const pd = r.u8(off + O["xfrm_selector.prefixlen_d"]);
  const ps = r.u8(off + O["xfrm_selector.prefixlen_s"]);
  if (pd > max || ps > max) bad(r.ctx, `selector prefix length ${Math.max(pd, ps)} > ${max}`);
  return {
    family,
    src: r.addr(off + O["xfrm_selector.saddr"], family),
    srcPrefixLen: ps,
    dst: r.addr(off + O["xfrm_selector.daddr"], family),
    dstPrefixLen: pd,
    proto: r.u8(off + O["xfrm_selector.proto"]),
    sport: smask ? r.be16(off + O["xfrm_selector.sport"]) & smask : 0,
    dport: dmask ? r.be16(off + O["xfrm_selector.dport"]) & dmask : 0,
    ifindex: r.u32(off + O["xfrm_selector.ifindex"]),
  };
}

function getLifetime(r: Rd, off: number): Lifetime {
  const l: Lifetime = {};
  const lim = (k: keyof Lifetime, o: number) => {
    const v = r.u64(off + o);
    if (v !== XFRM_INF) l[k] = num(v);
  };
  const sec = (k: keyof Lifetime, o: number) => {
    const v = r.u64(off + o);
    if (v !== 0n) l[k] = num(v);
  };
  lim("softBytes", 0);
  lim("hardBytes", 8);
  lim("softPackets", 16);
  lim("hardPackets", 24);
  sec("softAddSeconds", 32);
  sec("hardAddSeconds", 40);
  sec("softUseSeconds", 48);
  sec("hardUseSeconds", 56);
  return l;
}

function getCurrent(r: Rd, off: number): CurrentLifetime {
  return {
    bytes: num(r.u64(off)),
    packets: num(r.u64(off + 8)),
    addTime: num(r.u64(off + 16)),
    useTime: num(r.u64(off + 24)),
  };
}

function getMark(attrs: Map<number, Uint8Array>, ctx: string): Mark | undefined {
  const m = attrs.get(XFRMA.MARK);
  if (!m) return undefined;
  const r = new Rd(m, `${ctx} XFRMA_MARK`, 8);
  return { value: r.u32(0), mask: r.u32(4) };
}

function algKey(r: Rd, bitsOff: number, keyOff: number, what: string): Uint8Array {
  const bits = r.u32(bitsOff);
  const len = Math.ceil(bits / 8);
  if (keyOff + len > r.b.length) {
    bad(r.ctx, `${what} key of ${bits} bits exceeds attribute of ${r.b.length} octets`);
  }
  return r.b.slice(keyOff, keyOff + len);
}

/** Decodes a `struct xfrm_usersa_info` with its attributes (NEWSA/UPDSA/EXPIRE payloads). */
export function decodeSaInfo(info: Uint8Array, attrBytes: Uint8Array, ctx = "decode SA"): SaState {
  const r = new Rd(info, ctx, SIZEOF.xfrm_usersa_info);
  const family = r.family(O["xfrm_usersa_info.family"]);
  const id = O["xfrm_usersa_info.id"];
  const attrs = attrMap(parseAttrs(attrBytes, `${ctx} attributes`));
  const sa: SaState = {
    src: r.addr(O["xfrm_usersa_info.saddr"], family),
    dst: r.addr(id + O["xfrm_id.daddr"], family),
    family,
    proto: r.proto(id + O["xfrm_id.proto"]),
    spi: r.be32(id + O["xfrm_id.spi"]),
    mode: r.mode(O["xfrm_usersa_info.mode"]),
    reqid: r.u32(O["xfrm_usersa_info.reqid"]),
    replayWindow: r.u8(O["xfrm_usersa_info.replay_window"]),
    esn: (r.u8(O["xfrm_usersa_info.flags"]) & XFRM_STATE_ESN) !== 0,
    lifetime: getLifetime(r, O["xfrm_usersa_info.lft"]),
    selector: getSelector(r, O["xfrm_usersa_info.sel"], family),
    flags: r.u8(O["xfrm_usersa_info.flags"]),
    seq: r.u32(O["xfrm_usersa_info.seq"]),
    current: getCurrent(r, O["xfrm_usersa_info.curlft"]),
    stats: {
      replayWindow: r.u32(O["xfrm_usersa_info.stats"]),
      replay: r.u32(O["xfrm_usersa_info.stats"] + 4),
      integrityFailed: r.u32(O["xfrm_usersa_info.stats"] + 8),
    },
  };
  const crypt = attrs.get(XFRMA.ALG_CRYPT);
  if (crypt) {
    const a = new Rd(crypt, `${ctx} XFRMA_ALG_CRYPT`, SIZEOF.xfrm_algo);
    sa.enc = {
      name: a.cName(),
      key: algKey(a, O["xfrm_algo.alg_key_len"], O["xfrm_algo.alg_key"], "encryption"),
    };
  }
  const trunc = attrs.get(XFRMA.ALG_AUTH_TRUNC);
  const auth = attrs.get(XFRMA.ALG_AUTH);
  if (trunc) {
    const a = new Rd(trunc, `${ctx} XFRMA_ALG_AUTH_TRUNC`, SIZEOF.xfrm_algo_auth);
    sa.auth = {
      name: a.cName(),
      key: algKey(
        a,
        O["xfrm_algo_auth.alg_key_len"],
        O["xfrm_algo_auth.alg_key"],
        "authentication",
      ),
      truncBits: a.u32(O["xfrm_algo_auth.alg_trunc_len"]),
    };
  } else if (auth) {
    const a = new Rd(auth, `${ctx} XFRMA_ALG_AUTH`, SIZEOF.xfrm_algo);
    sa.auth = {
      name: a.cName(),
      key: algKey(a, O["xfrm_algo.alg_key_len"], O["xfrm_algo.alg_key"], "authentication"),
      truncBits: 96,
    };
  }
  const aead = attrs.get(XFRMA.ALG_AEAD);
  if (aead) {
    const a = new Rd(aead, `${ctx} XFRMA_ALG_AEAD`, SIZEOF.xfrm_algo_aead);
    sa.aead = {
      name: a.cName(),
      key: algKey(a, O["xfrm_algo_aead.alg_key_len"], O["xfrm_algo_aead.alg_key"], "AEAD"),
      icvBits: a.u32(O["xfrm_algo_aead.alg_icv_len"]),
    };
  }
  const esn = attrs.get(XFRMA.REPLAY_ESN_VAL);
  if (esn) {
    const a = new Rd(esn, `${ctx} XFRMA_REPLAY_ESN_VAL`, SIZEOF.xfrm_replay_state_esn);
    sa.replayWindow = a.u32(O["xfrm_replay_state_esn.replay_window"]);
    sa.replay = {
      oseq: a.u32(O["xfrm_replay_state_esn.oseq"]),
      seq: a.u32(O["xfrm_replay_state_esn.seq"]),
      oseqHi: a.u32(O["xfrm_replay_state_esn.oseq_hi"]),
      seqHi: a.u32(O["xfrm_replay_state_esn.seq_hi"]),
    };
  } else {
    const rp = attrs.get(XFRMA.REPLAY_VAL);
    if (rp) {
      const a = new Rd(rp, `${ctx} XFRMA_REPLAY_VAL`, SIZEOF.xfrm_replay_state);
      sa.replay = { oseq: a.u32(0), seq: a.u32(4), oseqHi: 0, seqHi: 0 };
    }
  }
  const mark = getMark(attrs, ctx);
  if (mark) sa.mark = mark;
  if (sa.enc) redactKeyInspect(sa.enc);
  if (sa.auth) redactKeyInspect(sa.auth);
  if (sa.aead) redactKeyInspect(sa.aead);
  return sa;
}

/** Decodes an XFRM_MSG_NEWSA/UPDSA message payload. */
export function decodeSa(payload: Uint8Array): SaState {
  if (payload.length < SIZEOF.xfrm_usersa_info) {
    bad("decode SA", `payload ${payload.length} octets < 224`);
  }
  return decodeSaInfo(
    payload.subarray(0, SIZEOF.xfrm_usersa_info),
    payload.subarray(SIZEOF.xfrm_usersa_info),
  );
}

function decodeTemplates(b: Uint8Array | undefined, ctx: string): Required<Template>[] {
  if (!b) return [];
  if (b.length % SIZEOF.xfrm_user_tmpl !== 0) {
    bad(ctx, `XFRMA_TMPL length ${b.length} is not a multiple of 64`);
  }
  const out: Required<Template>[] = [];
  for (let off = 0; off < b.length; off += SIZEOF.xfrm_user_tmpl) {
    const r = new Rd(
      b.subarray(off, off + SIZEOF.xfrm_user_tmpl),
      `${ctx} template`,
      SIZEOF.xfrm_user_tmpl,
    );
    const family = r.family(O["xfrm_user_tmpl.family"]);
    out.push({
      proto: r.proto(O["xfrm_user_tmpl.id"] + O["xfrm_id.proto"]),
      mode: r.mode(O["xfrm_user_tmpl.mode"]),
      src: r.addr(O["xfrm_user_tmpl.saddr"], family),
      dst: r.addr(O["xfrm_user_tmpl.id"] + O["xfrm_id.daddr"], family),
      spi: r.be32(O["xfrm_user_tmpl.id"] + O["xfrm_id.spi"]),
      reqid: r.u32(O["xfrm_user_tmpl.reqid"]),
      level: r.u8(O["xfrm_user_tmpl.optional"]) ? "use" : "required",
    });
  }
  return out;
}

const DIRS: readonly PolicyDir[] = ["in", "out", "fwd"];

function decodePolicyInfo(
  info: Uint8Array,
  attrs: Map<number, Uint8Array>,
  ctx: string,
): PolicyState {
  const r = new Rd(info, ctx, SIZEOF.xfrm_userpolicy_info);
  const dirN = r.u8(O["xfrm_userpolicy_info.dir"]);
  const dir = DIRS[dirN];
  if (!dir) bad(ctx, `direction ${dirN} is not in (0), out (1) or fwd (2)`);
  const action = r.u8(O["xfrm_userpolicy_info.action"]);
  if (action > 1) bad(ctx, `action ${action} is not allow (0) or block (1)`);
  const selFamily = r.u16(O["xfrm_userpolicy_info.sel"] + O["xfrm_selector.family"]) === AF_INET6
    ? "inet6"
    : "inet";
  const p: PolicyState = {
    selector: getSelector(r, O["xfrm_userpolicy_info.sel"], selFamily),
    dir,
    action: action ? "block" : "allow",
    priority: r.u32(O["xfrm_userpolicy_info.priority"]),
    index: r.u32(O["xfrm_userpolicy_info.index"]),
    templates: decodeTemplates(attrs.get(XFRMA.TMPL), ctx),
    lifetime: getLifetime(r, O["xfrm_userpolicy_info.lft"]),
    flags: r.u8(O["xfrm_userpolicy_info.flags"]),
    current: getCurrent(r, O["xfrm_userpolicy_info.curlft"]),
  };
  const mark = getMark(attrs, ctx);
  if (mark) p.mark = mark;
  return p;
}

/** Decodes an XFRM_MSG_NEWPOLICY/UPDPOLICY message payload. */
export function decodePolicy(payload: Uint8Array): PolicyState {
  const ctx = "decode policy";
  if (payload.length < SIZEOF.xfrm_userpolicy_info) {
    bad(ctx, `payload ${payload.length} octets < 168`);
  }
  const attrs = attrMap(
    parseAttrs(payload.subarray(SIZEOF.xfrm_userpolicy_info), `${ctx} attributes`),
  );
  return decodePolicyInfo(payload.subarray(0, SIZEOF.xfrm_userpolicy_info), attrs, ctx);
}

/** Decodes a multicast XFRM message (ACQUIRE, EXPIRE, POLEXPIRE); other types yield undefined. */
export function decodeEvent(type: number, payload: Uint8Array): XfrmEvent | undefined {
  if (type === XFRM_MSG.ACQUIRE) {
    const ctx = "decode ACQUIRE";
    const r = new Rd(payload, ctx, SIZEOF.xfrm_user_acquire);
    const attrs = attrMap(
      parseAttrs(payload.subarray(SIZEOF.xfrm_user_acquire), `${ctx} attributes`),
    );
    const policy = decodePolicyInfo(
      payload.subarray(
        O["xfrm_user_acquire.policy"],
        O["xfrm_user_acquire.policy"] + SIZEOF.xfrm_userpolicy_info,
      ),
      attrs,
      ctx,
    );
    const selFamily = policy.selector.family;
    const idFamily: Family = attrs.has(XFRMA.TMPL) && policy.templates[0]?.mode === "tunnel"
      ? familyOf(policy.templates[0].dst) ?? selFamily
      : selFamily;
    return {
      type: "acquire",
      seq: r.u32(O["xfrm_user_acquire.seq"]),
      dst: r.addr(O["xfrm_user_acquire.id"] + O["xfrm_id.daddr"], idFamily),
      src: r.addr(O["xfrm_user_acquire.saddr"], idFamily),
      proto: r.proto(O["xfrm_user_acquire.id"] + O["xfrm_id.proto"]),
      selector: getSelector(r, O["xfrm_user_acquire.sel"], selFamily),
      policy,
    };
  }
  if (type === XFRM_MSG.EXPIRE) {
    const ctx = "decode EXPIRE";
    const r = new Rd(payload, ctx, SIZEOF.xfrm_user_expire);
    const sa = decodeSaInfo(
      payload.subarray(0, SIZEOF.xfrm_usersa_info),
      payload.subarray(SIZEOF.xfrm_user_expire),
      ctx,
    );
    return { type: "expire", hard: r.u8(O["xfrm_user_expire.hard"]) !== 0, sa };
  }
  if (type === XFRM_MSG.POLEXPIRE) {
    const ctx = "decode POLEXPIRE";
    const r = new Rd(payload, ctx, SIZEOF.xfrm_user_polexpire);
    const attrs = attrMap(
      parseAttrs(payload.subarray(SIZEOF.xfrm_user_polexpire), `${ctx} attributes`),
    );
    const policy = decodePolicyInfo(payload.subarray(0, SIZEOF.xfrm_userpolicy_info), attrs, ctx);
    return { type: "polexpire", hard: r.u8(O["xfrm_user_polexpire.hard"]) !== 0, policy };
  }
  return undefined;
}

/** Every attribute of an XFRM message after its fixed header (for diagnostics and tests). */
export function xfrmAttrs(payload: Uint8Array, fixed: number): NlAttr[] {
  if (payload.length < fixed) {
    bad("decode XFRM attributes", `payload ${payload.length} octets < ${fixed}`);
  }
  return parseAttrs(payload.subarray(fixed));
}
