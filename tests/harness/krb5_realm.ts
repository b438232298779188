/**
 * A throwaway MIT Kerberos realm for integration tests.
 *
 * {@link startRealm} creates a realm database in a fresh temporary directory
 * (`kink-test-<pid>-realm…` under `$TMPDIR`), adds principals, writes one
 * keytab per principal, and starts MIT `krb5kdc` on a free loopback port (UDP
 * and TCP) — or on port 88 of every address inside a network namespace. It
 * resolves once the KDC has opened its sockets. Nothing outside the directory
 * is read or written: `KRB5_CONFIG` and `KRB5_KDC_PROFILE` point into it.
 *
 * {@link withRealm} runs a callback and always stops the KDC (SIGTERM, then
 * waits for it to exit) and deletes the directory, whether the callback
 * succeeds or throws. If the test process is killed, the KDC receives SIGTERM
 * from the kernel (`setpriv --pdeathsig`) and the watchdog of `cleanup.ts`
 * removes the directory.
 *
 * Needs: root is not required (except with `netns`); Deno permissions
 * `--allow-run --allow-read --allow-write --allow-env --allow-net=127.0.0.1`.
 *
 * @module
 */
import { createSocket } from "node:dgram";
import { dieWithParent, ensureWatchdog, onExit, tempRoot, uniqueName } from "./cleanup.ts";
import { HarnessError, run, runOk, type RunOptions, type RunResult, sleep } from "./exec.ts";

/** Named sets of enctypes a realm can be built with. */
export type EnctypeSet = "aes-sha1" | "aes-sha2";

/** MIT names and RFC 3961 numbers of each set, strongest (preferred) first. */
export const ENCTYPE_SETS: Record<EnctypeSet, { names: string[]; numbers: number[] }> = {
  "aes-sha1": {
    names: ["aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"],
    numbers: [18, 17],
  },
  "aes-sha2": {
    names: ["aes256-cts-hmac-sha384-192", "aes128-cts-hmac-sha256-128"],
    numbers: [20, 19],
  },
};

/** Options of {@link startRealm}. */
export interface RealmOptions {
  /** Realm name; default `KINK.TEST`. */
  realm?: string;
  /** Principals to create (`name` or `name@REALM`); keys are random unless a password is given. */
  principals: string[];
  /** Enctypes of every key and of the client defaults; default `aes-sha1`. */
  enctypes?: EnctypeSet;
  /** Passwords by principal name (as written in `principals`). */
  passwords?: Record<string, string>;
  /**
   * Run the KDC inside this network namespace (root only), listening on port
   * 88 of every address there. `kdc.host` is then the namespace's first
   * global IPv4 address (or 127.0.0.1 when it has none).
   */
  netns?: string;
  /** Extra `[libdefaults]` settings of the generated client krb5.conf. */
  libdefaults?: Record<string, string>;
  /**
   * Further krb5.conf sections appended verbatim (e.g. `[capaths]`,
   * `[domain_realm]`): the KDC reads them too (cross-realm paths, referrals).
   */
  krb5ConfExtra?: string;
}

/** A running throwaway realm. */
export interface Realm {
  /** The realm name, e.g. `KINK.TEST`. */
  readonly realm: string;
  /** Where the KDC listens (UDP and TCP). */
  readonly kdc: { host: string; port: number };
  /** The temporary directory holding database, configs, keytabs and logs. */
  readonly dir: string;
  /** Path of the client krb5.conf whose `[realms]` entry points at the KDC. */
  readonly krb5Conf: string;
  /** Path of the KDC profile (kdc.conf). */
  readonly kdcConf: string;
  /** Path of the KDC's log file. */
  readonly kdcLog: string;
  /** Enctype set the realm was created with. */
  readonly enctypes: EnctypeSet;
  /** Namespace the KDC runs in, if any. */
  readonly netns: string | undefined;
  /** PID of the running krb5kdc. */
  readonly kdcPid: number;
  /**
   * Environment for MIT tools (`KRB5_CONFIG`, `KRB5_KDC_PROFILE`,
   * `KRB5CCNAME`, `KRB5RCACHEDIR`), all pointing into {@link dir}.
   */
  readonly env: Record<string, string>;
  /** Full name `name@REALM` of a principal given with or without realm. */
  principal(name: string): string;
  /** Path of a keytab holding exactly this principal's current keys. */
  keytab(principal: string): string;
  /** Adds a principal (random keys, or from `password`) and writes its keytab. */
  addPrincipal(name: string, password?: string): Promise<string>;
  /** Runs a command (e.g. `kinit`) with {@link env} added to the environment. */
  tool(cmd: string[], opts?: RunOptions): Promise<RunResult>;
  /** Stops the KDC (waits for it to exit) and removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_REALM = "KINK.TEST";
const MASTER_PASSWORD = "kink-test-master-key";

/** Creates a realm and starts its KDC. The caller must call `stop()`; prefer {@link withRealm}. */
export async function startRealm(opts: RealmOptions): Promise<Realm> {
  await ensureWatchdog();
  const realmName = opts.realm ?? DEFAULT_REALM;
  if (!/^[A-Za-z0-9.\-_]+$/.test(realmName)) {
    throw new HarnessError(`startRealm: unsupported realm name "${realmName}"`);
  }
  const enctypes = opts.enctypes ?? "aes-sha1";
  const set = ENCTYPE_SETS[enctypes];
  const dir = await Deno.makeTempDir({ dir: tempRoot(), prefix: `${uniqueName("realm")}-` });
  let kdc: Deno.ChildProcess | undefined;
  let stopped = false;
  const keytabs = new Map<string, string>();
  const full = (name: string) => (name.includes("@") ? name : `${name}@${realmName}`);

  const kdcConf = `${dir}/kdc.conf`;
  const krb5Conf = `${dir}/krb5.conf`;
  const kdcLog = `${dir}/kdc.log`;
  const env: Record<string, string> = {
    KRB5_CONFIG: krb5Conf,
    KRB5_KDC_PROFILE: kdcConf,
    KRB5CCNAME: `FILE:${dir}/ccache`,
    KRB5RCACHEDIR: dir,
  };

  const unregister = onExit(() => {
    // Process exit without stop(): synchronous best effort.
    if (kdc) {
      try {
        kdc.kill("SIGTERM");
      } catch {
        // gone
      }
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
          // already exited
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
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      unregister();
    }
  };

  try {
    // Where the KDC listens.
    let host = "127.0.0.1";
    let port: number;
    if (opts.netns !== undefined) {
      port = 88;
      host = (await netnsAddress4(opts.netns)) ?? "127.0.0.1";
    } else {
      port = await freePort();
    }

    const writeConfigs = async (p: number) => {
      const listen = opts.netns !== undefined ? `${p}` : `${host}:${p}`;
      await Deno.writeTextFile(
        kdcConf,
        [
          "[kdcdefaults]",
          ` kdc_ports = ${p}`,
          ` kdc_tcp_ports = ${p}`,
          ` kdc_listen = ${listen}`,
          ` kdc_tcp_listen = ${listen}`,
          "",
          "[realms]",
          ` ${realmName} = {`,
          `  database_name = ${dir}/principal`,
          `  key_stash_file = ${dir}/stash`,
          `  acl_file = ${dir}/kadm5.acl`,
          `  supported_enctypes = ${set.names.map((n) => `${n}:normal`).join(" ")}`,
          "  max_life = 1d",
          "  max_renewable_life = 7d",
          " }",
          "",
          "[logging]",
          ` kdc = FILE:${kdcLog}`,
          ` admin_server = FILE:${dir}/kadmin.log`,
          ` default = FILE:${dir}/krb5lib.log`,
          "",
          "[plugins]",
          " kdcpreauth = {",
          "  disable = spake",
          " }",
          "",
        ].join("\n"),
      );
      const libdefaults: Record<string, string> = {
        default_realm: realmName,
        dns_lookup_kdc: "false",
        dns_lookup_realm: "false",
        rdns: "false",
        dns_canonicalize_hostname: "false",
        default_ccache_name: `FILE:${dir}/ccache`,
        default_tkt_enctypes: set.names.join(" "),
        default_tgs_enctypes: set.names.join(" "),
        permitted_enctypes: set.names.join(" "),
        ...opts.libdefaults,
      };
      await Deno.writeTextFile(
        krb5Conf,
        [
          "[libdefaults]",
          ...Object.entries(libdefaults).map(([k, v]) => ` ${k} = ${v}`),
          "",
          "[realms]",
          ` ${realmName} = {`,
          `  kdc = ${host}:${p}`,
          " }",
          "",
          "[logging]",
          ` default = FILE:${dir}/krb5lib.log`,
          "",
          opts.krb5ConfExtra ?? "",
        ].join("\n"),
      );
    };
    await writeConfigs(port);
    await Deno.writeTextFile(`${dir}/kadm5.acl`, "");

    await runOk(["kdb5_util", "create", "-s", "-P", MASTER_PASSWORD, "-r", realmName], { env });

    const addPrincipals = async (names: string[], passwords: Record<string, string>) => {
      const script: string[] = [];
      for (const name of names) {
        const p = full(name);
        checkPrincipalName(p);
        const pw = passwords[name] ?? passwords[p];
        if (pw !== undefined) {
          if (/["\n\r]/.test(pw)) {
            throw new HarnessError(`startRealm: password of ${p} contains '"' or a newline`);
          }
          script.push(`addprinc -pw "${pw}" ${p}`);
        } else {
          script.push(`addprinc -randkey ${p}`);
        }
        script.push(`ktadd -k ${keytabPath(p)} -norandkey ${p}`);
      }
      script.push("quit", "");
      const out = await runOk(["kadmin.local", "-r", realmName], { env, stdin: script.join("\n") });
      for (const name of names) {
        const p = full(name);
        if (!out.includes(`Principal "${p}" created.`)) {
          throw new HarnessError(`kadmin.local did not create ${p}:\n${out}`);
        }
        keytabs.set(p, keytabPath(p));
      }
    };
    const keytabPath = (p: string) => `${dir}/${p.replace(/[^A-Za-z0-9.\-_]/g, "_")}.keytab`;

    await addPrincipals(opts.principals, opts.passwords ?? {});

    // Start the KDC; a port taken between freePort() and bind is retried.
    for (let attempt = 0;; attempt++) {
      kdc = spawnKdc(dir, realmName, env, opts.netns);
      const ready = await waitReady(kdc, kdcLog, dir);
      if (ready === "ready") break;
      const err = await readMaybe(`${dir}/kdc.err`) + (await readMaybe(kdcLog));
      kdc = undefined;
      if (opts.netns === undefined && attempt < 4 && /in use/i.test(err)) {
        port = await freePort();
        await writeConfigs(port);
        await Deno.remove(kdcLog).catch(() => {});
        continue;
      }
      throw new HarnessError(`krb5kdc did not start:\n${err.trim()}`);
    }
    const child = kdc;

    return {
      realm: realmName,
      kdc: { host, port },
      dir,
      krb5Conf,
      kdcConf,
      kdcLog,
      enctypes,
      netns: opts.netns,
      kdcPid: child.pid,
      env,
      principal: full,
      keytab(principal: string): string {
        const p = full(principal);
        const path = keytabs.get(p);
        if (path === undefined) throw new HarnessError(`realm ${realmName} has no principal ${p}`);
        return path;
      },
      async addPrincipal(name: string, password?: string): Promise<string> {
        await addPrincipals([name], password === undefined ? {} : { [name]: password });
        return full(name);
      },
      tool(cmd: string[], o: RunOptions = {}): Promise<RunResult> {
        const prefix = opts.netns !== undefined ? ["ip", "netns", "exec", opts.netns] : [];
        return run([...prefix, ...cmd], { ...o, env: { ...env, ...o.env } });
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Starts a realm, runs `fn`, and always stops the realm afterwards. */
export async function withRealm<T>(
  opts: RealmOptions,
  fn: (realm: Realm) => Promise<T>,
): Promise<T> {
  const realm = await startRealm(opts);
  try {
    return await fn(realm);
  } finally {
    await realm.stop();
  }
}

function checkPrincipalName(p: string): void {
  if (!/^[A-Za-z0-9.\-_/]+@[A-Za-z0-9.\-_]+$/.test(p)) {
    throw new HarnessError(`unsupported principal name "${p}"`);
  }
}

function spawnKdc(
  dir: string,
  realm: string,
  env: Record<string, string>,
  netns: string | undefined,
): Deno.ChildProcess {
  // setpriv sets PR_SET_PDEATHSIG, then execs (ip netns exec execs too) sh,
  // which redirects output to files and execs krb5kdc: the child PID is the
  // KDC's, and the kernel sends it SIGTERM if this process dies.
  const cmd = netns !== undefined ? ["ip", "netns", "exec", netns] : [];
  cmd.push(
    "sh",
    "-c",
    'exec "$0" "$@" >"$KINK_KDC_DIR/kdc.out" 2>"$KINK_KDC_DIR/kdc.err" </dev/null',
    "krb5kdc",
    "-n",
    "-r",
    realm,
    "-P",
    `${dir}/kdc.pid`,
  );
  const [program, ...args] = dieWithParent(cmd, "TERM");
  return new Deno.Command(program!, {
    args,
    env: { ...env, KINK_KDC_DIR: dir },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitReady(
  child: Deno.ChildProcess,
  log: string,
  dir: string,
): Promise<"ready" | "exited"> {
  let exited = false;
  child.status.then(() => (exited = true));
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if ((await readMaybe(log)).includes("commencing operation")) return "ready";
    if (exited) return "exited";
    await sleep(15);
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // exited
  }
  await child.status;
  throw new HarnessError(`krb5kdc in ${dir} did not start within 15 s`);
}

async function readMaybe(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

/** Finds a port free for both TCP and UDP on 127.0.0.1. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (await udpFree(port)) return port;
  }
  throw new HarnessError("no free loopback port for the KDC");
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => {
      s.close();
      resolve(false);
    });
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function netnsAddress4(ns: string): Promise<string | undefined> {
  const out = await runOk(["ip", "-n", ns, "-j", "-4", "addr", "show", "scope", "global"]);
  const links = JSON.parse(out) as { addr_info?: { local?: string }[] }[];
  for (const l of links) for (const a of l.addr_info ?? []) if (a.local) return a.local;
  return undefined;
}
