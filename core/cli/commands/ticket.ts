/**
 * `kink ticket`: obtains a TGT with a keytab and a service ticket (what
 * `kinit -k` + `kvno` do), prints enctypes, kvnos and times, and optionally
 * writes a ccache MIT's `klist` reads. Operators run it to check a gateway's
 * Kerberos set-up before starting the daemon.
 *
 * This module holds the declaration and the permission computation (krb5.conf
 * parsing, the KDC-address helper); the body is in `ticket_run.ts`, loaded
 * when the command runs.
 *
 * @module
 */
import {
  allowPaths,
  type Command,
  flagHost,
  listOpt,
  parseCommandArgs,
  type ParsedArgs,
  stringOpt,
  UsageError,
} from "../command.ts";
import { childEnv } from "../env.ts";
import { readRegularTextFile } from "../../util/file.ts";
import {
  type Krb5Conf,
  KRB5CONF_MAX_SIZE,
  loadKrb5ConfSync,
  parseKrb5Conf,
} from "../../kerberos/krb5conf.ts";
import {
  formatEndpoint,
  type KdcEndpoint,
  localBindAddress,
  parseKdcEndpoint,
} from "../../kerberos/endpoint.ts";

/** The krb5.conf read when `--krb5-conf` is not given. */
export const DEFAULT_KRB5_CONF = "/etc/krb5.conf";

/** The krb5.conf this invocation reads (`--krb5-conf`, else the default). */
export function confPath(args: ParsedArgs): string {
  return stringOpt(args, "krb5-conf") ?? DEFAULT_KRB5_CONF;
}

/**
 * Reads krb5.conf synchronously when this process may (the launcher usually
 * may not); returns undefined otherwise.
 */
function tryReadConf(path: string): Krb5Conf | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
    return loadKrb5ConfSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Every include and includedir path reachable from krb5.conf at `path`
 * through the files this process can read (nested includes included; MIT's
 * depth limit and file-name rule for includedir).
 */
export function readableIncludes(path: string): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const visit = (p: string, depth: number) => {
    if (depth > 8 || seen.has(p) || seen.size >= 256) return;
    seen.add(p);
    let conf: Krb5Conf;
    try {
      conf = parseKrb5Conf(readRegularTextFile(p, "krb5.conf", KRB5CONF_MAX_SIZE), { name: p });
    } catch {
      return; // not (yet) readable: the launcher grants it and asks again
    }
    for (const inc of conf.includes) {
      out.add(inc.path);
      if (inc.kind === "include") visit(inc.path, depth + 1);
      else {
        try {
          for (const e of Deno.readDirSync(inc.path)) {
            if (e.isFile && (/^[A-Za-z0-9_-]+$/.test(e.name) || e.name.endsWith(".conf"))) {
              visit(`${inc.path}/${e.name}`, depth + 1);
            }
          }
        } catch {
          // not readable yet
        }
      }
    }
  };
  visit(path, 0);
  return [...out];
}

function realmFor(conf: Krb5Conf | undefined, client: string): string | undefined {
  const at = client.lastIndexOf("@");
  if (at > 0 && client[at - 1] !== "\\") return client.slice(at + 1);
  return conf?.libdefaults.defaultRealm;
}

/** The KDC addresses this invocation will talk to, when they can be known. */
export function kdcEndpoints(
  args: ParsedArgs,
  conf: Krb5Conf | undefined,
): KdcEndpoint[] | undefined {
  const explicit = listOpt(args, "kdc");
  if (explicit.length > 0) {
    return explicit.map((k) => {
      const ep = parseKdcEndpoint(k);
      flagHost(ep.host, `--kdc ${k}`);
      return ep;
    });
  }
  if (!conf) return undefined;
  const client = stringOpt(args, "client") ?? "";
  const service = stringOpt(args, "service") ?? "";
  const realms = new Set<string>();
  const r1 = realmFor(conf, client);
  if (r1) realms.add(r1);
  const r2 = realmFor(conf, service);
  if (r2) realms.add(r2);
  const out: KdcEndpoint[] = [];
  for (const r of realms) {
    for (const k of conf.realms.get(r)?.kdc ?? []) {
      const ep = parseKdcEndpoint(k);
      flagHost(ep.host, `kdc ${k} in ${confPath(args)}`);
      out.push(ep);
    }
  }
  return out;
}

/** Deno `--allow-net` entries for talking to these KDCs (destination plus local bind). */
export function netPermissionFor(kdcs: readonly KdcEndpoint[]): string[] {
  const set = new Set<string>();
  for (const k of kdcs) {
    set.add(formatEndpoint(k));
    const b = localBindAddress(k.host);
    set.add(formatEndpoint({ host: b, port: 0 }));
  }
  return [...set];
}

function ccacheFiles(args: ParsedArgs): string[] {
  const c = stringOpt(args, "ccache");
  return c ? [c, `${c}.tmp`] : [];
}

/**
 * Runs this module as a helper with read permission for krb5.conf (and the
 * includes found so far) only, to learn the KDC addresses and every include
 * a `kink ticket` invocation needs. Nested includes are found round by round:
 * each round grants what the previous one found, until nothing new appears.
 */
function kdcsViaHelper(
  args: ParsedArgs,
): { includes: string[]; kdcs: KdcEndpoint[] | undefined } | undefined {
  try {
    if (Deno.permissions.querySync({ name: "run", command: "deno" }).state !== "granted") {
      return undefined;
    }
    const argv = ["--krb5-conf", confPath(args)];
    for (const o of ["client", "service"]) {
      const v = stringOpt(args, o);
      if (v !== undefined) argv.push(`--${o}`, v);
    }
    const readable = [confPath(args)];
    for (let round = 0; round < 10; round++) {
      const out = new Deno.Command("deno", {
        args: [
          "run",
          "--quiet",
          "--no-prompt",
          allowPaths("read", readable, "krb5.conf"),
          import.meta.url,
          HELPER_FLAG,
          ...argv,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        clearEnv: true,
        env: childEnv(),
      }).outputSync();
      if (!out.success) return undefined;
      const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
        includes: string[];
        kdcs: string[] | null;
      };
      const fresh = r.includes.filter((i) => !readable.includes(i));
      if (fresh.length === 0) {
        return {
          includes: r.includes,
          kdcs: r.kdcs ? r.kdcs.map((k) => parseKdcEndpoint(k)) : undefined,
        };
      }
      readable.push(...fresh);
    }
    return undefined;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return undefined;
  }
}

const HELPER_FLAG = "--print-kdc-addresses";

/** `kink ticket`; see the module documentation. */
export const ticketCommand: Command = {
  name: "ticket",
  summary: "Get a TGT and a service ticket with a keytab (like kinit -k + kvno)",
  usage:
    "ticket --keytab FILE --client PRINC --service PRINC [--ccache FILE] [--krb5-conf FILE] [--kdc HOST[:PORT]]",
  description: "Checks a gateway's Kerberos set-up: authenticates as --client with its key from\n" +
    "--keytab, asks for a ticket to --service (e.g. kink/peer.example.com), and prints the\n" +
    "enctypes, key versions, validity times and the clock offset to the KDC. With --ccache\n" +
    "the tickets are written to a credential cache MIT's klist can read. The KDC addresses\n" +
    `come from [realms] in krb5.conf (default ${DEFAULT_KRB5_CONF}) unless --kdc is given.`,
  options: {
    keytab: {
      type: "string",
      arg: "FILE",
      description: "Keytab holding the client's keys",
      path: "file",
    },
    client: {
      type: "string",
      arg: "PRINC",
      description: "Client principal (e.g. kink/a.example.com)",
    },
    service: { type: "string", arg: "PRINC", description: "Service principal to get a ticket for" },
    ccache: {
      type: "string",
      arg: "FILE",
      description: "Write the tickets to this ccache file",
      path: "file",
    },
    "krb5-conf": {
      type: "string",
      arg: "FILE",
      path: "file",
      description: `krb5.conf to use (default ${DEFAULT_KRB5_CONF})`,
    },
    kdc: {
      type: "string",
      arg: "HOST[:PORT]",
      multiple: true,
      description: "KDC address (repeatable; overrides krb5.conf)",
    },
  },
  permissions(args) {
    const reads = [stringOpt(args, "keytab"), confPath(args)].filter((x): x is string =>
      x !== undefined
    );
    let conf: { includes: string[]; kdcs: KdcEndpoint[] | undefined } | undefined;
    const parsed = tryReadConf(confPath(args));
    if (parsed) {
      let kdcs: KdcEndpoint[] | undefined;
      try {
        kdcs = kdcEndpoints(args, parsed);
      } catch (e) {
        if (e instanceof UsageError) throw e;
        kdcs = undefined; // main.ts reports the bad address
      }
      conf = { includes: readableIncludes(confPath(args)), kdcs };
    } else if (listOpt(args, "kdc").length === 0) {
      // The launcher may not read files; a helper process allowed to read
      // just krb5.conf tells it the KDC addresses.
      conf = kdcsViaHelper(args);
    }
    reads.push(...(conf?.includes ?? []));
    const flags = [allowPaths("read", [...reads, ...ccacheFiles(args)], "kink ticket")];
    if (ccacheFiles(args).length > 0) {
      flags.push(allowPaths("write", ccacheFiles(args), "kink ticket --ccache"));
    }
    let kdcs = conf?.kdcs;
    if (listOpt(args, "kdc").length > 0) {
      try {
        kdcs = kdcEndpoints(args, undefined);
      } catch (e) {
        if (e instanceof UsageError) throw e; // a host no flag can express
        kdcs = undefined;
      }
    }
    // When the addresses cannot be learnt (unreadable krb5.conf, no KDC for
    // the realm), grant no network at all: the command then fails on that
    // configuration problem and says so, which is what the operator must fix.
    if (kdcs && kdcs.length > 0) flags.push(`--allow-net=${netPermissionFor(kdcs).join(",")}`);
    return flags;
  },
  permissionNotes: [
    "--allow-read of the keytab, the krb5.conf (and its includes) and the ccache",
    "--allow-write of the ccache (and its temporary file beside it) when --ccache is given",
    "--allow-net to the KDC addresses (krb5.conf [realms] or --kdc) and to the local",
    "  address:0 the UDP socket binds to. The launcher learns the addresses from a helper",
    "  run with --allow-read of krb5.conf only; if none can be learnt, no network is granted",
    "  and the command reports the configuration problem (or pass --kdc)",
  ],
  async run(args, io) {
    const { runTicket } = await import("./ticket_run.ts");
    return await runTicket(args, io);
  },
};

// Helper mode (see kdcsViaHelper): print the KDC addresses and includes as JSON.
// The KDCs are known only once every include is readable (null until then).
if (import.meta.main && Deno.args[0] === HELPER_FLAG) {
  const args = parseCommandArgs(ticketCommand, Deno.args.slice(1));
  const includes = readableIncludes(confPath(args));
  let kdcs: string[] | null = null;
  try {
    const conf = loadKrb5ConfSync(confPath(args));
    kdcs = (kdcEndpoints(args, conf) ?? []).map((k) =>
      (k.protocol ? `${k.protocol}/` : "") + formatEndpoint(k)
    );
  } catch {
    kdcs = null;
  }
  console.log(JSON.stringify({ includes, kdcs }));
}
