/**
 * The contract every `kink` subcommand implements, and the argument parser
 * shared by the CLI and its permission launcher.
 *
 * A subcommand declares its options once; from that declaration come its
 * `--help` text, its argument parsing, and the exact Deno permission flags the
 * launcher grants it (computed from the parsed arguments, so that e.g.
 * `--allow-read` names only the files the operator passed).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../errors.ts";
import { escapeControl } from "../util/text.ts";

/** One option of a subcommand. */
export interface OptionSpec {
  /** `string` takes a value, `boolean` is a flag. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** May be given several times (values collected in an array). */
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `FILE`. */
  arg?: string;
  /** One line of help. */
  description: string;
  /**
   * The value names a file (comma-separated files when the option is a
   * list): the launcher resolves it against the caller's directory.
   */
  path?: "file" | "list";
}

/** Parsed arguments of a subcommand. */
export interface ParsedArgs {
  /** Option values by long name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/** Where a subcommand writes; injectable so tests can capture output. */
export interface CommandIO {
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
}

/** A `kink` subcommand. */
export interface Command {
  /** Name as typed after `kink` (may contain a space for nested commands, e.g. `sa list`). */
  name: string;
  /** One line shown in `kink --help`. */
  summary: string;
  /** Usage line after `kink `, e.g. `decode FILE.pcap --keytab K1[,K2…]`. */
  usage: string;
  /** Longer help text (plain text, may span lines). */
  description?: string;
  /** Options (`--help` is added automatically). */
  options: Record<string, OptionSpec>;
  /** Smallest and largest number of positional arguments. */
  positionals?: { min: number; max: number; name?: string; path?: boolean };
  /**
   * Deno permission flags the subcommand needs for these arguments, e.g.
   * `["--allow-read=capture.pcap,B.keytab"]`. The launcher runs the
   * subcommand with exactly these and nothing else.
   */
  permissions(args: ParsedArgs): string[];
  /** Human-readable explanation of each permission, shown in `--help`. */
  permissionNotes: string[];
  /** Runs the subcommand; resolves to the process exit code. */
  run(args: ParsedArgs, io: CommandIO): Promise<number>;
}

/** Error raised for a bad command line; the CLI prints it in one line and exits 2. */
export class UsageError extends ConfigError {
  /** @param detail what is wrong with the command line */
  constructor(detail: string) {
    super("usage", "", detail);
  }
}

/**
 * Parses `argv` against a command's option specification.
 * Unknown options and wrong positional counts raise {@link UsageError}.
 */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs & { help: boolean } {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(cmd.options)) {
    const spec: { type: "string" | "boolean"; short?: string; multiple?: boolean } = {
      type: o.type,
    };
    if (o.short !== undefined) spec.short = o.short;
    if (o.multiple !== undefined) spec.multiple = o.multiple;
    options[name] = spec;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new UsageError(`kink ${cmd.name}: ${firstLine(msg)}`);
  }
  const values = parsed.values as ParsedArgs["values"];
  const help = values.help === true;
  delete values.help;
  const positionals = parsed.positionals;
  const p = cmd.positionals ?? { min: 0, max: 0 };
  if (!help && (positionals.length < p.min || positionals.length > p.max)) {
    const want = p.min === p.max ? `${p.min}` : `${p.min}..${p.max}`;
    throw new UsageError(
      `kink ${cmd.name}: expected ${want} argument(s), got ${positionals.length} (see --help)`,
    );
  }
  return { values, positionals, help };
}

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return (i < 0 ? s : s.slice(0, i)).replace(/\. To specify a positional.*$/, "");
}

/** Returns the value of a string option, or undefined. */
export function stringOpt(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) {
    const last = v[v.length - 1];
    return typeof last === "string" ? last : undefined;
  }
  return typeof v === "string" ? v : undefined;
}

/** Returns the values of a repeatable or comma-separated string option. */
export function listOpt(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  const raw = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return raw.filter((x): x is string => typeof x === "string").flatMap((x) =>
    x.split(",").filter((s) => s.length > 0)
  );
}

/** Returns true when a boolean flag was given. */
export function flagOpt(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Renders the `--help` text of a command. */
export function renderHelp(cmd: Command): string {
  const lines = [`Usage: kink ${cmd.usage}`, "", cmd.summary];
  if (cmd.description) lines.push("", cmd.description);
  const opts = Object.entries(cmd.options);
  lines.push("", "Options:");
  for (const [name, o] of opts) {
    const flag = `${o.short ? `-${o.short}, ` : ""}--${name}${o.arg ? ` ${o.arg}` : ""}`;
    lines.push(`  ${flag.padEnd(28)} ${o.description}`);
  }
  lines.push(`  ${"-h, --help".padEnd(28)} Show this help`);
  lines.push("", "Deno permissions:");
  for (const n of cmd.permissionNotes) lines.push(`  ${n}`);
  return lines.join("\n");
}

/**
 * Checks that `path` can be written in a Deno permission flag and returns it.
 * Deno separates the entries of `--allow-read=A,B` with commas and has no
 * escape for a comma, so a path with a comma would grant its pieces instead
 * (`./cc,/etc` → `./cc` and `/etc`); an empty entry makes deno refuse to
 * start. Both are usage errors here, before any flag is built.
 */
export function flagPath(path: string, what: string): string {
  if (path === "") throw new UsageError(`${what}: empty path`);
  if (path.includes(",")) {
    throw new UsageError(
      `${what} '${escapeControl(path)}': a path with a comma cannot be expressed in Deno's ` +
        "permission flags (they separate paths with commas); rename or link the file",
    );
  }
  return path;
}

const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?$`);
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;

/**
 * Checks that `host` is a DNS host name (letters, digits, `-`, `_` in labels
 * of at most 63), a dotted IPv4 address or an IPv6 address (without
 * brackets), so that it can go into `--allow-net`; returns it.
 */
export function flagHost(host: string, what: string): string {
  const ok = host.includes(":") ? IPV6.test(host) : HOST_NAME.test(host);
  if (!ok) {
    throw new UsageError(
      `${what}: '${escapeControl(host)}' is not a host name, IPv4 or IPv6 address`,
    );
  }
  return host;
}

/** `--allow-<kind>=v1,v2` after checking each value with {@link flagPath}. */
export function allowPaths(kind: "read" | "write", paths: readonly string[], what: string): string {
  return `--allow-${kind}=${paths.map((p) => flagPath(p, what)).join(",")}`;
}

/**
 * Resolves the file arguments of `argv` (options declared with `path`, and
 * the positionals when `positionals.path`) against `cwd`, returning a new
 * argv. `deno task` runs the launcher in the repository root and passes the
 * caller's directory in `INIT_CWD`; without this, `kink decode x.pcap` from
 * another directory would read the repository's `x.pcap`. Absolute paths,
 * `-` and arguments that do not parse are left alone.
 */
export function resolvePathArgs(cmd: Command, argv: string[], cwd: string): string[] {
  if (!cwd.startsWith("/")) return argv;
  const abs = (
    p: string,
  ) => (p === "" || p.startsWith("/") ? p : `${cwd.replace(/\/+$/, "")}/${p}`);
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(cmd.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), multiple: true };
  }
  let tokens;
  try {
    tokens = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true })
      .tokens;
  } catch {
    return argv;
  }
  const out = [...argv];
  for (const t of tokens) {
    if (t.kind === "positional") {
      if (cmd.positionals?.path) out[t.index] = abs(t.value);
    } else if (t.kind === "option" && t.value !== undefined) {
      const spec = cmd.options[t.name];
      if (!spec?.path) continue;
      const v = spec.path === "list" ? t.value.split(",").map(abs).join(",") : abs(t.value);
      const raw = argv[t.index]!;
      if (!t.inlineValue) out[t.index + 1] = v;
      else if (raw.startsWith("--")) out[t.index] = `${raw.slice(0, raw.indexOf("=") + 1)}${v}`;
      else out[t.index] = `${raw.slice(0, 2)}${v}`; // -kVALUE
    }
  }
  return out;
}
