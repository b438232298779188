/**
 * `kink daemon`: the engine driven by real systems — UDP sockets, the kernel
 * through NETLINK_XFRM (or the in-memory kernel for tests and load runs), a
 * Kerberos client talking to the KDCs of krb5.conf, the wall clock — plus
 * the state directory, the control socket, metrics and signals.
 *
 * Start-up order (each step fails closed with a {@link DaemonError} or a
 * ConfigError that says what to fix):
 * 1. configuration read and validated;
 * 2. state directory opened and locked; replay cache opened from it (after
 *    a crash it refuses every authenticator for one skew window);
 * 3. identity: keytab (service keys, and our TGT by AS) or a TGT-only ccache;
 * 4. kernel: stale SAs and policies of this daemon's reqid range removed
 *    (others untouched), the peers' policies installed, events subscribed;
 * 5. KINK sockets opened; engine and driver started; control socket.
 *
 * @module
 */
import { type DaemonConfig, type PeerConfig, readConfigFile } from "../config/mod.ts";
import { DEFAULT_TIMERS, Engine } from "../engine/mod.ts";
import type { EngineStatus, ReconfigureResult, TicketRequest } from "../engine/api.ts";
import {
  clientOptionsFromKrb5Conf,
  type Credentials,
  credentialsFromCcache,
  decodeTicket,
  formatPrincipal,
  KerberosClient,
  type KeytabEntry,
  loadKrb5Conf,
  parsePrincipal,
  principalEquals,
  readCcache,
  readKeytab,
  ReplayCache,
  wipeKeytab,
} from "../kerberos/mod.ts";
import {
  type KernelIpsec,
  LIBC_PATH,
  MemoryKernel,
  NetlinkKernel,
  type PolicyConfig,
  shutdownSocket,
  unixPeersOf,
} from "../kernel/mod.ts";
import { systemClock, type TimerClock } from "../util/clock.ts";
import { systemRandom } from "../util/random.ts";
import { escapeControl } from "../util/text.ts";
import { normalIpText } from "../util/ip.ts";
import { ControlServer } from "./control.ts";
import { type DriverTransport, EngineDriver } from "./driver.ts";
import { enginePeer, retransmitCycleMs } from "./engine_config.ts";
import { type FetchedTicket, isUnreachable, retryingTickets } from "./tickets.ts";
import { DaemonError } from "./errors.ts";
import { Logger, type LogSink, StderrLogWriter } from "./log.ts";
import { type MetricFamily, renderMetrics } from "./metrics.ts";
import { ownsPolicy, ownsSa, peerPolicies } from "./policies.ts";
import { type AlwaysRetry, AlwaysUp } from "./always.ts";
import { claimEpoch, openStateDir, readJsonState, unsafeSecretFile, writeAtomic } from "./state.ts";

/**
 * The KINK sockets of a daemon: what the driver needs, and optionally (as
 * core/net's `UdpTransport` has them) a receive filter applied before a
 * datagram is queued, and the counters of datagrams the receive side refused.
 */
export type DaemonTransport = DriverTransport & {
  /** Closes the sockets. */
  close(): Promise<void>;
  /** Keeps only datagrams for which `filter` is true (before they are copied or queued). */
  setFilter?(filter: ((remote: { address: string; port: number }) => boolean) | undefined): void;
  /** Datagrams dropped because the receive queue was full. */
  readonly dropped?: number;
  /** Datagrams the filter refused. */
  readonly filtered?: number;
  /** Datagrams read at once after a wake-up (descriptor-level reads), when it has them. */
  readonly drained?: number;
  /** Each socket's receive buffer in force, where the transport set it. */
  readonly receiveBuffers?: (number | undefined)[];
  /** Has the kernel drop other sources' datagrams before the sockets' buffers; sockets so filtered. */
  restrictSources?(addresses: readonly string[]): number;
};

/** Options of {@link Daemon.start}. */
export interface DaemonOptions {
  /** The configuration file. */
  configPath: string;
  /** Kernel backend: `"netlink"` (default, the real kernel) or `"memory"` (tests, load runs). */
  kernel?: "netlink" | "memory";
  /** Where log lines go (default stderr). */
  logSink?: LogSink;
  /** Log format, overriding the configuration's `log_format` (the `--log-format` option). */
  logFormat?: "text" | "json";
  /** Opens the KINK sockets (default: UDP on the configured listen addresses). */
  openTransport: (cfg: DaemonConfig) => Promise<DaemonTransport>;
  /** Finds this gateway's address toward a peer when the configuration does not say. */
  localAddressToward?: (peer: PeerConfig) => Promise<string>;
  /** Clock (default: the system clock). */
  clock?: TimerClock;
}

/** The reqids of peers, persisted so a reload or restart keeps each peer's reqid. */
interface ReqidState {
  version: 1;
  reqids: Record<string, number>;
}

/** One kernel SA this daemon owns, as `kink status` shows it (never key bytes). */
export interface SaSummary {
  /** Peer the SA belongs to (by reqid), when known. */
  peer?: string;
  /** `in` (towards us) or `out`. */
  dir: "in" | "out";
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** `esp` or `ah`. */
  proto: string;
  /** SPI. */
  spi: number;
  /** `transport` or `tunnel`. */
  mode: string;
  /** The peer's reqid. */
  reqid: number;
  /** Algorithm names and key sizes, e.g. `rfc4106(gcm(aes)) 128-bit, icv 128`. */
  algorithms: string[];
  /** Bytes processed. */
  bytes: number;
  /** Packets processed. */
  packets: number;
  /** Seconds since the SA was added. */
  ageSeconds: number;
  /** Seconds until the hard lifetime, when the kernel holds one. */
  remainingSeconds?: number;
}

/** What `kink status` shows. */
export interface DaemonStatus {
  /** The configuration file. */
  config: string;
  /** Our principal. */
  principal: string;
  /** When the daemon started (ms since the epoch). */
  startedAt: number;
  /** The engine's snapshot: peers, SA pairs, transactions, counters. */
  engine: EngineStatus;
  /** The driver's counters. */
  driver: Record<string, number>;
  /** The kernel backend and how many SAs and policies of this daemon it holds. */
  kernel: { backend: string; sas: number; policies: number };
  /** The kernel SAs this daemon owns. */
  sas: SaSummary[];
  /** `start = "always"` peers that failed since they were last up, and their next attempt. */
  always: AlwaysRetry[];
}

/** A running daemon. */
export class Daemon {
  #cfg: DaemonConfig;
  readonly #log: Logger;
  readonly #writer: StderrLogWriter | undefined;
  readonly #onUnload: () => void;
  readonly #kernel: KernelIpsec;
  readonly #driver: EngineDriver;
  readonly #engine: Engine;
  readonly #transport: DaemonTransport;
  /** Every peer address configured since start (the receive filter's set; see {@link hearPeers}). */
  readonly #heard: Set<string>;
  readonly #control: ControlServer;
  readonly #replay: ReplayCache;
  readonly #lock: Deno.FsFile;
  readonly #client: KerberosClient | undefined;
  readonly #startedAt: number;
  readonly #opts: DaemonOptions;
  #running: Promise<void>;
  #stopping: Promise<void> | undefined;
  #reloads: Promise<unknown> = Promise.resolve();
  readonly #signals: [Deno.Signal, () => void][] = [];
  readonly #reqids: Record<string, number>;
  readonly #locals: string[];
  readonly #http: Deno.HttpServer | undefined;
  readonly #always: AlwaysUp;
  readonly #stopTickets: AbortController;
  /** The peers' names of a configuration (control commands look a peer up in O(1)). */
  #peerNames: { cfg: DaemonConfig | undefined; names: Set<string> } = {
    cfg: undefined,
    names: new Set(),
  };

  private constructor(p: {
    cfg: DaemonConfig;
    log: Logger;
    writer: StderrLogWriter | undefined;
    onUnload: () => void;
    kernel: KernelIpsec;
    driver: EngineDriver;
    engine: Engine;
    transport: DaemonTransport;
    heard: Set<string>;
    control: ControlServer;
    replay: ReplayCache;
    lock: Deno.FsFile;
    client: KerberosClient | undefined;
    running: Promise<void>;
    opts: DaemonOptions;
    startedAt: number;
    reqids: Record<string, number>;
    locals: string[];
    http: Deno.HttpServer | undefined;
    always: AlwaysUp;
    stopTickets: AbortController;
  }) {
    this.#stopTickets = p.stopTickets;
    this.#always = p.always;
    this.#reqids = p.reqids;
    this.#locals = p.locals;
    this.#http = p.http;
    this.#cfg = p.cfg;
    this.#log = p.log;
    this.#writer = p.writer;
    this.#onUnload = p.onUnload;
    this.#kernel = p.kernel;
    this.#driver = p.driver;
    this.#engine = p.engine;
    this.#transport = p.transport;
    this.#heard = p.heard;
    this.#control = p.control;
    this.#replay = p.replay;
    this.#lock = p.lock;
    this.#client = p.client;
    this.#running = p.running;
    this.#opts = p.opts;
    this.#startedAt = p.startedAt;
  }

  /** Starts a daemon (see the module documentation for the order). */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const clock = opts.clock ?? systemClock;
    const cfg = await readConfigFile(opts.configPath);
    // stderr is written asynchronously in batches (a slow reader never stalls the exchanges);
    // stop() and a failed start wait for it, an exit without stop() writes the rest on unload
    const writer = opts.logSink ? undefined : new StderrLogWriter({
      droppedLine: (n) => log.format("warn", "log-dropped", { lines: n }),
    });
    const onUnload = () => writer?.flushSync();
    if (writer) globalThis.addEventListener("unload", onUnload);
    const log: Logger = new Logger(opts.logSink ?? writer!.sink, {
      level: cfg.daemon.logLevel,
      format: opts.logFormat ?? cfg.daemon.logFormat,
      now: () => clock.now(),
    });
    if (cfg.daemon.injectAcquires && opts.kernel !== "memory") {
      throw new DaemonError(
        "startup",
        "daemon.inject_acquires",
        "is for tests and benchmarks with --kernel memory only; set it to false",
      );
    }
    const cleanups: (() => Promise<void> | void)[] = [];
    const fail = async (e: unknown): Promise<never> => {
      for (const c of cleanups.reverse()) {
        try {
          await c();
        } catch { /* best effort */ }
      }
      if (writer) {
        await writer.flush();
        globalThis.removeEventListener("unload", onUnload);
      }
      throw e;
    };
    try {
      const { lock, warnings, created, removedTemps } = await openStateDir(cfg.daemon.stateDir);
      cleanups.push(() => lock.close());
      for (const w of warnings) log.warn("state-dir", { detail: w });
      if (removedTemps.length) {
        log.info("state-dir", {
          detail: `removed ${removedTemps.length} temp file(s) of writes interrupted by a crash`,
        });
      }

      const replay = ReplayCache.open({
        skewMs: 300_000,
        path: `${cfg.daemon.stateDir}/replay.log`,
        now: () => clock.now(),
        // A state directory created just now never held a cache: nothing was accepted before.
        firstStart: created,
        // One write and fsync per drain of the engine's outputs, committed by
        // the driver before any datagram of that drain is sent.
        groupCommit: true,
      });
      cleanups.push(() => replay.close());
      if (replay.recoveringUntil > clock.now()) {
        log.warn("replay-cache-recovering", {
          until: new Date(replay.recoveringUntil).toISOString(),
          detail:
            "the replay cache could not be trusted: every AP-REQ is refused until then (RFC 4120 §3.2.3)",
        });
      }

      // Identity
      const me = parsePrincipal(cfg.identity.principal);
      let keys: KeytabEntry[] = [];
      let tgt: Credentials | undefined;
      for (
        const [what, path] of [["keytab", cfg.identity.keytab], ["ccache", cfg.identity.ccache]]
      ) {
        const unsafe = path ? await unsafeSecretFile(path, what!) : undefined;
        if (unsafe) log.warn("key-file-unsafe", { detail: unsafe });
      }
      if (cfg.identity.keytab) {
        const all = readKeytab(await Deno.readFile(cfg.identity.keytab));
        keys = all.filter((e) => principalEquals(e.principal, me));
        wipeKeytab(all.filter((e) => !keys.includes(e)));
        if (keys.length === 0) {
          throw new DaemonError(
            "startup",
            `keytab ${escapeControl(cfg.identity.keytab)}`,
            `holds no key for ${escapeControl(cfg.identity.principal)}`,
          );
        }
      } else if (cfg.identity.ccache) {
        const cc = readCcache(await Deno.readFile(cfg.identity.ccache));
        tgt = credentialsFromCcache(cc).find((c) => c.server.components[0] === "krbtgt");
        if (!tgt) {
          throw new DaemonError(
            "startup",
            `ccache ${escapeControl(cfg.identity.ccache)}`,
            "holds no TGT",
          );
        }
      }
      const krb5 = await loadKrb5Conf(cfg.daemon.krb5Conf);
      const client = keys.length > 0
        ? new KerberosClient(me, { keytab: keys }, {
          ...clientOptionsFromKrb5Conf(krb5),
          now: () => clock.now(),
        })
        : undefined;
      if (tgt && client === undefined) {
        // TGT-only gateway: requests still go to the KDC with that TGT.
      }
      const fetchTicket = async (req: TicketRequest): Promise<FetchedTicket> => {
        if (!client) {
          return { ok: false, message: "no keytab: this gateway cannot get service tickets" };
        }
        try {
          const server = parsePrincipal(req.server);
          const opts: { peerTgt?: ReturnType<typeof decodeTicket> } = {};
          if (req.peerTgt) opts.peerTgt = decodeTicket(req.peerTgt);
          const credentials = req.fresh && !req.peerTgt
            ? await client.tgsExchange(await client.getTgt(), server)
            : await client.getServiceTicket(server, opts);
          return { ok: true, credentials };
        } catch (e) {
          const err = e as { krbError?: { errorCode: number }; message?: string };
          const r: FetchedTicket = { ok: false, message: escapeControl(String(err.message ?? e)) };
          if (err.krbError) r.errorCode = err.krbError.errorCode;
          if (isUnreachable(e)) r.unreachable = true;
          return r;
        }
      };
      // A KDC unreachable for a moment must not fail a negotiation that has a whole
      // retransmission cycle left: retried within the peer's cycle (core/daemon/tickets.ts).
      const cycleByServer = new Map(
        cfg.peers.map((p) => [
          formatPrincipal(parsePrincipal(p.principal)),
          retransmitCycleMs(p.timers),
        ]),
      );
      const stopTickets = new AbortController();
      cleanups.push(() => stopTickets.abort());
      const tickets = retryingTickets(fetchTicket, {
        clock,
        signal: stopTickets.signal,
        budgetMs: (req) => {
          try {
            const known = cycleByServer.get(formatPrincipal(parsePrincipal(req.server)));
            // A peer added by a reload: the engine's default cycle.
            return known ?? retransmitCycleMs(DEFAULT_TIMERS);
          } catch {
            return 0;
          }
        },
      });

      // Kernel
      const memory = opts.kernel === "memory" ? new MemoryKernel({ clock }) : undefined;
      const kernel: KernelIpsec = memory ?? NetlinkKernel.open();
      cleanups.push(() => kernel.close());
      const base = cfg.daemon.reqidBase;
      const removed = await reconcile(kernel, base);
      if (removed.sas + removed.policies > 0) {
        log.info("reconciled", { staleSas: removed.sas, stalePolicies: removed.policies });
      }
      const reqids = await assignReqids(cfg);
      const locals: string[] = [];
      const toward = listenAddresses(cfg);
      for (const p of cfg.peers) {
        const local = p.localAddress ??
          (opts.localAddressToward ? await opts.localAddressToward(p) : toward(p.addresses[0]!));
        if (!local) {
          throw new DaemonError(
            "startup",
            `peer ${p.name}`,
            "local_address is not set and no specific listen address of its family is configured",
          );
        }
        locals.push(local);
        if (p.start !== "passive" || p.mode === "transport") {
          for (const pol of peerPolicies(p, local, reqids[p.name]!)) await kernel.addPolicy(pol);
        }
      }
      cleanups.push(() => removeOwned(kernel, base).then(() => {}));
      const events = await kernel.subscribe();
      cleanups.push(() => events.close());

      // A new epoch for every start, recorded before anything is sent: a start within the same
      // second as the previous one (or after the clock went back) must still announce a newer
      // epoch, or the peers never learn that this daemon lost its SAs (RFC 4430 §3.7).
      const { epoch } = await claimEpoch(cfg.daemon.stateDir, clock.now());
      const engine = new Engine({
        identity: { principal: cfg.identity.principal, serviceKeys: keys, ...(tgt ? { tgt } : {}) },
        epoch,
        peers: cfg.peers.map((p, i) => enginePeer(p, locals[i]!, reqids[p.name]!)),
      }, { random: systemRandom, replayCache: replay });

      const transport = await opts.openTransport(cfg);
      cleanups.push(() => transport.close());
      // Datagrams from addresses that are no configured peer are refused by the engine
      // unread; refusing them in the receive loop spares the copy, the queue's places and the
      // engine call, so such a flood cannot crowd out the peers' datagrams there.
      const heard = new Set<string>();
      hearPeers(heard, cfg);
      transport.setFilter?.((remote) => heard.has(remote.address));
      const kernelFiltered = transport.restrictSources?.([...heard]) ?? 0;
      const rcvbufs = transport.receiveBuffers?.filter((x) => x !== undefined) ?? [];
      log.info("receive-path", {
        detail: rcvbufs.length > 0
          ? "waiting datagrams read at once after each wake-up (libc)"
          : "one datagram per read (no FFI: the system's default receive buffer)",
        receiveBuffers: rcvbufs.join(","),
        kernelSourceFilters: kernelFiltered,
      });
      const driver = new EngineDriver(engine, {
        transport,
        kernel,
        tickets,
        clock,
        log,
        barrier: replay,
        acquireWindow: cfg.daemon.acquireWindow,
      });
      const running = driver.run(events);
      const startedAt = clock.now();
      // `start = "always"` peers: started below, tried again after failures.
      const always = new AlwaysUp(
        clock,
        (peer) => driver.with((e, now) => e.command(now, { kind: "up", peer })),
      );
      always.setPeers(cfg.peers.filter((p) => p.start === "always").map((p) => p.name));
      driver.onEvent((e) => always.handle(e));
      cleanups.push(() => always.close());

      const daemon: { d?: Daemon } = {};
      // Peer credentials of control connections need libc (FFI): granted with the
      // netlink kernel, not with `--kernel memory` (then the mode and token alone).
      const ffi = Deno.permissions.querySync({ name: "ffi", path: LIBC_PATH }).state === "granted";
      const myUid = Deno.uid();
      const control = await ControlServer.start(
        cfg.daemon.controlSocket,
        (req) => daemon.d!.#handle(req.cmd, req.args),
        ffi
          ? {
            peers: (path) => unixPeersOf(path),
            shutdown: shutdownSocket,
            allowedUids: myUid === null || myUid === 0 ? [0] : [0, myUid],
            onRefused: (p) => log.warn("control-peer-refused", { uid: p.uid, pid: p.pid }),
          }
          : undefined,
      );
      if (!ffi) {
        log.info("control-peer-credentials", {
          detail: "not checked (no FFI permission, --kernel memory): socket mode and token only",
        });
      }
      let http: Deno.HttpServer | undefined;
      const ml = cfg.daemon.metricsListen;
      if (ml) {
        http = Deno.serve({
          hostname: ml.address,
          port: ml.port,
          onListen: () => {},
        }, async (req) => {
          if (new URL(req.url).pathname !== "/metrics" || req.method !== "GET") {
            return new Response("not found\n", { status: 404 });
          }
          return new Response(await daemon.d!.metrics(), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          });
        });
        cleanups.push(() => http!.shutdown());
      }
      daemon.d = new Daemon({
        stopTickets,
        always,
        reqids,
        locals,
        http,
        cfg,
        log,
        writer,
        onUnload,
        kernel,
        driver,
        engine,
        transport,
        heard,
        control,
        replay,
        lock,
        client,
        running,
        opts,
        startedAt,
      });
      for (const p of cfg.peers) {
        if (p.start === "always") {
          driver.with((e, now) => e.command(now, { kind: "up", peer: p.name }));
        }
      }
      log.info("started", {
        principal: cfg.identity.principal,
        peers: cfg.peers.length,
        kernel: kernel.backend,
        listen: cfg.daemon.listen.map((e) => `${e.address}:${e.port}`).join(","),
        epoch,
      });
      return daemon.d;
    } catch (e) {
      return await fail(e);
    }
  }

  /** Installs SIGHUP (reload) and SIGTERM/SIGINT (stop) handlers. */
  handleSignals(onStopped: () => void): void {
    const add = (sig: Deno.Signal, fn: () => void) => {
      Deno.addSignalListener(sig, fn);
      this.#signals.push([sig, fn]);
    };
    add("SIGHUP", () => void this.reload());
    const stop = () => void this.stop().then(onStopped);
    add("SIGTERM", stop);
    add("SIGINT", stop);
  }

  /**
   * Re-reads the configuration; an invalid one is rejected and the old one
   * stays in force. Reloads run one at a time (SIGHUP and `kink reload` may
   * overlap).
   */
  reload(): Promise<{ ok: boolean; problems?: string[]; detail: string }> {
    const r = this.#reloads.then(() => this.#reload());
    this.#reloads = r.catch(() => {});
    return r;
  }

  async #reload(): Promise<{ ok: boolean; problems?: string[]; detail: string }> {
    let next: DaemonConfig;
    try {
      next = await readConfigFile(this.#opts.configPath);
    } catch (e) {
      const problems = (e as { problems?: string[] }).problems ?? [String((e as Error).message)];
      this.#log.warn("reload-rejected", { problems: problems.length, first: problems[0] });
      return {
        ok: false,
        problems,
        detail: "the configuration is invalid; the running one stays in force",
      };
    }
    const changedIdentity = JSON.stringify(next.identity) !== JSON.stringify(this.#cfg.identity);
    const { logLevel: _l, logFormat: _f, ...restNext } = next.daemon;
    const { logLevel: _l2, logFormat: _f2, ...restNow } = this.#cfg.daemon;
    const changedDaemon = JSON.stringify(restNext) !== JSON.stringify(restNow);
    if (changedIdentity || changedDaemon) {
      // Keys, sockets, state directory and control socket are opened once at start.
      const what = [
        ...(changedIdentity ? ["[identity]"] : []),
        ...(changedDaemon ? ["[daemon] settings other than log_level/log_format"] : []),
      ].join(" and ");
      this.#log.warn("reload-refused", { changed: what, detail: "restart to apply" });
      return {
        ok: false,
        detail: `${what} changed: that needs a restart; nothing was changed`,
      };
    }
    let peers: ReconfigureResult | undefined;
    if (JSON.stringify(next.peers) !== JSON.stringify(this.#cfg.peers)) {
      try {
        peers = await this.#reconfigurePeers(next);
      } catch (e) {
        const detail = escapeControl(String((e as Error)?.message ?? e));
        this.#log.warn("reload-rejected", { problems: 1, first: detail });
        return {
          ok: false,
          problems: [detail],
          detail: "the new peers were refused; the running configuration stays in force",
        };
      }
    }
    this.#log.configure(next.daemon.logLevel, this.#opts.logFormat ?? next.daemon.logFormat);
    hearPeers(this.#heard, next);
    this.#transport.restrictSources?.([...this.#heard]);
    this.#cfg = next;
    const fields: Record<string, string> = {
      file: next.file,
      logLevel: next.daemon.logLevel,
      logFormat: next.daemon.logFormat,
    };
    if (peers) {
      for (const k of ["added", "removed", "recreated", "retuned", "unchanged"] as const) {
        fields[k] = peers[k].join(",");
      }
    }
    this.#log.info("reloaded", fields);
    return {
      ok: true,
      detail: peers
        ? `reloaded: peers added [${peers.added}], removed [${peers.removed}], re-created [${peers.recreated}], retuned [${peers.retuned}], unchanged [${peers.unchanged}]`
        : "reloaded",
    };
  }

  /**
   * Applies a changed peer list: the engine reconfigures only the peers that
   * changed (see `EngineApi.reconfigure`), and the kernel policies of added,
   * removed and changed peers are removed / installed — a policy both
   * configurations want is left alone, so unchanged peers see no gap.
   * Throws (nothing changed) when a peer's local address cannot be found or
   * the engine refuses the list.
   */
  async #reconfigurePeers(next: DaemonConfig): Promise<ReconfigureResult> {
    const locals: string[] = [];
    const toward = listenAddresses(next);
    const index = new Map(this.#cfg.peers.map((q, i) => [q.name, i]));
    for (const p of next.peers) {
      const old = index.get(p.name) ?? -1;
      const local = p.localAddress ??
        (old >= 0 && this.#cfg.peers[old]!.localAddress === undefined
          ? this.#locals[old]
          : undefined) ??
        (this.#opts.localAddressToward
          ? await this.#opts.localAddressToward(p)
          : toward(p.addresses[0]!));
      if (!local) {
        throw new DaemonError(
          "reload",
          `peer ${p.name}`,
          "local_address is not set and no specific listen address of its family is configured",
        );
      }
      locals.push(local);
    }
    // The daemon's --allow-net is computed from the configuration it started with (its peer
    // addresses and [daemon] peer_networks): a peer address outside it could never be
    // reached. Refuse the reload instead of failing later, and say what would allow it.
    for (const p of next.peers) {
      for (const addr of p.addresses) {
        const v6 = addr.includes(":");
        const host = v6 ? `[${addr}]:${p.port}` : `${addr}:${p.port}`;
        const st = await Deno.permissions.query({ name: "net", host });
        if (st.state !== "granted") {
          const how = v6
            ? "Deno's --allow-net has no IPv6 ranges, so a new IPv6 peer address needs a restart"
            : `restart the daemon to add it, or list its network (UDP port ${p.port}) in [daemon] peer_networks — that too takes one restart — so that later reloads may add peers there`;
          throw new DaemonError(
            "reload",
            `peer ${p.name}`,
            `no network permission for ${host}: the daemon's --allow-net was computed at start from the peer addresses then configured and [daemon] peer_networks; ${how}`,
          );
        }
      }
    }
    const reqids = await assignReqids(next);
    const enginePeers = next.peers.map((p, i) => enginePeer(p, locals[i]!, reqids[p.name]!));
    const result = this.#driver.with((e, now) => e.reconfigure(now, enginePeers));
    // Kernel policies: remove what only the old configuration wants, add what only the new one does.
    const want = (cfg: DaemonConfig, loc: string[], rq: Record<string, number>) => {
      const m = new Map<string, PolicyConfig>();
      cfg.peers.forEach((p, i) => {
        if (p.start === "passive" && p.mode !== "transport") return;
        for (const pol of peerPolicies(p, loc[i]!, rq[p.name]!)) m.set(JSON.stringify(pol), pol);
      });
      return m;
    };
    const before = want(this.#cfg, this.#locals, this.#reqids);
    const after = want(next, locals, reqids);
    let removed = 0, added = 0;
    for (const [k, pol] of before) {
      if (after.has(k)) continue;
      await this.#kernel.deletePolicy({ dir: pol.dir, selector: pol.selector }).then(
        () => removed++,
        (e) => this.#log.warn("policy-remove-failed", { error: String(e?.message ?? e) }),
      );
    }
    for (const [k, pol] of after) {
      if (before.has(k)) continue;
      await this.#kernel.addPolicy(pol).then(
        () => added++,
        (e) => this.#log.warn("policy-add-failed", { error: String(e?.message ?? e) }),
      );
    }
    if (removed + added > 0) this.#log.info("policies-changed", { removed, added });
    this.#locals.splice(0, this.#locals.length, ...locals);
    for (const k of Object.keys(this.#reqids)) delete this.#reqids[k];
    Object.assign(this.#reqids, reqids);
    const unchanged = new Set(result.unchanged);
    this.#always.setPeers(next.peers.filter((p) => p.start === "always").map((p) => p.name));
    for (const p of next.peers) {
      if (p.start === "always" && !unchanged.has(p.name)) {
        this.#driver.with((e, now) => e.command(now, { kind: "up", peer: p.name }));
      }
    }
    return result;
  }

  /** A status snapshot (no keys). */
  async status(): Promise<DaemonStatus> {
    const [sas, pols] = await Promise.all([this.#kernel.listSas(), this.#kernel.listPolicies()]);
    const base = this.#cfg.daemon.reqidBase;
    const nowS = Math.floor(Date.now() / 1000);
    const byReqid = new Map(Object.entries(this.#reqids).map(([k, v]) => [v, k]));
    const locals = new Set(this.#locals);
    const summaries: SaSummary[] = sas.filter((s) => ownsSa(s, base)).map((s) => {
      const algorithms: string[] = [];
      if (s.aead) {
        algorithms.push(`${s.aead.name} ${(s.aead.key.length - 4) * 8}-bit icv ${s.aead.icvBits}`);
      }
      if (s.enc) algorithms.push(`${s.enc.name} ${s.enc.key.length * 8}-bit`);
      if (s.auth) algorithms.push(`${s.auth.name} trunc ${s.auth.truncBits}`);
      const sum: SaSummary = {
        dir: locals.has(s.dst) ? "in" : "out",
        src: s.src,
        dst: s.dst,
        proto: s.proto,
        spi: s.spi,
        mode: s.mode,
        reqid: s.reqid,
        algorithms,
        bytes: s.current.bytes,
        packets: s.current.packets,
        ageSeconds: s.current.addTime > 0 ? Math.max(0, nowS - s.current.addTime) : 0,
      };
      const peer = byReqid.get(s.reqid);
      if (peer !== undefined) sum.peer = peer;
      const hard = s.lifetime.hardAddSeconds;
      if (hard !== undefined && hard > 0 && s.current.addTime > 0) {
        sum.remainingSeconds = Math.max(0, s.current.addTime + hard - nowS);
      }
      return sum;
    });
    const out: DaemonStatus = {
      config: this.#cfg.file,
      principal: this.#cfg.identity.principal,
      startedAt: this.#startedAt,
      engine: this.#driver.with((e) => e.status()),
      driver: {
        ...this.#driver.counters,
        ...(this.#transport.dropped !== undefined
          ? { receiveQueueDropped: this.#transport.dropped }
          : {}),
        ...(this.#transport.filtered !== undefined
          ? { receiveFiltered: this.#transport.filtered }
          : {}),
        ...(this.#transport.drained !== undefined
          ? { receiveDrained: this.#transport.drained }
          : {}),
      },
      kernel: {
        backend: this.#kernel.backend,
        sas: sas.filter((s) => ownsSa(s, base)).length,
        policies: pols.filter((p) => ownsPolicy(p, base)).length,
      },
      sas: summaries,
      always: this.#always.status(),
    };
    for (const s of sas) s.enc?.key.fill(0), s.auth?.key.fill(0), s.aead?.key.fill(0);
    return out;
  }

  /** Metrics in the Prometheus text format. */
  async metrics(): Promise<string> {
    const st = await this.status();
    const fams: MetricFamily[] = [
      {
        name: "kink_sa_pairs",
        type: "gauge",
        help: "SA pairs held",
        samples: [{ value: st.engine.saPairs.length }],
      },
      {
        name: "kink_transactions",
        type: "gauge",
        help: "KINK transactions in flight",
        samples: [{ value: st.engine.transactions.length }],
      },
      {
        name: "kink_peers",
        type: "gauge",
        help: "Configured peers by state",
        samples: ["unknown", "alive", "suspect", "dead"].map((s) => ({
          labels: { state: s },
          value: st.engine.peers.filter((p) => p.state === s).length,
        })),
      },
      {
        name: "kink_kernel_sas",
        type: "gauge",
        help: "Kernel SAs owned by this daemon",
        samples: [{ value: st.kernel.sas }],
      },
    ];
    for (const [k, v] of Object.entries(st.engine.counters)) {
      fams.push({
        name: `kink_engine_${k.replaceAll(/[^a-zA-Z0-9_]/g, "_")}_total`,
        type: "counter",
        help: `engine counter ${k}`,
        samples: [{ value: v }],
      });
    }
    for (const [k, v] of Object.entries(st.driver)) {
      fams.push({
        name: `kink_driver_${k.replaceAll(/([A-Z])/g, "_$1").toLowerCase()}_total`,
        type: "counter",
        help: `driver counter ${k}`,
        samples: [{ value: v }],
      });
    }
    return renderMetrics(fams);
  }

  async #handle(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    const peer = typeof args["peer"] === "string" ? args["peer"] : undefined;
    const needPeer = (): string => {
      if (this.#peerNames.cfg !== this.#cfg) {
        this.#peerNames = { cfg: this.#cfg, names: new Set(this.#cfg.peers.map((p) => p.name)) };
      }
      if (!peer || !this.#peerNames.names.has(peer)) {
        throw new DaemonError(
          "not-found",
          cmd,
          `no peer named ${JSON.stringify(escapeControl(peer ?? ""))}`,
        );
      }
      return peer;
    };
    switch (cmd) {
      case "status":
        return await this.status();
      case "metrics":
        return await this.metrics();
      case "reload":
        return await this.reload();
      case "up":
      case "down":
      case "rekey": {
        const p = needPeer();
        this.#driver.with((e, now) => e.command(now, { kind: cmd, peer: p }));
        return { ok: true };
      }
      case "probe": {
        // A STATUS exchange with the peer now (as dead-peer detection sends one).
        const p = needPeer();
        this.#driver.with((e, now) => e.command(now, { kind: "status", peer: p }));
        return { ok: true };
      }
      case "acquire":
        return this.#injectAcquires(args);
      default:
        throw new DaemonError(
          "control",
          cmd,
          `unknown command ${JSON.stringify(escapeControl(cmd))}`,
        );
    }
  }

  /**
   * `acquire` (tests and benchmarks, `inject_acquires` with the in-memory
   * kernel only): each flow of `args.flows` (`{src, dst, proto?, sport?,
   * dport?}`) is sent as a packet through the in-memory kernel, which matches
   * it against the policies and raises an ACQUIRE exactly as the kernel
   * would (none when an SA already protects the flow or one is pending).
   * Answers how many flows raised an ACQUIRE.
   */
  #injectAcquires(args: Record<string, unknown>): { ok: true; acquires: number; flows: number } {
    const memory = this.#kernel instanceof MemoryKernel ? this.#kernel : undefined;
    if (!this.#cfg.daemon.injectAcquires || !memory) {
      throw new DaemonError(
        "control",
        "acquire",
        "ACQUIRE injection is off (daemon.inject_acquires with --kernel memory; tests only)",
      );
    }
    const flows = args["flows"];
    if (!Array.isArray(flows) || flows.length > 100_000) {
      throw new DaemonError("control", "acquire", "args.flows must be an array of ≤ 100,000 flows");
    }
    let acquires = 0;
    for (const f of flows as unknown[]) {
      const o = (typeof f === "object" && f !== null ? f : {}) as Record<string, unknown>;
      const num = (k: string) => {
        const v = o[k];
        if (v === undefined) return 0;
        if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
          throw new DaemonError("control", "acquire", `flow.${k} must be an integer 0-65535`);
        }
        return v;
      };
      if (typeof o["src"] !== "string" || typeof o["dst"] !== "string") {
        throw new DaemonError("control", "acquire", "each flow needs src and dst addresses");
      }
      try {
        const r = memory.sendPacket({
          src: o["src"],
          dst: o["dst"],
          proto: num("proto"),
          sport: num("sport"),
          dport: num("dport"),
        });
        if (r === "acquire") acquires++;
      } catch (e) {
        throw new DaemonError(
          "control",
          "acquire",
          escapeControl(String((e as Error)?.message ?? e)),
        );
      }
    }
    return { ok: true, acquires, flows: flows.length };
  }

  /**
   * Stops: DELETE to every peer (waiting at most `graceMs` for the
   * exchanges), owned SAs and policies removed, state closed. Idempotent.
   */
  stop(graceMs = 5000): Promise<void> {
    this.#stopping ??= (async () => {
      this.#log.info("stopping", {});
      // DELETE to every peer, then wait (bounded) for exactly the DELETE exchanges in flight
      // (those just started and any started before) to end.
      const pending = new Set<string>();
      const drained = new Promise<void>((resolve) => {
        const off = this.#driver.onEvent((ev) => {
          if (ev.type !== "delete-done") return;
          pending.delete(`${ev.peer}/${ev.xid}`);
          if (pending.size === 0) finish();
        });
        const timer = setTimeout(() => finish(), graceMs);
        const finish = () => {
          off();
          clearTimeout(timer);
          resolve();
        };
        this.#driver.with((e, now) => {
          for (const p of this.#cfg.peers) e.command(now, { kind: "down", peer: p.name });
          for (const d of e.deletesInFlight()) pending.add(`${d.peer}/${d.xid}`);
        });
        if (pending.size === 0) finish();
      });
      this.#always.close();
      await drained;
      this.#stopTickets.abort(); // ticket requests waiting to retry end now
      const left = pending.size;
      if (left > 0) this.#log.warn("stop-deletes-unanswered", { deletes: left, waitedMs: graceMs });
      await this.#driver.close();
      await this.#control.close();
      await this.#http?.shutdown().catch(() => {});
      await this.#transport.close().catch(() => {});
      const removed = await removeOwned(this.#kernel, this.#cfg.daemon.reqidBase).catch(() => ({
        sas: -1,
        policies: -1,
      }));
      await this.#kernel.close().catch(() => {});
      this.#replay.close();
      this.#client?.dispose();
      for (const [s, fn] of this.#signals) Deno.removeSignalListener(s, fn);
      this.#lock.close();
      this.#log.info("stopped", { removedSas: removed.sas, removedPolicies: removed.policies });
      await this.#running.catch(() => {});
      if (this.#writer) {
        await this.#writer.flush();
        globalThis.removeEventListener("unload", this.#onUnload);
      }
    })();
    return this.#stopping;
  }
}

/** Removes every SA and policy of the daemon's reqid range (and its bypasses). */
export async function removeOwned(
  kernel: KernelIpsec,
  base: number,
): Promise<{ sas: number; policies: number }> {
  let sas = 0, policies = 0;
  for (const s of await kernel.listSas()) {
    const mine = ownsSa(s, base);
    s.enc?.key.fill(0);
    s.auth?.key.fill(0);
    s.aead?.key.fill(0);
    if (!mine) continue;
    await kernel.deleteSa({
      dst: s.dst,
      spi: s.spi,
      proto: s.proto,
      ...(s.mark ? { mark: s.mark } : {}),
    })
      .then(() => sas++, () => {});
  }
  for (const p of await kernel.listPolicies()) {
    if (!ownsPolicy(p, base)) continue;
    await kernel.deletePolicy({
      dir: p.dir,
      selector: p.selector,
      ...(p.mark ? { mark: p.mark } : {}),
    })
      .then(() => policies++, () => {});
  }
  return { sas, policies };
}

/** At start: what a previous run left (after kill -9) is removed; nothing else is touched. */
export function reconcile(
  kernel: KernelIpsec,
  base: number,
): Promise<{ sas: number; policies: number }> {
  return removeOwned(kernel, base);
}

/** A specific (not wildcard) listen address of the peer address's family, if one is configured. */
function listenAddresses(cfg: DaemonConfig): (peerAddress: string) => string | undefined {
  // found once per family: a hub listens on as many addresses as it has peers
  const first = (v6: boolean) =>
    cfg.daemon.listen.find((e) =>
      e.address.includes(":") === v6 && e.address !== "0.0.0.0" && e.address !== "::"
    )?.address;
  const v4 = first(false), v6 = first(true);
  return (peerAddress) => peerAddress.includes(":") ? v6 : v4;
}

async function assignReqids(cfg: DaemonConfig): Promise<Record<string, number>> {
  const path = `${cfg.daemon.stateDir}/reqids.json`;
  const st = (await readJsonState<ReqidState>(path)) ?? { version: 1 as const, reqids: {} };
  const used = new Set(Object.values(st.reqids));
  const out: Record<string, number> = {};
  let next = cfg.daemon.reqidBase + 1;
  for (const p of cfg.peers) {
    let r = st.reqids[p.name];
    if (r === undefined || r < cfg.daemon.reqidBase || r >= cfg.daemon.reqidBase + 0x10000) {
      while (used.has(next)) next++;
      r = next++;
      used.add(r);
    }
    out[p.name] = r;
  }
  await writeAtomic(
    path,
    new TextEncoder().encode(JSON.stringify({ version: 1, reqids: out }) + "\n"),
  );
  return out;
}

/**
 * Adds every address of `cfg`'s peers (normal form) to `heard`, the set the
 * receive filter keeps. Addresses are never taken out: a peer a reload
 * removed is still heard for the REPLYs to its DELETEs (the engine decides
 * what to do with them), and the set is bounded by the peers configured.
 */
export function hearPeers(heard: Set<string>, cfg: DaemonConfig): void {
  for (const p of cfg.peers) {
    for (const a of p.addresses) heard.add(normalIpText(a) ?? a);
  }
}
