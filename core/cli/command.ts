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
    parsed = parseArgv(argv, options);
  } catch (e) {
    if (!(e instanceof ArgvError)) throw e;
    throw new UsageError(`kink ${cmd.name}: ${e.message}`);
  }
  const values = parsed.values;
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

/** How an option is parsed: the subset of `node:util` `parseArgs` options kink uses. */
export interface ArgvOption {
  /** `string` takes a value, `boolean` is a flag. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Values collected in an array. */
  multiple?: boolean;
}

/** One token of a command line, as `node:util` `parseArgs({ tokens: true })` reports it. */
export type ArgvToken =
  | {
    kind: "option";
    /** Long name (or the short letter of an undeclared `-x`). */
    name: string;
    /** As written: `--name`, or `-x`. */
    rawName: string;
    /** Index in argv of the option. */
    index: number;
    /** Its value (a string option), if any. */
    value: string | undefined;
    /** True for `--name=value` and `-xVALUE`, false for a value in the next argument. */
    inlineValue: boolean | undefined;
  }
  | { kind: "positional"; index: number; value: string }
  | { kind: "option-terminator"; index: number };

/** A command line the strict parser refuses; `message` is one line. */
export class ArgvError extends Error {
  /**
   * Creates the error.
   * @param message what is wrong
   */
  constructor(message: string) {
    super(message);
    this.name = "ArgvError";
  }
}

function has(options: Record<string, ArgvOption>, name: string): boolean {
  return Object.hasOwn(options, name);
}

function longForShort(options: Record<string, ArgvOption>, short: string): string {
  for (const [name, o] of Object.entries(options)) if (o.short === short) return name;
  return short;
}

function typeOf(options: Record<string, ArgvOption>, name: string): string | undefined {
  return has(options, name) ? options[name]!.type : undefined;
}

/**
 * Splits `argv` into tokens with the rules of `node:util` `parseArgs` (tested against it in
 * tests/unit/cli/argv_test.ts): `--` ends the options; `--name=value`; `--name value` and
 * `-x value` for string options (the next argument, whatever it is); `-xVALUE`; `-abc` for
 * boolean letters. kink does its own: `node:util` loads Deno's Node compatibility layer,
 * which costs every CLI start-up (launcher, daemon flag helper, `kink status`…) several
 * hundred milliseconds under the VM tier's emulation.
 */
export function tokenizeArgv(
  argv: readonly string[],
  options: Record<string, ArgvOption>,
): ArgvToken[] {
  const tokens: ArgvToken[] = [];
  const rest = [...argv];
  let index = -1;
  let groupCount = 0;
  while (rest.length > 0) {
    const arg = rest.shift()!;
    const next = rest[0];
    if (groupCount > 0) groupCount--;
    else index++;
    if (arg === "--") {
      tokens.push({ kind: "option-terminator", index });
      for (const value of rest) tokens.push({ kind: "positional", index: ++index, value });
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) {
      const name = longForShort(options, arg[1]!);
      let value: string | undefined;
      let inlineValue: boolean | undefined;
      if (typeOf(options, name) === "string" && next !== undefined) {
        value = rest.shift()!;
        inlineValue = false;
      }
      tokens.push({ kind: "option", name, rawName: arg, index, value, inlineValue });
      if (value !== undefined) ++index;
      continue;
    }
    if (short && typeOf(options, longForShort(options, arg[1]!)) !== "string") {
      const expanded: string[] = [];
      for (let i = 1; i < arg.length; i++) {
        const letter = arg[i]!;
        if (typeOf(options, longForShort(options, letter)) !== "string" || i === arg.length - 1) {
          expanded.push(`-${letter}`);
        } else {
          expanded.push(`-${arg.slice(i)}`); // -abfFILE → -a -b -fFILE
          break;
        }
      }
      rest.unshift(...expanded);
      groupCount = expanded.length;
      continue;
    }
    if (short) {
      const name = longForShort(options, arg[1]!);
      tokens.push({
        kind: "option",
        name,
        rawName: `-${arg[1]}`,
        index,
        value: arg.slice(2),
        inlineValue: true,
      });
      continue;
    }
    if (arg.length > 2 && arg.startsWith("--")) {
      const eq = arg.indexOf("=", 3);
      if (eq < 0) {
        const name = arg.slice(2);
        let value: string | undefined;
        let inlineValue: boolean | undefined;
        if (typeOf(options, name) === "string" && next !== undefined) {
          value = rest.shift()!;
          inlineValue = false;
        }
        tokens.push({ kind: "option", name, rawName: arg, index, value, inlineValue });
        if (value !== undefined) ++index;
      } else {
        const name = arg.slice(2, eq);
        tokens.push({
          kind: "option",
          name,
          rawName: `--${name}`,
          index,
          value: arg.slice(eq + 1),
          inlineValue: true,
        });
      }
      continue;
    }
    tokens.push({ kind: "positional", index, value: arg });
  }
  return tokens;
}

/**
 * Parses `argv` strictly, positionals allowed, as `node:util` `parseArgs({ strict: true,
 * allowPositionals: true })` does; throws {@link ArgvError} with node's message (first line).
 */
export function parseArgv(
  argv: readonly string[],
  options: Record<string, ArgvOption>,
): { values: ParsedArgs["values"]; positionals: string[]; tokens: ArgvToken[] } {
  const tokens = tokenizeArgv(argv, options);
  const values: ParsedArgs["values"] = Object.create(null);
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    if (!has(options, t.name)) throw new ArgvError(`Unknown option '${t.rawName}'`);
    const o = options[t.name]!;
    const shortAndLong = `${o.short ? `-${o.short}, ` : ""}--${t.name}`;
    if (o.type === "string" && typeof t.value !== "string") {
      throw new ArgvError(`Option '${shortAndLong} <value>' argument missing`);
    }
    if (o.type === "boolean" && t.value !== undefined) {
      throw new ArgvError(`Option '${shortAndLong}' does not take an argument`);
    }
    if (!t.inlineValue && t.value !== undefined && t.value.length > 1 && t.value[0] === "-") {
      throw new ArgvError(`Option '${t.rawName}' argument is ambiguous.`);
    }
    if (t.name === "__proto__") continue;
    const v = t.value ?? true;
    if (o.multiple) {
      const prev = values[t.name];
      if (Array.isArray(prev)) prev.push(v);
      else values[t.name] = [v];
    } else values[t.name] = v;
  }
  return { values, positionals, tokens };
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
    tokens = parseArgv(argv, options).tokens;
  } catch (e) {
    if (!(e instanceof ArgvError)) throw e;
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
