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
 *   KDCs (plus the local address their sockets bind to), the metrics
 *   endpoint when one is set, and `NETWORK/PREFIX:PORT` for each IPv4
 *   network of `[daemon] peer_networks` (the peers' KINK ports only), where
 *   a reload may add peers;
 * - `--allow-ffi` of libc only, for NETLINK_XFRM and the KINK sockets' receive
 *   path (a larger receive buffer, waiting datagrams read at once); not with
 *   `--kernel memory` unless `--socket-libc` asks for that receive path;
 * - `--allow-sys=uid` (the state directory's owner is checked against it);
 * - `--unstable-net`: the KINK sockets are core/net's `UdpTransport`
 *   (`Deno.listenDatagram`).
 *
 * The daemon itself is in `daemon_run.ts`, loaded only when the command runs.
 *
 * @module
 */
import { type Command, flagOpt, type ParsedArgs, stringOpt, UsageError } from "../command.ts";
import { daemonFlags, resourcesViaHelper } from "./daemon_flags.ts";

export { daemonFlags, type DaemonResources, daemonResources } from "./daemon_flags.ts";

/** The `--kernel` backend (default netlink); anything else is a usage error. */
export function kernelOpt(args: ParsedArgs): "netlink" | "memory" {
  const k = stringOpt(args, "kernel") ?? "netlink";
  if (k !== "netlink" && k !== "memory") {
    throw new UsageError(`kink daemon: --kernel must be netlink or memory, not '${k}'`);
  }
  return k;
}

/** `kink daemon`; see the module documentation. */
export const daemonCommand: Command = {
  name: "daemon",
  summary: "Run the KINK gateway daemon (foreground; SIGHUP reloads, SIGTERM stops)",
  usage: "daemon --config FILE [--kernel netlink|memory [--socket-libc]] [--log-format text|json]",
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
    "socket-libc": {
      type: "boolean",
      description:
        "With --kernel memory: libc on the KINK sockets as with netlink (4 MiB receive buffer,\n" +
        "waiting datagrams read at once; grants --allow-ffi of libc)",
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
    return daemonFlags(resourcesViaHelper(config), config, kernel, flagOpt(args, "socket-libc"));
  },
  permissionNotes: [
    "--allow-read of the configuration, keytab/ccache, krb5.conf (+ includes), state directory",
    "  and control socket directory; --allow-write of the state and control socket directories",
    "--allow-net of the listen endpoints, the peers' KINK endpoints, the KDCs (+ local bind",
    "  address), metrics_listen and peer_networks (KINK's port on those IPv4 networks: a reload",
    "  may add peers there); --allow-ffi of libc (netlink kernel, or --socket-libc);",
    "  --allow-sys=uid",
    "The launcher learns these from a helper allowed to read only the configuration and",
    "  krb5.conf; an invalid configuration gets read access to itself only (to report it)",
  ],
  async run(args, io) {
    const { runDaemon } = await import("./daemon_run.ts");
    return await runDaemon(args, io);
  },
};
