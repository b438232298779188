/**
 * Throwaway network namespaces for integration tests (root only).
 *
 * {@link withNetns}(n, fn) creates `n` namespaces named
 * `kink-test-<pid>-ns<k>-<i>`, each with `lo` up and an interface `eth0`
 * holding a private IPv4 address (`10.77.<k>.<i+1>/24`, k in 1..255) and a unique-local
 * IPv6 address (`fd00:6b69:6e6b:<k>::<i+1>/64`, no DAD delay). Two namespaces
 * are joined by one veth pair; three or more by veth pairs to a bridge inside
 * an extra hub namespace, so no interface ever appears in the host's own
 * namespace. Everything is torn down afterwards, even if `fn` throws; if the
 * test process is killed, the watchdog of `cleanup.ts` deletes the
 * namespaces.
 *
 * Skip tests with `...skipUnless(name, netnsSkipReason())` from `tiers.ts` when not root.
 *
 * @module
 */
import { dieWithParent, ensureWatchdog, onExit, uniqueName } from "./cleanup.ts";
import { HarnessError, run, runOk, type RunOptions, type RunResult } from "./exec.ts";

/** One namespace of a group. */
export interface Netns {
  /** Namespace name (as in `ip netns list`). */
  readonly name: string;
  /** Position in the group (0-based). */
  readonly index: number;
  /** Interface joining it to the others (`eth0`), or undefined when alone. */
  readonly ifname: string | undefined;
  /** IPv4 address of {@link ifname}, e.g. `10.77.3.1`. */
  readonly addr4: string;
  /** IPv6 address of {@link ifname}, e.g. `fd00:6b69:6e6b:3::1`. */
  readonly addr6: string;
  /** IPv4 prefix length (24). */
  readonly prefix4: number;
  /** IPv6 prefix length (64). */
  readonly prefix6: number;
  /** Runs `cmd` inside the namespace (`ip netns exec`) to completion. */
  run(cmd: string[], opts?: RunOptions): Promise<RunResult>;
  /** Like {@link run}; returns stdout and throws with stderr on a non-zero exit. */
  runOk(cmd: string[], opts?: RunOptions): Promise<string>;
  /**
   * Starts a long-running `cmd` inside the namespace. The kernel SIGKILLs it
   * if the test process dies; the caller kills it and awaits `status`.
   */
  spawn(cmd: string[], opts?: Omit<Deno.CommandOptions, "args">): Deno.ChildProcess;
}

/** A created group of namespaces; {@link destroy} removes it. */
export interface NetnsGroup {
  /** The namespaces, in order. */
  readonly namespaces: Netns[];
  /** The hub namespace holding the bridge (three or more namespaces), if any. */
  readonly hub: string | undefined;
  /** Kills processes left inside and deletes every namespace. Idempotent. */
  destroy(): Promise<void>;
}

let groupCounter = 0;

/** Creates `n` (1..200) joined namespaces. Prefer {@link withNetns}. */
export async function createNetns(n: number): Promise<NetnsGroup> {
  if (!Number.isInteger(n) || n < 1 || n > 200) {
    throw new HarnessError(`createNetns: count ${n} not in 1..200`);
  }
  await ensureWatchdog();
  const k = (groupCounter++ % 255) + 1;
  const base = uniqueName("ns");
  const names = Array.from({ length: n }, (_, i) => `${base}-${i}`);
  const hub = n >= 3 ? `${base}-hub` : undefined;
  const created: string[] = [];
  let destroyed = false;

  const destroySync = () => {
    for (const ns of [...created].reverse()) {
      try {
        const pids = new Deno.Command("ip", { args: ["netns", "pids", ns], stdout: "piped" })
          .outputSync();
        for (const p of new TextDecoder().decode(pids.stdout).split(/\s+/).filter(Boolean)) {
          try {
            Deno.kill(Number(p), "SIGKILL");
          } catch {
            // gone
          }
        }
        new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).outputSync();
      } catch {
        // best effort at exit
      }
    }
  };
  const unregister = onExit(destroySync);

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    const errors: string[] = [];
    for (const ns of [...created].reverse()) {
      const pids = await run(["ip", "netns", "pids", ns]);
      for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          Deno.kill(Number(p), "SIGKILL");
        } catch {
          // gone
        }
      }
      const del = await run(["ip", "netns", "del", ns]);
      if (!del.success) errors.push(`${ns}: ${del.stderr.trim()}`);
    }
    unregister();
    if (errors.length > 0) throw new HarnessError(`netns teardown failed: ${errors.join("; ")}`);
  };

  const ipn = (ns: string, ...args: string[]) => runOk(["ip", "-n", ns, ...args]);
  try {
    for (const ns of hub ? [...names, hub] : names) {
      await runOk(["ip", "netns", "add", ns]);
      created.push(ns);
      await ipn(ns, "link", "set", "lo", "up");
    }
    if (n === 2) {
      await runOk([
        "ip",
        "link",
        "add",
        "eth0",
        "netns",
        names[0]!,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        names[1]!,
      ]);
    } else if (hub) {
      await ipn(
        hub,
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
        "mcast_snooping",
        "0",
      );
      await ipn(hub, "link", "set", "br0", "up");
      for (const [i, ns] of names.entries()) {
        await runOk([
          "ip",
          "link",
          "add",
          `p${i}`,
          "netns",
          hub,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ns,
        ]);
        await ipn(hub, "link", "set", `p${i}`, "master", "br0", "up");
      }
    }
    const namespaces: Netns[] = names.map((name, i) => {
      const addr4 = `10.77.${k}.${i + 1}`;
      const addr6 = `fd00:6b69:6e6b:${k.toString(16)}::${(i + 1).toString(16)}`;
      const prefix = ["ip", "netns", "exec", name];
      return {
        name,
        index: i,
        ifname: n >= 2 ? "eth0" : undefined,
        addr4,
        addr6,
        prefix4: 24,
        prefix6: 64,
        run: (cmd, opts) => run([...prefix, ...cmd], opts),
        runOk: (cmd, opts) => runOk([...prefix, ...cmd], opts),
        spawn: (cmd, opts) => {
          const [program, ...args] = dieWithParent([...prefix, ...cmd], "KILL");
          return new Deno.Command(program!, { ...opts, args }).spawn();
        },
      };
    });
    for (const ns of namespaces) {
      if (ns.ifname === undefined) {
        // Alone: the addresses live on lo so that they still exist.
        await ipn(ns.name, "addr", "add", `${ns.addr4}/32`, "dev", "lo");
        await ipn(ns.name, "addr", "add", `${ns.addr6}/128`, "dev", "lo", "nodad");
        continue;
      }
      await ipn(ns.name, "addr", "add", `${ns.addr4}/24`, "dev", "eth0");
      await ipn(ns.name, "addr", "add", `${ns.addr6}/64`, "dev", "eth0", "nodad");
      await ipn(ns.name, "link", "set", "eth0", "up");
    }
    return { namespaces, hub, destroy };
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
}

/** Creates `n` joined namespaces, runs `fn`, and always deletes them afterwards. */
export async function withNetns<T>(n: number, fn: (nss: Netns[]) => Promise<T>): Promise<T> {
  const group = await createNetns(n);
  try {
    return await fn(group.namespaces);
  } finally {
    await group.destroy();
  }
}
