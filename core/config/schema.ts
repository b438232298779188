/**
 * The daemon's configuration: its typed model, the defaults, and the
 * validation of a TOML document against it. Every problem is reported with
 * file, line and key (`kink.toml:14: peer[0].proposals[1]: unknown ESP
 * encryption algorithm "aes129"`), all of them at once.
 *
 * The annotated example `contrib/kink.toml` documents every key.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { formatPath, type KeyPath, parseToml, type TomlDocument, type TomlValue } from "./toml.ts";
import { type Cidr, type Endpoint, parseCidr, parseEndpoint, parseIp } from "./net.ts";
import { parseProposal, PROPOSAL_SYNTAX, type ProposalSpec } from "./proposals.ts";
import { escapeControl } from "../util/text.ts";
import { DEFAULTS, KINK_PORT } from "./defaults.ts";

export { KINK_PORT } from "./defaults.ts";

/** Logging levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** How a peer's SAs come up. */
export type StartMode =
  /** Policies installed; the first packet's kernel ACQUIRE starts the CREATE (default). */
  | "on-demand"
  /** SAs negotiated at start and kept up (re-created when they go). */
  | "always"
  /** Never initiate; only answer the peer. */
  | "passive";

/** One traffic selector pair. */
export interface TrafficSelector {
  /** Local side (this gateway's hosts). */
  local: Cidr;
  /** Remote side (the peer's hosts). */
  remote: Cidr;
  /** IP protocol number, or 0 for any. */
  protocol: number;
  /** Local port (TCP/UDP/SCTP), 0 for any. */
  localPort: number;
  /** Remote port, 0 for any. */
  remotePort: number;
}

/** Timers of the exchanges with one peer (milliseconds). */
export interface PeerTimers {
  /** First retransmission after this long (RTT-adapted later). */
  retransmitInitialMs: number;
  /** Back-off stops doubling at this interval. */
  retransmitMaxMs: number;
  /** Transmissions of one message before the transaction fails. */
  retransmitTries: number;
  /** No KINK traffic and no inbound bytes for this long → STATUS probe. 0 disables. */
  deadPeerIntervalMs: number;
  /** Rekey this long before the hard lifetime (upper bound of the random margin, T-rekey). */
  rekeyMarginMs: number;
  /** Keep a deleted inbound SA this long for packets in flight. */
  deleteGraceMs: number;
}

/** One peer gateway. */
export interface PeerConfig {
  /** Name used in logs, status and `kink up NAME`. */
  name: string;
  /** The peer's IP addresses (the first is used to initiate). */
  addresses: string[];
  /** UDP port of the peer's KINK daemon. */
  port: number;
  /** This gateway's address toward the peer (tunnel endpoint, SA source); default: chosen by the kernel route at start. */
  localAddress?: string;
  /** The peer's KINK service principal, `kink/<fqdn>@REALM`. */
  principal: string;
  /** PRF reading for session keys of enctypes 17/18 (`racoon2` = RFC text, 20 octets; `mit` = 16 octets). */
  prf: "racoon2" | "mit";
  /** Proposals in preference order. */
  proposals: ProposalSpec[];
  /** IPsec mode. */
  mode: "transport" | "tunnel";
  /** Traffic selectors (transport mode default: the two gateway addresses, any protocol). */
  traffic: TrafficSelector[];
  /** How SAs come up. */
  start: StartMode;
  /** Hard lifetime of SAs in seconds. */
  lifetimeSeconds: number;
  /** Hard lifetime in kilobytes; 0 = none. */
  lifetimeKilobytes: number;
  /** Ask for a user-to-user ticket (the peer holds only a TGT). */
  userToUser: boolean;
  /** Timers. */
  timers: PeerTimers;
}

/** The daemon's own settings. */
export interface DaemonSettings {
  /** Addresses and ports to listen on. */
  listen: Endpoint[];
  /** Directory for the replay cache and SA ownership state (mode 0700). */
  stateDir: string;
  /** Unix control socket (mode 0600, root only). */
  controlSocket: string;
  /** The krb5.conf naming the KDCs. */
  krb5Conf: string;
  /** Log level. */
  logLevel: LogLevel;
  /** Log format on stderr. */
  logFormat: "text" | "json";
  /** Prometheus metrics over HTTP on this loopback endpoint, if set. */
  metricsListen?: Endpoint;
  /** First XFRM reqid of the range this daemon owns (recognises its own SAs and policies). */
  reqidBase: number;
  /**
   * IPv4 networks at which a reload may add peers without a restart: the daemon's
   * `--allow-net` grants the peers' KINK ports on these networks (empty: only the peer
   * addresses of the configuration it started with).
   */
  peerNetworks: Cidr[];
  /**
   * Tests and benchmarks only (`inject_acquires`, default false): the control
   * socket's `acquire` command sends packets through the in-memory kernel
   * (`--kernel memory` only), which raises ACQUIREs exactly as the kernel
   * would. Refused with the netlink kernel.
   */
  injectAcquires: boolean;
  /**
   * Most exchanges started by kernel ACQUIREs in flight at once
   * (`acquire_window`); later ACQUIREs wait their turn (a burst does not
   * make every CREATE retransmit).
   */
  acquireWindow: number;
}

/** The gateway's Kerberos identity. */
export interface IdentityConfig {
  /** Our principal, `kink/<fqdn>@REALM`. */
  principal: string;
  /** Keytab with the principal's keys. */
  keytab?: string;
  /** A ccache holding only a TGT (no keytab: user-to-user, e.g. from PKINIT). */
  ccache?: string;
}

/** A validated configuration. */
export interface DaemonConfig {
  /** The file it came from. */
  file: string;
  /** Daemon settings. */
  daemon: DaemonSettings;
  /** Kerberos identity. */
  identity: IdentityConfig;
  /** Peers, in file order. */
  peers: PeerConfig[];
}

export { DEFAULTS } from "./defaults.ts";

/** Size of the reqid range one daemon owns (one reqid per peer; the base itself is unused). */
export const REQID_RANGE = 0x10000;

/**
 * Most peers one configuration names: one reqid each from the daemon's range
 * of {@link REQID_RANGE} (the base is not handed out). Per-peer costs in the
 * configuration, the daemon's start and the engine are O(1) (maps by name and
 * address), so a hub of thousands of peers loads in time linear in its size.
 */
export const MAX_PEERS = REQID_RANGE - 1;

/**
 * A configuration with problems: `problems` lists every one as
 * `file:line: key: detail`; the message shows them all.
 */
export class ConfigInvalidError extends ConfigError {
  /** Every problem, one line each. */
  readonly problems: readonly string[];
  /**
   * Gathers every problem found in `file`.
   *
   * @param file the configuration file
   * @param problems one line each
   */
  constructor(file: string, problems: string[]) {
    super(
      "value",
      file,
      `${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  ${problems.join("\n  ")}`,
    );
    this.problems = problems;
  }
}

type Table = { [key: string]: TomlValue };

class Checker {
  problems: string[] = [];
  constructor(readonly doc: TomlDocument) {}

  fail(path: KeyPath, detail: string): void {
    const line = this.doc.lineOf(path);
    const where = line === undefined ? this.doc.file : `${this.doc.file}:${line}`;
    this.problems.push(`${where}: ${formatPath(path) || "(top level)"}: ${escapeControl(detail)}`);
  }

  isTable(v: TomlValue | undefined): v is Table {
    return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
  }

  table(parent: Table, key: string, path: KeyPath): Table | undefined {
    const v = parent[key];
    if (v === undefined) return undefined;
    if (!this.isTable(v)) {
      this.fail([...path, key], "must be a table");
      return undefined;
    }
    return v;
  }

  keys(t: Table, path: KeyPath, allowed: readonly string[]): void {
    for (const k of Object.keys(t)) {
      if (!allowed.includes(k)) {
        const near = allowed.find((a) => a.replaceAll("_", "") === k.replaceAll(/[-_]/g, ""));
        this.fail(
          [...path, k],
          `unknown key${near ? ` (did you mean "${near}"?)` : ""}; allowed: ${allowed.join(", ")}`,
        );
      }
    }
  }

  str(t: Table, key: string, path: KeyPath, required = false): string | undefined {
    const v = t[key];
    if (v === undefined) {
      if (required) this.fail([...path, key], "is required");
      return undefined;
    }
    if (typeof v !== "string") {
      this.fail([...path, key], "must be a string");
      return undefined;
    }
    if (v === "") {
      this.fail([...path, key], "must not be empty");
      return undefined;
    }
    return v;
  }

  strList(t: Table, key: string, path: KeyPath): { v: string; path: KeyPath }[] | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) {
      this.fail([...path, key], "must be a string or an array of strings");
      return undefined;
    }
    return (list as string[]).map((s, i) => ({
      v: s,
      path: typeof v === "string" ? [...path, key] : [...path, key, i],
    }));
  }

  int(t: Table, key: string, path: KeyPath, min: number, max: number): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      this.fail([...path, key], `must be an integer in ${min}..${max}`);
      return undefined;
    }
    return n;
  }

  bool(t: Table, key: string, path: KeyPath): boolean | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") {
      this.fail([...path, key], "must be true or false");
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(
    t: Table,
    key: string,
    path: KeyPath,
    values: readonly T[],
  ): T | undefined {
    const v = this.str(t, key, path);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      this.fail([...path, key], `must be one of ${values.map((x) => `"${x}"`).join(", ")}`);
      return undefined;
    }
    return v as T;
  }

  duration(t: Table, key: string, path: KeyPath, minMs: number, maxMs: number): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    const ms = parseDuration(v);
    if (ms === undefined) {
      this.fail([...path, key], `must be a duration like "500ms", "30s", "5m", "1h" (or seconds)`);
      return undefined;
    }
    if (ms < minMs || ms > maxMs) {
      this.fail([...path, key], `must be between ${fmtMs(minMs)} and ${fmtMs(maxMs)}`);
      return undefined;
    }
    return ms;
  }
}

/** Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or a number of seconds into ms. */
export function parseDuration(v: TomlValue): number | undefined {
  if (typeof v === "number" || typeof v === "bigint") {
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? Math.round(n * 1000) : undefined;
  }
  if (typeof v !== "string") return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)$/.exec(v.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms"];
  return Math.round(Number(m[1]) * unit);
}

function fmtMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const PRINCIPAL_RE = /^[^@\s]+(?:\/[^@\s]+)*@[^@\s]+$/;

const PROTOCOLS: Record<string, number> = {
  any: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  icmpv6: 58,
  sctp: 132,
};

const PEER_KEYS = [
  "name",
  "address",
  "port",
  "local_address",
  "principal",
  "prf",
  "proposals",
  "mode",
  "traffic",
  "start",
  "lifetime",
  "lifetime_kilobytes",
  "user_to_user",
  "timers",
] as const;
const DEFAULT_KEYS = [
  "prf",
  "proposals",
  "mode",
  "start",
  "lifetime",
  "lifetime_kilobytes",
  "user_to_user",
  "timers",
] as const;
const TIMER_KEYS = [
  "retransmit_initial",
  "retransmit_max",
  "retransmit_tries",
  "dead_peer_interval",
  "rekey_margin",
  "delete_grace",
] as const;

/**
 * Validates a parsed document. Throws {@link ConfigInvalidError} listing every
 * problem; otherwise returns the typed configuration with defaults applied.
 */
export function validateConfig(doc: TomlDocument): DaemonConfig {
  const c = new Checker(doc);
  const root = doc.value;
  c.keys(root, [], ["daemon", "identity", "defaults", "peer"]);

  // [daemon]
  const d = c.table(root, "daemon", []) ?? {};
  c.keys(d, ["daemon"], [
    "listen",
    "state_dir",
    "control_socket",
    "krb5_conf",
    "log_level",
    "log_format",
    "metrics_listen",
    "reqid_base",
    "peer_networks",
    "inject_acquires",
    "acquire_window",
  ]);
  const listen: Endpoint[] = [];
  for (
    const e of c.strList(d, "listen", ["daemon"]) ?? DEFAULTS.listen.map((v) => ({ v, path: [] }))
  ) {
    const ep = parseEndpoint(e.v, KINK_PORT);
    if (typeof ep === "string") c.fail(e.path, ep);
    else if (listen.some((l) => l.address === ep.address && l.port === ep.port)) {
      c.fail(e.path, `listed twice`);
    } else listen.push(ep);
  }
  if (Array.isArray(d["listen"]) && d["listen"].length === 0) {
    c.fail(["daemon", "listen"], "no address");
  }
  const absPath = (key: string, def: string): string => {
    const v = c.str(d, key, ["daemon"]) ?? def;
    if (!v.startsWith("/")) c.fail(["daemon", key], "must be an absolute path");
    return v;
  };
  const daemon: DaemonSettings = {
    listen,
    stateDir: absPath("state_dir", DEFAULTS.stateDir),
    controlSocket: absPath("control_socket", DEFAULTS.controlSocket),
    krb5Conf: absPath("krb5_conf", DEFAULTS.krb5Conf),
    logLevel: c.oneOf(d, "log_level", ["daemon"], ["debug", "info", "warn", "error"] as const) ??
      DEFAULTS.logLevel,
    logFormat: c.oneOf(d, "log_format", ["daemon"], ["text", "json"] as const) ??
      DEFAULTS.logFormat,
    reqidBase: c.int(d, "reqid_base", ["daemon"], 1, 0xffffffff - REQID_RANGE) ??
      DEFAULTS.reqidBase,
    peerNetworks: [],
    injectAcquires: c.bool(d, "inject_acquires", ["daemon"]) ?? false,
    acquireWindow: c.int(d, "acquire_window", ["daemon"], 1, 65_536) ?? DEFAULTS.acquireWindow,
  };
  for (const e of c.strList(d, "peer_networks", ["daemon"]) ?? []) {
    const n = parseCidr(e.v);
    if (typeof n === "string") c.fail(e.path, n);
    else if (n.family !== 4) {
      // Deno's --allow-net takes IPv4 networks (ADDR/PREFIX:PORT) but no IPv6 ones.
      c.fail(
        e.path,
        "IPv4 networks only: Deno's --allow-net cannot express an IPv6 range (list IPv6 peers, restart to add one)",
      );
    } else daemon.peerNetworks.push(n);
  }
  const ml = c.str(d, "metrics_listen", ["daemon"]);
  if (ml !== undefined) {
    const ep = parseEndpoint(ml, 9910);
    if (typeof ep === "string") c.fail(["daemon", "metrics_listen"], ep);
    else if (!(ep.address.startsWith("127.") || ep.address === "::1")) {
      c.fail(["daemon", "metrics_listen"], "must be a loopback address (127.0.0.0/8 or [::1])");
    } else daemon.metricsListen = ep;
  }

  // [identity]
  const idt = c.table(root, "identity", []);
  if (idt === undefined && root["identity"] === undefined) c.fail(["identity"], "is required");
  const it = idt ?? {};
  c.keys(it, ["identity"], ["principal", "keytab", "ccache"]);
  const principal = c.str(it, "principal", ["identity"], idt !== undefined) ?? "";
  if (principal && !PRINCIPAL_RE.test(principal)) {
    c.fail(["identity", "principal"], "must be a principal name like kink/gw.example.com@REALM");
  }
  const identity: IdentityConfig = { principal };
  const keytab = c.str(it, "keytab", ["identity"]);
  const ccache = c.str(it, "ccache", ["identity"]);
  if (keytab !== undefined) identity.keytab = keytab;
  if (ccache !== undefined) identity.ccache = ccache;
  if (idt !== undefined && keytab === undefined && ccache === undefined) {
    c.fail(["identity"], "needs keytab (service keys) or ccache (a TGT only: user-to-user)");
  }
  if (keytab !== undefined && ccache !== undefined) {
    c.fail(["identity", "ccache"], "give keytab or ccache, not both");
  }
  for (const [k, v] of [["keytab", keytab], ["ccache", ccache]] as const) {
    if (v !== undefined && !v.startsWith("/")) c.fail(["identity", k], "must be an absolute path");
  }

  // [defaults]
  const defs = c.table(root, "defaults", []) ?? {};
  c.keys(defs, ["defaults"], DEFAULT_KEYS);
  const defTimers = c.table(defs, "timers", ["defaults"]) ?? {};
  c.keys(defTimers, ["defaults", "timers"], TIMER_KEYS);
  const baseTimers = readTimers(c, defTimers, ["defaults", "timers"], DEFAULTS.timers);

  // [[peer]]
  const peersRaw = root["peer"];
  const peers: PeerConfig[] = [];
  // name → peer and address → peer: each peer's checks are O(1), so a hub's configuration of
  // thousands of peers parses in time linear in its size.
  const byName = new Set<string>();
  const byAddress = new Map<string, string>();
  if (peersRaw !== undefined && !(Array.isArray(peersRaw) && peersRaw.every((p) => c.isTable(p)))) {
    c.fail(["peer"], "must be an array of tables ([[peer]])");
  } else {
    for (const [i, p] of ((peersRaw ?? []) as Table[]).entries()) {
      const peer = readPeer(c, p, ["peer", i], defs, baseTimers);
      if (peer === undefined) continue;
      if (byName.has(peer.name)) {
        c.fail(["peer", i, "name"], `duplicate name "${peer.name}"`);
      }
      byName.add(peer.name);
      for (const a of peer.addresses) {
        const other = byAddress.get(a);
        if (other !== undefined) {
          c.fail(["peer", i, "address"], `address ${a} is also peer "${other}"'s`);
        }
      }
      for (const a of peer.addresses) if (!byAddress.has(a)) byAddress.set(a, peer.name);
      peers.push(peer);
    }
  }
  // One reqid per peer from the daemon's range (its base is never handed out).
  if (peers.length > MAX_PEERS) c.fail(["peer"], `at most ${MAX_PEERS} peers`);

  if (c.problems.length > 0) throw new ConfigInvalidError(doc.file, c.problems);
  return { file: doc.file, daemon, identity, peers };
}

function readTimers(c: Checker, t: Table, path: KeyPath, base: PeerTimers): PeerTimers {
  const timers: PeerTimers = {
    retransmitInitialMs: c.duration(t, "retransmit_initial", path, 50, 60_000) ??
      base.retransmitInitialMs,
    retransmitMaxMs: c.duration(t, "retransmit_max", path, 50, 600_000) ?? base.retransmitMaxMs,
    retransmitTries: c.int(t, "retransmit_tries", path, 1, 20) ?? base.retransmitTries,
    deadPeerIntervalMs: c.duration(t, "dead_peer_interval", path, 0, 86_400_000) ??
      base.deadPeerIntervalMs,
    rekeyMarginMs: c.duration(t, "rekey_margin", path, 1000, 86_400_000) ?? base.rekeyMarginMs,
    deleteGraceMs: c.duration(t, "delete_grace", path, 0, 3_600_000) ?? base.deleteGraceMs,
  };
  if (timers.retransmitMaxMs < timers.retransmitInitialMs) {
    c.fail([...path, "retransmit_max"], "must be at least retransmit_initial");
  }
  return timers;
}

function readPeer(
  c: Checker,
  p: Table,
  path: KeyPath,
  defs: Table,
  baseTimers: PeerTimers,
): PeerConfig | undefined {
  c.keys(p, path, PEER_KEYS);
  const pick = <T>(key: string, read: (t: Table, path: KeyPath) => T | undefined): T | undefined =>
    p[key] !== undefined
      ? read(p, path)
      : defs[key] !== undefined
      ? read(defs, ["defaults"])
      : undefined;

  const name = c.str(p, "name", path, true);
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    c.fail(
      [...path, "name"],
      `"${name}" must be 1-63 characters of letters, digits, '.', '_', '-'`,
    );
  }
  const addresses: string[] = [];
  const addrList = c.strList(p, "address", path);
  if (addrList === undefined && p["address"] === undefined) {
    c.fail([...path, "address"], "is required");
  }
  const families = new Set<number>();
  for (const a of addrList ?? []) {
    const ip = parseIp(a.v);
    if (!ip) {
      c.fail(a.path, `"${a.v}" is not an IP address (host names are not resolved: give addresses)`);
    } else {
      addresses.push(ip.address);
      families.add(ip.family);
    }
  }
  const port = c.int(p, "port", path, 1, 65535) ?? KINK_PORT;
  const local = c.str(p, "local_address", path);
  let localAddress: string | undefined;
  if (local !== undefined) {
    const ip = parseIp(local);
    if (!ip) c.fail([...path, "local_address"], `"${local}" is not an IP address`);
    else if (addresses.length > 0 && !families.has(ip.family)) {
      c.fail([...path, "local_address"], "must be of the same family as an address of the peer");
    } else localAddress = ip.address;
  }
  const principal = c.str(p, "principal", path, true);
  if (principal !== undefined && !PRINCIPAL_RE.test(principal)) {
    c.fail([...path, "principal"], "must be a principal name like kink/gw.example.com@REALM");
  }
  const prf = pick("prf", (t, tp) => c.oneOf(t, "prf", tp, ["racoon2", "mit"] as const)) ??
    DEFAULTS.prf;

  const proposals: ProposalSpec[] = [];
  const propSrc = p["proposals"] !== undefined
    ? { t: p, tp: path }
    : defs["proposals"] !== undefined
    ? { t: defs, tp: ["defaults"] as KeyPath }
    : undefined;
  const propList = propSrc
    ? c.strList(propSrc.t, "proposals", propSrc.tp)
    : DEFAULTS.proposals.map((v) => ({ v, path: [...path, "proposals"] as KeyPath }));
  for (const e of propList ?? []) {
    const r = parseProposal(e.v);
    if (typeof r === "string") {
      c.fail(e.path, r.startsWith("unknown") ? `${r} (syntax: ${PROPOSAL_SYNTAX})` : r);
    } else proposals.push(r);
  }
  if (propList !== undefined && propList.length === 0) c.fail([...path, "proposals"], "is empty");
  const groups = new Set(proposals.map((x) => x.dhGroup ?? 0));
  if (groups.size > 1) {
    c.fail(
      [...path, "proposals"],
      "all proposals must use the same PFS group (one KE payload per exchange)",
    );
  }

  const mode = pick("mode", (t, tp) => c.oneOf(t, "mode", tp, ["transport", "tunnel"] as const)) ??
    "transport";
  const start = pick(
    "start",
    (t, tp) => c.oneOf(t, "start", tp, ["on-demand", "always", "passive"] as const),
  ) ?? DEFAULTS.start;
  const lifetimeMs = pick(
    "lifetime",
    (t, tp) => c.duration(t, "lifetime", tp, 60_000, 7 * 86_400_000),
  );
  const lifetimeKilobytes =
    pick("lifetime_kilobytes", (t, tp) => c.int(t, "lifetime_kilobytes", tp, 0, 0xffffffff)) ??
      DEFAULTS.lifetimeKilobytes;
  const userToUser = pick("user_to_user", (t, tp) => c.bool(t, "user_to_user", tp)) ?? false;
  const ptimers = c.table(p, "timers", path) ?? {};
  c.keys(ptimers, [...path, "timers"], TIMER_KEYS);
  const timers = readTimers(c, ptimers, [...path, "timers"], baseTimers);
  const lifetimeSeconds = Math.round((lifetimeMs ?? DEFAULTS.lifetimeSeconds * 1000) / 1000);
  if (timers.rekeyMarginMs >= lifetimeSeconds * 1000) {
    c.fail([...path, "timers", "rekey_margin"], "must be shorter than the lifetime");
  }
  if (timers.rekeyMarginMs < 2 * timers.retransmitInitialMs) {
    c.fail(
      [...path, "timers", "rekey_margin"],
      "must be at least twice retransmit_initial (RFC 4430 §3.6: T-rekey ≥ 2·T-retrans)",
    );
  }

  // traffic selectors
  const traffic: TrafficSelector[] = [];
  const trRaw = p["traffic"];
  if (trRaw !== undefined) {
    if (!Array.isArray(trRaw) || !trRaw.every((x) => c.isTable(x))) {
      c.fail([...path, "traffic"], "must be an array of tables ([[peer.traffic]])");
    } else {
      for (const [j, t] of (trRaw as Table[]).entries()) {
        const tp = [...path, "traffic", j];
        c.keys(t, tp, ["local", "remote", "protocol", "local_port", "remote_port"]);
        const l = c.str(t, "local", tp, true);
        const r = c.str(t, "remote", tp, true);
        const lc = l === undefined ? undefined : parseCidr(l);
        const rc = r === undefined ? undefined : parseCidr(r);
        if (typeof lc === "string") c.fail([...tp, "local"], lc);
        if (typeof rc === "string") c.fail([...tp, "remote"], rc);
        let protocol = 0;
        const pv = t["protocol"];
        if (typeof pv === "string") {
          const n = PROTOCOLS[pv];
          if (n === undefined) {
            c.fail([...tp, "protocol"], `must be ${Object.keys(PROTOCOLS).join(", ")} or a number`);
          } else protocol = n;
        } else if (pv !== undefined) protocol = c.int(t, "protocol", tp, 0, 255) ?? 0;
        const localPort = c.int(t, "local_port", tp, 0, 65535) ?? 0;
        const remotePort = c.int(t, "remote_port", tp, 0, 65535) ?? 0;
        if ((localPort || remotePort) && ![6, 17, 132].includes(protocol)) {
          c.fail(tp, "ports need protocol tcp, udp or sctp");
        }
        if (lc && rc && typeof lc !== "string" && typeof rc !== "string") {
          if (lc.family !== rc.family) c.fail(tp, "local and remote must be of the same family");
          if (
            mode === "transport" && (lc.prefix !== (lc.family === 4 ? 32 : 128) ||
              rc.prefix !== (rc.family === 4 ? 32 : 128))
          ) {
            c.fail(
              tp,
              'transport mode protects host addresses only: use /32 or /128, or mode = "tunnel"',
            );
          }
          traffic.push({ local: lc, remote: rc, protocol, localPort, remotePort });
        }
      }
    }
  } else if (mode === "tunnel") {
    c.fail(
      [...path, "traffic"],
      "tunnel mode needs [[peer.traffic]] selectors (local and remote subnets)",
    );
  }
  if (start === "always" && addresses.length === 0) c.fail([...path, "start"], "needs an address");

  if (name === undefined || principal === undefined) return undefined;
  const peer: PeerConfig = {
    name,
    addresses,
    port,
    principal,
    prf,
    proposals,
    mode,
    traffic,
    start,
    lifetimeSeconds,
    lifetimeKilobytes,
    userToUser,
    timers,
  };
  if (localAddress !== undefined) peer.localAddress = localAddress;
  return peer;
}

/** Parses and validates configuration text (see {@link validateConfig}). */
export function parseConfig(text: string, file: string): DaemonConfig {
  return validateConfig(parseToml(text, file));
}
