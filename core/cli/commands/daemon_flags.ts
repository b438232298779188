/**
 * The Deno permissions of `kink daemon`, computed from its configuration:
 * what it reads, writes and talks to ({@link daemonResources}), learnt by
 * the launcher from this module run as a helper allowed to read only the
 * configuration file and krb5.conf (and, round by round, the includes it
 * finds) — {@link resourcesViaHelper} — and turned into flags by
 * {@link daemonFlags}. Kept apart from the command, and the helper
 * (`daemon_flags_helper.ts`) apart from this module: the launcher loads
 * neither the configuration parser nor anything of the daemon, the helper
 * loads the parser and nothing of the daemon.
 *
 * @module
 */
import { allowPaths, flagHost, UsageError } from "../command.ts";
import { childEnv } from "../env.ts";
import type { DaemonConfig } from "../../config/mod.ts";
import { KINK_PORT } from "../../config/defaults.ts";
import { LIBC_PATH } from "../../../ffi/libc.ts";
import { formatEndpoint, localBindAddress, parseKdcEndpoint } from "../../kerberos/endpoint.ts";

/** The helper's entry point: reads the configuration and krb5.conf, prints the resources. */
const HELPER = new URL("./daemon_flags_helper.ts", import.meta.url).href;

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
 * writes and talks to. `kdcs` is krb5.conf's KDC list for the
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
  // [daemon] peer_networks: a reload may add a peer anywhere in these IPv4 networks, on KINK's
  // port or a port a peer of this configuration uses (Deno: ADDR/PREFIX:PORT; no IPv6 ranges).
  const ports = new Set([KINK_PORT, ...cfg.peers.map((p) => p.port)]);
  for (const n of d.peerNetworks) {
    for (const port of ports) net.add(`${n.address}/${n.prefix}:${port}`);
  }
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
export function resourcesViaHelper(config: string): DaemonResources | undefined {
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
          HELPER,
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

/**
 * The Deno flags of `kink daemon` for these resources. libc (`--allow-ffi` of
 * it alone) comes with the netlink kernel, or with `socketLibc` (`--kernel
 * memory --socket-libc`: the in-memory kernel with the netlink kernel's
 * receive path on the KINK sockets).
 */
export function daemonFlags(
  r: DaemonResources | undefined,
  config: string,
  kernel: string,
  socketLibc = false,
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
  if (kernel === "netlink" || socketLibc) flags.push(`--allow-ffi=${LIBC_PATH}`);
  return flags;
}
