/**
 * The typed kernel IPsec interface kink's daemon programs: SPI allocation,
 * SAs, policies and kernel events. Two backends implement it with the same
 * semantics — {@link NetlinkKernel} (the Linux kernel through NETLINK_XFRM)
 * and {@link MemoryKernel} (an in-memory model for tests and load
 * benchmarks) — and one contract test suite runs against both.
 *
 * Errors are {@link KernelError}s: `"invalid"` before anything is sent,
 * `"kernel"` with the errno name (EEXIST, ESRCH, ENOENT, EPROTONOSUPPORT …)
 * when the kernel (or the model) refuses.
 *
 * @module
 */
import type {
  AllocSpiRequest,
  Flow,
  PolicyConfig,
  PolicyDir,
  PolicyId,
  PolicyState,
  SaConfig,
  SaId,
  SaState,
  XfrmEvent,
  XfrmProto,
} from "./model.ts";
import type { KernelError } from "./errors.ts";

/** Outcome of one item of a batch: `undefined` on success, else the error. */
export type BatchOutcome = KernelError | undefined;

/** A subscription to kernel events; iterate it, and close it when done. */
export interface EventSubscription extends AsyncIterable<XfrmEvent> {
  /** Kernel messages on this subscription that could not be decoded (each also yielded as an `"undecodable"` event). */
  readonly undecodable: number;
  /** Stops the subscription; pending iteration ends. */
  close(): Promise<void>;
}

/** The kernel IPsec interface (modelled on strongSwan's kernel_ipsec). */
export interface KernelIpsec {
  /** Backend name, `"netlink"` or `"memory"`. */
  readonly backend: "netlink" | "memory";
  /**
   * Entries of SA/policy dumps the backend could not decode and skipped (a
   * real kernel may hold state kink does not model, e.g. IPComp); always 0
   * for the in-memory model.
   */
  readonly undecodable: number;
  /** Allocates an SPI in a range for an inbound SA (creates a larval SA). */
  allocSpi(req: AllocSpiRequest): Promise<number>;
  /** Installs an SA; EEXIST if one with the same dst/SPI/proto/mark exists. */
  addSa(sa: SaConfig): Promise<void>;
  /** Replaces an SA (or fills in a larval one from allocSpi); ESRCH if none. */
  updateSa(sa: SaConfig): Promise<void>;
  /** Installs many SAs, `perSend` requests per kernel round trip. */
  addSas(sas: SaConfig[], perSend?: number): Promise<BatchOutcome[]>;
  /** Reads one SA (with keys); ESRCH if none. */
  getSa(id: SaId): Promise<SaState>;
  /** Deletes an SA; ESRCH if none. */
  deleteSa(id: SaId): Promise<void>;
  /** Lists every SA (with keys). */
  listSas(): Promise<SaState[]>;
  /** Deletes every SA of `proto` (all IPsec protocols when absent). */
  flushSas(proto?: XfrmProto): Promise<void>;
  /** Installs a policy; EEXIST if one with the same selector, direction and mark exists. */
  addPolicy(p: PolicyConfig): Promise<void>;
  /** Installs or replaces a policy (keeps the index of the one replaced). */
  updatePolicy(p: PolicyConfig): Promise<void>;
  /** Installs many policies, `perSend` requests per kernel round trip. */
  addPolicies(ps: PolicyConfig[], perSend?: number): Promise<BatchOutcome[]>;
  /** Reads one policy; ENOENT if none. */
  getPolicy(id: PolicyId): Promise<PolicyState>;
  /**
   * Reads one policy by exact selector (+ mark) or by index, like
   * {@link getPolicy}, but resolves to `undefined` when it does not exist
   * (the "is it installed?" query; other errors still reject).
   */
  findPolicy(id: PolicyId): Promise<PolicyState | undefined>;
  /**
   * The policy of direction `dir` the kernel applies to `flow`: among the
   * policies whose selector covers the flow, the lowest priority value, the
   * oldest on a tie (for ACQUIRE handling: which policy, hence which traffic
   * selectors, a packet fell under). `undefined` when none matches.
   */
  matchPolicy(dir: PolicyDir, flow: Flow): Promise<PolicyState | undefined>;
  /** Deletes a policy; ENOENT if none. */
  deletePolicy(id: PolicyId): Promise<void>;
  /** Lists every policy. */
  listPolicies(): Promise<PolicyState[]>;
  /** Deletes every (main-type) policy. */
  flushPolicies(): Promise<void>;
  /** Subscribes to ACQUIRE, EXPIRE and POLEXPIRE events. */
  subscribe(): Promise<EventSubscription>;
  /** Releases the backend's resources. */
  close(): Promise<void>;
}
