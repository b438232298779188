/**
 * A stand-in for a test run that gets killed: starts a realm on loopback, and
 * (as root) two namespaces with a second realm inside one, prints one line
 * `READY {json}` describing what it made, then waits to be killed.
 * Used by `tests/integration/harness/cleanup_test.ts` and
 * `scripts/check-kill-cleanup.sh`.
 *
 * @module
 */
import { startRealm } from "./krb5_realm.ts";
import { createNetns } from "./netns.ts";
import { isRoot } from "./tiers.ts";

/** What the probe created, as printed after `READY `. */
export interface ProbeReport {
  /** The probe's PID (the owner of everything below). */
  pid: number;
  /** Realm directories. */
  dirs: string[];
  /** KDC PIDs. */
  kdcs: number[];
  /** Namespace names. */
  namespaces: string[];
  /** PIDs of processes spawned inside a namespace. */
  spawned: number[];
}

if (import.meta.main) {
  const report: ProbeReport = { pid: Deno.pid, dirs: [], kdcs: [], namespaces: [], spawned: [] };
  const host = await startRealm({ principals: ["kink/probe.kink.test"] });
  report.dirs.push(host.dir);
  report.kdcs.push(host.kdcPid);
  if (isRoot()) {
    const group = await createNetns(3);
    report.namespaces.push(...group.namespaces.map((n) => n.name), group.hub!);
    const inNs = await startRealm({ principals: ["x"], netns: group.namespaces[0]!.name });
    report.dirs.push(inNs.dir);
    report.kdcs.push(inNs.kdcPid);
    const sleeper = group.namespaces[1]!.spawn(["sleep", "600"], {
      stdout: "null",
      stderr: "null",
    });
    report.spawned.push(sleeper.pid);
  }
  console.log(`READY ${JSON.stringify(report)}`);
  setInterval(() => {}, 60_000); // wait to be killed
}
