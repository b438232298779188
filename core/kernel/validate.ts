/**
 * Validation of SAs, policies, selectors and identifiers before anything
 * reaches a backend: both backends call these, so a bad record fails with
 * the same `KernelError("invalid")` whether it was meant for the kernel or
 * the in-memory model.
 *
 * @module
 */
import { KernelError } from "./errors.ts";
import { addrFamily, type Family, maxPrefix, normalizeAddr } from "./addr.ts";
import { AEAD_ALGS, AUTH_ALGS, CRYPT_ALGS } from "./algorithms.ts";
import type {
  AllocSpiRequest,
  Lifetime,
  Mark,
  PolicyConfig,
  PolicyDir,
  PolicyId,
  SaConfig,
  SaId,
  Selector,
} from "./model.ts";

/** Direction numbers (the low 3 bits of a policy index). */
export const DIR_NUM: Readonly<Record<PolicyDir, number>> = { in: 0, out: 1, fwd: 2 };

/** Throws `KernelError("invalid")`. */
export function invalid(context: string, detail: string): never {
  throw new KernelError("invalid", context, detail);
}

/** Rejects a defined `v` that is not a 32-bit unsigned integer. */
export function checkU32(context: string, what: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
    invalid(context, `${what} ${v} is not a 32-bit unsigned integer`);
  }
}

/** Validates a selector; returns it unchanged. */
export function validateSelector(s: Selector, context: string): Selector {
  const fs = addrFamily(s.src, context);
  const fd = addrFamily(s.dst, context);
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

/** Validates an SA before it is sent; throws `KernelError("invalid")`. Returns its family. */
export function validateSa(sa: SaConfig, context = "validate SA"): Family {
  return checkSa(sa, context).family;
}

/**
 * {@link validateSa}, also returning the addresses in normal form (the
 * in-memory backend stores them; computing them here saves a second parse).
 */
export function checkSa(
  sa: SaConfig,
  context: string,
): { family: Family; src: string; dst: string } {
  const src = normalizeAddr(sa.src, context), dst = normalizeAddr(sa.dst, context);
  const fs: Family = src.includes(":") ? "inet6" : "inet";
  const fd: Family = dst.includes(":") ? "inet6" : "inet";
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
  return { family: fs, src, dst };
}

/** Validates a mark. */
export function validateMark(m: Mark, context: string): void {
  checkU32(context, "mark value", m.value);
  checkU32(context, "mark mask", m.mask);
}

const LIFETIME_PAIRS: readonly (readonly [keyof Lifetime, keyof Lifetime])[] = [
  ["softBytes", "hardBytes"],
  ["softPackets", "hardPackets"],
  ["softAddSeconds", "hardAddSeconds"],
  ["softUseSeconds", "hardUseSeconds"],
];

/** Validates lifetime limits (non-negative integers, soft ≤ hard). */
export function validateLifetime(l: Lifetime | undefined, context: string): void {
  if (!l) return;
  // (Keys rather than entries: no [key, value] array per field on every SA.)
  for (const k of Object.keys(l)) {
    const v = (l as Record<string, unknown>)[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < 0)) {
      invalid(context, `lifetime ${k} ${v} is not a non-negative integer`);
    }
  }
  for (const [s, h] of LIFETIME_PAIRS) {
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
      if (addrFamily(t.src, context) !== addrFamily(t.dst, context)) {
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

/** Validates an SA identifier; returns the family of its destination. */
export function validateSaId(id: SaId, ctx = "validate SA id"): Family {
  const family = addrFamily(id.dst, ctx);
  if (!Number.isInteger(id.spi) || id.spi <= 0 || id.spi > 0xffffffff) {
    invalid(ctx, `SPI ${id.spi} must be in 1..0xffffffff`);
  }
  if (id.proto !== "esp" && id.proto !== "ah") {
    invalid(ctx, `protocol ${String(id.proto)} is not esp or ah`);
  }
  if (id.src !== undefined && addrFamily(id.src, ctx) !== family) {
    invalid(ctx, `source ${id.src} and destination ${id.dst} differ in family`);
  }
  if (id.mark) validateMark(id.mark, ctx);
  return family;
}

/** Validates an SPI allocation request; returns its family. */
export function validateAllocSpi(r: AllocSpiRequest, ctx = "validate ALLOCSPI"): Family {
  const fs = addrFamily(r.src, ctx);
  const family = addrFamily(r.dst, ctx);
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
  if (r.mode !== undefined && r.mode !== "transport" && r.mode !== "tunnel") {
    invalid(ctx, `mode ${String(r.mode)} is not transport or tunnel`);
  }
  checkU32(ctx, "reqid", r.reqid);
  checkU32(ctx, "acquire seq", r.acquireSeq);
  if (r.mark) validateMark(r.mark, ctx);
  return family;
}

/** Validates a policy identifier (a selector or an index, and a direction). */
export function validatePolicyId(id: PolicyId, ctx = "validate policy id"): void {
  if (!["in", "out", "fwd"].includes(id.dir)) {
    invalid(ctx, `direction ${String(id.dir)} is not in, out or fwd`);
  }
  if (!id.index && !id.selector) invalid(ctx, "a policy id needs a selector or an index");
  if (id.selector) validateSelector(id.selector, ctx);
  checkU32(ctx, "index", id.index);
  if (id.mark) validateMark(id.mark, ctx);
}
