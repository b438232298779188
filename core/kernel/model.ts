/**
 * kink's typed model of kernel IPsec state: SAs, policies, selectors,
 * templates, lifetimes and the kernel's events. Backends (netlink, memory)
 * take and return these records; the wire mapping lives in `./xfrm/`.
 *
 * @module
 */
import type { Family } from "./addr.ts";
import type { KernelError } from "./errors.ts";

export type { Family } from "./addr.ts";

/** IPsec protocol of an SA or template. */
export type XfrmProto = "esp" | "ah";
/** SA / template mode. */
export type XfrmMode = "transport" | "tunnel";
/** Policy direction. */
export type PolicyDir = "in" | "out" | "fwd";
/** Policy action. */
export type PolicyAction = "allow" | "block";

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
  }
  | {
    /**
     * A kernel message on the event socket that kink could not decode (an
     * unknown protocol, a truncated struct, a datagram that does not frame):
     * reported instead of dropped silently, so a daemon can log and count it.
     */
    type: "undecodable";
    /** The netlink message type, when the datagram could be framed. */
    messageType?: number;
    /** Why it could not be decoded (category `"malformed"`). */
    error: KernelError;
  };

/**
 * One packet's flow, to match against policy selectors (see
 * `KernelIpsec.matchPolicy`). For ICMP, `sport`/`dport` carry type and code
 * as in the kernel's selectors.
 */
export interface Flow {
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** IP protocol (default 0). */
  proto?: number;
  /** Source port (default 0). */
  sport?: number;
  /** Destination port (default 0). */
  dport?: number;
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

/**
 * What {@link redactKeyInspect} does, as a class: `console.log`/`Deno.inspect`
 * print the name and key length, never the key. Building one costs an
 * object, where defining the two inspect properties on a plain object cost
 * microseconds (several records per KINK exchange). The fields are the
 * interface's, own and enumerable, so JSON and field access are as for a
 * plain record; only the prototype differs.
 */
export class RedactedAlgo {
  /** Kernel algorithm name. */
  name: string;
  /** Key bytes. */
  key: Uint8Array;

  /** A record of `name` with `key` (kept, not copied). */
  constructor(name: string, key: Uint8Array) {
    this.name = name;
    this.key = key;
  }

  /** `name <N-octet key redacted>`. */
  [Symbol.for("Deno.customInspect")](): string {
    return inspectAlgo.call(this);
  }

  /** Same as the Deno form. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return inspectAlgo.call(this);
  }
}

/** A {@link CryptAlgo} whose inspect output hides the key. */
export class RedactedCryptAlgo extends RedactedAlgo implements CryptAlgo {}

/** An {@link AuthAlgo} whose inspect output hides the key. */
export class RedactedAuthAlgo extends RedactedAlgo implements AuthAlgo {
  /** ICV length in bits. */
  truncBits: number;

  /** A record of `name` with `key` (kept, not copied) and the ICV length. */
  constructor(name: string, key: Uint8Array, truncBits: number) {
    super(name, key);
    this.truncBits = truncBits;
  }
}

/** An {@link AeadAlgo} whose inspect output hides the key. */
export class RedactedAeadAlgo extends RedactedAlgo implements AeadAlgo {
  /** ICV length in bits. */
  icvBits: number;

  /** A record of `name` with `key` (kept, not copied) and the ICV length. */
  constructor(name: string, key: Uint8Array, icvBits: number) {
    super(name, key);
    this.icvBits = icvBits;
  }
}
