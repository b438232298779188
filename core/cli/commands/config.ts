/**
 * `kink config check FILE`: the declaration; the TOML parser and the schema
 * are imported when the command runs.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { flagOpt, UsageError } from "../command.ts";
import type { DaemonConfig } from "../../config/mod.ts";
import { ConfigError } from "../../errors.ts";

function describe(c: DaemonConfig): string[] {
  const out = [
    `${c.file}: valid`,
    `  identity  ${c.identity.principal} (${
      c.identity.keytab
        ? `keytab ${c.identity.keytab}`
        : `TGT in ${c.identity.ccache}: user-to-user`
    })`,
    `  listen    ${
      c.daemon.listen.map((
        e,
      ) => (e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)).join(
        " ",
      )
    }`,
    `  state     ${c.daemon.stateDir}   control ${c.daemon.controlSocket}`,
    `  peers     ${c.peers.length}`,
  ];
  for (const p of c.peers) {
    out.push(
      `    ${p.name}: ${p.addresses.join(",")} ${p.principal} ${p.mode} ${p.start}; ` +
        `proposals ${
          p.proposals.map((x) => x.text).join(", ")
        }; lifetime ${p.lifetimeSeconds}s; prf ${p.prf}`,
    );
  }
  return out;
}

/** `kink config check FILE`: validates a daemon configuration without running anything. */
export const configCheckCommand: Command = {
  name: "config check",
  summary: "Validate a daemon configuration file (every problem with file, line and key)",
  usage: "config check FILE [--quiet]",
  description:
    "Reads FILE (TOML; the annotated example is contrib/kink.toml), applies the defaults and\n" +
    "reports every problem as FILE:LINE: key: detail. Exit 0 when valid, 1 when not, 2 on a bad\n" +
    "command line. Nothing is contacted: no KDC, no kernel, no network.",
  options: { quiet: { type: "boolean", short: "q", description: "print nothing when valid" } },
  positionals: { min: 1, max: 1, name: "FILE" },
  permissions(args) {
    const file = args.positionals[0] ?? "";
    if (file === "" || file.includes(",")) {
      throw new UsageError(
        `config check: file name ${JSON.stringify(file)} cannot be granted (empty or contains ",")`,
      );
    }
    return [`--allow-read=${file}`];
  },
  permissionNotes: ["--allow-read=FILE: reads the configuration file and nothing else"],
  async run(args, io) {
    // The TOML parser and the schema are loaded only when a file is checked.
    const { readConfigFile } = await import("../../config/mod.ts");
    try {
      const c = await readConfigFile(args.positionals[0]!);
      if (!flagOpt(args, "quiet")) { for (const l of describe(c)) io.out(l); }
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(e.message);
        return 1;
      }
      throw e;
    }
  },
};
