/**
 * The environment the CLI launcher hands to its child processes: a fixed
 * list of variables deno and kink use, read only when the launcher was
 * granted them. Everything else — notably `LD_*` and `DYLD_*`, which make deno
 * refuse to spawn without full `--allow-run` — is not passed.
 *
 * @module
 */

/**
 * Variables passed from the launcher to `main.ts` (and to the krb5.conf
 * helper): deno's cache and TLS settings, proxies, terminal and locale.
 */
export const PASSED_ENV = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "DENO_NO_UPDATE_CHECK",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "NPM_CONFIG_REGISTRY",
  "NO_COLOR",
  "TERM",
  "TZ",
  "LANG",
  "LC_ALL",
  "TMPDIR",
] as const;

/** The {@link PASSED_ENV} variables that are set and that this process may read. */
export function childEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PASSED_ENV) {
    try {
      if (Deno.permissions.querySync({ name: "env", variable: k }).state !== "granted") continue;
      const v = Deno.env.get(k);
      if (v !== undefined) out[k] = v;
    } catch {
      // not readable: not passed
    }
  }
  return out;
}
