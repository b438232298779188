/**
 * The authenticator replay cache of RFC 4120 §3.2.3.
 *
 * A service remembers every authenticator it accepted, keyed on (client,
 * server, ctime, cusec), for as long as that authenticator could still pass
 * the clock-skew check, and rejects a second presentation with
 * KRB_AP_ERR_REPEAT.
 *
 * **Expiry and the limit.** Entries are kept in a map and in a queue in the
 * order they were accepted; each check pops the expired entries at the head
 * of the queue, so expiry costs amortised O(1) per entry whatever the size.
 * An entry expires one skew interval after max(ctime, time accepted); an
 * entry at the head that is still live holds back the ones behind it, so an
 * expired entry can occupy its slot for up to one more skew interval (the
 * cache is sized for two skew intervals of traffic). At `maxEntries` live
 * entries the cache fails closed for *new* authenticators (verdict `full`):
 * it never evicts a live entry, because an evicted entry could be replayed.
 *
 * **Persistence.** With `path` the cache is persisted so that a restarted
 * service still rejects replays of authenticators it accepted before the
 * restart. The file is an append-only log of text lines (expiry time and a
 * SHA-256 digest of the key — principal names are not stored in clear).
 * Every accepted entry is written — and, `durable` by default, fsynced —
 * before {@link ReplayCache.check} says `ok`; when it cannot be written the
 * verdict is `unavailable` and the cache keeps refusing until a complete
 * snapshot has been written again (fail closed). The log is compacted from
 * time to time: a snapshot goes to `path.tmp` (created exclusively, mode
 * 0600), is fsynced, renamed over the log, and the directory is fsynced; a
 * failed compaction leaves the old log in use and is retried later.
 *
 * **Restarts.** When the file is missing at start-up (and `firstStart` is
 * not set), its header is damaged, a line is malformed, or its last line is
 * torn (a power loss in the middle of a write), the cache cannot know what
 * it accepted before, so, as RFC 4120 §3.2.3 requires, it rejects every
 * authenticator for one skew interval (verdict `recovering`); that deadline
 * is written to the file so a second restart inside the interval keeps it.
 *
 * **One process per file.** `path.lock` is locked (flock) for as long as the
 * cache is open; a second {@link ReplayCache.open} of the same file, in this
 * process or another, is refused rather than let two writers lose each
 * other's entries.
 *
 * Permissions: read and write of `path`, `path.tmp` and `path.lock`, and
 * read of the directory (to fsync it).
 *
 * @module
 */
import { sha256 } from "../crypto/mod.ts";
import { toHex } from "../util/bytes.ts";
import { KerberosError } from "./errors.ts";
import { type Clock, systemClock } from "../util/clock.ts";

/** The identity of one authenticator as the replay cache sees it. */
export interface ReplayEntry {
  /** Client principal in its string form (`user@REALM`). */
  client: string;
  /** Server principal in its string form (`kink/host@REALM`). */
  server: string;
  /** Authenticator ctime, milliseconds since the epoch (whole seconds on the wire). */
  ctimeMs: number;
  /** Authenticator cusec, 0..999999. */
  cusec: number;
}

/** Outcome of {@link ReplayCache.check} and {@link ReplayCache.peek}. */
export type ReplayVerdict =
  | { ok: true }
  | {
    ok: false;
    /** `replay`: seen before; `recovering`: cache lost, rejecting everything until
     * `until`; `full`: the entry cap is reached; `unavailable`: the entry could
     * not be persisted. */
    reason: "replay" | "recovering" | "full" | "unavailable";
    /** For `recovering`, when acceptance resumes (ms since the epoch). */
    until?: number;
  };

/** Options of {@link ReplayCache.open}. */
export interface ReplayCacheOptions {
  /** The allowed clock skew in milliseconds (entries live this long past their ctime). */
  skewMs: number;
  /** File to persist to; absent means memory only. */
  path?: string;
  /**
   * Set when the caller knows no authenticator was ever accepted under this
   * cache (first start of a new service): a missing file then does not start
   * the recovery interval. Default false, as RFC 4120 §3.2.3 requires.
   */
  firstStart?: boolean;
  /** Largest number of live entries; beyond it new authenticators are refused. Default 1,000,000. */
  maxEntries?: number;
  /** The clock. Default {@link systemClock}. */
  clock?: Clock;
  /** Clock as a bare function (older form of `clock`; `clock` wins). */
  now?: () => number;
  /**
   * fsync the log after every accepted authenticator, so that entries
   * survive a power loss, not only a crash of the process. Default true.
   * With false an entry reaches the kernel before `ok` (it survives a crash
   * of the process) but a power loss can lose the last entries without a
   * trace: use false only where the replay window is otherwise protected.
   */
  durable?: boolean;
  /**
   * Group commit: {@link ReplayCache.check} records an accepted entry in
   * memory and queues its log line; {@link ReplayCache.commit} writes every
   * queued line with one write and one fsync. The caller must call `commit`
   * (and see `true`) before anything that relied on an entry leaves the
   * process — the daemon's driver does so once per drain of the engine's
   * outputs, before any datagram of that drain is sent. Default false (each
   * entry persisted before `check` returns).
   */
  groupCommit?: boolean;
}

const MAGIC = "KINKRC1";
const RECORD_RE = /^E ([0-9]{1,15}) ([0-9a-f]{32})$/;
const RECOVER_RE = /^R ([0-9]{1,15})$/;

/** The replay cache; see the module documentation. */
export class ReplayCache {
  readonly #skewMs: number;
  readonly #path: string | undefined;
  readonly #maxEntries: number;
  readonly #clock: Clock;
  readonly #durable: boolean;
  readonly #group: boolean;
  /** Group commit: log lines of accepted entries not yet written. */
  #pending: string[] = [];
  #entries = new Map<string, number>(); // digest hex → expiry ms
  // Accepted entries in order, for expiry: parallel arrays from #qHead on.
  #qKeys: string[] = [];
  #qExp: number[] = [];
  #qHead = 0;
  #recoveringUntil = 0;
  #file: Deno.FsFile | undefined;
  #lock: Deno.FsFile | undefined;
  /** A write failed: nothing is accepted until a full snapshot is written. */
  #broken = false;
  #nextCompactTry = 0;
  #logLines = 0;
  #closed = false;
  readonly #enc = new TextEncoder();

  private constructor(opts: ReplayCacheOptions) {
    if (!(opts.skewMs > 0)) {
      throw new KerberosError("invalid-argument", "replay cache", "skew must be positive");
    }
    this.#skewMs = opts.skewMs;
    this.#path = opts.path;
    this.#maxEntries = opts.maxEntries ?? 1_000_000;
    this.#clock = opts.clock ?? (opts.now ? { now: opts.now } : systemClock);
    this.#durable = opts.durable ?? true;
    this.#group = opts.groupCommit ?? false;
  }

  /**
   * Opens a replay cache, locking, loading and compacting its file when
   * `path` is given. Throws {@link KerberosError} `"busy"` when another
   * cache holds the file, `"io"` when it cannot be read or written.
   */
  static open(opts: ReplayCacheOptions): ReplayCache {
    const rc = new ReplayCache(opts);
    try {
      rc.#open(opts.firstStart ?? false);
    } catch (e) {
      rc.close();
      throw e;
    }
    return rc;
  }

  /** The skew interval entries are remembered for, milliseconds. */
  get skewMs(): number {
    return this.#skewMs;
  }

  /** Number of entries held in memory (live, plus expired ones not yet popped). */
  get size(): number {
    return this.#entries.size;
  }

  /** Until when every authenticator is refused after a lost cache (0 when not recovering). */
  get recoveringUntil(): number {
    return this.#recoveringUntil > this.#clock.now() ? this.#recoveringUntil : 0;
  }

  /** Whether new entries cannot be persisted at present (every check says `unavailable`). */
  get unavailable(): boolean {
    return this.#broken;
  }

  /** Group commit: entries accepted but not yet persisted (0 when everything is durable). */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Persists every entry accepted since the last commit (group commit: one
   * write and one fsync for all of them). Returns true when every accepted
   * entry is persisted, false when they cannot be (the cache is then
   * unavailable: nothing that relied on an entry may leave the process, and
   * new authenticators are refused until a complete snapshot has been
   * written, which a later commit retries). Without `groupCommit`, or
   * without a file, there is nothing to do beyond reporting that state.
   */
  commit(): boolean {
    const lines = this.#startCommit();
    if (typeof lines === "boolean") return lines;
    try {
      if (this.#durable) this.#file!.syncDataSync();
    } catch {
      this.#broken = true;
      return false;
    }
    return this.#endCommit();
  }

  /**
   * {@link commit} with the fsync off the JavaScript thread: the entries
   * accepted up to this call are written at once and the promise says
   * whether they are durable; entries accepted meanwhile belong to the next
   * commit. One commit at a time (the daemon's driver chains them).
   */
  async commitAsync(): Promise<boolean> {
    const lines = this.#startCommit();
    if (typeof lines === "boolean") return lines;
    try {
      if (this.#durable) await this.#file!.syncData();
    } catch {
      this.#broken = true;
      return false;
    }
    if (this.#closed) return true;
    return this.#endCommit();
  }

  /** Writes the pending lines: their count, or the commit's outcome when nothing is left to sync. */
  #startCommit(): number | boolean {
    this.#assertOpen();
    if (this.#path === undefined) return true;
    const now = this.#clock.now();
    if (this.#broken) {
      // The snapshot holds every entry in memory, pending ones included.
      return now >= this.#nextCompactTry && this.#compact(now);
    }
    const n = this.#pending.length;
    if (n === 0) return true;
    const lines = n === 1 ? this.#pending[0]! : this.#pending.join("");
    this.#pending.length = 0;
    if (!this.#file) {
      this.#broken = true;
      return false;
    }
    try {
      writeAll(this.#file, this.#enc.encode(lines));
    } catch {
      // A partial line may have been written: only a fresh snapshot repairs the log.
      this.#broken = true;
      return false;
    }
    this.#logLines += n;
    return n;
  }

  #endCommit(): boolean {
    const now = this.#clock.now();
    if (this.#logLines > 2 * this.#entries.size + 1024 && now >= this.#nextCompactTry) {
      this.#compact(now); // on failure the log in use stays valid; retried later
    }
    return true;
  }

  /**
   * Says whether an authenticator would be refused (seen before, or the
   * cache recovering) without recording it. {@link check} decides.
   */
  peek(e: ReplayEntry): ReplayVerdict {
    this.#assertOpen();
    const now = this.#clock.now();
    if (this.#recoveringUntil > now) {
      return { ok: false, reason: "recovering", until: this.#recoveringUntil };
    }
    if (this.#entries.size === 0) return { ok: true }; // nothing to find: no digest needed
    const exp = this.#entries.get(digestEntry(e));
    if (exp !== undefined && exp > now) return { ok: false, reason: "replay" };
    return { ok: true };
  }

  /**
   * Checks one authenticator and, when it was not seen before, records it
   * (in memory and, with a file, persisted before this returns `ok`). The
   * caller must have checked the skew first: the entry is kept until
   * max(ctime, now) + skew.
   */
  check(e: ReplayEntry): ReplayVerdict {
    this.#assertOpen();
    const now = this.#clock.now();
    if (this.#recoveringUntil > now) {
      return { ok: false, reason: "recovering", until: this.#recoveringUntil };
    }
    this.#expire(now);
    const key = digestEntry(e);
    const exp = this.#entries.get(key);
    if (exp !== undefined && exp > now) return { ok: false, reason: "replay" };
    if (this.#broken && !(now >= this.#nextCompactTry && this.#compact(now))) {
      return { ok: false, reason: "unavailable" };
    }
    if (this.#entries.size >= this.#maxEntries) return { ok: false, reason: "full" };
    const expiry = Math.max(e.ctimeMs, now) + this.#skewMs;
    // In memory first: an entry that could not be persisted is still refused
    // if presented again.
    this.#entries.set(key, expiry);
    this.#qKeys.push(key);
    this.#qExp.push(expiry);
    if (this.#path !== undefined && this.#group) {
      this.#pending.push(`E ${expiry} ${key}\n`);
      return { ok: true };
    }
    if (this.#path !== undefined && !this.#append(`E ${expiry} ${key}\n`)) {
      return { ok: false, reason: "unavailable" };
    }
    if (
      this.#path !== undefined && this.#logLines > 2 * this.#entries.size + 1024 &&
      now >= this.#nextCompactTry
    ) {
      this.#compact(now); // on failure the log in use stays valid; retried later
    }
    return { ok: true };
  }

  /** Closes the file and releases the lock. The cache refuses further use. */
  close(): void {
    if (this.#closed) return;
    if (this.#pending.length > 0) this.commit(); // best effort: nothing relied on them yet
    this.#closed = true;
    for (const f of [this.#file, this.#lock]) {
      try {
        f?.close();
      } catch {
        // already closed
      }
    }
    this.#file = undefined;
    this.#lock = undefined;
  }

  #assertOpen(): void {
    if (this.#closed) throw new KerberosError("disposed", "replay cache", "cache is closed");
  }

  /** Pops expired entries off the head of the queue. */
  #expire(now: number): void {
    let h = this.#qHead;
    const keys = this.#qKeys, exps = this.#qExp;
    while (h < keys.length && exps[h]! <= now) {
      const k = keys[h]!;
      if (this.#entries.get(k) === exps[h]) this.#entries.delete(k);
      h++;
    }
    if (h > 1024 && h * 2 > keys.length) {
      this.#qKeys = keys.slice(h);
      this.#qExp = exps.slice(h);
      h = 0;
    }
    this.#qHead = h;
  }

  #open(firstStart: boolean): void {
    const now = this.#clock.now();
    const path = this.#path;
    if (path === undefined) {
      if (!firstStart) this.#recoveringUntil = now + this.#skewMs;
      return;
    }
    this.#takeLock(path);
    let bytes: Uint8Array | undefined;
    try {
      bytes = Deno.readFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new KerberosError("io", `replay cache ${path}`, "cannot read the file", {
          cause: e,
        });
      }
    }
    let clean = false;
    if (bytes === undefined) {
      if (!firstStart) this.#recoveringUntil = now + this.#skewMs;
    } else {
      clean = this.#load(bytes, now);
      if (!clean) this.#recoveringUntil = Math.max(this.#recoveringUntil, now + this.#skewMs);
    }
    if (this.#compact(now)) return;
    // The snapshot could not be written. A clean existing log is still a
    // valid place to append to; anything else is refused.
    if (bytes === undefined || !clean) {
      throw new KerberosError(
        "io",
        `replay cache ${path}`,
        `cannot write a snapshot to ${path}.tmp and the existing file cannot be appended to`,
      );
    }
    try {
      this.#file = Deno.openSync(path, { append: true });
    } catch (e) {
      throw new KerberosError("io", `replay cache ${path}`, "cannot open the file for append", {
        cause: e,
      });
    }
    this.#broken = false;
    if (this.#recoveringUntil > now && !this.#append(`R ${this.#recoveringUntil}\n`)) {
      throw new KerberosError("io", `replay cache ${path}`, "cannot append to the file");
    }
  }

  #takeLock(path: string): void {
    const lockPath = `${path}.lock`;
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(lockPath, { read: true, write: true, create: true, mode: 0o600 });
    } catch (e) {
      throw new KerberosError("io", `replay cache ${path}`, `cannot open ${lockPath}`, {
        cause: e,
      });
    }
    let locked = false;
    try {
      locked = f.tryLockSync(true);
    } catch (e) {
      f.close();
      throw new KerberosError("io", `replay cache ${path}`, `cannot lock ${lockPath}`, {
        cause: e,
      });
    }
    if (!locked) {
      f.close();
      throw new KerberosError(
        "busy",
        `replay cache ${path}`,
        `the file is in use by another replay cache (${lockPath} is locked); ` +
          "two services must not share one replay cache",
      );
    }
    this.#lock = f;
  }

  /** Loads the log; false when it cannot be trusted to hold every accepted entry. */
  #load(bytes: Uint8Array, now: number): boolean {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return false;
    }
    const lines = text.split("\n");
    if (lines[0] !== MAGIC || lines.length < 2) return false; // not ours, or damaged header
    // The file ends with "\n"; anything after the last one is a torn write.
    let clean = lines[lines.length - 1] === "";
    const loaded: [string, number][] = [];
    for (let i = 1; i < lines.length - 1; i++) {
      const line = lines[i]!;
      let m = RECORD_RE.exec(line);
      if (m) {
        const exp = Number(m[1]);
        if (exp > now) loaded.push([m[2]!, exp]);
        continue;
      }
      m = RECOVER_RE.exec(line);
      if (m) {
        this.#recoveringUntil = Math.max(this.#recoveringUntil, Number(m[1]));
        continue;
      }
      clean = false;
    }
    loaded.sort((a, b) => a[1] - b[1]);
    for (const [k, exp] of loaded) {
      if ((this.#entries.get(k) ?? 0) < exp) this.#entries.set(k, exp);
      this.#qKeys.push(k);
      this.#qExp.push(exp);
    }
    return clean;
  }

  /**
   * Writes a snapshot of the live entries to `path.tmp`, fsyncs it, renames
   * it over the log and fsyncs the directory; the snapshot's handle becomes
   * the log's. Returns false (and keeps the old log in use) on failure.
   */
  #compact(now: number): boolean {
    const path = this.#path!;
    const tmp = path + ".tmp";
    const parts = [MAGIC + "\n"];
    if (this.#recoveringUntil > now) parts.push(`R ${this.#recoveringUntil}\n`);
    for (const [k, exp] of this.#entries) if (exp > now) parts.push(`E ${exp} ${k}\n`);
    let f: Deno.FsFile | undefined;
    let created = false;
    let renamed = false;
    try {
      // A leftover temp file is ours (we hold the lock); anything else there
      // (a directory, a link) makes the compaction fail.
      try {
        if (Deno.lstatSync(tmp).isFile) Deno.removeSync(tmp);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      f = Deno.openSync(tmp, { read: true, write: true, createNew: true, mode: 0o600 });
      created = true;
      writeAll(f, this.#enc.encode(parts.join("")));
      f.syncSync();
      Deno.renameSync(tmp, path);
      renamed = true;
      const old = this.#file;
      this.#file = f;
      f = undefined;
      this.#logLines = parts.length;
      this.#pending.length = 0; // the snapshot holds every entry in memory
      try {
        old?.close();
      } catch {
        // already closed
      }
      syncDirectory(path);
      this.#broken = false;
      return true;
    } catch {
      if (f) {
        try {
          f.close();
        } catch {
          // already closed
        }
      }
      if (created && !renamed) {
        try {
          Deno.removeSync(tmp);
        } catch {
          // already gone
        }
      } else if (renamed) {
        this.#broken = true; // the rename may not be durable: write it again
      }
      this.#nextCompactTry = now + Math.max(1000, this.#skewMs / 8);
      return false;
    }
  }

  /** Appends one line (fsynced when durable); false, and the cache broken, on failure. */
  #append(line: string): boolean {
    if (!this.#file || this.#broken) {
      this.#broken = true;
      return false;
    }
    try {
      writeAll(this.#file, this.#enc.encode(line));
      if (this.#durable) this.#file.syncDataSync();
    } catch {
      // A partial line may have been written: only a fresh snapshot repairs the log.
      this.#broken = true;
      return false;
    }
    this.#logLines++;
    return true;
  }
}

function writeAll(f: Deno.FsFile, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += f.writeSync(data.subarray(off));
}

/** fsyncs the directory holding `path`, so that a rename in it is durable. */
function syncDirectory(path: string): void {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const d = Deno.openSync(dir, { read: true });
  try {
    d.syncSync();
  } finally {
    d.close();
  }
}

const utf8 = new TextEncoder();

/**
 * SHA-256 of the key fields (UTF-8), truncated to 128 bits, as hex: the
 * form persisted in the log. The crypto core's SHA-256 does for one short
 * string what a node:crypto hash object did at several times the cost.
 */
function digestEntry(e: ReplayEntry): string {
  const text = `${e.client}\u0000${e.server}\u0000${Math.floor(e.ctimeMs / 1000)}\u0000${e.cusec}`;
  // Encoded into one reused buffer (no per-call array); UTF-8 needs at most
  // 3 octets per UTF-16 unit, and a longer string gets its own buffer.
  let buf = digestScratch;
  if (text.length * 3 > buf.length) buf = new Uint8Array(text.length * 3);
  const n = utf8.encodeInto(text, buf).written;
  const d = sha256(buf.subarray(0, n));
  return toHex(d.subarray(0, 16));
}

/** {@link digestEntry}'s encoding buffer (principal names, not secrets). */
const digestScratch = new Uint8Array(1024);
