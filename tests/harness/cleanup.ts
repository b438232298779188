/**
 * Leaving nothing behind, even when a test run is killed.
 *
 * Every temporary directory, network namespace and KDC the harness creates is
 * named with the prefix `kink-test-<owner pid>-` ({@link RUN_PREFIX}). Three
 * mechanisms remove them:
 *
 * 1. Normal path: `withRealm`/`withNetns` tear down in `finally`, and an
 *    `unload` listener tears down anything a test forgot.
 * 2. Killed owner (SIGKILL, OOM, timeout): child servers are started under
 *    `setpriv --pdeathsig` so the kernel signals them when the owner dies, and
 *    a small watchdog (`setsid -f sh`, started once per process by
 *    {@link ensureWatchdog}) waits for the owner PID to disappear, then
 *    stops the owner's KDCs, deletes its namespaces and removes its
 *    directories.
 * 3. Belt and braces: {@link reapStale} (run before the first resource is
 *    created, and by `scripts/test-all.sh`) removes every `kink-test-*`
 *    directory, namespace and KDC whose owner PID is no longer alive.
 *
 * @module
 */
import { run } from "./exec.ts";

/** Prefix of every name this process's harness creates. */
export const RUN_PREFIX = `kink-test-${Deno.pid}-`;

/** Pattern matching a harness name and capturing the owner PID. */
export const OWNER_PATTERN = /^kink-test-(\d+)-/;

let counter = 0;

/** Returns a fresh unique name `kink-test-<pid>-<kind><n>`. */
export function uniqueName(kind: string): string {
  counter++;
  return `${RUN_PREFIX}${kind}${counter}`;
}

/** The directory temporary realms are created in (`$TMPDIR` or `/tmp`). */
export function tempRoot(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/** One row of {@link processTable}. */
export interface ProcessInfo {
  /** PID. */
  pid: number;
  /** `ps` state letters (`Z` = zombie). */
  stat: string;
  /** Full command line. */
  args: string;
}

/**
 * Lists running processes with `ps` (Deno's test runner refuses direct reads
 * of `/proc/<pid>` without `--allow-all`). Zombies are left out.
 */
export async function processTable(): Promise<Map<number, ProcessInfo>> {
  const out = await run(["ps", "-e", "-ww", "-o", "pid=,stat=,args="]);
  const table = new Map<number, ProcessInfo>();
  for (const line of out.stdout.split("\n")) {
    const m = /^\s*(\d+)\s+(\S+)\s?(.*)$/.exec(line);
    if (!m || m[2]!.startsWith("Z")) continue;
    table.set(Number(m[1]), { pid: Number(m[1]), stat: m[2]!, args: m[3] ?? "" });
  }
  return table;
}

/** True when process `pid` exists and is not a zombie. */
export async function pidAlive(pid: number): Promise<boolean> {
  return (await processTable()).has(pid);
}

const WATCHDOG = `
owner="$1"; prefix="$2"; tmp="$3"
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
while alive "$owner"; do sleep 0.5; done
kdcs=""
for d in "$tmp/$prefix"*; do
  [ -f "$d/kdc.pid" ] || continue
  p=$(cat "$d/kdc.pid" 2>/dev/null)
  case "$p" in ''|*[!0-9]*) continue;; esac
  if grep -qF "$d" "/proc/$p/cmdline" 2>/dev/null; then kill -TERM "$p" 2>/dev/null; kdcs="$kdcs $p"; fi
done
if command -v ip >/dev/null 2>&1; then
  for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
    case "$ns" in
      "$prefix"*)
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null;;
    esac
  done
fi
i=0
while [ $i -lt 50 ]; do
  left=""; for p in $kdcs; do alive "$p" && left="$left $p"; done
  [ -z "$left" ] && break
  sleep 0.1; i=$((i+1))
done
for p in $left; do kill -KILL "$p" 2>/dev/null; done
rm -rf "$tmp/$prefix"*
`;

/**
 * `KINK_HARNESS_UNGUARDED=1` turns off the watchdog and the parent-death
 * signal. Only the harness's own test of {@link reapStale} sets it, to leave
 * real leftovers behind on purpose.
 */
export function unguarded(): boolean {
  try {
    return Deno.env.get("KINK_HARNESS_UNGUARDED") === "1";
  } catch {
    return false;
  }
}

/**
 * Prefixes `cmd` so that the kernel sends `signal` to it when this process
 * dies (`setpriv --pdeathsig`, which then execs `cmd`: same PID).
 */
export function dieWithParent(cmd: string[], signal: "TERM" | "KILL"): string[] {
  return unguarded() ? cmd : ["setpriv", "--pdeathsig", signal, "--", ...cmd];
}

let watchdogStarted = false;
let reaped = false;

/**
 * Starts (once per process) the detached watchdog that cleans up this
 * process's resources after it dies, and reaps leftovers of dead runs.
 * Call before creating any resource.
 */
export async function ensureWatchdog(): Promise<void> {
  if (!reaped) {
    reaped = true;
    await reapStale();
  }
  if (watchdogStarted || unguarded()) return;
  watchdogStarted = true;
  // `setsid -f` forks and returns at once: no child handle stays open in this
  // process, and the watchdog is in its own session, so a signal to our
  // process group does not reach it.
  const out = await new Deno.Command("setsid", {
    args: ["-f", "sh", "-c", WATCHDOG, "kink-test-watchdog", `${Deno.pid}`, RUN_PREFIX, tempRoot()],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error(`cannot start the cleanup watchdog (setsid exit ${out.code})`);
}

/** What {@link reapStale} removed. */
export interface ReapReport {
  /** Directories removed. */
  dirs: string[];
  /** Namespaces deleted. */
  namespaces: string[];
  /** KDC PIDs stopped. */
  kdcs: number[];
}

/**
 * Removes the directories, namespaces and KDCs of harness owners that are no
 * longer alive. Never touches anything of a live owner.
 */
export async function reapStale(): Promise<ReapReport> {
  const report: ReapReport = { dirs: [], namespaces: [], kdcs: [] };
  const procs = await processTable();
  const dead = (name: string): boolean => {
    const m = OWNER_PATTERN.exec(name);
    return m !== null && !procs.has(Number(m[1]));
  };
  const root = tempRoot();
  const stale: string[] = [];
  try {
    for (const e of Deno.readDirSync(root)) if (e.isDirectory && dead(e.name)) stale.push(e.name);
  } catch {
    // no temp root: nothing to reap
  }
  const kdcs: number[] = [];
  for (const name of stale) {
    const dir = `${root}/${name}`;
    const pid = kdcPidOf(dir, procs);
    if (pid !== undefined) {
      try {
        Deno.kill(pid, "SIGTERM");
        kdcs.push(pid);
      } catch {
        // already gone
      }
    }
  }
  const list = await run(["ip", "netns", "list"]).catch(() => undefined);
  if (list?.success) {
    for (const line of list.stdout.split("\n")) {
      const ns = line.split(" ")[0] ?? "";
      if (!dead(ns)) continue;
      const pids = await run(["ip", "netns", "pids", ns]);
      for (const p of pids.stdout.split(/\s+/).filter((s) => s !== "")) {
        try {
          Deno.kill(Number(p), "SIGKILL");
        } catch {
          // gone
        }
      }
      const del = await run(["ip", "netns", "del", ns]);
      if (del.success) report.namespaces.push(ns);
    }
  }
  await waitGone(kdcs, 5000);
  report.kdcs = kdcs;
  for (const name of stale) {
    try {
      Deno.removeSync(`${root}/${name}`, { recursive: true });
      report.dirs.push(`${root}/${name}`);
    } catch {
      // removed concurrently
    }
  }
  return report;
}

/**
 * Reads `DIR/kdc.pid` and returns the PID only if that process is a KDC
 * started for `dir` (its command line names the directory), so that a reused
 * PID is never signalled.
 */
export function kdcPidOf(dir: string, procs: Map<number, ProcessInfo>): number | undefined {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(`${dir}/kdc.pid`).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return procs.get(pid)?.args.includes(dir) ? pid : undefined;
}

/** Waits until none of `pids` is alive (SIGKILLs survivors after `ms`). */
export async function waitGone(pids: number[], ms: number): Promise<void> {
  if (pids.length === 0) return;
  const deadline = Date.now() + ms;
  let alive = pids;
  for (;;) {
    const procs = await processTable();
    alive = pids.filter((p) => procs.has(p));
    if (alive.length === 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const p of alive) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
}

const exitHooks = new Map<number, () => void>();
let hookId = 0;
let unloadInstalled = false;

/**
 * Registers a synchronous tear-down run at process exit if the resource was
 * not released normally. Returns a function that unregisters it.
 */
export function onExit(fn: () => void): () => void {
  if (!unloadInstalled) {
    unloadInstalled = true;
    globalThis.addEventListener("unload", () => {
      for (const f of exitHooks.values()) {
        try {
          f();
        } catch {
          // best effort at exit
        }
      }
      exitHooks.clear();
    });
  }
  const id = ++hookId;
  exitHooks.set(id, fn);
  return () => exitHooks.delete(id);
}
