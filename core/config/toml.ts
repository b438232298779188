/**
 * TOML reading with source positions.
 *
 * kink's configuration is TOML 1.0, parsed by `toml-eslint-parser` (the
 * parser behind eslint-plugin-toml). It was chosen over smaller value-only
 * parsers (smol-toml, @iarna/toml) because it returns a syntax tree with a
 * line for every key and array element: every validation error can then name
 * the file, the line and the key, as an operator needs — not only syntax
 * errors. It has one small dependency and rejects invalid TOML (duplicate
 * keys, redefined tables, bad escapes) with a positioned error.
 *
 * @module
 */
import { getStaticTOMLValue, parseTOML } from "toml-eslint-parser";
import { ConfigError } from "../errors.ts";
import { escapeControl } from "../util/text.ts";

/** A TOML value as kink reads it (dates are not used by kink's configuration). */
export type TomlValue =
  | string
  | number
  | boolean
  | bigint
  | Date
  | TomlValue[]
  | { [key: string]: TomlValue };

/** A key path: table keys and array indexes, e.g. `["peer", 0, "address"]`. */
export type KeyPath = readonly (string | number)[];

/** A parsed document with the line of every key and array element. */
export interface TomlDocument {
  /** The file name used in messages. */
  readonly file: string;
  /** The document's value. */
  readonly value: { [key: string]: TomlValue };
  /** The 1-based line where the key (or array element) at `path` is defined, if known. */
  lineOf(path: KeyPath): number | undefined;
}

/**
 * Largest configuration file read (16 MiB). A gateway's configuration is a
 * few KB, but a hub naming thousands of peers with a few traffic selectors
 * each is ~100 octets per selector and ~250 per peer: 1,000 peers × 50
 * selectors is ~4 MB. The bound only keeps a wrong path (a log, an image)
 * from being read whole; the parse is linear in the size (~1 s per 3 MB).
 */
export const MAX_CONFIG_OCTETS = 16 << 20;

/** Formats a key path as `peer[0].address`. */
export function formatPath(path: KeyPath): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += (s === "" ? "" : ".") + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return s;
}

const pathKey = (path: KeyPath): string => JSON.stringify(path);

// The syntax tree types we walk (a structural subset of toml-eslint-parser's AST).
interface Loc {
  start: { line: number; column: number };
}
interface Node {
  type: string;
  loc: Loc;
}
interface KeyNode extends Node {
  keys: ({ name?: string; value?: string } & Node)[];
}
interface KeyValueNode extends Node {
  key: KeyNode;
  value: Node;
}
interface TableNode extends Node {
  resolvedKey: (string | number)[];
  body: KeyValueNode[];
}

function keyNames(k: KeyNode): string[] {
  return k.keys.map((p) => (p.name ?? p.value ?? "") as string);
}

/**
 * Parses TOML text. Syntax errors become a {@link ConfigError} with category
 * `"syntax"` naming the file, line and column.
 */
export function parseToml(text: string, file: string): TomlDocument {
  let ast: { body: { body: (TableNode | KeyValueNode)[] }[] };
  try {
    ast = parseTOML(text) as unknown as typeof ast;
  } catch (e) {
    const err = e as { message?: string; lineNumber?: number; column?: number };
    const where = err.lineNumber !== undefined ? `:${err.lineNumber}` : "";
    const col = err.column !== undefined ? ` (column ${err.column})` : "";
    throw new ConfigError(
      "syntax",
      `${file}${where}`,
      `invalid TOML${col}: ${escapeControl(String(err.message ?? e))}`,
    );
  }
  const lines = new Map<string, number>();
  const record = (path: KeyPath, line: number): void => {
    const k = pathKey(path);
    if (!lines.has(k)) lines.set(k, line);
  };
  const walkValue = (path: KeyPath, v: Node): void => {
    if (v.type === "TOMLInlineTable") {
      for (const kv of (v as unknown as { body: KeyValueNode[] }).body) walkKeyValue(path, kv);
    } else if (v.type === "TOMLArray") {
      const els = (v as unknown as { elements: Node[] }).elements;
      els.forEach((el, i) => {
        record([...path, i], el.loc.start.line);
        walkValue([...path, i], el);
      });
    }
  };
  const walkKeyValue = (base: KeyPath, kv: KeyValueNode): void => {
    const names = keyNames(kv.key);
    for (let i = 1; i <= names.length; i++) {
      record([...base, ...names.slice(0, i)], kv.loc.start.line);
    }
    walkValue([...base, ...names], kv.value);
  };
  const top = ast.body[0];
  for (const item of top?.body ?? []) {
    if (item.type === "TOMLTable") {
      const t = item as TableNode;
      for (let i = 1; i <= t.resolvedKey.length; i++) {
        record(t.resolvedKey.slice(0, i), t.loc.start.line);
      }
      for (const kv of t.body) walkKeyValue(t.resolvedKey, kv);
    } else {
      walkKeyValue([], item as KeyValueNode);
    }
  }
  const value = getStaticTOMLValue(ast as never) as unknown as { [key: string]: TomlValue };
  return {
    file,
    value,
    lineOf(path: KeyPath): number | undefined {
      for (let n = path.length; n > 0; n--) {
        const l = lines.get(pathKey(path.slice(0, n)));
        if (l !== undefined) return l;
      }
      return undefined;
    },
  };
}
