/**
 * The XFRM netlink ABI (`<linux/xfrm.h>`, x86_64): message and attribute
 * numbers, multicast groups, struct sizes and field offsets, and the
 * numeric values of protocols, modes, directions and flags. Host byte order
 * except addresses, SPIs and ports, which are in network order.
 *
 * Only numbers live here — no typed model. Every size and offset is checked
 * by a unit test against `offsetof` output compiled from linux-libc-dev
 * (`tests/fixtures/netlink/xfrm_offsets.txt`).
 *
 * @module
 */

/** `AF_INET`. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;

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

/** IP protocol numbers of ESP and AH (`IPPROTO_ESP`, `IPPROTO_AH`). */
export const IPPROTO = { esp: 50, ah: 51 } as const;
/** `XFRM_MODE_*` numbers. */
export const XFRM_MODE = { transport: 0, tunnel: 1 } as const;
/** `XFRM_POLICY_IN/OUT/FWD` direction numbers. */
export const XFRM_POLICY_DIR = { in: 0, out: 1, fwd: 2 } as const;
/** `XFRM_POLICY_ALLOW` / `XFRM_POLICY_BLOCK`. */
export const XFRM_POLICY_ACTION = { allow: 0, block: 1 } as const;
/** `XFRM_STATE_ESN`. */
export const XFRM_STATE_ESN = 128;
/** `XFRM_INF`: "no limit" in byte/packet lifetimes. */
export const XFRM_INF = 0xffffffffffffffffn;
