/**
 * The VM tier's machinery seen from the host (tests/harness/vm.ts): a command run in the qemu
 * VM reports its own exit status and output, runs on Debian's kernel rather than the host's,
 * cannot write to the host, and a VM that misses a deadline is killed and cleaned up.
 * (The ESP proof itself runs inside the VM: tests/vm/harness/esp_test.ts.)
 */
import assert from "node:assert/strict";
import { prepareVm, runInVm, VmError } from "../../harness/vm.ts";
import { run } from "../../harness/exec.ts";
import { commandsSkipReason, skipUnless } from "../../harness/tiers.ts";

const noTools = commandsSkipReason("qemu-system-x86_64", "busybox", "setpriv");

/** The run folders and qemu processes this test process's VMs left behind. */
async function leftovers(): Promise<string[]> {
  const prefix = `kink-test-${Deno.pid}-vm`;
  const found: string[] = [];
  for (const e of Deno.readDirSync(Deno.env.get("TMPDIR") || "/tmp")) {
    if (e.name.startsWith(prefix)) found.push(`folder ${e.name}`);
  }
  const ps = await run(["pgrep", "-f", `qemu-system-x86_64 .*${prefix}`]);
  for (const pid of ps.stdout.split(/\s+/).filter((s) => s)) found.push(`qemu pid ${pid}`);
  return found;
}

Deno.test({
  ...skipUnless(
    "vm harness: exit status, stdout and stderr come back from Debian's kernel",
    noTools,
  ),
  async fn() {
    const image = await prepareVm();
    const hostRelease = (await run(["uname", "-r"])).stdout.trim();
    const probe = `${Deno.cwd()}/.kink-vm-write-probe-${Deno.pid}`;
    const r = await runInVm({
      cmd: [
        "sh",
        "-c",
        'uname -r; echo "KINK_VM=$KINK_VM mode=$KINK_VM_MODE"; echo to-stderr >&2; ' +
        `: > ${probe} && echo wrote; test -c /dev/hvc1 && echo hvc; exit 7`,
      ],
      image,
    });
    assert.equal(r.code, 7);
    assert.equal(r.success, false);
    assert.equal(r.mode, "qemu");
    const [release, vmEnv, wrote, hvc] = r.stdout.split("\n");
    // The kernel release is the one of the unpacked Debian package, not the host's.
    assert.equal(release, image.kver);
    assert.notEqual(release, hostRelease);
    assert.equal(vmEnv, "KINK_VM=1 mode=qemu");
    assert.equal(wrote, "wrote"); // the guest may write (tmpfs overlay) ...
    assert.equal(hvc, "hvc");
    assert.equal(r.stderr, "to-stderr\n"); // raw consoles: no "\r\n"
    // ... but nothing reaches the host's file system.
    await assert.rejects(Deno.stat(probe), Deno.errors.NotFound);
    assert.ok(r.bootMs > 0 && r.totalMs >= r.bootMs);
    assert.deepEqual(await leftovers(), []);
  },
});

Deno.test({
  ...skipUnless(
    "vm harness: a guest that misses its boot deadline is killed and its folder removed",
    noTools,
  ),
  async fn() {
    const image = await prepareVm();
    const err = await runInVm({ cmd: ["true"], image, bootTimeoutMs: 300, bootAttempts: 1 })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof VmError, `expected VmError, got ${err}`);
    assert.equal(err.category, "boot");
    assert.match(err.message, /not ready after 300 ms/);
    assert.deepEqual(await leftovers(), []);
  },
});

Deno.test({
  ...skipUnless(
    "vm harness: a command that outlives the run deadline is killed with its VM",
    noTools,
  ),
  async fn() {
    const image = await prepareVm();
    const started = performance.now();
    const err = await runInVm({ cmd: ["sleep", "600"], image, timeoutMs: 20_000 })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof VmError, `expected VmError, got ${err}`);
    assert.equal(err.category, "timeout");
    assert.ok(performance.now() - started < 120_000);
    assert.deepEqual(await leftovers(), []);
  },
});

Deno.test({
  ...skipUnless(
    "vm harness: on a kernel with ESP (the VM's), test:vm runs the tier directly",
    noTools,
  ),
  async fn() {
    // vm_run.ts inside the VM: its probe must find ESP and run the tests without qemu.
    const r = await runInVm({
      cmd: [
        Deno.execPath(),
        "run",
        ...["--allow-read", "--allow-write", "--allow-run", "--allow-env"],
        "tests/harness/vm_run.ts",
        "tests/vm/harness",
      ],
      image: await prepareVm(),
      env: { NO_COLOR: "1" },
    });
    assert.equal(r.code, 0, `vm_run failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /running directly \(this kernel has ESP\)/);
    assert.match(r.stdout, /vm tier: mode direct,/);
    assert.equal(r.stdout.trimEnd().split("\n").at(-1), "3 passed, 0 failed, 0 skipped");
    assert.deepEqual(await leftovers(), []);
  },
});
