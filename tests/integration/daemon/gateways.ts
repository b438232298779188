/**
 * Two (or more) real `kink daemon` processes, each started through the CLI
 * launcher (so under the narrow Deno flags it computes) inside its own
 * network namespace, with a real MIT realm whose KDC runs in a third
 * namespace. Shared by the daemon integration tests and the demo.
 *
 * @module
 */
import type { Netns } from "../../harness/netns.ts";
import type { Realm } from "../../harness/krb5_realm.ts";
import { run, type RunResult, sleep } from "../../harness/exec.ts";
import { readKeytab } from "../../../core/kerberos/mod.ts";
import { hexOf, keysInLog } from "./leak.ts";

/** The repository root. */
export const ROOT = new URL("../../../", import.meta.url).pathname;
const LAUNCH = `${ROOT}core/cli/launch.ts`;

/** The launcher's flags exactly as `deno task kink` gives them (deno.json). */
export const LAUNCHER_FLAGS: string[] = (() => {
  const task = (JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)) as {
    tasks: Record<string, string>;
  }).tasks["kink"]!;
  return task.split(/\s+/).filter((w) => w.startsWith("--allow-"));
})();

/** One gateway's files. */
export interface GatewayFiles {
  /** Its name (`a`, `b`). */
  name: string;
  /** Its principal. */
  principal: string;
  /** Directory holding config, state and control socket. */
  dir: string;
  /** The configuration file. */
  config: string;
  /** The control socket. */
  socket: string;
  /** Its keytab. */
  keytab: string;
}

/** Options of {@link writeGatewayConfig}. */
export interface GatewayConfigOptions {
  name: string;
  dir: string;
  realm: Realm;
  /** Listen address (IPv4 or IPv6); also every peer's local address unless it names its own. */
  local: string;
  /** More listen addresses. */
  alsoListen?: string[];
  peers: {
    name: string;
    address: string;
    /** Our address toward this peer (default `local`). */
    localAddress?: string;
    principal: string;
    mode?: "transport" | "tunnel";
    traffic?: { local: string; remote: string }[];
    start?: string;
    proposals?: string[];
    lifetime?: string;
    /** More `key = value` lines for this peer (e.g. `timers = { delete_grace = "1s" }`). */
    extra?: string[];
  }[];
  /** Extra lines for [daemon]. */
  daemonExtra?: string[];
}

/** Writes a gateway's configuration (and creates its directory). */
export async function writeGatewayConfig(o: GatewayConfigOptions): Promise<GatewayFiles> {
  await Deno.mkdir(o.dir, { recursive: true, mode: 0o700 });
  const principal = o.realm.principal(`kink/${o.name}.kink.test`);
  const socket = `${o.dir}/run/kink.sock`;
  const keytab = o.realm.keytab(principal);
  const lines = [
    "[daemon]",
    `listen = [${
      [o.local, ...(o.alsoListen ?? [])].map((a) => a.includes(":") ? `"[${a}]:910"` : `"${a}:910"`)
        .join(", ")
    }]`,
    `state_dir = "${o.dir}/state"`,
    `control_socket = "${socket}"`,
    `krb5_conf = "${o.realm.krb5Conf}"`,
    `log_level = "debug"`,
    ...(o.daemonExtra ?? []),
    "",
    "[identity]",
    `principal = "${principal}"`,
    `keytab = "${keytab}"`,
    "",
  ];
  for (const p of o.peers) {
    lines.push(
      "[[peer]]",
      `name = "${p.name}"`,
      `address = "${p.address}"`,
      `local_address = "${p.localAddress ?? o.local}"`,
      `principal = "${p.principal}"`,
      `mode = "${p.mode ?? "transport"}"`,
      `start = "${p.start ?? "on-demand"}"`,
      `proposals = [${
        (p.proposals ?? ["esp-aes128gcm16", "esp-aes256-sha256"]).map((x) => `"${x}"`).join(", ")
      }]`,
      `lifetime = "${p.lifetime ?? "1h"}"`,
      ...(p.extra ?? []),
    );
    for (const t of p.traffic ?? []) {
      lines.push("[[peer.traffic]]", `local = "${t.local}"`, `remote = "${t.remote}"`);
    }
    lines.push("");
  }
  const config = `${o.dir}/kink.toml`;
  await Deno.writeTextFile(config, lines.join("\n"));
  return { name: o.name, principal, dir: o.dir, config, socket, keytab };
}

/** Runs `kink ARGV…` through the launcher, as an operator would (`deno task kink`). */
export function kink(...argv: string[]): Promise<RunResult> {
  return run([Deno.execPath(), "run", "--quiet", ...LAUNCHER_FLAGS, LAUNCH, ...argv], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  });
}

/** A running daemon. */
export interface Gateway extends GatewayFiles {
  /** The process (the launcher; the daemon is its child and dies with it). */
  proc: Deno.ChildProcess;
  /** Every stderr line so far. */
  log: string[];
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** `kink SUBCOMMAND … --socket <its socket>`. */
  ctl(...argv: string[]): Promise<RunResult>;
  /** `kink status --json` parsed. */
  status(): Promise<StatusJson>;
  /** Sends a signal to the daemon. */
  signal(sig: Deno.Signal): void;
}

/** The parts of `kink status --json` the tests read. */
export interface StatusJson {
  engine: {
    /** The daemon's epoch (RFC 4430 §4.2.1). */
    epoch: number;
    peers: { name: string; state: string; saPairs: number }[];
    saPairs: {
      peer: string;
      state: string;
      initiator: boolean;
      inbound: { protocol: string; spi: number }[];
      outbound: { protocol: string; spi: number }[];
    }[];
    transactions: unknown[];
  };
  kernel: { backend: string; sas: number; policies: number };
  driver: Record<string, number>;
  sas: {
    dir: string;
    spi: number;
    proto: string;
    src: string;
    dst: string;
    algorithms: string[];
  }[];
}

const startedListeners = new Set<(gw: Gateway) => void>();

/**
 * Calls `fn` with every gateway {@link startGateway} starts from now on
 * (e.g. to scan every daemon's log at the end of a test, restarts included);
 * returns the function that stops it.
 */
export function onGatewayStarted(fn: (gw: Gateway) => void): () => void {
  startedListeners.add(fn);
  return () => startedListeners.delete(fn);
}

/** Starts `kink daemon --config … [--kernel K]` in `ns` and waits for its control socket. */
export async function startGateway(
  ns: Netns,
  files: GatewayFiles,
  kernel: "memory" | "netlink",
  timeoutMs = 30_000,
  extraArgs: string[] = [],
): Promise<Gateway> {
  await Deno.remove(`${files.socket}.token`).catch(() => {});
  const proc = ns.spawn(
    [
      Deno.execPath(),
      "run",
      "--quiet",
      ...LAUNCHER_FLAGS,
      LAUNCH,
      "daemon",
      "--config",
      files.config,
      "--kernel",
      kernel,
      ...extraArgs,
    ],
    { stdout: "null", stderr: "piped", stdin: "null", cwd: ROOT, env: { NO_COLOR: "1" } },
  );
  const log: string[] = [];
  const reader = (async () => {
    let buf = "";
    for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        log.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) log.push(buf);
  })();
  const exited = proc.status.then(async (s) => {
    await reader.catch(() => {});
    return s.code;
  });
  const gw: Gateway = {
    ...files,
    proc,
    log,
    exited,
    ctl: (...argv) => kink(...argv, "--socket", files.socket),
    async status() {
      const r = await kink("status", "--json", "--socket", files.socket);
      if (!r.success) throw new Error(`kink status (${files.name}): ${r.stderr}`);
      return JSON.parse(r.stdout) as StatusJson;
    },
    signal(sig) {
      try {
        proc.kill(sig);
      } catch { /* exited */ }
    },
  };
  keysAtStart.set(gw, await keytabKeys(files.keytab));
  for (const l of startedListeners) l(gw);
  const deadline = Date.now() + timeoutMs;
  let done = false;
  exited.then(() => done = true);
  while (Date.now() < deadline) {
    if (done) {
      throw new Error(`daemon ${files.name} exited at start:\n${log.join("\n")}`);
    }
    try {
      await Deno.stat(`${files.socket}.token`);
      if (log.some((l) => /\bstarted\b/.test(l))) return gw;
    } catch { /* not yet */ }
    await sleep(100);
  }
  gw.signal("SIGKILL");
  throw new Error(`daemon ${files.name} did not start in ${timeoutMs} ms:\n${log.join("\n")}`);
}

/** Polls `pred` every 200 ms until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(
  what: string,
  pred: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await pred();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Stops a gateway with SIGTERM and returns its exit code (SIGKILL after `ms`). */
export async function stopGateway(gw: Gateway, ms = 15_000): Promise<number> {
  gw.signal("SIGTERM");
  const t = setTimeout(() => gw.signal("SIGKILL"), ms);
  let code: number;
  try {
    code = await gw.exited;
  } finally {
    clearTimeout(t);
  }
  // Every daemon a test stops: its whole log searched for its own keytab's keys (those at
  // start and at the end), in hex, base64, byte lists and colon hex.
  const keys = new Set([...keysAtStart.get(gw) ?? [], ...await keytabKeys(gw.keytab)]);
  const leaked = keysInLog(gw.log, [...keys]);
  if (leaked.length > 0) {
    throw new Error(`daemon ${gw.name} logged ${leaked.length} key(s) of its keytab`);
  }
  return code;
}

const keysAtStart = new WeakMap<Gateway, string[]>();

/** Hex of every key in a keytab file; none when it cannot be read. */
async function keytabKeys(path: string): Promise<string[]> {
  try {
    return readKeytab(await Deno.readFile(path)).map((e) => hexOf(e.key));
  } catch {
    return [];
  }
}
