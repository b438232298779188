/**
 * The authenticator replay cache of RFC 4120 §3.2.3.
 *
 * A service remembers every authenticator it accepted, keyed on (client,
 * server, ctime, cusec), for as long as that authenticator could still pass
 * the clock-skew check, and rejects a second presentation with
 * KRB_AP_ERR_REPEAT. Memory is bounded: an entry is dropped once its ctime is
 * more than one skew interval in the past, and a hard cap on the number of
 * live entries makes the cache fail closed rather than grow without limit.
 *
 * The cache can be persisted to a file so that a restarted service still
 * rejects replays of authenticators it accepted before the restart. The file
 * is an append-only log of fixed-size text lines (expiry time and a SHA-256
 * digest of the key — principal names are not stored in clear), compacted
 * from time to time by writing a snapshot to a temporary file and renaming it
 * over the log. When the file is missing at start-up the cache cannot know
 * what it accepted before, so, as RFC 4120 §3.2.3 requires, it rejects every
 * authenticator for one skew interval; that "recovering" deadline is written
 * to the new file so a second restart inside the interval keeps it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { KerberosError } from "./errors.ts";

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

/** Outcome of {@link ReplayCache.check}. */
export type ReplayVerdict =
  | { ok: true }
  | {
    ok: false;
    /** `replay`: seen before; `recovering`: cache lost, rejecting everything until
     * `until`; `full`: the entry cap is reached. */
    reason: "replay" | "recovering" | "full";
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
  /** Clock, milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * fsync the file after every accepted authenticator, so that entries
   * survive a power loss, not only a process crash. Default false (each
   * entry is written to the kernel at once, which survives a crash).
   */
  durable?: boolean;
}

const MAGIC = "KINKRC1";
const RECORD_RE = /^E ([0-9]{1,15}) ([0-9a-f]{32})$/;
const RECOVER_RE = /^R ([0-9]{1,15})$/;

/** The replay cache; see the module documentation. */
export class ReplayCache {
  readonly #skewMs: number;
  readonly #path: string | undefined;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #durable: boolean;
  #entries = new Map<string, number>(); // digest hex → expiry ms
  #recoveringUntil = 0;
  #file: Deno.FsFile | undefined;
  #logLines = 0;
  #lastSweep = 0;
  #closed = false;
  readonly #enc = new TextEncoder();

  private constructor(opts: ReplayCacheOptions) {
    if (!(opts.skewMs > 0)) {
      throw new KerberosError("invalid-argument", "replay cache", "skew must be positive");
    }
    this.#skewMs = opts.skewMs;
    this.#path = opts.path;
    this.#maxEntries = opts.maxEntries ?? 1_000_000;
    this.#now = opts.now ?? Date.now;
    this.#durable = opts.durable ?? false;
  }

  /**
   * Opens a replay cache, loading and compacting its file when `path` is
   * given. Needs read and write permission for `path` and `path + ".tmp"`.
   */
  static open(opts: ReplayCacheOptions): ReplayCache {
    const rc = new ReplayCache(opts);
    rc.#load(opts.firstStart ?? false);
    return rc;
  }

  /** Number of live entries held in memory. */
  get size(): number {
    return this.#entries.size;
  }

  /** Until when every authenticator is refused after a lost cache (0 when not recovering). */
  get recoveringUntil(): number {
    return this.#recoveringUntil > this.#now() ? this.#recoveringUntil : 0;
  }

  /**
   * Checks one authenticator and, when it was not seen before, records it
   * (in memory and in the file). The caller must have checked the skew first:
   * the entry is kept until `ctimeMs + skew`.
   */
  check(e: ReplayEntry): ReplayVerdict {
    if (this.#closed) throw new KerberosError("disposed", "replay cache", "cache is closed");
    const now = this.#now();
    if (this.#recoveringUntil > now) {
      return { ok: false, reason: "recovering", until: this.#recoveringUntil };
    }
    if (now - this.#lastSweep > this.#skewMs / 8 || this.#entries.size >= this.#maxEntries) {
      this.#sweep(now);
    }
    const key = digestEntry(e);
    const exp = this.#entries.get(key);
    if (exp !== undefined && exp > now) return { ok: false, reason: "replay" };
    if (this.#entries.size >= this.#maxEntries) return { ok: false, reason: "full" };
    const expiry = Math.max(e.ctimeMs, now) + this.#skewMs;
    this.#entries.set(key, expiry);
    this.#append(`E ${expiry} ${key}\n`);
    return { ok: true };
  }

  /** Flushes and closes the file. The cache refuses further use. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file?.close();
    this.#file = undefined;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [k, exp] of this.#entries) if (exp <= now) this.#entries.delete(k);
    if (this.#path && this.#logLines > 2 * this.#entries.size + 1024) this.#compact();
  }

  #load(firstStart: boolean): void {
    const now = this.#now();
    if (this.#path === undefined) {
      if (!firstStart) this.#recoveringUntil = now + this.#skewMs;
      return;
    }
    let text: string | undefined;
    try {
      text = Deno.readTextFileSync(this.#path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new KerberosError("io", `replay cache ${this.#path}`, "cannot read the file", {
          cause: e,
        });
      }
    }
    if (text === undefined) {
      if (!firstStart) this.#recoveringUntil = now + this.#skewMs;
    } else {
      const lines = text.split("\n");
      if (lines[0] !== MAGIC) {
        // Not our file or damaged beyond its header: treat as lost.
        this.#recoveringUntil = now + this.#skewMs;
      } else {
        for (let i = 1; i < lines.length; i++) {
          const line = lines[i]!;
          let m = RECORD_RE.exec(line);
          if (m) {
            const exp = Number(m[1]);
            if (exp > now) this.#entries.set(m[2]!, exp);
            continue;
          }
          m = RECOVER_RE.exec(line);
          if (m) {
            this.#recoveringUntil = Math.max(this.#recoveringUntil, Number(m[1]));
            continue;
          }
          // A torn last line after a crash is expected; anything else means
          // the log cannot be trusted.
          if (line !== "" && i !== lines.length - 1) {
            this.#recoveringUntil = Math.max(this.#recoveringUntil, now + this.#skewMs);
          }
        }
      }
    }
    this.#compact();
  }

  /** Writes a snapshot of the live entries and renames it over the log. */
  #compact(): void {
    const path = this.#path!;
    const now = this.#now();
    const parts = [MAGIC + "\n"];
    if (this.#recoveringUntil > now) parts.push(`R ${this.#recoveringUntil}\n`);
    for (const [k, exp] of this.#entries) if (exp > now) parts.push(`E ${exp} ${k}\n`);
    const tmp = path + ".tmp";
    try {
      this.#file?.close();
      this.#file = undefined;
      const f = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
      try {
        const data = this.#enc.encode(parts.join(""));
        let off = 0;
        while (off < data.length) off += f.writeSync(data.subarray(off));
        f.syncSync();
      } finally {
        f.close();
      }
      Deno.renameSync(tmp, path);
      this.#file = Deno.openSync(path, { append: true });
      this.#logLines = parts.length;
    } catch (e) {
      throw new KerberosError("io", `replay cache ${path}`, "cannot write the file", { cause: e });
    }
  }

  #append(line: string): void {
    if (!this.#file) return;
    const data = this.#enc.encode(line);
    try {
      let off = 0;
      while (off < data.length) off += this.#file.writeSync(data.subarray(off));
      if (this.#durable) this.#file.syncDataSync();
    } catch (e) {
      throw new KerberosError("io", `replay cache ${this.#path}`, "cannot append to the file", {
        cause: e,
      });
    }
    this.#logLines++;
  }
}

/** SHA-256 of the key fields, truncated to 128 bits, as hex. */
function digestEntry(e: ReplayEntry): string {
  const h = createHash("sha256");
  h.update(`${e.client}\u0000${e.server}\u0000${Math.floor(e.ctimeMs / 1000)}\u0000${e.cusec}`);
  return h.digest("hex").slice(0, 32);
}
