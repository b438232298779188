/**
 * The daemon's logger: one line per event on stderr, text or JSON lines.
 *
 * A small module of kink's own rather than a logging library (LogTape was
 * the candidate): the daemon needs levels, a context (peer, XID) per line,
 * two formats and one sink, and two guarantees a general library does not
 * give by construction — field values are primitives only (a `Uint8Array`
 * holding key bytes cannot be passed, by type and at run time), and every
 * control character from the wire is escaped in text output. That is ~150
 * lines with no dependency in a process that runs as root; bench/log_bench.ts
 * measures it against LogTape's JSON-lines formatter in the same run.
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

/** Writes a line to stderr synchronously (a log line must not be lost on exit). */
export const stderrSink: LogSink = (line) => {
  const b = encoder.encode(line + "\n");
  let off = 0;
  while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
};

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
    const all: Record<string, LogValue> = {};
    for (const [k, v] of Object.entries(this.#context)) all[k] = safeValue(k, v);
    for (const [k, v] of Object.entries(fields)) all[k] = safeValue(k, v);
    const ts = new Date(this.#now()).toISOString();
    if (this.#format === "json") {
      const o: Record<string, unknown> = { ts, level, event };
      for (const [k, v] of Object.entries(all)) {
        if (v !== undefined) o[k] = typeof v === "bigint" ? v.toString() : v;
      }
      this.#sink(JSON.stringify(o));
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${escapeControl(event)}`;
    for (const [k, v] of Object.entries(all)) {
      if (v !== undefined) line += ` ${escapeControl(k)}=${textValue(v)}`;
    }
    this.#sink(line);
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
