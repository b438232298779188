/**
 * The helper `resourcesViaHelper` (daemon_flags.ts) runs for `kink daemon`'s launcher,
 * allowed to read only the configuration file and krb5.conf (and, round by
 * round, the includes it found): it prints, as one JSON object, what the
 * daemon will read, write and talk to, and which krb5.conf files it read.
 * `deno run --allow-read=FILE,… daemon_flags_helper.ts FILE`.
 *
 * @module
 */
import { type DaemonResources, daemonResources } from "./daemon_flags.ts";
import { readableIncludes } from "./ticket.ts";
import { readConfigFile } from "../../config/mod.ts";
import { loadKrb5Conf } from "../../kerberos/krb5conf.ts";

// Print what the daemon needs as JSON.
if (import.meta.main) {
  const config = Deno.args[0] ?? "";
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
