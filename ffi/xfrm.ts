/**
 * NETLINK_XFRM wire structures (`<linux/xfrm.h>`, x86_64 layout, host byte
 * order except addresses, SPIs and ports, which are in network order) and the
 * typed records kink uses for SAs, policies and kernel events.
 *
 * This module is pure (no FFI): it encodes requests, decodes kernel messages
 * and validates SAs and policies before anything is sent. Every struct offset
 * used here is checked by a unit test against `offsetof` output compiled from
 * linux-libc-dev (`tests/fixtures/netlink/xfrm_offsets.txt`).
 *
 * @module
 */
import { KernelError } from "./errors.ts";
import {
  AF_INET,
  AF_INET6,
  afOf,
  anyAddr,
  type Family,
  familyOf,
  formatAddr,
  maxPrefix,
  parseAddr,
} from "./addr.ts";
import { attrMap, encodeAttr, type NlAttr, parseAttrs } from "./netlink.ts";

export type { Family } from "./addr.ts";

/** XFRM netlink message types. */
export const XFRM_MSG = {
  NEWSA: 16,
  DELSA: 17,
  GETSA: 18,
  NEWPOLICY: 19,
  DELPOLICY: 20,
  GETPOLICY: 21,
  ALLOCSPI: 22,
  ACQUIRE: 23,
  EXPIRE: 24,
  UPDPOLICY: 25,
  UPDSA: 26,
  POLEXPIRE: 27,
  FLUSHSA: 28,
  FLUSHPOLICY: 29,
} as const;

/** XFRM attribute types (`XFRMA_*`). */
export const XFRMA = {
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ALG_COMP: 3,
  ENCAP: 4,
  TMPL: 5,
  SA: 6,
  POLICY: 7,
  SEC_CTX: 8,
  LTIME_VAL: 9,
  REPLAY_VAL: 10,
  REPLAY_THRESH: 11,
  ETIMER_THRESH: 12,
  SRCADDR: 13,
  COADDR: 14,
  LASTUSED: 15,
  POLICY_TYPE: 16,
  MIGRATE: 17,
  ALG_AEAD: 18,
  KMADDRESS: 19,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
  TFCPAD: 22,
  REPLAY_ESN_VAL: 23,
  SA_EXTRA_FLAGS: 24,
  PROTO: 25,
  ADDRESS_FILTER: 26,
  PAD: 27,
  OFFLOAD_DEV: 28,
  SET_MARK: 29,
  SET_MARK_MASK: 30,
  IF_ID: 31,
  MTIMER_THRESH: 32,
} as const;

/** Multicast groups (`XFRMNLGRP_*`). */
export const XFRMNLGRP = { ACQUIRE: 1, EXPIRE: 2, SA: 3, POLICY: 4 } as const;

/** Struct sizes (x86_64), checked against linux-libc-dev by a unit test. */
export const SIZEOF = {
  xfrm_selector: 56,
  xfrm_id: 24,
  xfrm_lifetime_cfg: 64,
  xfrm_lifetime_cur: 32,
  xfrm_stats: 12,
  xfrm_usersa_info: 224,
  xfrm_usersa_id: 24,
  xfrm_algo: 68,
  xfrm_algo_auth: 72,
  xfrm_algo_aead: 72,
  xfrm_userpolicy_info: 168,
  xfrm_userpolicy_id: 64,
  xfrm_user_tmpl: 64,
  xfrm_userspi_info: 232,
  xfrm_user_acquire: 280,
  xfrm_user_expire: 232,
  xfrm_user_polexpire: 176,
  xfrm_replay_state: 12,
  xfrm_replay_state_esn: 24,
  xfrm_mark: 8,
} as const;

/** Field offsets used by the codecs, checked against linux-libc-dev by a unit test. */
export const OFFSETOF = {
  "xfrm_selector.daddr": 0,
  "xfrm_selector.saddr": 16,
  "xfrm_selector.dport": 32,
  "xfrm_selector.dport_mask": 34,
  "xfrm_selector.sport": 36,
  "xfrm_selector.sport_mask": 38,
  "xfrm_selector.family": 40,
  "xfrm_selector.prefixlen_d": 42,
  "xfrm_selector.prefixlen_s": 43,
  "xfrm_selector.proto": 44,
  "xfrm_selector.ifindex": 48,
  "xfrm_selector.user": 52,
  "xfrm_id.daddr": 0,
  "xfrm_id.spi": 16,
  "xfrm_id.proto": 20,
  "xfrm_usersa_info.sel": 0,
  "xfrm_usersa_info.id": 56,
  "xfrm_usersa_info.saddr": 80,
  "xfrm_usersa_info.lft": 96,
  "xfrm_usersa_info.curlft": 160,
  "xfrm_usersa_info.stats": 192,
  "xfrm_usersa_info.seq": 204,
  "xfrm_usersa_info.reqid": 208,
  "xfrm_usersa_info.family": 212,
  "xfrm_usersa_info.mode": 214,
  "xfrm_usersa_info.replay_window": 215,
  "xfrm_usersa_info.flags": 216,
  "xfrm_usersa_id.daddr": 0,
  "xfrm_usersa_id.spi": 16,
  "xfrm_usersa_id.family": 20,
  "xfrm_usersa_id.proto": 22,
  "xfrm_algo.alg_key_len": 64,
  "xfrm_algo.alg_key": 68,
  "xfrm_algo_auth.alg_key_len": 64,
  "xfrm_algo_auth.alg_trunc_len": 68,
  "xfrm_algo_auth.alg_key": 72,
  "xfrm_algo_aead.alg_key_len": 64,
  "xfrm_algo_aead.alg_icv_len": 68,
  "xfrm_algo_aead.alg_key": 72,
  "xfrm_userpolicy_info.sel": 0,
  "xfrm_userpolicy_info.lft": 56,
  "xfrm_userpolicy_info.curlft": 120,
  "xfrm_userpolicy_info.priority": 152,
  "xfrm_userpolicy_info.index": 156,
  "xfrm_userpolicy_info.dir": 160,
  "xfrm_userpolicy_info.action": 161,
  "xfrm_userpolicy_info.flags": 162,
  "xfrm_userpolicy_info.share": 163,
  "xfrm_user_tmpl.id": 0,
  "xfrm_user_tmpl.family": 24,
  "xfrm_user_tmpl.saddr": 28,
  "xfrm_user_tmpl.reqid": 44,
  "xfrm_user_tmpl.mode": 48,
  "xfrm_user_tmpl.share": 49,
  "xfrm_user_tmpl.optional": 50,
  "xfrm_user_tmpl.aalgos": 52,
  "xfrm_user_tmpl.ealgos": 56,
  "xfrm_user_tmpl.calgos": 60,
  "xfrm_userspi_info.info": 0,
  "xfrm_userspi_info.min": 224,
  "xfrm_userspi_info.max": 228,
  "xfrm_userpolicy_id.sel": 0,
  "xfrm_userpolicy_id.index": 56,
  "xfrm_userpolicy_id.dir": 60,
  "xfrm_user_acquire.id": 0,
  "xfrm_user_acquire.saddr": 24,
  "xfrm_user_acquire.sel": 40,
  "xfrm_user_acquire.policy": 96,
  "xfrm_user_acquire.aalgos": 264,
  "xfrm_user_acquire.ealgos": 268,
  "xfrm_user_acquire.calgos": 272,
  "xfrm_user_acquire.seq": 276,
  "xfrm_user_expire.state": 0,
  "xfrm_user_expire.hard": 224,
  "xfrm_user_polexpire.pol": 0,
  "xfrm_user_polexpire.hard": 168,
  "xfrm_replay_state_esn.bmp_len": 0,
  "xfrm_replay_state_esn.oseq": 4,
  "xfrm_replay_state_esn.seq": 8,
  "xfrm_replay_state_esn.oseq_hi": 12,
  "xfrm_replay_state_esn.seq_hi": 16,
  "xfrm_replay_state_esn.replay_window": 20,
  "xfrm_replay_state_esn.bmp": 24,
} as const;

const O = OFFSETOF;

/** IPsec protocol of an SA or template. */
export type XfrmProto = "esp" | "ah";
/** SA / template mode. */
export type XfrmMode = "transport" | "tunnel";
/** Policy direction. */
export type PolicyDir = "in" | "out" | "fwd";
/** Policy action. */
export type PolicyAction = "allow" | "block";

/** IP protocol numbers of {@link XfrmProto}. */
export const IPPROTO = { esp: 50, ah: 51 } as const;
const MODE_NUM: Record<XfrmMode, number> = { transport: 0, tunnel: 1 };
const DIR_NUM: Record<PolicyDir, number> = { in: 0, out: 1, fwd: 2 };
/** `XFRM_STATE_ESN`. */
export const XFRM_STATE_ESN = 128;
/** `XFRM_INF`: "no limit" in byte/packet lifetimes. */
export const XFRM_INF = 0xffffffffffffffffn;

/** A traffic selector. Ports are 0 for "any"; protocol 0 for "any". */
export interface Selector {
  /** Address family of `src`/`dst`. */
  family: Family;
  /** Source address (network part). */
  src: string;
  /** Source prefix length. */
  srcPrefixLen: number;
  /** Destination address (network part). */
  dst: string;
  /** Destination prefix length. */
  dstPrefixLen: number;
  /** IP protocol (0 = any; 1 = ICMP, 6 = TCP, 17 = UDP, 58 = ICMPv6). */
  proto: number;
  /** Source port (or ICMP type), 0 = any. */
  sport: number;
  /** Destination port (or ICMP code), 0 = any. */
  dport: number;
  /** Interface index, 0 = any. */
  ifindex: number;
}

/** An XFRM mark (`struct xfrm_mark`). */
export interface Mark {
  /** Mark value. */
  value: number;
  /** Mask (0xffffffff matches the value exactly). */
  mask: number;
}

/** Lifetime limits; an absent field means "no limit". */
export interface Lifetime {
  /** Soft limit on bytes. */
  softBytes?: number;
  /** Hard limit on bytes. */
  hardBytes?: number;
  /** Soft limit on packets. */
  softPackets?: number;
  /** Hard limit on packets. */
  hardPackets?: number;
  /** Soft limit in seconds after adding. */
  softAddSeconds?: number;
  /** Hard limit in seconds after adding. */
  hardAddSeconds?: number;
  /** Soft limit in seconds after first use. */
  softUseSeconds?: number;
  /** Hard limit in seconds after first use. */
  hardUseSeconds?: number;
}

/** Current usage counters (`struct xfrm_lifetime_cur`). */
export interface CurrentLifetime {
  /** Bytes processed. */
  bytes: number;
  /** Packets processed. */
  packets: number;
  /** Time added (Unix seconds). */
  addTime: number;
  /** Time of first use (Unix seconds), 0 if unused. */
  useTime: number;
}

/** An encryption algorithm with its key. */
export interface CryptAlgo {
  /** Kernel name: `cbc(aes)`, `cbc(des3_ede)` or `ecb(cipher_null)`. */
  name: string;
  /** Key bytes. */
  key: Uint8Array;
}

/** An authentication algorithm with key and truncation. */
export interface AuthAlgo {
  /** Kernel name: `hmac(sha1)`, `hmac(sha256)`, `hmac(sha384)`, `hmac(sha512)`. */
  name: string;
  /** Key bytes. */
  key: Uint8Array;
  /** ICV length in bits (96, 128, 192, 256 per RFC 2404/4868). */
  truncBits: number;
}

/** An AEAD algorithm (`rfc4106(gcm(aes))`): key followed by the 4-octet salt. */
export interface AeadAlgo {
  /** Kernel name: `rfc4106(gcm(aes))`. */
  name: string;
  /** AES key followed by the 4-octet salt (20, 28 or 36 octets). */
  key: Uint8Array;
  /** ICV length in bits (64, 96 or 128). */
  icvBits: number;
}

/** Identifies an SA: destination, SPI, protocol (and mark). */
export interface SaId {
  /** Destination address. */
  dst: string;
  /** SPI (host order number). */
  spi: number;
  /** Protocol. */
  proto: XfrmProto;
  /** Source address (narrows a delete; optional). */
  src?: string;
  /** Mark the SA was added with, if any. */
  mark?: Mark;
}

/** Everything needed to install an SA. */
export interface SaConfig {
  /** Source (outer) address. */
  src: string;
  /** Destination (outer) address. */
  dst: string;
  /** Protocol. */
  proto: XfrmProto;
  /** SPI, non-zero. */
  spi: number;
  /** Mode. */
  mode: XfrmMode;
  /** Request id tying the SA to policy templates (0 = none). */
  reqid?: number;
  /** Encryption (ESP without AEAD). */
  enc?: CryptAlgo;
  /** Authentication (AH, or ESP without AEAD). */
  auth?: AuthAlgo;
  /** AEAD (ESP only; excludes enc/auth). */
  aead?: AeadAlgo;
  /** Anti-replay window in packets (0 = off). */
  replayWindow?: number;
  /** Extended sequence numbers (needs a replay window). */
  esn?: boolean;
  /** Lifetime limits. */
  lifetime?: Lifetime;
  /** Selector the SA is restricted to (default: any, of the SA's family). */
  selector?: Selector;
  /** Mark. */
  mark?: Mark;
  /** Extra `XFRM_STATE_*` flags (ESN is set from `esn`). */
  flags?: number;
  /**
   * The `seq` of the ACQUIRE this SA answers. Set it ONLY then: a NEWSA with
   * a sequence number makes older kernels search every state.
   */
  acquireSeq?: number;
}

/** An SA as the kernel reports it. */
export interface SaState {
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** Outer family. */
  family: Family;
  /** Protocol. */
  proto: XfrmProto;
  /** SPI. */
  spi: number;
  /** Mode. */
  mode: XfrmMode;
  /** Request id. */
  reqid: number;
  /** Encryption algorithm, if any. */
  enc?: CryptAlgo;
  /** Authentication algorithm, if any. */
  auth?: AuthAlgo;
  /** AEAD algorithm, if any. */
  aead?: AeadAlgo;
  /** Replay window in packets. */
  replayWindow: number;
  /** ESN on. */
  esn: boolean;
  /** Lifetime limits. */
  lifetime: Lifetime;
  /** Selector. */
  selector: Selector;
  /** Mark, if any. */
  mark?: Mark;
  /** `XFRM_STATE_*` flags. */
  flags: number;
  /** `seq` field (the ACQUIRE's sequence number for larval/answered SAs). */
  seq: number;
  /** Usage counters. */
  current: CurrentLifetime;
  /** Statistics. */
  stats: { replayWindow: number; replay: number; integrityFailed: number };
  /** Sequence-number state, when the kernel reports it. */
  replay?: { oseq: number; seq: number; oseqHi: number; seqHi: number };
}

/** A policy template (`struct xfrm_user_tmpl`). */
export interface Template {
  /** Protocol. */
  proto: XfrmProto;
  /** Mode. */
  mode: XfrmMode;
  /** Tunnel source (tunnel mode; omit for transport). */
  src?: string;
  /** Tunnel destination (tunnel mode; omit for transport). */
  dst?: string;
  /** SPI (0 = any). */
  spi?: number;
  /** Request id (0 = any). */
  reqid?: number;
  /** `required` (default) or `use` (optional). */
  level?: "required" | "use";
}

/** Everything needed to install a policy. */
export interface PolicyConfig {
  /** Traffic selector. */
  selector: Selector;
  /** Direction. */
  dir: PolicyDir;
  /** Action (default `allow`). */
  action?: PolicyAction;
  /** Priority (lower wins; default 0). */
  priority?: number;
  /** Index to use (0/absent = kernel chooses). */
  index?: number;
  /** Templates (IPsec transforms to apply). */
  templates?: Template[];
  /** Mark. */
  mark?: Mark;
  /** Lifetime limits. */
  lifetime?: Lifetime;
}

/** Identifies a policy: by selector+direction (and mark), or by index. */
export interface PolicyId {
  /** Direction. */
  dir: PolicyDir;
  /** Selector (when not looking up by index). */
  selector?: Selector;
  /** Index (takes precedence when set and non-zero). */
  index?: number;
  /** Mark. */
  mark?: Mark;
}

/** A policy as the kernel reports it. */
export interface PolicyState {
  /** Selector. */
  selector: Selector;
  /** Direction. */
  dir: PolicyDir;
  /** Action. */
  action: PolicyAction;
  /** Priority. */
  priority: number;
  /** Index (kernel-assigned; its low 3 bits are the direction). */
  index: number;
  /** Templates with every field filled in. */
  templates: Required<Template>[];
  /** Mark, if any. */
  mark?: Mark;
  /** Lifetime limits. */
  lifetime: Lifetime;
  /** `XFRM_POLICY_*` flags. */
  flags: number;
  /** Usage counters. */
  current: CurrentLifetime;
}

/** A kernel event from the ACQUIRE/EXPIRE multicast groups. */
export type XfrmEvent =
  | {
    /** Traffic hit a policy without an SA. */
    type: "acquire";
    /** Echo this in the answering SA's `acquireSeq`. */
    seq: number;
    /** Destination of the wanted SA. */
    dst: string;
    /** Source of the wanted SA. */
    src: string;
    /** Protocol of the wanted SA. */
    proto: XfrmProto;
    /** The packet's selector. */
    selector: Selector;
    /** The policy hit. */
    policy: PolicyState;
  }
  | {
    /** An SA's soft or hard lifetime ran out. */
    type: "expire";
    /** True for hard (the SA is gone). */
    hard: boolean;
    /** The SA (without keys). */
    sa: SaState;
  }
  | {
    /** A policy's lifetime ran out. */
    type: "polexpire";
    /** True for hard. */
    hard: boolean;
    /** The policy. */
    policy: PolicyState;
  }
  | {
    /** Events were lost (receive queue overflow); resynchronize. */
    type: "overrun";
  };

// ---------------------------------------------------------------------------
// Algorithms and validation

interface AlgInfo {
  keyLens: number[];
  truncBits?: number[];
}

/** Encryption algorithms kink installs: name → allowed key lengths (octets). */
export const CRYPT_ALGS: Record<string, AlgInfo> = {
  "cbc(aes)": { keyLens: [16, 24, 32] },
  "cbc(des3_ede)": { keyLens: [24] },
  "ecb(cipher_null)": { keyLens: [0] },
};

/** Authentication algorithms: name → key length and allowed ICV lengths (bits). */
export const AUTH_ALGS: Record<string, AlgInfo> = {
  "hmac(sha1)": { keyLens: [20], truncBits: [96, 160] },
  "hmac(sha256)": { keyLens: [32], truncBits: [96, 128, 256] },
  "hmac(sha384)": { keyLens: [48], truncBits: [192, 384] },
  "hmac(sha512)": { keyLens: [64], truncBits: [256, 512] },
};

/** AEAD algorithms: name → key+salt lengths and ICV lengths (bits). */
export const AEAD_ALGS: Record<string, AlgInfo> = {
  "rfc4106(gcm(aes))": { keyLens: [20, 28, 36], truncBits: [64, 96, 128] },
};

function invalid(context: string, detail: string): never {
  throw new KernelError("invalid", context, detail);
}

function checkU32(context: string, what: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
    invalid(context, `${what} ${v} is not a 32-bit unsigned integer`);
  }
}

/** Validates a selector; returns it unchanged. */
export function validateSelector(s: Selector, context: string): Selector {
  const fs = parseAddr(s.src, context).family;
  const fd = parseAddr(s.dst, context).family;
  if (fs !== s.family || fd !== s.family) {
    invalid(context, `selector addresses ${s.src} and ${s.dst} are not both ${s.family}`);
  }
  const max = maxPrefix(s.family);
  for (
    const [n, v] of [["source prefix", s.srcPrefixLen], [
      "destination prefix",
      s.dstPrefixLen,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      invalid(context, `${n} length ${v} not in 0..${max}`);
    }
  }
  if (!Number.isInteger(s.proto) || s.proto < 0 || s.proto > 255) {
    invalid(context, `protocol ${s.proto} not in 0..255`);
  }
  for (const [n, v] of [["source port", s.sport], ["destination port", s.dport]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) invalid(context, `${n} ${v} not in 0..65535`);
  }
  if ((s.sport || s.dport) && ![1, 6, 17, 33, 58, 132, 136].includes(s.proto)) {
    invalid(context, `ports need protocol tcp, udp, sctp, dccp, udplite or icmp (got ${s.proto})`);
  }
  checkU32(context, "ifindex", s.ifindex);
  return s;
}

/** Validates an SA before it is sent; throws `KernelError("invalid")`. */
export function validateSa(sa: SaConfig, context = "validate SA"): Family {
  const fs = parseAddr(sa.src, context).family;
  const fd = parseAddr(sa.dst, context).family;
  if (fs !== fd) invalid(context, `source ${sa.src} and destination ${sa.dst} differ in family`);
  if (sa.proto !== "esp" && sa.proto !== "ah") {
    invalid(context, `protocol ${String(sa.proto)} is not esp or ah`);
  }
  if (sa.mode !== "transport" && sa.mode !== "tunnel") {
    invalid(context, `mode ${String(sa.mode)} is not transport or tunnel`);
  }
  if (!Number.isInteger(sa.spi) || sa.spi <= 0 || sa.spi > 0xffffffff) {
    invalid(context, `SPI ${sa.spi} must be in 1..0xffffffff`);
  }
  if (sa.spi < 256) invalid(context, `SPI ${sa.spi} is reserved (1..255, RFC 4303)`);
  checkU32(context, "reqid", sa.reqid);
  if (sa.proto === "ah") {
    if (!sa.auth) invalid(context, "AH needs an authentication algorithm");
    if (sa.enc || sa.aead) invalid(context, "AH takes no encryption or AEAD algorithm");
  } else if (sa.aead) {
    if (sa.enc || sa.auth) {
      invalid(context, "ESP with AEAD takes no separate encryption or authentication");
    }
  } else if (!sa.enc) {
    invalid(context, "ESP needs an encryption or AEAD algorithm (use ecb(cipher_null) for none)");
  } else if (!sa.auth && sa.enc.name === "ecb(cipher_null)") {
    invalid(context, "ESP with null encryption needs authentication");
  }
  if (sa.enc) {
    const a = CRYPT_ALGS[sa.enc.name];
    if (!a) invalid(context, `unsupported encryption algorithm ${sa.enc.name}`);
    if (!a.keyLens.includes(sa.enc.key.length)) {
      invalid(
        context,
        `${sa.enc.name} key is ${sa.enc.key.length} octets, expected ${a.keyLens.join(" or ")}`,
      );
    }
  }
  if (sa.auth) {
    const a = AUTH_ALGS[sa.auth.name];
    if (!a) invalid(context, `unsupported authentication algorithm ${sa.auth.name}`);
    if (!a.keyLens.includes(sa.auth.key.length)) {
      invalid(
        context,
        `${sa.auth.name} key is ${sa.auth.key.length} octets, expected ${a.keyLens.join(" or ")}`,
      );
    }
    if (!a.truncBits!.includes(sa.auth.truncBits)) {
      invalid(
        context,
        `${sa.auth.name} ICV of ${sa.auth.truncBits} bits not one of ${a.truncBits!.join(", ")}`,
      );
    }
  }
  if (sa.aead) {
    const a = AEAD_ALGS[sa.aead.name];
    if (!a) invalid(context, `unsupported AEAD algorithm ${sa.aead.name}`);
    if (!a.keyLens.includes(sa.aead.key.length)) {
      invalid(
        context,
        `${sa.aead.name} key+salt is ${sa.aead.key.length} octets, expected ${
          a.keyLens.join(" or ")
        }`,
      );
    }
    if (!a.truncBits!.includes(sa.aead.icvBits)) {
      invalid(
        context,
        `${sa.aead.name} ICV of ${sa.aead.icvBits} bits not one of ${a.truncBits!.join(", ")}`,
      );
    }
  }
  const w = sa.replayWindow ?? 0;
  if (!Number.isInteger(w) || w < 0 || w > 4096 * 8) {
    invalid(context, `replay window ${w} not in 0..32768`);
  }
  if (sa.esn && w === 0) invalid(context, "ESN needs a non-zero replay window");
  if (sa.selector) {
    validateSelector(sa.selector, context);
    if (sa.mode === "transport" && sa.selector.family !== fs) {
      invalid(
        context,
        `transport-mode selector family ${sa.selector.family} differs from SA family ${fs}`,
      );
    }
  }
  validateLifetime(sa.lifetime, context);
  if (sa.mark) validateMark(sa.mark, context);
  checkU32(context, "flags", sa.flags);
  if (sa.acquireSeq !== undefined) checkU32(context, "acquire seq", sa.acquireSeq);
  return fs;
}

function validateMark(m: Mark, context: string): void {
  checkU32(context, "mark value", m.value);
  checkU32(context, "mark mask", m.mask);
}

function validateLifetime(l: Lifetime | undefined, context: string): void {
  if (!l) return;
  for (const [k, v] of Object.entries(l)) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      invalid(context, `lifetime ${k} ${v} is not a non-negative integer`);
    }
  }
  const pairs: [keyof Lifetime, keyof Lifetime][] = [
    ["softBytes", "hardBytes"],
    ["softPackets", "hardPackets"],
    ["softAddSeconds", "hardAddSeconds"],
    ["softUseSeconds", "hardUseSeconds"],
  ];
  for (const [s, h] of pairs) {
    const sv = l[s], hv = l[h];
    if (sv !== undefined && hv !== undefined && sv > hv) {
      invalid(context, `lifetime ${s} ${sv} exceeds ${h} ${hv}`);
    }
  }
}

/** Validates a policy before it is sent; throws `KernelError("invalid")`. */
export function validatePolicy(p: PolicyConfig, context = "validate policy"): void {
  validateSelector(p.selector, context);
  if (!["in", "out", "fwd"].includes(p.dir)) {
    invalid(context, `direction ${String(p.dir)} is not in, out or fwd`);
  }
  if (p.action !== undefined && p.action !== "allow" && p.action !== "block") {
    invalid(context, `action ${String(p.action)} is not allow or block`);
  }
  checkU32(context, "priority", p.priority);
  checkU32(context, "index", p.index);
  if (p.index && (p.index & 7) !== DIR_NUM[p.dir]) {
    invalid(context, `index ${p.index} does not encode direction ${p.dir} in its low 3 bits`);
  }
  const ts = p.templates ?? [];
  if (ts.length > 6) invalid(context, `${ts.length} templates exceed the kernel's maximum of 6`);
  for (const t of ts) {
    if (t.proto !== "esp" && t.proto !== "ah") {
      invalid(context, `template protocol ${String(t.proto)} is not esp or ah`);
    }
    if (t.mode !== "transport" && t.mode !== "tunnel") {
      invalid(context, `template mode ${String(t.mode)} is not transport or tunnel`);
    }
    if (t.mode === "tunnel") {
      if (!t.src || !t.dst) invalid(context, "tunnel-mode template needs src and dst");
      if (parseAddr(t.src, context).family !== parseAddr(t.dst, context).family) {
        invalid(context, `template src ${t.src} and dst ${t.dst} differ in family`);
      }
    } else if ((t.src && !isAny(t.src)) || (t.dst && !isAny(t.dst))) {
      invalid(context, "transport-mode template takes no addresses");
    }
    checkU32(context, "template SPI", t.spi);
    checkU32(context, "template reqid", t.reqid);
  }
  if (p.mark) validateMark(p.mark, context);
  validateLifetime(p.lifetime, context);
}

function isAny(a: string): boolean {
  return a === "0.0.0.0" || a === "::";
}

// ---------------------------------------------------------------------------
// Encoders

class Buf {
  readonly b: Uint8Array;
  readonly dv: DataView;
  constructor(n: number | Uint8Array) {
    this.b = typeof n === "number" ? new Uint8Array(n) : n;
    this.dv = new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
  }
  addr(off: number, a: string | undefined, family: Family): void {
    if (!a) return;
    const p = parseAddr(a);
    if (p.family !== family) invalid("encode address", `${a} is not ${family}`);
    this.b.set(p.bytes, off);
  }
  u8(off: number, v: number): void {
    this.dv.setUint8(off, v);
  }
  u16(off: number, v: number): void {
    this.dv.setUint16(off, v, true);
  }
  be16(off: number, v: number): void {
    this.dv.setUint16(off, v, false);
  }
  u32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }
  be32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, false);
  }
  u64(off: number, v: bigint): void {
    this.dv.setBigUint64(off, v, true);
  }
}

/** One message payload in one allocation: a fixed struct, then attributes. */
class Out {
  readonly b: Uint8Array;
  #o = 0;
  constructor(size: number) {
    this.b = new Uint8Array(size);
  }
  /** Size of an attribute with a value of `len` octets, padding included. */
  static attrSize(len: number): number {
    return (4 + len + 3) & ~3;
  }
  struct(n: number): Buf {
    const v = new Buf(this.b.subarray(this.#o, this.#o + n));
    this.#o += (n + 3) & ~3;
    return v;
  }
  attr(type: number, len: number): Buf {
    const dv = new DataView(this.b.buffer, this.b.byteOffset + this.#o, 4);
    dv.setUint16(0, 4 + len, true);
    dv.setUint16(2, type, true);
    const v = new Buf(this.b.subarray(this.#o + 4, this.#o + 4 + len));
    this.#o += Out.attrSize(len);
    return v;
  }
}

const utf8 = new TextEncoder();

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

function putSelector(w: Buf, off: number, s: Selector): void {
  w.addr(off + O["xfrm_selector.daddr"], s.dst, s.family);
  w.addr(off + O["xfrm_selector.saddr"], s.src, s.family);
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

function putLifetime(w: Buf, off: number, l: Lifetime | undefined): void {
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
  const w = new Buf(8);
  w.u32(0, m.value);
  w.u32(4, m.mask);
  return [encodeAttr(XFRMA.MARK, w.b)];
}

function algoName(w: Buf, name: string): void {
  const n = utf8.encode(name);
  if (n.length > 63) invalid("encode algorithm", `name ${name} longer than 63 octets`);
  w.b.set(n, 0);
}

function joinPayload(head: Uint8Array, attrs: Uint8Array[]): Uint8Array {
  let n = head.length;
  for (const a of attrs) n += a.length;
  const out = new Uint8Array(n);
  out.set(head, 0);
  let o = head.length;
  for (const a of attrs) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

function encodeUsersaInfo(
  sa: SaConfig,
  family: Family,
  withSeq: boolean,
  w = new Buf(SIZEOF.xfrm_usersa_info),
): Buf {
  putSelector(w, O["xfrm_usersa_info.sel"], sa.selector ?? anySelector(family));
  const id = O["xfrm_usersa_info.id"];
  w.addr(id + O["xfrm_id.daddr"], sa.dst, family);
  w.be32(id + O["xfrm_id.spi"], sa.spi);
  w.u8(id + O["xfrm_id.proto"], IPPROTO[sa.proto]);
  w.addr(O["xfrm_usersa_info.saddr"], sa.src, family);
  putLifetime(w, O["xfrm_usersa_info.lft"], sa.lifetime);
  if (withSeq && sa.acquireSeq !== undefined) w.u32(O["xfrm_usersa_info.seq"], sa.acquireSeq);
  w.u32(O["xfrm_usersa_info.reqid"], sa.reqid ?? 0);
  w.u16(O["xfrm_usersa_info.family"], afOf(family));
  w.u8(O["xfrm_usersa_info.mode"], MODE_NUM[sa.mode]);
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
  const A = Out.attrSize;
  const size = SIZEOF.xfrm_usersa_info +
    (sa.enc ? A(SIZEOF.xfrm_algo + sa.enc.key.length) : 0) +
    (sa.auth ? A(SIZEOF.xfrm_algo_auth + sa.auth.key.length) : 0) +
    (sa.aead ? A(SIZEOF.xfrm_algo_aead + sa.aead.key.length) : 0) +
    (esnAttr ? A(SIZEOF.xfrm_replay_state_esn + bmpLen * 4) : 0) +
    (sa.mark ? A(8) : 0);
  const out = new Out(size);
  encodeUsersaInfo(sa, family, true, out.struct(SIZEOF.xfrm_usersa_info));
  if (sa.enc) {
    const w = out.attr(XFRMA.ALG_CRYPT, SIZEOF.xfrm_algo + sa.enc.key.length);
    algoName(w, sa.enc.name);
    w.u32(O["xfrm_algo.alg_key_len"], sa.enc.key.length * 8);
    w.b.set(sa.enc.key, O["xfrm_algo.alg_key"]);
  }
  if (sa.auth) {
    const w = out.attr(XFRMA.ALG_AUTH_TRUNC, SIZEOF.xfrm_algo_auth + sa.auth.key.length);
    algoName(w, sa.auth.name);
    w.u32(O["xfrm_algo_auth.alg_key_len"], sa.auth.key.length * 8);
    w.u32(O["xfrm_algo_auth.alg_trunc_len"], sa.auth.truncBits);
    w.b.set(sa.auth.key, O["xfrm_algo_auth.alg_key"]);
  }
  if (sa.aead) {
    const w = out.attr(XFRMA.ALG_AEAD, SIZEOF.xfrm_algo_aead + sa.aead.key.length);
    algoName(w, sa.aead.name);
    w.u32(O["xfrm_algo_aead.alg_key_len"], sa.aead.key.length * 8);
    w.u32(O["xfrm_algo_aead.alg_icv_len"], sa.aead.icvBits);
    w.b.set(sa.aead.key, O["xfrm_algo_aead.alg_key"]);
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
  const ctx = "encode SA id";
  const family = parseAddr(id.dst, ctx).family;
  if (!Number.isInteger(id.spi) || id.spi <= 0 || id.spi > 0xffffffff) {
    invalid(ctx, `SPI ${id.spi} must be in 1..0xffffffff`);
  }
  if (id.proto !== "esp" && id.proto !== "ah") {
    invalid(ctx, `protocol ${String(id.proto)} is not esp or ah`);
  }
  const w = new Buf(SIZEOF.xfrm_usersa_id);
  w.addr(O["xfrm_usersa_id.daddr"], id.dst, family);
  w.be32(O["xfrm_usersa_id.spi"], id.spi);
  w.u16(O["xfrm_usersa_id.family"], afOf(family));
  w.u8(O["xfrm_usersa_id.proto"], IPPROTO[id.proto]);
  const attrs: Uint8Array[] = [];
  if (id.src) {
    const s = parseAddr(id.src, ctx);
    if (s.family !== family) {
      invalid(ctx, `source ${id.src} and destination ${id.dst} differ in family`);
    }
    const a = new Uint8Array(16);
    a.set(s.bytes);
    attrs.push(encodeAttr(XFRMA.SRCADDR, a));
  }
  if (id.mark) validateMark(id.mark, ctx);
  attrs.push(...markAttr(id.mark));
  return joinPayload(w.b, attrs);
}

/** Parameters of an SPI allocation (XFRM_MSG_ALLOCSPI). */
export interface AllocSpiRequest {
  /** Source of the future SA. */
  src: string;
  /** Destination of the future SA (us, for an inbound SA). */
  dst: string;
  /** Protocol. */
  proto: XfrmProto;
  /** Mode of the future SA (default transport). */
  mode?: XfrmMode;
  /** Request id. */
  reqid?: number;
  /** Lowest SPI to choose (default 0x100). */
  min?: number;
  /** Highest SPI to choose (default 0xffffffff). */
  max?: number;
  /** Mark. */
  mark?: Mark;
  /** The ACQUIRE's seq when allocating for one (optional). */
  acquireSeq?: number;
}

/** Payload of XFRM_MSG_ALLOCSPI (`struct xfrm_userspi_info`). */
export function encodeAllocSpi(r: AllocSpiRequest): Uint8Array {
  const ctx = "encode ALLOCSPI";
  const fs = parseAddr(r.src, ctx).family;
  const family = parseAddr(r.dst, ctx).family;
  if (fs !== family) invalid(ctx, `source ${r.src} and destination ${r.dst} differ in family`);
  const min = r.min ?? 0x100, max = r.max ?? 0xffffffff;
  checkU32(ctx, "min SPI", min);
  checkU32(ctx, "max SPI", max);
  if (min < 256 || min > max) {
    invalid(ctx, `SPI range ${min}..${max} is empty or reaches into 0..255`);
  }
  if (r.proto !== "esp" && r.proto !== "ah") {
    invalid(ctx, `protocol ${String(r.proto)} is not esp or ah`);
  }
  checkU32(ctx, "reqid", r.reqid);
  const sa: SaConfig = {
    src: r.src,
    dst: r.dst,
    proto: r.proto,
    spi: 0x100,
    mode: r.mode ?? "transport",
  };
  if (r.reqid !== undefined) sa.reqid = r.reqid;
  if (r.acquireSeq !== undefined) sa.acquireSeq = r.acquireSeq;
  const info = encodeUsersaInfo(sa, family, true);
  info.be32(O["xfrm_usersa_info.id"] + O["xfrm_id.spi"], 0);
  const w = new Buf(SIZEOF.xfrm_userspi_info);
  w.b.set(info.b, 0);
  w.u32(O["xfrm_userspi_info.min"], min);
  w.u32(O["xfrm_userspi_info.max"], max);
  if (r.mark) validateMark(r.mark, ctx);
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
  const out = new Out(
    SIZEOF.xfrm_userpolicy_info +
      (ts.length ? Out.attrSize(SIZEOF.xfrm_user_tmpl * ts.length) : 0) +
      (p.mark ? Out.attrSize(8) : 0),
  );
  const w = out.struct(SIZEOF.xfrm_userpolicy_info);
  putSelector(w, O["xfrm_userpolicy_info.sel"], p.selector);
  putLifetime(w, O["xfrm_userpolicy_info.lft"], p.lifetime);
  w.u32(O["xfrm_userpolicy_info.priority"], p.priority ?? 0);
  w.u32(O["xfrm_userpolicy_info.index"], p.index ?? 0);
  w.u8(O["xfrm_userpolicy_info.dir"], DIR_NUM[p.dir]);
  w.u8(O["xfrm_userpolicy_info.action"], p.action === "block" ? 1 : 0);
  if (ts.length) {
    const t = out.attr(XFRMA.TMPL, SIZEOF.xfrm_user_tmpl * ts.length);
    ts.forEach((tm, i) => {
      const off = i * SIZEOF.xfrm_user_tmpl;
      const fam = templateFamily(tm, p.selector.family);
      if (tm.mode === "tunnel") {
        t.addr(off + O["xfrm_user_tmpl.id"] + O["xfrm_id.daddr"], tm.dst, fam);
        t.addr(off + O["xfrm_user_tmpl.saddr"], tm.src, fam);
      }
      t.be32(off + O["xfrm_user_tmpl.id"] + O["xfrm_id.spi"], tm.spi ?? 0);
      t.u8(off + O["xfrm_user_tmpl.id"] + O["xfrm_id.proto"], IPPROTO[tm.proto]);
      t.u16(off + O["xfrm_user_tmpl.family"], afOf(fam));
      t.u32(off + O["xfrm_user_tmpl.reqid"], tm.reqid ?? 0);
      t.u8(off + O["xfrm_user_tmpl.mode"], MODE_NUM[tm.mode]);
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
  const ctx = "encode policy id";
  if (!["in", "out", "fwd"].includes(id.dir)) {
    invalid(ctx, `direction ${String(id.dir)} is not in, out or fwd`);
  }
  if (!id.index && !id.selector) invalid(ctx, "a policy id needs a selector or an index");
  const w = new Buf(SIZEOF.xfrm_userpolicy_id);
  if (id.selector) putSelector(w, O["xfrm_userpolicy_id.sel"], validateSelector(id.selector, ctx));
  checkU32(ctx, "index", id.index);
  w.u32(O["xfrm_userpolicy_id.index"], id.index ?? 0);
  w.u8(O["xfrm_userpolicy_id.dir"], DIR_NUM[id.dir]);
  if (id.mark) validateMark(id.mark, ctx);
  return joinPayload(w.b, markAttr(id.mark));
}

// ---------------------------------------------------------------------------
// Decoders

function bad(context: string, detail: string): never {
  throw new KernelError("malformed", context, detail);
}

class Rd {
  readonly dv: DataView;
  constructor(readonly b: Uint8Array, readonly ctx: string, need: number) {
    if (b.length < need) bad(ctx, `${b.length} octets < ${need}`);
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  u8(o: number): number {
    return this.dv.getUint8(o);
  }
  u16(o: number): number {
    return this.dv.getUint16(o, true);
  }
  be16(o: number): number {
    return this.dv.getUint16(o, false);
  }
  u32(o: number): number {
    return this.dv.getUint32(o, true);
  }
  be32(o: number): number {
    return this.dv.getUint32(o, false);
  }
  u64(o: number): bigint {
    return this.dv.getBigUint64(o, true);
  }
  family(o: number): Family {
    const f = this.u16(o);
    if (f === AF_INET) return "inet";
    if (f === AF_INET6) return "inet6";
    bad(this.ctx, `address family ${f} at offset ${o} is not AF_INET or AF_INET6`);
  }
  addr(o: number, f: Family): string {
    return formatAddr(f, this.b.subarray(o, o + (f === "inet" ? 4 : 16)));
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

const INSPECT = [Symbol.for("Deno.customInspect"), Symbol.for("nodejs.util.inspect.custom")];

/**
 * Makes `console.log`/`Deno.inspect` of an algorithm record print its name
 * and key length, never the key (non-enumerable, so equality and JSON are
 * unaffected). Returns `algo`.
 */
export function redactKeyInspect<T extends { name: string; key: Uint8Array }>(algo: T): T {
  for (const sym of INSPECT) {
    Object.defineProperty(algo, sym, { value: inspectAlgo, enumerable: false, configurable: true });
  }
  return algo;
}

function inspectAlgo(this: { name: string; key: Uint8Array }): string {
  return `${this.name} <${this.key.length}-octet key redacted>`;
}

function cName(b: Uint8Array): string {
  const n = b.subarray(0, 64);
  const z = n.indexOf(0);
  return new TextDecoder("utf-8", { fatal: false }).decode(z < 0 ? n : n.subarray(0, z));
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
      name: cName(crypt),
      key: algKey(a, O["xfrm_algo.alg_key_len"], O["xfrm_algo.alg_key"], "encryption"),
    };
  }
  const trunc = attrs.get(XFRMA.ALG_AUTH_TRUNC);
  const auth = attrs.get(XFRMA.ALG_AUTH);
  if (trunc) {
    const a = new Rd(trunc, `${ctx} XFRMA_ALG_AUTH_TRUNC`, SIZEOF.xfrm_algo_auth);
    sa.auth = {
      name: cName(trunc),
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
      name: cName(auth),
      key: algKey(a, O["xfrm_algo.alg_key_len"], O["xfrm_algo.alg_key"], "authentication"),
      truncBits: 96,
    };
  }
  const aead = attrs.get(XFRMA.ALG_AEAD);
  if (aead) {
    const a = new Rd(aead, `${ctx} XFRMA_ALG_AEAD`, SIZEOF.xfrm_algo_aead);
    sa.aead = {
      name: cName(aead),
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

const DIRS: PolicyDir[] = ["in", "out", "fwd"];

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
