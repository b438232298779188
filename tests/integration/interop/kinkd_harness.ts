/**
 * racoon2's kinkd live against kink: two network namespaces joined by a veth
 * pair — kinkd (with its PF_KEY stand-in, which logs every SA with its keys, or
 * on a kernel with ESP the real PF_KEY) and a real MIT KDC in the first, a kink
 * gateway (tests/integration/interop/kink_node.ts: the real engine driven by the
 * daemon's EngineDriver over real UDP, the in-memory kernel or NETLINK_XFRM) in
 * the second. The VM tier's cells: tests/vm/interop/kinkd_vm_test.ts.
 *
 * kinkd is never part of this repository: it is the test peer package at
 * `../shared/interop/racoon2/peer` (override with `KINK_KINKD_PEER`), started
 * with its own `run-peer.sh -m shim|pfkey` and driven with its `ctl`. Tests that
 * need it are skipped, with the reason in their name, when it is missing.
 *
 * @module
 */
import { type Netns, withNetns } from "../../harness/netns.ts";
import { type EnctypeSet, type Realm, withRealm } from "../../harness/krb5_realm.ts";
import { run, runOk, sleep } from "../../harness/exec.ts";
import { isRoot } from "../../harness/tiers.ts";
import { withHeimdalRealm } from "../../harness/heimdal_realm.ts";
import type { EngineEvent, EngineStatus, PeerConfig } from "../../../core/engine/mod.ts";
import { LIBC_PATH } from "../../../core/kernel/mod.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
/** The kinkd test peer package. */
export const PEER = Deno.env.get("KINK_KINKD_PEER") ??
  new URL("../../../../shared/interop/racoon2/peer", import.meta.url).pathname;

/** Why the kinkd tests cannot run here, or undefined. */
export function kinkdSkipReason(): string | undefined {
  if (!isRoot()) return "needs root";
  try {
    Deno.statSync(`${PEER}/bin/kinkd`);
    Deno.statSync(`${PEER}/run-peer.sh`);
  } catch {
    return `no kinkd test peer at ${PEER} (set KINK_KINKD_PEER)`;
  }
  return undefined;
}

/** One SA line of the stand-in's sadb.log. */
export interface KinkdSa {
  op: "ADD" | "UPDATE" | "DELETE";
  src: string;
  dst: string;
  spi: number;
  authAlg?: number;
  authKey?: string;
  encAlg?: number;
  encKey?: string;
}

/** A running kinkd. */
export interface Kinkd {
  readonly rundir: string;
  readonly address: string;
  readonly principal: string;
  /** Every SA line of sadb.log so far. */
  sas(): Promise<KinkdSa[]>;
  /** kinkd's log so far. */
  log(): Promise<string>;
  /** `ctl RUNDIR ARGS…` (acquire, delete, expire, status…). */
  ctl(...args: string[]): Promise<void>;
  /** Stops kinkd (SIGTERM: no DELETE sent, SAs left) and starts it again: a new EPOCH. */
  restart(): Promise<void>;
}

/** A kink SA as the in-memory kernel holds it (keys in hex). */
export interface KinkSa {
  src: string;
  dst: string;
  proto: string;
  spi: number;
  enc?: { name: string; key: string };
  auth?: { name: string; key: string };
}

/** The kink gateway process. */
export interface KinkNode {
  readonly address: string;
  readonly principal: string;
  /** Every engine event so far. */
  readonly events: EngineEvent[];
  /** Sends a command; resolves with the answer. */
  cmd(c: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** The SAs of kink's in-memory kernel, with keys. */
  sas(): Promise<KinkSa[]>;
  /** The engine's status. */
  status(): Promise<EngineStatus>;
  /** Waits for an event matching `pred` (already seen ones count). */
  waitEvent<T extends EngineEvent>(
    what: string,
    pred: (e: EngineEvent) => e is T,
    ms?: number,
  ): Promise<T>;
  /** stderr of the node so far (the engine's log lines). */
  stderr(): string;
  /** Kills the node and starts a new one (new EPOCH, empty kernel, same configuration). */
  restart(): Promise<void>;
}

/** Options of {@link withKinkd}. */
export interface KinkdOptions {
  /** kinkd's racoon2.conf template (`conf/<name>.conf.in`). */
  template: "responder" | "initiator" | "responder-3des";
  /** Extra template variables (ENC, AUTH, LIFETIME…). */
  vars?: Record<string, string>;
  /** Enctypes of the realm (session keys). Default aes-sha1. */
  enctypes?: EnctypeSet;
  /** The KDC: MIT's krb5kdc (default) or Heimdal's kdc (aes-sha1 keys). */
  kdc?: "mit" | "heimdal";
  /**
   * Two MIT realms trusting each other: kinkd in {@link KINKD_REALM} (KDC in
   * kinkd's namespace), kink in {@link KINK_REALM} (KDC in kink's).
   */
  crossRealm?: boolean;
  /** Added to the clock of kink's engine (not of its Kerberos client), ms. */
  kinkClockOffsetMs?: number;
  /** Extra environment of kinkd (e.g. `FAKETIME` with `KINKD_LD_PRELOAD` = libfaketime). */
  kinkdEnv?: Record<string, string>;
  /** kink's peer entry for kinkd (name, address, principal and localAddress are filled in). */
  peer: Omit<PeerConfig, "name" | "address" | "principal" | "localAddress">;
  /**
   * kinkd's PF_KEY: its stand-in (default; logs every SA with its keys) or the kernel's real
   * PF_KEY (`"pfkey"`, a kernel with ESP: the VM tier; kinkd installs no policies).
   */
  kinkdPfkey?: "shim" | "pfkey";
  /** kink's kernel: in-memory (default) or the namespace's own through NETLINK_XFRM. */
  kinkKernel?: "memory" | "netlink";
  /** How long kinkd may take to start (the VM's PF_KEY registration takes 5-11 s). Default 10 s. */
  kinkdStartMs?: number;
}

/** kinkd's realm in the cross-realm cells. */
export const KINKD_REALM = "KINKD.TEST";
/** kink's realm in the cross-realm cells. */
export const KINK_REALM = "KINK.TEST";

/** What a cell needs of the realm, MIT's or Heimdal's. */
export type KdcRealm = Pick<Realm, "realm" | "principal" | "keytab" | "krb5Conf" | "dir">;

/** What {@link withKinkd} gives a cell. */
export interface KinkdContext {
  /** kinkd's realm (MIT or Heimdal). */
  realm: KdcRealm;
  /** kink's realm: the same one unless `crossRealm`. */
  kinkRealm: KdcRealm;
  /** The MIT realm, when the KDC is MIT's (key rotation with kadmin.local). */
  mit: Realm | undefined;
  kinkd: Kinkd;
  kink: KinkNode;
  /** kinkd's namespace, then kink's. */
  nss: Netns[];
}

/** The peer name kink gives kinkd. */
export const KINKD = "kinkd";

/** ESP AES-128-CBC with HMAC-SHA1 (IPsec DOI transform 12, auth alg 2). */
export const ESP_AES128_SHA1 = { id: 12, keyBits: 128, authAlgorithm: 2 } as const;
/** ESP 3DES-CBC with HMAC-SHA1 (IPsec DOI transform 3, auth alg 2). */
export const ESP_3DES_SHA1 = { id: 3, authAlgorithm: 2 } as const;

/**
 * Starts the KDC, kinkd and the kink node; runs `fn`; stops everything (kinkd
 * by its `ctl stop`, the node by `quit` then SIGKILL, the namespaces with
 * whatever is left in them).
 */
export async function withKinkd(
  opts: KinkdOptions,
  fn: (ctx: KinkdContext) => Promise<void>,
): Promise<void> {
  await withNetns(2, async ([nsd, nsk]) => {
    const kinkdPrincipal = "kink/kinkd.interop.test";
    const kinkPrincipal = "kink/kink.interop.test";
    /** kinkd's and kink's realms (the same one unless cross-realm), with each side's krb5.conf. */
    type Realms = {
      realm: KdcRealm;
      mit: Realm | undefined;
      kinkRealm: KdcRealm;
      kinkdConf: string;
      kinkConf: string;
    };
    const one = (r: KdcRealm, mit: Realm | undefined): Realms => ({
      realm: r,
      mit,
      kinkRealm: r,
      kinkdConf: r.krb5Conf,
      kinkConf: r.krb5Conf,
    });
    const enctypes = opts.enctypes ?? "aes-sha1";
    const withKdc = (body: (r: Realms) => Promise<void>) =>
      opts.kdc === "heimdal"
        ? withHeimdalRealm(
          { principals: [kinkdPrincipal, kinkPrincipal], netns: nsd!.name, enctypes: [18, 17] },
          (h) => body(one(h, undefined)),
        )
        : opts.crossRealm
        ? withRealm(
          { realm: KINKD_REALM, principals: [kinkdPrincipal], netns: nsd!.name, enctypes },
          (d) =>
            withRealm(
              { realm: KINK_REALM, principals: [kinkPrincipal], netns: nsk!.name, enctypes },
              async (k) => {
                await trustEachOther(d, k);
                await body({
                  realm: d,
                  mit: d,
                  kinkRealm: k,
                  kinkdConf: await krb5ConfNaming(d, k, "kinkd-krb5.conf"),
                  kinkConf: await krb5ConfNaming(k, d, "kink-krb5.conf"),
                });
              },
            ),
        )
        : withRealm(
          { principals: [kinkdPrincipal, kinkPrincipal], netns: nsd!.name, enctypes },
          (m) => body(one(m, m)),
        );
    await withKdc(async ({ realm, mit, kinkRealm, kinkdConf, kinkConf }) => {
      const dir = `${realm.dir}/interop`;
      await Deno.mkdir(dir);
      // kinkd
      const rundir = `${dir}/kinkd`;
      const conf = `${dir}/racoon2.conf`;
      await runOk([
        `${PEER}/tools/mkconf.sh`,
        `${PEER}/conf/${opts.template}.conf.in`,
        conf,
        `MY_ADDR=${nsd!.addr4}`,
        `PEER_ADDR=${nsk!.addr4}`,
        `MY_PRINCIPAL=${realm.principal(kinkdPrincipal)}`,
        `PEER_PRINCIPAL=${kinkRealm.principal(kinkPrincipal)}`,
        ...Object.entries(opts.vars ?? {}).map(([k, v]) => `${k}=${v}`),
      ]);
      const hosts = `${dir}/hosts`;
      await Deno.writeTextFile(
        hosts,
        `127.0.0.1 localhost\n${nsd!.addr4} kinkd.interop.test\n${nsk!.addr4} kink.interop.test\n`,
      );
      const startKinkd = () =>
        run([
          `${PEER}/run-peer.sh`,
          "-m",
          opts.kinkdPfkey ?? "shim",
          "-n",
          nsd!.name,
          "-c",
          conf,
          "-k",
          realm.keytab(kinkdPrincipal),
          "-K",
          kinkdConf,
          "-r",
          rundir,
          "-p",
          `${rundir}/kinkd.pid`,
          "-H",
          hosts,
        ], { env: opts.kinkdEnv ?? {} });
      const started = await startKinkd();
      // kinkd.log of earlier incarnations (see restart), then the current one.
      let incarnations = 0;
      const kinkdLog = async () => {
        let text = "";
        for (let i = 1; i <= incarnations; i++) {
          text += await Deno.readTextFile(`${rundir}/kinkd.log.${i}`).catch(() => "");
        }
        return text + await Deno.readTextFile(`${rundir}/kinkd.log`).catch(() => "");
      };
      if (!started.success) {
        throw new Error(
          `kinkd did not start: ${started.stderr}\n${(await kinkdLog()).slice(-2000)}`,
        );
      }
      // run-peer.sh waits 10 s for "kinkd started" and then returns all the same.
      await waitFor(
        "kinkd started",
        async () => /kinkd started/.test(await kinkdLog()) ? true : undefined,
        opts.kinkdStartMs ?? 10_000,
      ).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n${(await kinkdLog()).slice(-2000)}`);
      });
      const kinkd: Kinkd = {
        rundir,
        address: nsd!.addr4,
        principal: realm.principal(kinkdPrincipal),
        sas: async () => parseSadb(await Deno.readTextFile(`${rundir}/sadb.log`).catch(() => "")),
        log: kinkdLog,
        ctl: async (...args) => {
          await runOk([`${PEER}/ctl`, rundir, ...args]);
        },
        restart: async () => {
          await runOk([`${PEER}/ctl`, rundir, "stop"]);
          // run-peer.sh appends to kinkd.log and returns once the log says "kinkd started": with
          // the old incarnation's line still there it would return before the new kinkd is up.
          incarnations++;
          await Deno.rename(`${rundir}/kinkd.log`, `${rundir}/kinkd.log.${incarnations}`);
          // kinkd's EPOCH is its start time in seconds: let it change.
          await sleep(1100);
          const r = await startKinkd();
          if (!r.success) throw new Error(`kinkd did not restart: ${r.stderr}`);
        },
      };

      // kink
      const peer: PeerConfig = {
        ...opts.peer,
        name: KINKD,
        address: nsd!.addr4,
        principal: realm.principal(kinkdPrincipal),
        localAddress: nsk!.addr4,
      };
      const nodeConf = `${dir}/kink-node.json`;
      await Deno.writeTextFile(
        nodeConf,
        JSON.stringify({
          principal: kinkRealm.principal(kinkPrincipal),
          keytab: kinkRealm.keytab(kinkPrincipal),
          krb5Conf: kinkConf,
          local: nsk!.addr4,
          peers: [peer],
          engineClockOffsetMs: opts.kinkClockOffsetMs ?? 0,
          kernel: opts.kinkKernel ?? "memory",
        }),
      );
      const spawnNode = () =>
        spawnKinkNode(
          nsk!,
          nodeConf,
          [dir, realm.dir, kinkRealm.dir],
          opts.kinkKernel === "netlink",
        );
      let node = attachNode(spawnNode(), nsk!.addr4, kinkRealm.principal(kinkPrincipal));
      const api: KinkNode = {
        address: nsk!.addr4,
        principal: kinkRealm.principal(kinkPrincipal),
        get events() {
          return node.api.events;
        },
        cmd: (c) => node.api.cmd(c),
        sas: () => node.api.sas(),
        status: () => node.api.status(),
        waitEvent: (what, pred, ms) => node.api.waitEvent(what, pred, ms),
        stderr: () => node.api.stderr(),
        restart: async () => {
          await node.quit();
          await sleep(1100); // the EPOCH is in seconds
          node = attachNode(spawnNode(), nsk!.addr4, kinkRealm.principal(kinkPrincipal));
          await node.ready;
        },
      };
      try {
        await node.ready;
        await fn({ realm, kinkRealm, mit, kinkd, kink: api, nss: [nsd!, nsk!] });
      } catch (e) {
        const tail = (s: string) => s.split("\n").slice(-60).join("\n");
        (e as Error).message += `\n--- kink node stderr (tail) ---\n${
          tail(api.stderr())
        }\n--- kinkd.log (tail) ---\n${tail(await kinkdLog())}`;
        throw e;
      } finally {
        await node.quit();
        await run([`${PEER}/ctl`, rundir, "stop"]).catch(() => {});
      }
    });
  });
}

function attachNode(child: Deno.ChildProcess, address: string, principal: string) {
  const events: EngineEvent[] = [];
  const waiters = new Map<number, (v: Record<string, unknown>) => void>();
  const eventWaiters = new Set<() => void>();
  let err = "";
  let nextId = 1;
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  const writer = child.stdin.getWriter();
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of child.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let m: Record<string, unknown>;
        try {
          m = JSON.parse(line);
        } catch {
          continue;
        }
        if (m.ready) readyResolve();
        else if (m.event) {
          events.push(m.event as EngineEvent);
          for (const w of eventWaiters) w();
        } else if (typeof m.id === "number") waiters.get(m.id)?.(m);
      }
    }
    readyReject(new Error(`kink node exited before it was ready:\n${err}`));
  })();
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) err += dec.decode(chunk, { stream: true });
  })();
  const cmd = async (c: Record<string, unknown>) => {
    const id = nextId++;
    const p = new Promise<Record<string, unknown>>((res) => waiters.set(id, res));
    await writer.write(new TextEncoder().encode(JSON.stringify({ ...c, id }) + "\n"));
    const r = await withTimeout(p, 10_000, `kink node command ${JSON.stringify(c)}`);
    if (r.ok !== true) throw new Error(`kink node: ${JSON.stringify(c)} failed: ${r.error}`);
    return r;
  };
  const api: KinkNode = {
    address,
    principal,
    events,
    cmd,
    sas: async () => (await cmd({ cmd: "sas" })).sas as KinkSa[],
    status: async () => (await cmd({ cmd: "engine" })).status as EngineStatus,
    waitEvent: <T extends EngineEvent>(
      what: string,
      pred: (e: EngineEvent) => e is T,
      ms = 15_000,
    ) =>
      new Promise<T>((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            eventWaiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          eventWaiters.delete(check);
          reject(
            new Error(
              `timed out after ${ms} ms waiting for ${what}; events: ${
                JSON.stringify(events.map((e) => e.type))
              }`,
            ),
          );
        }, ms);
        eventWaiters.add(check);
        check();
      }),
    stderr: () => err,
    restart: () => Promise.reject(new Error("restart through withKinkd's node")),
  };
  const quit = async () => {
    try {
      await withTimeout(cmd({ cmd: "quit" }), 5000, "quit");
    } catch {
      // killed below
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    try {
      await writer.close();
    } catch {
      // closed
    }
    await child.status;
  };
  return { ready, api, quit };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** Parses the stand-in's sadb.log SA lines. */
export function parseSadb(text: string): KinkdSa[] {
  const out: KinkdSa[] = [];
  for (const line of text.split("\n")) {
    const m = / SA (ADD|UPDATE|DELETE) satype=\d+ src (\S+) dst (\S+) spi 0x([0-9a-f]+)(.*)$/.exec(
      line,
    );
    if (!m) continue;
    const rest = m[5]!;
    const sa: KinkdSa = {
      op: m[1] as KinkdSa["op"],
      src: m[2]!,
      dst: m[3]!,
      spi: parseInt(m[4]!, 16),
    };
    const f = (k: string) => new RegExp(` ${k}=([0-9a-f]+)`).exec(rest)?.[1];
    const aa = f("auth_alg"), ak = f("auth_key"), ea = f("enc_alg"), ek = f("enc_key");
    if (aa !== undefined) sa.authAlg = Number(aa);
    if (ak !== undefined) sa.authKey = ak;
    if (ea !== undefined) sa.encAlg = Number(ea);
    if (ek !== undefined) sa.encKey = ek;
    out.push(sa);
  }
  return out;
}

/** PF_KEY algorithm numbers (RFC 2367, as the stand-in logs them) → Linux XFRM names. */
export const PFKEY_ENC: Record<number, string> = { 3: "cbc(des3_ede)", 12: "cbc(aes)" };
/** PF_KEY authentication algorithm numbers → Linux XFRM names. */
export const PFKEY_AUTH: Record<number, string> = { 2: "hmac(md5)", 3: "hmac(sha1)" };

/**
 * The last keying kinkd logged for the SA `spi` (an UPDATE after an ADD/UPDATE
 * re-keys it — kinkd's 3-way initiator does that), or undefined.
 */
export function kinkdSa(sas: KinkdSa[], spi: number): KinkdSa | undefined {
  return sas.filter((s) => s.spi === spi && s.op !== "DELETE" && s.encKey !== undefined).at(-1);
}

/**
 * Silently loses every packet `ns` sends to `dst` until the returned function
 * is called: a permanent neighbour entry gives `dst` a MAC address nobody has,
 * so frames leave (sendto succeeds, as on a lossy path) and the peer's veth
 * discards them. (The host kernel here has neither netem nor netfilter, and a
 * blackhole route makes sendto fail, which kinkd treats as fatal.)
 */
export async function blackhole(ns: Netns, dst: string): Promise<() => Promise<void>> {
  const dev = ns.ifname!;
  await ns.runOk([
    "ip",
    "neigh",
    "replace",
    dst,
    "lladdr",
    "02:6b:69:6e:6b:00",
    "dev",
    dev,
    "nud",
    "permanent",
  ]);
  return async () => {
    await ns.runOk(["ip", "neigh", "del", dst, "dev", dev]);
  };
}

/** Polls `fn` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The kink node process (kink_node.ts) in `ns` with its configuration file: it may read the
 * repository and `readable`, use the network (only the namespace's own addresses exist in
 * there) and, for `netlink`, libc (NETLINK_XFRM).
 */
function spawnKinkNode(
  ns: Netns,
  configPath: string,
  readable: string[],
  netlink = false,
): Deno.ChildProcess {
  return ns.spawn([
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    `--allow-read=${[ROOT, ...readable].join(",")}`,
    "--allow-net",
    "--allow-env",
    ...(netlink ? [`--allow-ffi=${LIBC_PATH}`] : []),
    `${ROOT}tests/integration/interop/kink_node.ts`,
    configPath,
  ], { stdin: "piped", stdout: "piped", stderr: "piped" });
}

/** Two MIT realms trusting each other both ways: krbtgt/Y@X with the same password (so the same keys) in both KDCs. */
async function trustEachOther(a: Realm, b: Realm): Promise<void> {
  for (const [x, y] of [[a.realm, b.realm], [b.realm, a.realm]]) {
    await a.addPrincipal(`krbtgt/${y}@${x}`, `cross ${x} ${y}`);
    await b.addPrincipal(`krbtgt/${y}@${x}`, `cross ${x} ${y}`);
  }
}

/**
 * A copy of `own`'s krb5.conf (its realm the default) that also names `other`'s realm and KDC,
 * written as `name` in `own`'s directory; returns its path.
 */
async function krb5ConfNaming(own: Realm, other: Realm, name: string): Promise<string> {
  const text = await Deno.readTextFile(own.krb5Conf);
  const path = `${own.dir}/${name}`;
  await Deno.writeTextFile(
    path,
    text.replace(
      "[realms]\n",
      `[realms]\n ${other.realm} = {\n  kdc = ${other.kdc.host}:${other.kdc.port}\n }\n`,
    ),
  );
  return path;
}

/** Starts a kink node in `ns` with `config` (see kink_node.ts); resolves once it is ready. */
async function startNode(
  ns: Netns,
  config: Record<string, unknown>,
  configPath: string,
  readable: string[],
): Promise<{ api: KinkNode; quit: () => Promise<void> }> {
  await Deno.writeTextFile(configPath, JSON.stringify(config));
  const node = attachNode(
    spawnKinkNode(ns, configPath, readable),
    ns.addr4,
    String(config.principal),
  );
  try {
    await node.ready;
  } catch (e) {
    await node.quit();
    throw e;
  }
  return { api: node.api, quit: node.quit };
}

/** Options of {@link withKinkPair}. */
export interface KinkPairOptions {
  /** One Heimdal realm (KDC in A's namespace), or two MIT realms trusting each other. */
  kdc: "heimdal" | "mit-cross-realm";
  /** A's peer entry for B and B's for A (name, address, principal, localAddress filled in). */
  peer: Omit<PeerConfig, "name" | "address" | "principal" | "localAddress">;
}

/** A's realm in the cross-realm kink ↔ kink cells (B's is {@link KINK_REALM}). */
export const ALPHA_REALM = "ALPHA.TEST";

/**
 * Two kink nodes, A (peer name "b") and B (peer name "a"), in two namespaces, with Heimdal's
 * KDC or with two MIT KDCs (A's realm {@link ALPHA_REALM} in A's namespace, B's
 * {@link KINK_REALM} in B's) trusting each other.
 */
export async function withKinkPair(
  opts: KinkPairOptions,
  fn: (ctx: { a: KinkNode; b: KinkNode; realmA: KdcRealm; realmB: KdcRealm }) => Promise<void>,
): Promise<void> {
  await withNetns(2, async ([nsa, nsb]) => {
    const pa = "kink/a.interop.test", pb = "kink/b.interop.test";
    const body = async (ra: KdcRealm, rb: KdcRealm, confA: string, confB: string) => {
      const dir = `${ra.dir}/pair`;
      await Deno.mkdir(dir);
      const peerOf = (name: string, ns: Netns, r: KdcRealm, p: string, local: Netns) => ({
        ...opts.peer,
        name,
        address: ns.addr4,
        principal: r.principal(p),
        localAddress: local.addr4,
      });
      const readable = [dir, ra.dir, rb.dir];
      const a = await startNode(
        nsa!,
        {
          principal: ra.principal(pa),
          keytab: ra.keytab(pa),
          krb5Conf: confA,
          local: nsa!.addr4,
          peers: [peerOf("b", nsb!, rb, pb, nsa!)],
        },
        `${dir}/a.json`,
        readable,
      );
      try {
        const b = await startNode(
          nsb!,
          {
            principal: rb.principal(pb),
            keytab: rb.keytab(pb),
            krb5Conf: confB,
            local: nsb!.addr4,
            peers: [peerOf("a", nsa!, ra, pa, nsb!)],
          },
          `${dir}/b.json`,
          readable,
        );
        try {
          await fn({ a: a.api, b: b.api, realmA: ra, realmB: rb });
        } catch (e) {
          const tail = (s: string) => s.split("\n").slice(-40).join("\n");
          (e as Error).message += `\n--- A stderr ---\n${tail(a.api.stderr())}\n--- B stderr ---\n${
            tail(b.api.stderr())
          }`;
          throw e;
        } finally {
          await b.quit();
        }
      } finally {
        await a.quit();
      }
    };
    if (opts.kdc === "heimdal") {
      await withHeimdalRealm(
        { principals: [pa, pb], netns: nsa!.name, enctypes: [18, 17] },
        (h) => body(h, h, h.krb5Conf, h.krb5Conf),
      );
      return;
    }
    await withRealm(
      { realm: ALPHA_REALM, principals: [pa], netns: nsa!.name },
      (ra) =>
        withRealm({ realm: KINK_REALM, principals: [pb], netns: nsb!.name }, async (rb) => {
          await trustEachOther(ra, rb);
          await body(
            ra,
            rb,
            await krb5ConfNaming(ra, rb, "both-a.conf"),
            await krb5ConfNaming(rb, ra, "both-b.conf"),
          );
        }),
    );
  });
}
