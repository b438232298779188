/**
 * A killed test run leaves nothing behind. A probe process (tests/harness/
 * kill_probe.ts) creates KDCs, a temp realm dir, namespaces and a process
 * inside one, then is SIGKILLed:
 * - guarded (the default): the kernel's parent-death signal stops the KDCs
 *   and the watchdog deletes the dirs and namespaces, with no help from us;
 * - unguarded (watchdog and parent-death signal off): everything survives the
 *   kill, and reapStale() — what the next test run does first — removes it.
 */
import assert from "node:assert/strict";
import { dieWithParent, processTable, reapStale } from "../../harness/cleanup.ts";
import type { ProbeReport } from "../../harness/kill_probe.ts";
import { runOk, sleep } from "../../harness/exec.ts";
import { realmSkipReason, skipUnless } from "../../harness/tiers.ts";

const PERMS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1,[::1]",
];

async function startProbe(env: Record<string, string>): Promise<[Deno.ChildProcess, ProbeReport]> {
  const probe = new URL("../../harness/kill_probe.ts", import.meta.url).pathname;
  // The probe dies with this test process too (else killing the test run would orphan it).
  const [program, ...args] = dieWithParent(
    [Deno.execPath(), "run", "--quiet", ...PERMS, probe],
    "KILL",
  );
  const child = new Deno.Command(program!, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`probe exited before READY: ${buf}`);
    buf += value;
    const m = /^READY (.*)$/m.exec(buf);
    if (m) {
      await reader.cancel();
      return [child, JSON.parse(m[1]!) as ProbeReport];
    }
  }
}

interface Leftovers {
  processes: number[];
  dirs: string[];
  namespaces: string[];
}

async function leftovers(r: ProbeReport): Promise<Leftovers> {
  const procs = await processTable();
  const ns = (await runOk(["ip", "netns", "list"])).split("\n").map((l) => l.split(" ")[0]);
  const dirs: string[] = [];
  for (const d of r.dirs) {
    if (await Deno.stat(d).then(() => true, () => false)) dirs.push(d);
  }
  return {
    processes: [...r.kdcs, ...r.spawned].filter((p) => procs.has(p)),
    dirs,
    namespaces: r.namespaces.filter((n) => ns.includes(n)),
  };
}

function empty(l: Leftovers): boolean {
  return l.processes.length + l.dirs.length + l.namespaces.length === 0;
}

Deno.test({
  ...skipUnless(
    "cleanup: SIGKILL of a test run leaves no KDC, namespace, process or temp realm",
    realmSkipReason(),
  ),
  fn: async () => {
    const [child, report] = await startProbe({});
    assert.equal(report.kdcs.length, report.dirs.length);
    const before = await leftovers(report);
    assert.equal(before.processes.length, report.kdcs.length + report.spawned.length);
    assert.equal(before.dirs.length, report.dirs.length);

    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    const t0 = Date.now();
    let left = await leftovers(report);
    while (!empty(left) && Date.now() - t0 < 15_000) {
      await sleep(100);
      left = await leftovers(report);
    }
    assert.deepEqual(left, { processes: [], dirs: [], namespaces: [] });
  },
});

Deno.test({
  ...skipUnless("cleanup: reapStale removes leftovers of a dead, unguarded run", realmSkipReason()),
  fn: async () => {
    const [child, report] = await startProbe({ KINK_HARNESS_UNGUARDED: "1" });
    child.kill("SIGKILL");
    await child.status;
    await sleep(300);
    const survived = await leftovers(report);
    // Without the guards the kill leaves everything behind...
    assert.equal(survived.processes.length, report.kdcs.length + report.spawned.length);
    assert.equal(survived.dirs.length, report.dirs.length);
    assert.equal(survived.namespaces.length, report.namespaces.length);
    // ...and the reaper the next run starts with removes all of it.
    const reaped = await reapStale();
    for (const d of report.dirs) assert.ok(reaped.dirs.includes(d), `${d} not reaped`);
    for (const n of report.namespaces) assert.ok(reaped.namespaces.includes(n), `${n} not reaped`);
    assert.deepEqual(await leftovers(report), { processes: [], dirs: [], namespaces: [] });
  },
});
