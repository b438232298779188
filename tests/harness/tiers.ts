/**
 * What the current test environment can do, and how tests skip with a clear
 * message when it cannot (not root, a tool missing, no ESP in the kernel).
 *
 * Usage:
 * ```ts
 * Deno.test({ name: "two namespaces ping", ignore: !canUseNetns(), fn: async () => {...} });
 * ```
 * The first call that decides to skip prints one line naming the reason, so a
 * skipped test is never silent.
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

const warned = new Set<string>();

/** Prints `skipping <what>: <reason>` once per distinct message. */
export function reportSkip(what: string, reason: string): void {
  const line = `skipping ${what}: ${reason}`;
  if (warned.has(line)) return;
  warned.add(line);
  console.error(line);
}

/**
 * Returns true when the tests named by `what` can run as root; otherwise
 * prints why they are skipped and returns false. Use as `ignore: !requireRoot("…")`.
 */
export function requireRoot(what: string): boolean {
  if (isRoot()) return true;
  reportSkip(what, "needs root (run the integration tier as root)");
  return false;
}

/** Returns true when every command is on PATH; otherwise prints which are missing. */
export function requireCommands(what: string, ...commands: string[]): boolean {
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length === 0) return true;
  reportSkip(what, `missing ${missing.join(", ")} (run scripts/install.sh)`);
  return false;
}

/** True when network namespaces can be created here (root and `ip` present). */
export function canUseNetns(what = "network namespace tests"): boolean {
  return requireRoot(what) && requireCommands(what, "ip");
}

/** True when a throwaway MIT realm can be started (MIT KDC tools present). */
export function canStartRealm(what = "MIT KDC tests"): boolean {
  return requireCommands(what, "krb5kdc", "kdb5_util", "kadmin.local", "kinit", "setpriv");
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (!isRoot()) return "needs root";
  if (!hasCommand("ip")) return "missing ip (iproute2)";
  return undefined;
}

/** Why a throwaway MIT realm cannot be started here, or undefined when it can. */
export function realmSkipReason(): string | undefined {
  const missing = ["krb5kdc", "kdb5_util", "kadmin.local", "kinit", "setpriv"].filter((c) =>
    !hasCommand(c)
  );
  return missing.length ? `missing ${missing.join(", ")} (run scripts/install.sh)` : undefined;
}

/**
 * Name and `ignore` flag for `Deno.test`: when `reason` is defined the test is
 * ignored and its name says why, so the skip is visible even under
 * `deno test --quiet` (which hides output printed outside tests):
 * `Deno.test({ ...skipUnless("netns: …", netnsSkipReason()), fn })`.
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
