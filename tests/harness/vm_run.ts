/**
 * Entry point of `deno task test:vm`: runs every `tests/vm/**\/*_test.ts` on a kernel with ESP.
 *
 * 1. Type-checks (and so caches every dependency of) the VM-tier test files on the host: the
 *    VM has no network, and the tests run there with `--no-check --cached-only`.
 * 2. If the running kernel already installs ESP SAs ({@link hostHasEsp}), runs
 *    `deno test --no-check --cached-only --allow-all <files>` directly; otherwise boots the qemu VM
 *    ({@link runInVm}) with the host's deno, checkout and Deno cache and runs it there as root.
 *    Either way the tests see `KINK_VM=1` (and `KINK_VM_MODE=qemu|direct`).
 * 3. Streams deno test's output, prints timing, and as the last line
 *    `N passed, N failed, N skipped` (skipped = deno's "ignored": tests skipped through
 *    tests/harness/tiers.ts `skipUnless`, each naming its reason);
 *    exits non-zero when a test failed or the VM could not run them.
 *
 * Arguments: optional paths (files or folders under tests/vm) to run instead of all of them;
 * arguments starting with `-` go to `deno test` (e.g. `--filter=SA`, `--fail-fast`).
 * Environment: `KINK_VM_FORCE=qemu|direct` forces the mode; `KINK_VM_TIMEOUT` (seconds, default
 * 1500) bounds the whole VM run; `KINK_VM_MEMORY` (MiB) sizes the guest; `KINK_VM_CACHE` moves
 * the kernel cache. See scripts/vm/README.md.
 *
 * @module
 */
import { relative, resolve } from "node:path";
import { hostHasEsp, runWithEsp, type VmResult } from "./vm.ts";

const ROOT = resolve(new URL("../../", import.meta.url).pathname);

/** What the VM tier's tests start as `kink` processes (see the warm-up in main()). */
const CLI_MODULES = [
  "../../core/cli/launch.ts",
  "../../core/cli/main.ts",
  "../../core/cli/commands/daemon_flags_helper.ts",
  "../../core/cli/commands/daemon_run.ts",
  "../../core/cli/commands/sa_run.ts",
  "../../core/cli/commands/policy_run.ts",
  "../../core/cli/commands/decode_run.ts",
];
const encoder = new TextEncoder();

function say(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

async function collectTests(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await Deno.stat(p);
    if (st.isFile) {
      if (p.endsWith("_test.ts")) found.push(relative(ROOT, p));
      return;
    }
    for await (const e of Deno.readDir(p)) await walk(`${p}/${e.name}`);
  };
  for (const p of paths) await walk(resolve(p));
  return [...new Set(found)].sort();
}

/** Parses deno test's summary line, e.g. `ok | 3 passed | 0 failed | 1 ignored (4s)`. */
export function parseSummary(
  output: string,
): { passed: number; failed: number; skipped: number } | undefined {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const m = [
    ...plain.matchAll(/^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/gm),
  ]
    .at(-1);
  if (!m) return undefined;
  const line = plain.slice(m.index!).split("\n", 1)[0]!;
  const ignored = /\| (\d+) ignored/.exec(line);
  return { passed: Number(m[1]), failed: Number(m[2]), skipped: ignored ? Number(ignored[1]) : 0 };
}

async function denoDir(): Promise<string | undefined> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  try {
    return JSON.parse(new TextDecoder().decode(o.stdout)).denoDir;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  Deno.chdir(ROOT);
  const flags = Deno.args.filter((a) => a.startsWith("-"));
  const paths = Deno.args.filter((a) => !a.startsWith("-"));
  const files = await collectTests(paths.length ? paths : ["tests/vm"]);
  if (files.length === 0) {
    say("vm tier: no tests/vm/**/*_test.ts files");
    say("0 passed, 0 failed, 0 skipped");
    return 0;
  }

  // 1. Cache and type-check on the host (the VM has no network).
  const t0 = performance.now();
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", ...files],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!check.success) {
    say("vm tier: type check of the VM-tier tests failed on the host");
    say(`0 passed, ${files.length} failed, 0 skipped`);
    return 1;
  }
  const checkMs = performance.now() - t0;

  // 2. Run them where ESP exists.
  const direct = await hostHasEsp();
  if (!direct) {
    // The VM sees the host's Deno cache read-only (its own writes vanish at power-off), and
    // `deno check` above writes no transpiled code: the `kink` processes the tests start in
    // the VM (launcher, the daemon's flag helper, main.ts and the subcommands' bodies) would
    // transpile and compile every module again in each process whenever the host has not run
    // this source yet (a fresh checkout, an edit) — about 4 s per process under TCG against a
    // warm cache. Loading them here puts their transpiled code and V8 code cache on the host
    // (their `import.meta.main` blocks do not run).
    await Promise.all(CLI_MODULES.map((m) => import(new URL(m, import.meta.url).href)));
  }
  say(
    `vm tier: ${files.length} file(s), ${
      direct ? "running directly (this kernel has ESP)" : "booting qemu (this kernel has no ESP)"
    }`,
  );
  const env: Record<string, string> = {};
  const dir = Deno.env.get("DENO_DIR") ?? await denoDir();
  if (dir) env.DENO_DIR = dir;
  if (!Deno.stdout.isTerminal()) env.NO_COLOR = "1";
  const timeoutS = Number(Deno.env.get("KINK_VM_TIMEOUT") ?? "1500");
  let result: VmResult;
  try {
    result = await runWithEsp({
      cmd: [
        Deno.execPath(),
        "test",
        "--no-check",
        "--cached-only",
        "--allow-all",
        ...flags,
        ...files,
      ],
      cwd: ROOT,
      env,
      timeoutMs: (Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : 1500) * 1000,
      onStdout: (c) => Deno.stdout.writeSync(c),
      onStderr: (c) => Deno.stderr.writeSync(c),
    });
  } catch (e) {
    const err = e as Error & { console?: string };
    say(`vm tier: ${err.message}`);
    if (err.console && !err.message.includes(err.console.trimEnd())) say(err.console.trimEnd());
    say(`0 passed, ${files.length} failed, 0 skipped`);
    return 1;
  }

  // 3. Summary.
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  say(
    `vm tier: mode ${result.mode}, host check ${s(checkMs)}, boot ${s(result.bootMs)}, ` +
      `deno test ${s(result.commandMs)}, total ${s(result.totalMs)}, exit ${result.code}`,
  );
  const summary = parseSummary(result.stdout);
  if (!summary) {
    say("vm tier: deno test printed no summary");
    say(`0 passed, ${Math.max(1, files.length)} failed, 0 skipped`);
    return 1;
  }
  say(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return result.code === 0 && summary.failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
