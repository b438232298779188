/**
 * `kink daemon --config FILE [--kernel netlink|memory]`: runs the KINK
 * gateway (core/daemon) in the foreground until SIGTERM/SIGINT; SIGHUP
 * reloads the configuration.
 *
 * Permissions are computed from the configuration: the launcher starts a
 * helper allowed to read only the configuration file and krb5.conf (and,
 * round by round, the includes it finds) which prints the paths, addresses
 * and KDCs the daemon will use; the daemon then gets exactly
 *
 * - `--allow-read` of the configuration, the keytab (or ccache), krb5.conf
 *   and its includes, the state directory and the control socket directory;
 * - `--allow-write` of the state directory and the control socket directory;
 * - `--allow-net` of its listen endpoints, its peers' KINK endpoints, the
 *   KDCs (plus the local address their sockets bind to) and the metrics
 *   endpoint when one is set;
 * - `--allow-ffi` of libc only, for NETLINK_XFRM (not with `--kernel memory`);
 * - `--allow-sys=uid` (the state directory's owner is checked against it);
 * - `--unstable-net`: the KINK sockets are core/net's `UdpTransport`
 *   (`Deno.listenDatagram`).
 *
 * @module
 */
import {
  allowPaths,
  type Command,
  flagHost,
  type ParsedArgs,
  stringOpt,
  UsageError,
} from "../command.ts";
import { childEnv } from "../env.ts";
import { ConfigInvalidError, type DaemonConfig, readConfigFile } from "../../config/mod.ts";
import { escapeControl } from "../../util/text.ts";
import { Daemon } from "../../daemon/daemon.ts";
import { UdpTransport } from "../../net/mod.ts";
import { LIBC_PATH } from "../../kernel/mod.ts";
import { loadKrb5Conf } from "../../kerberos/mod.ts";
import { readableIncludes } from "./ticket.ts";
import { formatEndpoint, localBindAddress, parseKdcEndpoint } from "../../kerberos/transport.ts";

const HELPER_FLAG = "--print-daemon-resources";

/** What the daemon will touch, as the helper reports it. */
export interface DaemonResources {
  /** Files and directories to read. */
  reads: string[];
  /** Directories to write. */
  writes: string[];
  /** `host:port` entries for `--allow-net`. */
  net: string[];
  /** Whether the configuration could be read and validated. */
  valid: boolean;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function hostPort(host: string, port: number): string {
  return formatEndpoint({ host: flagHost(host, "daemon address"), port });
}

/**
 * The resources of a validated configuration: what `kink daemon` reads,
 * writes and talks to. `krb5` is the parsed krb5.conf's KDC list for the
 * identity's realm (undefined when krb5.conf could not be read yet).
 */
export function daemonResources(
  cfg: DaemonConfig,
  kdcs: readonly string[] | undefined,
  includes: readonly string[],
): DaemonResources {
  const d = cfg.daemon;
  const reads = [cfg.file, d.krb5Conf, ...includes, d.stateDir, dirOf(d.controlSocket)];
  if (cfg.identity.keytab) reads.push(cfg.identity.keytab);
  if (cfg.identity.ccache) reads.push(cfg.identity.ccache);
  const writes = [d.stateDir, dirOf(d.controlSocket)];
  const net = new Set<string>();
  for (const l of d.listen) net.add(hostPort(l.address, l.port));
  for (const p of cfg.peers) for (const a of p.addresses) net.add(hostPort(a, p.port));
  for (const k of kdcs ?? []) {
    const ep = parseKdcEndpoint(k);
    net.add(hostPort(ep.host, ep.port));
    net.add(hostPort(localBindAddress(ep.host), 0));
  }
  if (d.metricsListen) net.add(hostPort(d.metricsListen.address, d.metricsListen.port));
  net.add(`unix:${d.controlSocket}`);
  return { reads: [...new Set(reads)], writes: [...new Set(writes)], net: [...net], valid: true };
}

/** Runs the helper (read permission for the given files only) until its answer is stable. */
function resourcesViaHelper(config: string): DaemonResources | undefined {
  try {
    if (Deno.permissions.querySync({ name: "run", command: "deno" }).state !== "granted") {
      return undefined;
    }
    const readable = [config];
    for (let round = 0; round < 10; round++) {
      const out = new Deno.Command("deno", {
        args: [
          "run",
          "--quiet",
          "--no-prompt",
          allowPaths("read", readable, "kink daemon"),
          import.meta.url,
          HELPER_FLAG,
          config,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        clearEnv: true,
        env: childEnv(),
      }).outputSync();
      if (!out.success) return undefined;
      const r = JSON.parse(new TextDecoder().decode(out.stdout)) as DaemonResources & {
        confReads: string[];
      };
      if (!r.valid) return r;
      const fresh = r.confReads.filter((i) => !readable.includes(i));
      if (fresh.length === 0) return r;
      readable.push(...fresh);
    }
    return undefined;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return undefined;
  }
}

function kernelOpt(args: ParsedArgs): "netlink" | "memory" {
  const k = stringOpt(args, "kernel") ?? "netlink";
  if (k !== "netlink" && k !== "memory") {
    throw new UsageError(`kink daemon: --kernel must be netlink or memory, not '${k}'`);
  }
  return k;
}

/** The Deno flags of `kink daemon` for these resources. */
export function daemonFlags(
  r: DaemonResources | undefined,
  config: string,
  kernel: string,
): string[] {
  if (!r || !r.valid) return [allowPaths("read", [config], "kink daemon --config")];
  const flags = [
    allowPaths("read", r.reads, "kink daemon"),
    allowPaths("write", r.writes, "kink daemon"),
    "--allow-sys=uid",
    // core/net's UDP sockets are Deno.listenDatagram, still behind --unstable-net.
    "--unstable-net",
  ];
  if (r.net.length > 0) flags.push(`--allow-net=${r.net.join(",")}`);
  if (kernel === "netlink") flags.push(`--allow-ffi=${LIBC_PATH}`);
  return flags;
}

/** `kink daemon`; see the module documentation. */
export const daemonCommand: Command = {
  name: "daemon",
  summary: "Run the KINK gateway daemon (foreground; SIGHUP reloads, SIGTERM stops)",
  usage: "daemon --config FILE [--kernel netlink|memory] [--log-format text|json]",
  description:
    "Reads FILE (see contrib/kink.toml), reconciles the kernel (removes what a previous run of\n" +
    "this daemon left, by its reqid range), installs the peers' policies, listens for KINK on\n" +
    "the configured addresses and serves the control socket (kink status/up/down/rekey/reload/\n" +
    "metrics). SIGHUP or `kink reload` re-reads FILE; an invalid file is refused and the\n" +
    "running configuration stays. SIGTERM/SIGINT: DELETE to every peer, owned SAs and policies\n" +
    "removed, exit 0. --kernel memory keeps SAs and policies in an in-memory kernel (tests,\n" +
    "hosts without ESP).",
  options: {
    config: { type: "string", arg: "FILE", path: "file", description: "Configuration file" },
    kernel: {
      type: "string",
      arg: "netlink|memory",
      description: "Kernel backend (default netlink: the real kernel via NETLINK_XFRM)",
    },
    "log-format": {
      type: "string",
      arg: "text|json",
      description: "Log lines on stderr as text or JSON (overrides log_format)",
    },
  },
  permissions(args) {
    const config = stringOpt(args, "config");
    if (!config) return [];
    const kernel = kernelOpt(args);
    return daemonFlags(resourcesViaHelper(config), config, kernel);
  },
  permissionNotes: [
    "--allow-read of the configuration, keytab/ccache, krb5.conf (+ includes), state directory",
    "  and control socket directory; --allow-write of the state and control socket directories",
    "--allow-net of the listen endpoints, the peers' KINK endpoints, the KDCs (+ local bind",
    "  address) and metrics_listen; --allow-ffi of libc (netlink kernel only); --allow-sys=uid",
    "The launcher learns these from a helper allowed to read only the configuration and",
    "  krb5.conf; an invalid configuration gets read access to itself only (to report it)",
  ],
  async run(args, io) {
    const config = stringOpt(args, "config");
    if (!config) throw new UsageError("kink daemon: --config FILE is required");
    const kernel = kernelOpt(args);
    const logFormat = stringOpt(args, "log-format");
    if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") {
      throw new UsageError(`kink daemon: --log-format must be text or json, not '${logFormat}'`);
    }
    let daemon: Daemon;
    try {
      daemon = await Daemon.start({
        configPath: config,
        kernel,
        ...(logFormat ? { logFormat } : {}),
        openTransport: (cfg) =>
          Promise.resolve(
            UdpTransport.open({ locals: cfg.daemon.listen.map((e) => ({ ...e })) }),
          ),
      });
    } catch (e) {
      if (!(e instanceof ConfigInvalidError)) throw e;
      // One problem per line (file:line: key: detail), as `kink config check` prints them.
      io.err(`kink daemon: ${escapeControl(config)}: ${e.problems.length} problem(s):`);
      for (const p of e.problems) io.err(`  ${escapeControl(p)}`);
      return 1;
    }
    const stopped = Promise.withResolvers<void>();
    daemon.handleSignals(() => stopped.resolve());
    await stopped.promise;
    return 0;
  },
};

// Helper mode (see resourcesViaHelper): print what the daemon needs as JSON.
if (import.meta.main && Deno.args[0] === HELPER_FLAG) {
  const config = Deno.args[1] ?? "";
  let out: DaemonResources & { confReads: string[] };
  try {
    const cfg = await readConfigFile(config);
    const includes = readableIncludes(cfg.daemon.krb5Conf);
    let kdcs: string[] | undefined;
    try {
      const conf = await loadKrb5Conf(cfg.daemon.krb5Conf);
      const realm = cfg.identity.principal.slice(cfg.identity.principal.lastIndexOf("@") + 1);
      kdcs = [...(conf.realms.get(realm)?.kdc ?? [])];
    } catch {
      kdcs = undefined;
    }
    out = {
      ...daemonResources(cfg, kdcs, includes),
      confReads: [cfg.daemon.krb5Conf, ...includes],
    };
  } catch {
    out = { reads: [config], writes: [], net: [], valid: false, confReads: [] };
  }
  console.log(JSON.stringify(out));
}
