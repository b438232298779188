/**
 * What the current test environment can do, and the one way a test is skipped
 * when it cannot (not root, a tool missing, no ESP in the kernel): a
 * `*SkipReason()` function says why, and {@link skipUnless} turns the reasons
 * into the test's name and `ignore` flag, so every skip carries its reason in
 * the test name — visible in deno's output (even under `--quiet`) and counted
 * as "skipped" by scripts/test-all.sh.
 *
 * Usage:
 * ```ts
 * Deno.test({ ...skipUnless("two namespaces ping", netnsSkipReason()), fn: async () => {...} });
 * ```
 * Never write a bare `ignore:` in a test or benchmark: go through {@link skipUnless}.
 *
 * @module
 */

let rootCache: boolean | undefined;

/**
 * True when running as uid 0. Asks `id -u` (needs `--allow-run`): `Deno.uid()`
 * needs `--allow-sys`, and Deno's test runner refuses `/proc` reads without
 * `--allow-all`. Without `--allow-run` the answer is false.
 */
export function isRoot(): boolean {
  if (rootCache !== undefined) return rootCache;
  try {
    const out = new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" })
      .outputSync();
    rootCache = out.success && new TextDecoder().decode(out.stdout).trim() === "0";
  } catch {
    rootCache = false;
  }
  return rootCache;
}

/** True when `name` is an executable on PATH. */
export function hasCommand(name: string): boolean {
  try {
    const out = new Deno.Command("sh", {
      args: ["-c", 'command -v "$0" >/dev/null 2>&1', name],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

/** True inside the qemu VM of the VM tier (`KINK_VM=1`). */
export function inVm(): boolean {
  try {
    return Deno.env.get("KINK_VM") === "1";
  } catch {
    return false;
  }
}

/** Why the tests cannot run as root here (undefined when they can). */
export function rootSkipReason(): string | undefined {
  return isRoot() ? undefined : "needs root";
}

/** Which of `commands` are missing from PATH (undefined when none is). */
export function commandsSkipReason(...commands: string[]): string | undefined {
  const missing = commands.filter((c) => !hasCommand(c));
  return missing.length ? `missing ${missing.join(", ")} (run scripts/install.sh)` : undefined;
}

/** Why a VM-tier test cannot run here: only inside `deno task test:vm` (`KINK_VM=1`). */
export function vmSkipReason(): string | undefined {
  return inVm() ? undefined : "KINK_VM is not 1 (run it with deno task test:vm)";
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (!isRoot()) return "needs root";
  if (!hasCommand("ip")) return "missing ip (iproute2)";
  return undefined;
}

/** Why a throwaway MIT realm cannot be started here, or undefined when it can. */
export function realmSkipReason(): string | undefined {
  return commandsSkipReason("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "setpriv");
}

/**
 * Name and `ignore` flag for `Deno.test`: when `reason` is defined the test is
 * ignored and its name says why, so the skip is visible even under
 * `deno test --quiet` (which hides output printed outside tests):
 * `Deno.test({ ...skipUnless("netns: …", netnsSkipReason()), fn })`. Works for
 * `Deno.bench` too. A skipped test's name ends in `[skipped: <reasons>]`.
 */
export function skipUnless(
  name: string,
  ...reasons: (string | undefined)[]
): { name: string; ignore: boolean } {
  const why = reasons.filter((r): r is string => r !== undefined);
  return why.length === 0
    ? { name, ignore: false }
    : { name: `${name} [skipped: ${why.join("; ")}]`, ignore: true };
}
