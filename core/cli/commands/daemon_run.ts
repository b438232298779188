/**
 * The body of `kink daemon` (declared, with its permissions, in `daemon.ts`):
 * loaded only when the command runs, so that the launcher, which computes the
 * daemon's permissions, and the other subcommands do not load the daemon,
 * the engine and the crypto core.
 *
 * @module
 */
import { type CommandIO, type ParsedArgs, stringOpt, UsageError } from "../command.ts";
import { kernelOpt } from "./daemon.ts";
import { ConfigInvalidError } from "../../config/mod.ts";
import { escapeControl } from "../../util/text.ts";
import { Daemon } from "../../daemon/daemon.ts";
import { type SocketAccess, UdpTransport } from "../../net/mod.ts";
import {
  attachIpv4SourceFilter,
  LIBC_PATH,
  recvFromNow,
  setReceiveBuffer,
  udpSocketOf,
} from "../../kernel/mod.ts";

/**
 * libc on the KINK sockets where FFI is granted (the netlink kernel): a 4 MiB
 * receive buffer, the waiting datagrams read at once after each of Deno's
 * reads, and on IPv4 sockets a kernel filter keeping only the peers' addresses. Under `--kernel memory` (no FFI) Deno's reads alone, with the
 * system's default buffer.
 */
function socketAccess(): SocketAccess | undefined {
  if (Deno.permissions.querySync({ name: "ffi", path: LIBC_PATH }).state !== "granted") {
    return undefined;
  }
  return {
    find: (sa) => udpSocketOf(sa),
    setReceiveBuffer,
    recvFrom: recvFromNow,
    restrictSources: (fd, family, sources) =>
      family === "inet" && attachIpv4SourceFilter(fd, sources),
  };
}

/** Runs `kink daemon` in the foreground; resolves to its exit code once it has stopped. */
export async function runDaemon(args: ParsedArgs, io: CommandIO): Promise<number> {
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
          UdpTransport.open({
            locals: cfg.daemon.listen.map((e) => ({ ...e })),
            ...(socketAccess() ? { sockets: socketAccess()! } : {}),
          }),
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
}
