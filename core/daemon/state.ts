/**
 * The daemon's state directory: created mode 0700, refused when others can
 * write to it, locked so two daemons never share it, and the small state
 * files written atomically (temp file with a random name, fsync, rename,
 * fsync of the directory) so a crash at any point leaves the old or the new
 * content, never a mix. A crash between creating the temp file and renaming
 * it leaves the temp file behind; the next start removes those (only names
 * of {@link writeAtomic}'s own pattern, only regular files, under the lock).
 *
 * @module
 */
import { DaemonError } from "./errors.ts";
import { escapeControl } from "../util/text.ts";
import { nextEpoch } from "../engine/mod.ts";

/**
 * Opens (creating if needed) and checks the state directory; returns the
 * held lock, whether the directory was created now (a first start), and the
 * stale temp files of interrupted atomic writes it removed.
 */
export async function openStateDir(
  dir: string,
): Promise<{ lock: Deno.FsFile; warnings: string[]; created: boolean; removedTemps: string[] }> {
  const shown = escapeControl(dir);
  const warnings: string[] = [];
  let created = false;
  try {
    await Deno.lstat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) created = true;
  }
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DaemonError(
      "state",
      `state directory ${shown}`,
      `cannot create: ${(e as Error).message}`,
    );
  }
  const st = await Deno.lstat(dir);
  if (!st.isDirectory) {
    throw new DaemonError("state", `state directory ${shown}`, "is not a directory");
  }
  const mode = (st.mode ?? 0) & 0o777;
  if (mode & 0o022) {
    throw new DaemonError(
      "state",
      `state directory ${shown}`,
      `mode ${mode.toString(8)} lets others write to it; chmod 700 it`,
    );
  }
  if (mode & 0o005) {
    warnings.push(`state directory ${shown} is readable by others (mode ${mode.toString(8)})`);
  }
  const uid = Deno.uid();
  if (uid !== null && st.uid !== null && st.uid !== uid && st.uid !== 0) {
    throw new DaemonError(
      "state",
      `state directory ${shown}`,
      `owned by uid ${st.uid}, not by us (${uid}) or root`,
    );
  }
  const lock = await Deno.open(`${dir}/kink.lock`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  try {
    const got = await Promise.race([
      lock.lock(true).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
    ]);
    if (!got) {
      throw new DaemonError(
        "state",
        `state directory ${shown}`,
        "another kink daemon holds its lock",
      );
    }
  } catch (e) {
    lock.close();
    throw e;
  }
  // Under the lock no other daemon writes here: temp files are from a killed one.
  let removedTemps: string[];
  try {
    removedTemps = await removeStaleTemps(dir);
  } catch (e) {
    lock.close();
    throw new DaemonError(
      "state",
      `state directory ${shown}`,
      `cannot remove stale temp files: ${escapeControl((e as Error).message)}`,
    );
  }
  return { lock, warnings, created, removedTemps };
}

/** The temp file names {@link writeAtomic} makes: `<file>.<16 hex digits>.tmp`. */
const TEMP_NAME = /^[^/]+\.[0-9a-f]{16}\.tmp$/;

/**
 * Removes the temp files of interrupted {@link writeAtomic} calls from `dir`
 * (regular files named by its pattern; anything else is left alone). Call
 * only while holding the directory's lock. Returns the names removed.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !TEMP_NAME.test(e.name)) continue;
    try {
      await Deno.remove(`${dir}/${e.name}`);
      removed.push(e.name);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return removed;
}

/** Writes `data` to `path` atomically and durably. */
export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = path.slice(0, Math.max(1, path.lastIndexOf("/")));
  const rnd = Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const tmp = `${path}.${rnd}.tmp`;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
    await f.sync();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Reads a JSON state file; undefined when it does not exist. */
export async function readJsonState<T>(path: string, maxOctets = 1 << 20): Promise<T | undefined> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const shown = escapeControl(path);
  if (!st.isFile) throw new DaemonError("state", shown, "is not a regular file");
  if (st.size > maxOctets) throw new DaemonError("state", shown, `larger than ${maxOctets} octets`);
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    throw new DaemonError("state", shown, `unreadable: ${escapeControl((e as Error).message)}`);
  }
}

/** The state file that keeps the last epoch this daemon announced (`epoch.json`). */
export interface EpochState {
  /** Format version. */
  version: 1;
  /** The epoch of the last start (RFC 4430 §4.2.1; 32-bit POSIX seconds). */
  epoch: number;
}

/**
 * Chooses this start's epoch (`nextEpoch` of core/engine) and persists it in
 * `dir/epoch.json` before it is used: a daemon that cannot record it refuses
 * to start (the next start could announce the same epoch again, and its peer
 * would keep SAs this daemon no longer holds).
 */
export async function claimEpoch(
  dir: string,
  nowMs: number,
): Promise<{ epoch: number; previous?: number }> {
  const path = `${dir}/epoch.json`;
  let st: EpochState | undefined;
  try {
    st = await readJsonState<EpochState>(path);
  } catch (e) {
    if (e instanceof DaemonError) throw e;
    throw new DaemonError(
      "state",
      escapeControl(path),
      `cannot read the epoch: ${escapeControl((e as Error).message)}`,
    );
  }
  let previous: number | undefined;
  if (st !== undefined) {
    if (
      typeof st !== "object" || st === null || st.version !== 1 ||
      !Number.isInteger(st.epoch) || st.epoch < 0 || st.epoch > 0xffffffff
    ) {
      throw new DaemonError(
        "state",
        escapeControl(path),
        "not an epoch state file (kink writes it atomically; remove it to start afresh)",
      );
    }
    previous = st.epoch;
  }
  const epoch = nextEpoch(nowMs, previous);
  const data: EpochState = { version: 1, epoch };
  try {
    await writeAtomic(path, new TextEncoder().encode(JSON.stringify(data) + "\n"));
  } catch (e) {
    throw new DaemonError(
      "state",
      escapeControl(path),
      `cannot record the epoch: ${escapeControl((e as Error).message)}`,
    );
  }
  return previous === undefined ? { epoch } : { epoch, previous };
}

/**
 * Why a file holding secret keys (keytab, ccache) is unsafe, or undefined
 * when it is not: group or others may read or write it, or it belongs to
 * another user than us or root. The daemon warns (MIT krb5 and kinkd accept
 * any mode, so refusing would break set-ups that work with them); the
 * warning names the mode and the fix.
 */
export async function unsafeSecretFile(
  path: string,
  what: string,
): Promise<string | undefined> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    return undefined; // reading it reports what is wrong
  }
  const shown = `${what} ${escapeControl(path)}`;
  const mode = (st.mode ?? 0) & 0o777;
  const problems: string[] = [];
  if (mode & 0o077) {
    const who = [mode & 0o070 ? "its group" : "", mode & 0o007 ? "others" : ""].filter((x) => x)
      .join(" and ");
    problems.push(
      `mode ${mode.toString(8).padStart(3, "0")} lets ${who} ${
        mode & 0o022 ? "read or change" : "read"
      } it (chmod 600 it)`,
    );
  }
  const uid = Deno.uid();
  if (uid !== null && st.uid !== null && st.uid !== uid && st.uid !== 0) {
    problems.push(`it belongs to uid ${st.uid}, not to us (${uid}) or root (chown it)`);
  }
  if (problems.length === 0) return undefined;
  return `${shown}: ${problems.join("; ")}: whoever can read its keys can impersonate ` +
    "this gateway's peers to it, and whoever can change it, pick the keys it trusts";
}
