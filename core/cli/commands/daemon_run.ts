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
import { UdpTransport } from "../../net/mod.ts";

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
}
