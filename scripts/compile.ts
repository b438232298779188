/**
 * `deno task compile [--config FILE] [--output PATH]`: builds one `kink`
 * executable with `deno compile` (the crypto wasm is a static import, so it
 * is embedded; FFI loads libc by absolute path) and the daemon's Deno
 * permissions baked in.
 *
 * A compiled program cannot change its permissions at run time, so the
 * flags are fixed now: with `--config` they are the ones `kink daemon`
 * computes from that configuration (exact files, directories and
 * addresses); without, they name the installation layout of
 * `contrib/systemd/kink.service` (/etc/kink, /etc/krb5.conf(.d),
 * /var/lib/kink, /run/kink, the keytab credential) and allow the network to
 * any address, because the peers and KDCs are not known yet.
 *
 * `deno compile` needs Deno's `denort` runtime: it downloads it, or takes
 * the file named by `DENORT_BIN`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { launchArgs } from "../core/cli/launch.ts";
import { LIBC_PATH } from "../core/kernel/mod.ts";

/** The flags baked in without a configuration (the systemd unit's layout). */
export const INSTALL_FLAGS = [
  "--allow-read=/etc/kink,/etc/krb5.conf,/etc/krb5.conf.d,/var/lib/kink,/run/kink,/run/credentials/kink.service",
  "--allow-write=/var/lib/kink,/run/kink",
  "--allow-net",
  `--allow-ffi=${LIBC_PATH}`,
  "--allow-sys=uid",
];

/** The `deno compile` arguments. */
export function compileArgs(output: string, config?: string): string[] {
  const flags = config
    ? launchArgs(["daemon", "--config", config]).filter((a) => a.startsWith("--allow-"))
    : INSTALL_FLAGS;
  const main = new URL("../core/cli/main.ts", import.meta.url).pathname;
  return [
    "compile",
    "--quiet",
    "--no-prompt",
    "--unstable-net",
    ...flags,
    "--output",
    output,
    main,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { config: { type: "string" }, output: { type: "string" } },
  });
  const args = compileArgs(values.output ?? "kink", values.config);
  console.error(`deno ${args.join(" ")}`);
  const r = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
    .output();
  Deno.exit(r.code);
}
