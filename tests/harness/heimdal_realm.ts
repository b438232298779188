/**
 * A throwaway Heimdal Kerberos realm for integration tests — the second KDC
 * implementation beside MIT's ({@link ../krb5_realm.ts}).
 *
 * Debian's `heimdal-kdc` conflicts with MIT's KDC packages, so it is never
 * installed: `scripts/heimdal/prepare.sh` fetches Heimdal's packages with
 * `apt-get download` and unpacks them into a cache folder (idempotent; run by
 * `scripts/install.sh` for the test tiers and, if still missing, by
 * {@link startHeimdalRealm} itself). Heimdal's programs then run from that
 * tree with `LD_LIBRARY_PATH` pointing into it.
 *
 * {@link startHeimdalRealm} creates a realm database in a fresh temporary
 * directory (`kink-test-<pid>-heimdal…`) with `kadmin -l init`, adds principals
 * (random keys or passwords, in the enctypes asked for), exports one keytab
 * per principal (`ext_keytab`), and starts Heimdal's `kdc` on a free loopback
 * port (UDP and TCP). `KRB5_CONFIG` points at the realm's own file, which is
 * both Heimdal's KDC configuration and a client krb5.conf MIT tools can read.
 * {@link withHeimdalRealm} always stops the KDC and removes the directory;
 * a killed test run is covered by `setpriv --pdeathsig` and the watchdog of
 * `cleanup.ts` (the directory holds `kdc.pid` and the KDC's command line
 * names the directory).
 *
 * Needs: `--allow-run --allow-read --allow-write --allow-env
 * --allow-net=127.0.0.1`; no root (except with `netns`).
 *
 * @module
 */
import { dieWithParent, ensureWatchdog, onExit, tempRoot, uniqueName } from "./cleanup.ts";
import { HarnessError, run, runOk, type RunOptions, type RunResult, sleep } from "./exec.ts";
import { freePort } from "./krb5_realm.ts";

/** Heimdal's names of the enctypes kink supports (RFC 3962, RFC 8009). */
export const HEIMDAL_ENCTYPE_NAMES: Record<number, string> = {
  17: "aes128-cts-hmac-sha1-96",
  18: "aes256-cts-hmac-sha1-96",
  19: "aes128-cts-hmac-sha256-128",
  20: "aes256-cts-hmac-sha384-192",
};

/** Options of {@link startHeimdalRealm}. */
export interface HeimdalRealmOptions {
  /** Realm name; default `HEIMDAL.TEST`. */
  realm?: string;
  /** Principals to create (`name` or `name@REALM`); random keys unless a password is given. */
  principals: string[];
  /** Passwords by principal name (as written in `principals`). */
  passwords?: Record<string, string>;
  /**
   * Enctype numbers (17–20) of every key (krbtgt's included), preferred
   * first; default `[18, 17]`.
   */
  enctypes?: number[];
  /** Whether the KDC requires pre-authentication for AS requests; default true. */
  requirePreauth?: boolean;
  /**
   * Run the KDC inside this network namespace (root only), on port 88 of the
   * namespace's first global IPv4 address (`kdc.host`).
   */
  netns?: string;
}

/** A running throwaway Heimdal realm. */
export interface HeimdalRealm {
  /** The realm name. */
  readonly realm: string;
  /** Where the KDC listens (UDP and TCP). */
  readonly kdc: { host: string; port: number };
  /** The temporary directory (database, config, keytabs, logs). */
  readonly dir: string;
  /** krb5.conf of the realm (Heimdal's KDC reads it; MIT tools can too). */
  readonly krb5Conf: string;
  /** The KDC's log file. */
  readonly kdcLog: string;
  /** The unpacked Heimdal tree in use. */
  readonly root: string;
  /** Heimdal's package version, e.g. `7.8.git20221117.28daf24+dfsg-2`. */
  readonly version: string;
  /** PID of the KDC's master process. */
  readonly kdcPid: number;
  /** Full name `name@REALM`. */
  principal(name: string): string;
  /** Path of a keytab holding this principal's current keys. */
  keytab(principal: string): string;
  /** Runs one of Heimdal's programs (`kadmin.heimdal`, `kinit.heimdal`, …) from the tree. */
  heimdal(program: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Stops the KDC (waits for it) and removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_REALM = "HEIMDAL.TEST";

let prepared: Promise<{ root: string; version: string }> | undefined;

/** Why a Heimdal realm cannot be started here, or undefined when it can (cheap check). */
export function heimdalSkipReason(): string | undefined {
  for (const c of ["apt-get", "dpkg-deb", "setpriv", "flock"]) {
    const r = new Deno.Command("sh", { args: ["-c", `command -v ${c}`], stdout: "null" })
      .outputSync();
    if (!r.success) return `missing ${c}`;
  }
  return undefined;
}

/**
 * The unpacked Heimdal tree, prepared once per process by
 * `scripts/heimdal/prepare.sh` (a no-op when the cache already holds it).
 */
export function prepareHeimdal(): Promise<{ root: string; version: string }> {
  prepared ??= (async () => {
    const script = new URL("../../scripts/heimdal/prepare.sh", import.meta.url).pathname;
    const out = await runOk(["bash", script]);
    const m = /ROOT=(\S+) VERSION=(\S+)/.exec(out);
    if (!m) throw new HarnessError(`scripts/heimdal/prepare.sh printed no ROOT=…: ${out}`);
    return { root: m[1]!, version: m[2]! };
  })();
  return prepared;
}

/** Creates a Heimdal realm and starts its KDC. Prefer {@link withHeimdalRealm}. */
export async function startHeimdalRealm(opts: HeimdalRealmOptions): Promise<HeimdalRealm> {
  await ensureWatchdog();
  const { root, version } = await prepareHeimdal();
  const realmName = opts.realm ?? DEFAULT_REALM;
  if (!/^[A-Z0-9.\-_]+$/.test(realmName)) {
    throw new HarnessError(`startHeimdalRealm: unsupported realm name "${realmName}"`);
  }
  const enctypes = opts.enctypes ?? [18, 17];
  const names = enctypes.map((e) => {
    const n = HEIMDAL_ENCTYPE_NAMES[e];
    if (n === undefined) throw new HarnessError(`startHeimdalRealm: enctype ${e} not in 17–20`);
    return n;
  });
  const dir = await Deno.makeTempDir({ dir: tempRoot(), prefix: `${uniqueName("heimdal")}-` });
  const krb5Conf = `${dir}/krb5.conf`;
  const kdcLog = `${dir}/kdc.log`;
  const libDir = `${root}/usr/lib/x86_64-linux-gnu`;
  const env = { KRB5_CONFIG: krb5Conf, LD_LIBRARY_PATH: libDir, KRB5CCNAME: `FILE:${dir}/ccache` };
  const full = (n: string) => (n.includes("@") ? n : `${n}@${realmName}`);
  const keytabs = new Map<string, string>();
  let kdc: Deno.ChildProcess | undefined;
  let stopped = false;

  const unregister = onExit(() => {
    try {
      kdc?.kill("SIGTERM");
    } catch {
      // gone
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // gone
    }
  });
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      if (kdc) {
        const child = kdc;
        try {
          child.kill("SIGTERM");
        } catch {
          // exited
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited
          }
        }, 5000);
        await child.status;
        clearTimeout(timer);
        // The master stops its worker processes on SIGTERM; wait until the port is free of them.
        for (let i = 0; i < 100 && (await workersAlive(dir)); i++) await sleep(20);
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      unregister();
    }
  };
  const heimdal = (program: string, args: string[], o: RunOptions = {}) => {
    const path = program === "kdc"
      ? `${root}/usr/lib/heimdal-servers/kdc`
      : `${root}/usr/bin/${program}`;
    return run([path, ...args], { ...o, env: { ...env, ...o.env } });
  };
  const kadmin = async (args: string[]) => {
    const r = await heimdal("kadmin.heimdal", ["-l", "-c", krb5Conf, ...args]);
    if (!r.success || /error|failed/i.test(r.stderr)) {
      throw new HarnessError(`kadmin -l ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  };

  try {
    let host = "127.0.0.1";
    let port: number;
    if (opts.netns !== undefined) {
      host = await netnsAddress4(opts.netns);
      port = 88;
    } else {
      port = await freePort();
    }
    const writeConf = (p: number) =>
      Deno.writeTextFile(
        krb5Conf,
        [
          "[libdefaults]",
          ` default_realm = ${realmName}`,
          " dns_lookup_kdc = false",
          " dns_lookup_realm = false",
          " rdns = false",
          ` default_etypes = ${names.join(" ")}`,
          ` default_tkt_enctypes = ${names.join(" ")}`,
          ` default_tgs_enctypes = ${names.join(" ")}`,
          ` permitted_enctypes = ${names.join(" ")}`,
          "",
          "[realms]",
          ` ${realmName} = {`,
          `  kdc = ${host}:${p}`,
          " }",
          "",
          "[kdc]",
          " database = {",
          `  dbname = ${dir}/heimdal`,
          `  realm = ${realmName}`,
          `  acl_file = ${dir}/kadmind.acl`,
          `  log_file = ${dir}/iprop.log`,
          " }",
          ` logging = 0-/FILE:${kdcLog}`,
          ` require-preauth = ${opts.requirePreauth === false ? "false" : "true"}`,
          ` addresses = ${host}`,
          ` ports = ${p}`,
          "",
          "[kadmin]",
          ` default_keys = ${names.map((n) => `${n}:pw-salt`).join(" ")}`,
          "",
          "[logging]",
          ` default = 0-/FILE:${dir}/lib.log`,
          "",
        ].join("\n"),
      );
    await writeConf(port);
    await Deno.writeTextFile(`${dir}/kadmind.acl`, "");
    await kadmin([
      "init",
      "--realm-max-ticket-life=1d",
      "--realm-max-renewable-life=7d",
      realmName,
    ]);
    const addPrincipal = async (name: string, password?: string) => {
      const p = full(name);
      if (!/^[A-Za-z0-9.\-_/]+@[A-Z0-9.\-_]+$/.test(p)) {
        throw new HarnessError(`unsupported principal name "${p}"`);
      }
      await kadmin([
        "add",
        "--use-defaults",
        ...(password === undefined ? ["--random-key"] : [`--password=${password}`]),
        p,
      ]);
      const kt = `${dir}/${p.replace(/[^A-Za-z0-9.\-_]/g, "_")}.keytab`;
      await kadmin(["ext_keytab", "-k", kt, p]);
      keytabs.set(p, kt);
    };
    for (const name of opts.principals) {
      await addPrincipal(name, opts.passwords?.[name] ?? opts.passwords?.[full(name)]);
    }

    for (let attempt = 0;; attempt++) {
      kdc = spawnKdc(root, dir, krb5Conf, env, host, port, opts.netns);
      const ready = await waitListening(kdc, kdcLog, port);
      if (ready) break;
      const err = (await readMaybe(`${dir}/kdc.err`)) + (await readMaybe(kdcLog));
      kdc = undefined;
      if (opts.netns === undefined && attempt < 4 && /in use/i.test(err)) {
        port = await freePort();
        await writeConf(port);
        continue;
      }
      throw new HarnessError(`Heimdal kdc did not start:\n${err.trim()}`);
    }
    const child = kdc;
    await Deno.writeTextFile(`${dir}/kdc.pid`, `${child.pid}\n`);
    return {
      realm: realmName,
      kdc: { host, port },
      dir,
      krb5Conf,
      kdcLog,
      root,
      version,
      kdcPid: child.pid,
      principal: full,
      keytab(p: string) {
        const path = keytabs.get(full(p));
        if (path === undefined) throw new HarnessError(`realm ${realmName} has no principal ${p}`);
        return path;
      },
      heimdal,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Starts a Heimdal realm, runs `fn`, and always stops the realm afterwards. */
export async function withHeimdalRealm<T>(
  opts: HeimdalRealmOptions,
  fn: (realm: HeimdalRealm) => Promise<T>,
): Promise<T> {
  const realm = await startHeimdalRealm(opts);
  try {
    return await fn(realm);
  } finally {
    await realm.stop();
  }
}

function spawnKdc(
  root: string,
  dir: string,
  conf: string,
  env: Record<string, string>,
  host: string,
  port: number,
  netns: string | undefined,
): Deno.ChildProcess {
  // As for MIT's krb5kdc: setpriv (parent-death signal) execs sh (through `ip netns exec`, which
  // execs too), which execs the KDC, so the child PID is the KDC master's. Its command line
  // names `dir` (cleanup.ts checks that).
  const [program, ...args] = dieWithParent([
    ...(netns !== undefined ? ["ip", "netns", "exec", netns] : []),
    "sh",
    "-c",
    'exec "$0" "$@" >"$KINK_KDC_DIR/kdc.out" 2>"$KINK_KDC_DIR/kdc.err" </dev/null',
    `${root}/usr/lib/heimdal-servers/kdc`,
    `--config-file=${conf}`,
    `--ports=${port}`,
    `--addresses=${host}`,
  ], "TERM");
  return new Deno.Command(program!, {
    args,
    env: { ...env, KINK_KDC_DIR: dir },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitListening(child: Deno.ChildProcess, log: string, port: number) {
  let exited = false;
  child.status.then(() => (exited = true));
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const text = await readMaybe(log);
    if (text.includes(`port ${port}/tcp`) && text.includes("worker process started")) return true;
    if (exited) return false;
    await sleep(15);
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // exited
  }
  await child.status;
  throw new HarnessError(`Heimdal kdc did not start within 15 s (log ${log})`);
}

async function netnsAddress4(ns: string): Promise<string> {
  const out = await runOk(["ip", "-n", ns, "-j", "-4", "addr", "show", "scope", "global"]);
  const links = JSON.parse(out) as { addr_info?: { local?: string }[] }[];
  for (const l of links) for (const a of l.addr_info ?? []) if (a.local) return a.local;
  throw new HarnessError(`namespace ${ns} has no global IPv4 address for the Heimdal KDC`);
}

async function workersAlive(dir: string): Promise<boolean> {
  const r = await run(["ps", "-eo", "args="]);
  return r.stdout.split("\n").some((l) => l.includes("heimdal-servers/kdc") && l.includes(dir));
}

async function readMaybe(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}
