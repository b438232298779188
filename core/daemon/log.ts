/**
 * The daemon's logger: one line per event on stderr, text or JSON lines.
 *
 * A small module of kink's own rather than a logging library (LogTape was
 * the candidate): the daemon needs levels, a context (peer, XID) per line,
 * two formats and one sink, and two guarantees a general library does not
 * give by construction — field values are primitives only (a `Uint8Array`
 * holding key bytes cannot be passed, by type and at run time), and every
 * control character from the wire is escaped in text output. That is ~150
 * lines with no dependency in a process that runs as root. No benchmark
 * against LogTape was made; bench/log_sink.ts measures what writing a line to
 * stderr costs (synchronous, asynchronous, batched).
 *
 * @module
 */
import { escapeControl } from "../util/text.ts";

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A field value: primitives only, so byte arrays (keys) cannot be logged. */
export type LogValue = string | number | boolean | bigint | null | undefined;

/** Fields of one log line. */
export type LogFields = Readonly<Record<string, LogValue>>;

/** Where lines go (default: stderr). */
export type LogSink = (line: string) => void;

/** Options of {@link Logger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `"info"`. */
  level?: LogLevel;
  /** `"text"` (default) or `"json"` (one JSON object per line). */
  format?: "text" | "json";
  /** Clock for timestamps, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

const encoder = new TextEncoder();

/**
 * Writes a line to stderr synchronously. Blocks the caller while stderr's
 * reader is slow: the daemon uses {@link StderrLogWriter} instead (tools and
 * tests that log a few lines may use this).
 */
export const stderrSink: LogSink = (line) => writeAllSync(encoder.encode(line + "\n"));

function writeAllSync(b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
}

async function writeAll(b: Uint8Array): Promise<void> {
  let off = 0;
  while (off < b.length) off += await Deno.stderr.write(b.subarray(off));
}

/** Options of {@link StderrLogWriter}. */
export interface LogWriterOptions {
  /** Most characters buffered while a write is in flight; later lines are dropped and counted. Default 4 MiB. */
  maxBuffered?: number;
  /** The line written before the next batch when lines were dropped (default: a plain text line). */
  droppedLine?: (count: number) => string;
  /** Asynchronous write of one batch (default: all of it to stderr). */
  write?: (bytes: Uint8Array) => Promise<void>;
  /**
   * Writes start at most this often (ms; default 5): a line logged after a quiet spell is
   * written at once (with the others of its event-loop turn), a line logged sooner than this
   * after the last write began waits for the rest of the interval and shares one write with
   * the lines logged meanwhile. An asynchronous write costs more CPU than a synchronous one
   * (bench/log_sink.ts); sharing it is what makes it cheaper per line.
   */
  delayMs?: number;
  /** Synchronous write of one batch, for {@link StderrLogWriter.flushSync} (default: stderr). */
  writeSync?: (bytes: Uint8Array) => void;
}

/**
 * The daemon's log sink: lines are queued and written to stderr in batches by
 * asynchronous writes, one at a time — the lines logged while a write is in
 * flight go out together in the next. The event loop never waits for stderr's
 * reader; a slow reader costs memory up to `maxBuffered` characters, beyond
 * which lines are dropped, counted in {@link StderrLogWriter.dropped}, and
 * announced by one line before the next batch. {@link StderrLogWriter.flush}
 * (awaited by the daemon's stop) writes everything queued; on `unload` (an
 * exit that did not stop the daemon) what is queued is written synchronously.
 */
export class StderrLogWriter {
  #queue: string[] = [];
  #queued = 0;
  #writing: Promise<void> | undefined;
  #scheduled = false;
  #unannounced = 0;
  #max: number;
  #delay: number;
  #lastStart = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #droppedLine: (count: number) => string;
  #write: (bytes: Uint8Array) => Promise<void>;
  #writeSync: (bytes: Uint8Array) => void;
  /** Lines dropped because the buffer was full (since start). */
  dropped = 0;
  /** Batches written (since start). */
  batches = 0;

  /** A writer; see the class documentation. */
  constructor(opts: LogWriterOptions = {}) {
    this.#max = opts.maxBuffered ?? 4 * 1024 * 1024;
    this.#delay = opts.delayMs ?? 5;
    this.#droppedLine = opts.droppedLine ??
      ((n) => `${new Date().toISOString()} WARN  log-dropped lines=${n}`);
    this.#write = opts.write ?? writeAll;
    this.#writeSync = opts.writeSync ?? writeAllSync;
  }

  /** The sink to give a {@link Logger}. */
  readonly sink: LogSink = (line) => {
    if (this.#queued + line.length + 1 > this.#max) {
      this.dropped++;
      this.#unannounced++;
      return;
    }
    this.#queue.push(line);
    this.#queued += line.length + 1;
    if (this.#writing === undefined) this.#schedule();
  };

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const wait = this.#lastStart + this.#delay - performance.now();
    if (wait > 0) this.#timer = setTimeout(this.#go, wait);
    else queueMicrotask(this.#go);
  }

  readonly #go = (): void => {
    this.#scheduled = false;
    this.#timer = undefined;
    this.#start();
  };

  /** Lines queued and not yet handed to a write. */
  get queued(): number {
    return this.#queue.length;
  }

  #take(): Uint8Array | undefined {
    if (this.#queue.length === 0 && this.#unannounced === 0) return undefined;
    let text = "";
    if (this.#unannounced > 0) {
      text = this.#droppedLine(this.#unannounced) + "\n";
      this.#unannounced = 0;
    }
    if (this.#queue.length > 0) text += this.#queue.join("\n") + "\n";
    this.#queue = [];
    this.#queued = 0;
    return encoder.encode(text);
  }

  #start(): void {
    if (this.#writing !== undefined) return;
    const b = this.#take();
    if (b === undefined) return;
    this.batches++;
    this.#lastStart = performance.now();
    this.#writing = this.#write(b).catch(() => {
      // stderr is gone (closed pipe): nothing else can report it
    }).finally(() => {
      this.#writing = undefined;
      if (this.#queue.length > 0 || this.#unannounced > 0) this.#schedule();
    });
  }

  /** Resolves once every line queued before (and while) it waits has been written. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#scheduled = false;
    }
    for (;;) {
      if (this.#writing === undefined) this.#start();
      const w = this.#writing;
      if (w === undefined) return;
      await w;
    }
  }

  /**
   * Writes what is queued synchronously (process exit). A batch whose
   * asynchronous write is in flight is not repeated.
   */
  flushSync(): void {
    const b = this.#take();
    if (b === undefined) return;
    try {
      this.#writeSync(b);
    } catch {
      // stderr is gone
    }
  }
}

function textValue(v: LogValue): string {
  if (v === null || v === undefined) return "-";
  const s = escapeControl(String(v));
  return s === "" || /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

function safeValue(k: string, v: unknown): LogValue {
  if (
    v === null || v === undefined || typeof v === "string" || typeof v === "number" ||
    typeof v === "boolean" || typeof v === "bigint"
  ) return v;
  // Not a primitive: never stringify it (it might hold key bytes).
  return `[${k}: ${typeof v} not logged]`;
}

/** A logger with a fixed context; {@link Logger.child} adds fields. */
export class Logger {
  #sink: LogSink;
  #rank: number;
  #format: "text" | "json";
  #now: () => number;
  #context: LogFields;

  /** A logger writing to `sink` (default stderr). */
  constructor(sink: LogSink = stderrSink, opts: LoggerOptions = {}, context: LogFields = {}) {
    this.#sink = sink;
    this.#rank = RANK[opts.level ?? "info"];
    this.#format = opts.format ?? "text";
    this.#now = opts.now ?? Date.now;
    this.#context = context;
  }

  /** A logger whose lines also carry `fields` (e.g. `{ peer: "gw-b" }`). */
  child(fields: LogFields): Logger {
    const l = new Logger(this.#sink, {
      level: (Object.keys(RANK) as LogLevel[]).find((k) => RANK[k] === this.#rank) ?? "info",
      format: this.#format,
      now: this.#now,
    }, { ...this.#context, ...fields });
    return l;
  }

  /** Changes the level and format (a reload); children made before keep theirs. */
  configure(level: LogLevel, format: "text" | "json"): void {
    this.#rank = RANK[level];
    this.#format = format;
  }

  /** Whether lines of `level` are written. */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#rank;
  }

  /** Writes one line: `event` is a short stable name (`sa-up`), fields the details. */
  log(level: LogLevel, event: string, fields: LogFields = {}): void {
    if (RANK[level] < this.#rank) return;
    this.#sink(this.format(level, event, fields));
  }

  /** The line {@link Logger.log} would write (whatever the level). */
  format(level: LogLevel, event: string, fields: LogFields = {}): string {
    const all: Record<string, LogValue> = {};
    for (const k in this.#context) all[k] = safeValue(k, this.#context[k]);
    for (const k in fields) all[k] = safeValue(k, fields[k]);
    const ts = new Date(this.#now()).toISOString();
    if (this.#format === "json") {
      const o: Record<string, unknown> = { ts, level, event };
      for (const k in all) {
        const v = all[k];
        if (v !== undefined) o[k] = typeof v === "bigint" ? v.toString() : v;
      }
      return JSON.stringify(o);
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${escapeControl(event)}`;
    for (const k in all) {
      const v = all[k];
      if (v !== undefined) line += ` ${escapeControl(k)}=${textValue(v)}`;
    }
    return line;
  }

  /** {@link Logger.log} at debug level. */
  debug(event: string, fields?: LogFields): void {
    this.log("debug", event, fields);
  }
  /** {@link Logger.log} at info level. */
  info(event: string, fields?: LogFields): void {
    this.log("info", event, fields);
  }
  /** {@link Logger.log} at warn level. */
  warn(event: string, fields?: LogFields): void {
    this.log("warn", event, fields);
  }
  /** {@link Logger.log} at error level. */
  error(event: string, fields?: LogFields): void {
    this.log("error", event, fields);
  }
}
