/**
 * Run commands on a kernel that has ESP: inside a qemu VM with Debian's stock kernel, or
 * directly when the running kernel already has ESP.
 *
 * The VM (see `scripts/vm/`): `-M microvm` under TCG, one vCPU, no network. It boots Debian's
 * current `linux-image-amd64` kernel (downloaded and unpacked into a cache outside the
 * repository by `scripts/vm/prepare.sh`), mounts the host's `/` read-only over virtio-9p under a
 * tmpfs overlay (so the guest sees the host's binaries, `deno`, the checkout and the Deno cache,
 * and may write anywhere without touching the host), loads the ESP and crypto modules, and runs
 * one command as root. Its stdout and stderr come back through virtio consoles, its exit status
 * through a per-run read-write 9p folder. The command sees `KINK_VM=1`.
 *
 * Every run has a deadline: qemu is started under `timeout`, so even a dead host process cannot
 * leave a VM behind, and {@link runInVm} kills the qemu it started (by PID) and removes the
 * per-run folder when it returns or throws.
 *
 * Needs `--allow-read --allow-write --allow-run --allow-env`.
 *
 * @module
 */
import { tempRoot, uniqueName } from "./cleanup.ts";

/** Failure of the VM machinery itself (not of the command run inside). */
export class VmError extends Error {
  /** `"prepare"`, `"boot"`, `"timeout"`, `"no-status"` or `"qemu"`. */
  readonly category: string;
  /** Output the command produced before the failure. */
  readonly stdout: string;
  /** Standard error the command produced before the failure. */
  readonly stderr: string;
  /** The guest's console log (kernel messages and init's progress lines). */
  readonly console: string;
  /** True for a boot that hung (another boot may succeed). */
  retryable = false;

  /**
   * @param category stable category
   * @param message what failed
   * @param output what the run produced so far
   */
  constructor(
    category: string,
    message: string,
    output: { stdout?: string; stderr?: string; console?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "VmError";
    this.category = category;
    this.stdout = output.stdout ?? "";
    this.stderr = output.stderr ?? "";
    this.console = output.console ?? "";
  }
}

/** Paths of a prepared kernel + initramfs (output of `scripts/vm/prepare.sh`). */
export interface VmImage {
  /** The kernel image (`…/boot/vmlinuz-<kver>`). */
  kernel: string;
  /** The busybox initramfs. */
  initrd: string;
  /** The unpacked `lib/modules/<kver>` folder (host path). */
  modules: string;
  /** Kernel release, e.g. `6.1.0-56-amd64`. */
  kver: string;
  /** The cache folder of this kernel, e.g. `~/.cache/kink-vm/6.1.0-56-amd64_6.1.192-2`. */
  dir: string;
  /** The Debian package and version, e.g. `linux-image-6.1.0-56-amd64 6.1.192-2`. */
  packageName: string;
}

/** Options of {@link runInVm}. */
export interface VmRunOptions {
  /** Program and arguments, resolved on the guest's PATH (the host's binaries). */
  cmd: readonly string[];
  /** Working directory inside the VM (default: the host's current directory). */
  cwd?: string;
  /**
   * Environment of the command. It starts from PATH, HOME, and the host's TERM, NO_COLOR,
   * DENO_DIR, CI, TZ, LANG and `KINK_*` variables (when set), adds `KINK_VM=1` and
   * `KINK_VM_MODE=qemu|direct`, then these entries.
   */
  env?: Record<string, string>;
  /** Deadline for the whole run including boot, in ms (default 900 000). */
  timeoutMs?: number;
  /** Deadline until the guest's init reports ready, in ms (default 150 000). */
  bootTimeoutMs?: number;
  /** How many times to boot when the guest does not come up in time (default 2). */
  bootAttempts?: number;
  /** Guest memory in MiB (default `KINK_VM_MEMORY` or 1024). */
  memoryMiB?: number;
  /** Called with each piece of the command's stdout as it arrives. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Called with each piece of the command's stderr as it arrives. */
  onStderr?: (chunk: Uint8Array) => void;
  /** A prepared image (default: {@link prepareVm}). */
  image?: VmImage;
}

/** Outcome of a command run in the VM (or directly on an ESP kernel). */
export interface VmResult {
  /** The command's exit status. */
  code: number;
  /** `code === 0`. */
  success: boolean;
  /** Standard output, UTF-8. */
  stdout: string;
  /** Standard error, UTF-8. */
  stderr: string;
  /** Guest console (kernel warnings + init lines); empty in direct mode. */
  console: string;
  /** Milliseconds from starting qemu until the guest was ready to run the command (0 direct). */
  bootMs: number;
  /** Milliseconds the command itself ran (ready → exit status seen). */
  commandMs: number;
  /** Milliseconds of the whole run, including boot and power-off. */
  totalMs: number;
  /** `"qemu"` or `"direct"`. */
  mode: "qemu" | "direct";
}

const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const PREPARE = `${REPO_ROOT}/scripts/vm/prepare.sh`;
const decoder = new TextDecoder();

let preparedImage: Promise<VmImage> | undefined;

/**
 * Ensures the kernel and initramfs are in the cache (downloading and building them the first
 * time) and returns their paths. Memoised per process.
 */
export function prepareVm(): Promise<VmImage> {
  preparedImage ??= (async () => {
    const out = await new Deno.Command("bash", {
      args: [PREPARE],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = decoder.decode(out.stderr);
    if (!out.success) {
      throw new VmError("prepare", `vm prepare: exit ${out.code}: ${stderr.trim()}`);
    }
    const fields = new Map<string, string>();
    for (const kv of decoder.decode(out.stdout).trim().split(/\s+/)) {
      const i = kv.indexOf("=");
      if (i > 0) fields.set(kv.slice(0, i), kv.slice(i + 1));
    }
    const need = (k: string): string => {
      const v = fields.get(k);
      if (!v) throw new VmError("prepare", `vm prepare: no ${k} in its output`);
      return v;
    };
    const dir = need("DIR");
    let packageName = "";
    try {
      packageName = (await Deno.readTextFile(`${dir}/package`)).trim();
    } catch { /* older cache entries have no package file */ }
    return {
      kernel: need("KERNEL"),
      initrd: need("INITRD"),
      modules: need("MODULES"),
      kver: need("KVER"),
      dir,
      packageName,
    };
  })();
  preparedImage.catch(() => preparedImage = undefined);
  return preparedImage;
}

/**
 * The host TSC frequency in kHz, for `tsc_early_khz` (TCG's TSC runs at the host's rate).
 * Without it the guest calibrates its clocks against emulated timers, which can hang microvm
 * under TCG. Read through `cat`: Deno wants `--allow-all` for a direct read of /proc files.
 */
async function hostTscKhz(): Promise<number | undefined> {
  const override = Deno.env.get("KINK_VM_TSC_KHZ");
  if (override && /^\d+$/.test(override)) return Number(override);
  try {
    const o = await new Deno.Command("cat", {
      args: ["/proc/cpuinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(decoder.decode(o.stdout));
    if (m?.[1]) return Math.round(Number(m[1]) * 1000);
  } catch { /* no cat: fall through */ }
  return undefined;
}

function defaultMemoryMiB(): number {
  const v = Number(Deno.env.get("KINK_VM_MEMORY") ?? "");
  return Number.isInteger(v) && v >= 256 ? v : 1024;
}

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The environment the command gets (shared by the qemu and direct modes). */
function commandEnv(mode: "qemu" | "direct", extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
  };
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (["TERM", "NO_COLOR", "DENO_DIR", "CI", "TZ", "LANG"].includes(k) || k.startsWith("KINK_")) {
      env[k] = v;
    }
  }
  delete env.KINK_VM_FORCE; // the host's choice; a test inside must see its own kernel
  env.KINK_VM = "1";
  env.KINK_VM_MODE = mode;
  return { ...env, ...extra };
}

/** Incrementally reads a file that another process appends to. */
class FileTail {
  #offset = 0;
  readonly chunks: Uint8Array[] = [];
  constructor(readonly path: string, readonly onChunk?: (c: Uint8Array) => void) {}

  async poll(): Promise<void> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.path, { read: true });
    } catch {
      return; // not created yet
    }
    try {
      await f.seek(this.#offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await f.read(buf);
        if (n === null || n === 0) break;
        const chunk = buf.slice(0, n);
        this.#offset += n;
        this.chunks.push(chunk);
        this.onChunk?.(chunk);
      }
    } finally {
      f.close();
    }
  }

  text(): string {
    let len = 0;
    for (const c of this.chunks) len += c.length;
    const all = new Uint8Array(len);
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    return decoder.decode(all);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Boots a VM, runs `opts.cmd` inside as root, and returns its exit status and output.
 * A guest that does not come up within `bootTimeoutMs` is killed and booted again (up to
 * `bootAttempts` times). Throws {@link VmError} when the VM cannot be prepared or booted, or the
 * deadline passes.
 */
export async function runInVm(opts: VmRunOptions): Promise<VmResult> {
  if (opts.cmd.length === 0) throw new VmError("qemu", "runInVm: empty command");
  const image = opts.image ?? await prepareVm();
  const attempts = Math.max(1, opts.bootAttempts ?? 2);
  const deadline = performance.now() + (opts.timeoutMs ?? 900_000);
  for (let attempt = 1;; attempt++) {
    try {
      return await bootOnce(opts, image, deadline);
    } catch (e) {
      const retry = e instanceof VmError && e.category === "boot" && e.retryable &&
        attempt < attempts && deadline - performance.now() > 30_000;
      if (!retry) throw e;
      console.error(`vm: ${e.message.split("\n")[0]}; booting again (attempt ${attempt + 1})`);
    }
  }
}

/**
 * Kills the qemu of `runDir` by the PID in its pidfile. Only called while our `timeout` child
 * has not exited: it has not reaped qemu yet, so the PID cannot belong to another process.
 */
async function killQemu(runDir: string): Promise<void> {
  try {
    const pid = Number((await Deno.readTextFile(`${runDir}/qemu.pid`)).trim());
    if (Number.isInteger(pid) && pid > 1) Deno.kill(pid, "SIGKILL");
  } catch { /* no pidfile yet, or already gone */ }
}

async function bootOnce(opts: VmRunOptions, image: VmImage, deadline: number): Promise<VmResult> {
  const bootTimeoutMs = opts.bootTimeoutMs ?? 150_000;
  const cwd = opts.cwd ?? Deno.cwd();

  const runDir = `${tempRoot()}/${uniqueName("vm")}`;
  await Deno.mkdir(runDir, { mode: 0o700 });
  const env = commandEnv("qemu", opts.env);
  const script = [
    `cd ${shellQuote(cwd)} || exit 125`,
    `exec env -i ${Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`)).join(" ")} \\`,
    `  ${opts.cmd.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${runDir}/run.sh`, script);
  // The guest mounts fresh tmpfs on /tmp and /run; the checkout and the Deno cache must stay
  // visible even when they live there (a CI clone under /tmp, say).
  const keep = [cwd, env.DENO_DIR].filter((p): p is string =>
    typeof p === "string" && /^\/(tmp|run)\//.test(p)
  );
  await Deno.writeTextFile(`${runDir}/keep`, keep.map((p) => `${p}\n`).join(""));

  const tsc = await hostTscKhz();
  const append = [
    // ttyS0 (a file on the host) keeps warnings and panics of an early hang; hvc0 carries the
    // kernel log once virtio_console is loaded, and init's progress lines.
    "console=ttyS0",
    "console=hvc0",
    "quiet",
    ...(tsc ? [`tsc_early_khz=${tsc}`, "tsc=reliable"] : []),
    "cryptomgr.notests=1",
    "panic=-1",
    "reboot=t",
    `KINK_MODDIR=${image.modules}`,
  ].join(" ");
  const chardev = (id: string, file: string) => [
    "-chardev",
    `file,id=${id},path=${runDir}/${file}`,
    "-device",
    `virtconsole,chardev=${id}`,
  ];
  const remainingMs = deadline - performance.now();
  if (remainingMs <= 0) throw new VmError("timeout", "vm: deadline passed before boot");
  const args = [
    // The chain deno → timeout → qemu dies as one: `setpriv --pdeathsig` kills timeout when
    // this process dies and qemu when timeout dies; timeout bounds the run; `--foreground`
    // keeps both in the caller's process group, so killing the group kills the VM too.
    "--pdeathsig",
    "KILL",
    "--",
    "timeout",
    "--foreground",
    "-k",
    "5",
    String(Math.ceil(remainingMs / 1000)),
    "setpriv",
    "--pdeathsig",
    "KILL",
    "--",
    "qemu-system-x86_64",
    ...["-M", "microvm", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1"],
    ...["-m", String(opts.memoryMiB ?? defaultMemoryMiB()), "-nodefaults", "-nic", "none"],
    "-no-reboot",
    ...["-display", "none", "-monitor", "none", "-no-user-config"],
    ...["-pidfile", `${runDir}/qemu.pid`, "-serial", `file:${runDir}/serial.log`],
    ...["-kernel", image.kernel, "-initrd", image.initrd, "-append", append],
    ...["-device", "virtio-serial-device"],
    ...chardev("con", "console.log"),
    ...chardev("out", "stdout.log"),
    ...chardev("err", "stderr.log"),
    "-fsdev",
    "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
    "-device",
    "virtio-9p-device,fsdev=hostroot,mount_tag=hostroot",
    "-fsdev",
    `local,id=kinkrun,path=${runDir},security_model=none`,
    "-device",
    "virtio-9p-device,fsdev=kinkrun,mount_tag=kinkrun",
  ];

  const out = new FileTail(`${runDir}/stdout.log`, opts.onStdout);
  const err = new FileTail(`${runDir}/stderr.log`, opts.onStderr);
  const con = new FileTail(`${runDir}/console.log`);
  const serial = new FileTail(`${runDir}/serial.log`);
  const pollAll = () => Promise.all([out.poll(), err.poll(), con.poll(), serial.poll()]);
  const collected = () => ({
    stdout: out.text(),
    stderr: err.text(),
    console: [serial.text().replaceAll("\r\n", "\n").trimEnd(), con.text().trimEnd()]
      .filter((t) => t).join("\n"),
  });

  const started = performance.now();
  let child: Deno.ChildProcess | undefined;
  let exited = false;
  const stop = async () => {
    if (!exited) await killQemu(runDir);
    try {
      child?.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  const onSignal = () => void stop();
  try {
    child = new Deno.Command("setpriv", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, onSignal);
    const qemuOutput = child.output().then((o) => {
      exited = true;
      return o;
    });

    let readyAt: number | undefined;
    let statusAt: number | undefined;
    for (;;) {
      await Promise.race([qemuOutput, new Promise((r) => setTimeout(r, 100))]);
      await pollAll();
      const now = performance.now();
      if (readyAt === undefined && /^kink-vm: \[[\d.]+\] ready$/m.test(con.text())) readyAt = now;
      if (statusAt === undefined && await exists(`${runDir}/status`)) statusAt = now;
      if (exited) break;
      if (statusAt !== undefined && now - statusAt > 15_000) {
        // The command is done and its output in; a guest that does not power off is killed.
        await stop();
        await qemuOutput;
        break;
      }
      if (readyAt === undefined && now - started > bootTimeoutMs) {
        await stop();
        await qemuOutput;
        await pollAll();
        const e = new VmError(
          "boot",
          `vm: guest not ready after ${bootTimeoutMs} ms\n${tail(collected().console)}`,
          collected(),
        );
        e.retryable = true;
        throw e;
      }
      if (now > deadline) {
        await stop();
        await qemuOutput;
        await pollAll();
        throw new VmError(
          "timeout",
          `vm: run exceeded its deadline (command: ${opts.cmd.join(" ")})`,
          collected(),
        );
      }
    }
    const q = await qemuOutput;
    await pollAll();
    const end = performance.now();
    if (await exists(`${runDir}/init-error`)) {
      const why = (await Deno.readTextFile(`${runDir}/init-error`)).trim();
      throw new VmError("boot", `vm: guest ${why}\n${tail(collected().console)}`, collected());
    }
    let statusText: string;
    try {
      statusText = (await Deno.readTextFile(`${runDir}/status`)).trim();
    } catch {
      const qemuErr = decoder.decode(q.stderr).trim();
      const timedOut = q.code === 124 || q.code === 137;
      const why = timedOut
        ? "deadline passed"
        : `qemu exited with ${q.code} without an exit status${qemuErr ? `: ${qemuErr}` : ""}`;
      throw new VmError(
        timedOut ? "timeout" : "no-status",
        `vm: ${why}\n${tail(collected().console)}`,
        collected(),
      );
    }
    const code = Number(statusText);
    const ready = readyAt ?? end;
    return {
      code,
      success: code === 0,
      ...collected(),
      bootMs: Math.round(ready - started),
      commandMs: Math.round((statusAt ?? end) - ready),
      totalMs: Math.round(end - started),
      mode: "qemu",
    };
  } finally {
    for (const s of ["SIGINT", "SIGTERM"] as const) {
      try {
        Deno.removeSignalListener(s, onSignal);
      } catch { /* not added */ }
    }
    if (child && !exited) {
      await stop();
      await child.status.catch(() => {});
    }
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

let espProbe: Promise<boolean> | undefined;

/**
 * True when the running kernel can install ESP SAs (cbc(aes)+hmac(sha256) and
 * rfc4106(gcm(aes))). Probes in a throwaway network namespace (`unshare --net`), so the host's
 * SA database is never touched. Memoised per process. `KINK_VM_FORCE=qemu` or `=direct` forces
 * the answer (false / true).
 */
export function hostHasEsp(): Promise<boolean> {
  const forced = Deno.env.get("KINK_VM_FORCE");
  if (forced === "qemu") return Promise.resolve(false);
  if (forced === "direct") return Promise.resolve(true);
  espProbe ??= (async () => {
    const probe = [
      "ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode transport",
      `enc 'cbc(aes)' 0x${"11".repeat(16)} auth 'hmac(sha256)' 0x${"22".repeat(32)}`,
      "&& ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x101 mode transport",
      `aead 'rfc4106(gcm(aes))' 0x${"33".repeat(20)} 128`,
    ].join(" ");
    // As root a plain network namespace; otherwise one inside a user namespace.
    for (const ns of [["--net"], ["--user", "--map-root-user", "--net"]]) {
      try {
        const o = await new Deno.Command("unshare", {
          args: [...ns, "sh", "-c", probe],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        if (o.success) return true;
      } catch {
        return false; // no unshare
      }
    }
    return false;
  })();
  return espProbe;
}

/**
 * Runs `opts.cmd` where ESP is available: directly (as the current user, with the same
 * environment additions) when {@link hostHasEsp}, otherwise in a VM via {@link runInVm}.
 * Use it for benches and tools that need real SAs (e.g. an SA-install benchmark).
 */
export async function runWithEsp(opts: VmRunOptions): Promise<VmResult> {
  if (!await hostHasEsp()) return await runInVm(opts);
  const [program, ...args] = opts.cmd;
  if (program === undefined) throw new VmError("qemu", "runWithEsp: empty command");
  const started = performance.now();
  const child = new Deno.Command(program, {
    args,
    cwd: opts.cwd ?? Deno.cwd(),
    env: commandEnv("direct", opts.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 900_000);
  const pump = async (s: ReadableStream<Uint8Array>, cb?: (c: Uint8Array) => void) => {
    const parts: Uint8Array[] = [];
    for await (const c of s) {
      parts.push(c);
      cb?.(c);
    }
    let len = 0;
    for (const p of parts) len += p.length;
    const all = new Uint8Array(len);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return decoder.decode(all);
  };
  try {
    const [stdout, stderr, status] = await Promise.all([
      pump(child.stdout, opts.onStdout),
      pump(child.stderr, opts.onStderr),
      child.status,
    ]);
    const totalMs = Math.round(performance.now() - started);
    const code = status.code;
    return {
      code,
      success: code === 0,
      stdout,
      stderr,
      console: "",
      bootMs: 0,
      commandMs: totalMs,
      totalMs,
      mode: "direct",
    };
  } finally {
    clearTimeout(timer);
  }
}
