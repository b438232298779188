/**
 * The parts of MIT's krb5.conf (the "profile" format) that kink uses.
 *
 * Syntax handled: `[section]` headers (with the optional final `*`),
 * `key = value` relations, `key = { … }` subsections (nesting, closing `}`
 * with optional `*`), comments starting with `#` or `;`, double-quoted
 * values with `\n \t \b \\ \"` escapes, and `include FILE` / `includedir
 * DIR` directives (recorded by {@link parseKrb5Conf}; followed by
 * {@link loadKrb5Conf}).
 *
 * Interpreted settings:
 * - `[libdefaults]` default_realm, default_tkt_enctypes,
 *   default_tgs_enctypes, permitted_enctypes, clockskew,
 *   udp_preference_limit, kdc_timeout;
 * - `[realms]` REALM = { kdc = … (several; host, host:port, [v6]:port,
 *   tcp/ or udp/ prefix), admin_server, default_domain };
 * - `[domain_realm]` host and `.domain` mappings.
 *
 * Everything else is kept in the generic `sections` tree. Syntax errors
 * and bad values are {@link ConfigError}s whose context names the file and
 * line, e.g. `"krb5.conf line 7: expected '=' after key"`. Unknown enctype
 * names are skipped, as MIT does, with a warning that names the line.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { readRegularTextFile } from "../util/file.ts";

/** One value of a relation, with the line it came from. */
export interface Krb5ConfValue {
  /** The value: a string, or a subsection. */
  value: string | Krb5ConfSection;
  /** 1-based line number. */
  line: number;
  /** The file (or name) it came from. */
  source: string;
}

/** A section or subsection: tag → values (a tag may repeat). */
export type Krb5ConfSection = Map<string, Krb5ConfValue[]>;

/** Settings of one realm. */
export interface Krb5ConfRealm {
  /** KDC addresses as written (`host`, `host:port`, `[v6]:port`, optional `tcp/`/`udp/` prefix). */
  kdc: string[];
  /** admin_server entries. */
  adminServer: string[];
  /** default_domain. */
  defaultDomain?: string;
}

/** The interpreted krb5.conf. */
export interface Krb5Conf {
  /** [libdefaults] settings kink uses. */
  libdefaults: {
    /** default_realm. */
    defaultRealm?: string;
    /** default_tkt_enctypes, as enctype numbers. */
    defaultTktEnctypes?: number[];
    /** default_tgs_enctypes, as enctype numbers. */
    defaultTgsEnctypes?: number[];
    /** permitted_enctypes, as enctype numbers. */
    permittedEnctypes?: number[];
    /** clockskew in seconds (MIT default 300). */
    clockskew?: number;
    /** udp_preference_limit in octets (MIT default 1465). */
    udpPreferenceLimit?: number;
    /** kdc_timeout in milliseconds (MIT default 1000). */
    kdcTimeoutMs?: number;
  };
  /** [realms], by realm name. */
  realms: Map<string, Krb5ConfRealm>;
  /** [domain_realm]: host or `.domain` (lower case) → realm. */
  domainRealm: Map<string, string>;
  /** Every section as parsed. */
  sections: Map<string, Krb5ConfSection>;
  /** include / includedir directives, in order (not followed by {@link parseKrb5Conf}). */
  includes: { kind: "include" | "includedir"; path: string; line: number }[];
  /** Non-fatal findings (unknown enctype names), each naming its line. */
  warnings: string[];
}

/** Options of {@link parseKrb5Conf}. */
export interface ParseKrb5ConfOptions {
  /** Name used in error contexts (default `"krb5.conf"`). */
  name?: string;
}

/** Maximum input size parsed. */
export const KRB5CONF_MAX_SIZE = 1 << 20;
const MAX_NESTING = 16;

interface StackEntry {
  sect: Krb5ConfSection;
  line: number;
  parent: Krb5ConfSection;
}

function err(
  name: string,
  line: number,
  detail: string,
  category: ConfigError["category"] = "syntax",
): ConfigError {
  return new ConfigError(category, `${name} line ${line}`, detail);
}

function unquote(raw: string, name: string, line: number): string {
  // raw starts with '"'
  let out = "";
  let i = 1;
  for (; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') break;
    if (c === "\\") {
      i++;
      const e = raw[i];
      if (e === undefined) throw err(name, line, "unterminated quoted value");
      out += e === "n" ? "\n" : e === "t" ? "\t" : e === "b" ? "\b" : e;
    } else {
      out += c;
    }
  }
  if (i >= raw.length) throw err(name, line, "unterminated quoted value");
  const rest = raw.slice(i + 1).trim();
  if (rest !== "") throw err(name, line, `unexpected text after the quoted value: '${rest}'`);
  return out;
}

/** Parses krb5.conf text. */
export function parseKrb5Conf(text: string, options: ParseKrb5ConfOptions = {}): Krb5Conf {
  const name = options.name ?? "krb5.conf";
  if (text.length > KRB5CONF_MAX_SIZE) {
    throw new ConfigError("syntax", name, `file of ${text.length} characters exceeds the limit`);
  }
  const sections = new Map<string, Krb5ConfSection>();
  const includes: Krb5Conf["includes"] = [];
  let current: Krb5ConfSection | undefined;
  const stack: StackEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = ln + 1;
    const s = lines[ln]!.trim();
    if (s === "" || s.startsWith("#") || s.startsWith(";")) continue;
    if (s.startsWith("[")) {
      if (stack.length > 0) {
        throw err(name, line, `section header inside '{' opened at line ${stack.at(-1)!.line}`);
      }
      const close = s.indexOf("]");
      if (close < 0) throw err(name, line, "expected ']' after section name");
      const secName = s.slice(1, close).trim();
      const rest = s.slice(close + 1).trim();
      if (rest !== "" && rest !== "*") {
        throw err(name, line, `unexpected text after section header: '${rest}'`);
      }
      if (secName === "") throw err(name, line, "empty section name");
      current = sections.get(secName);
      if (!current) {
        current = new Map();
        sections.set(secName, current);
      }
      continue;
    }
    if (s.startsWith("}")) {
      const rest = s.slice(1).trim();
      if (rest !== "" && rest !== "*") {
        throw err(name, line, `unexpected text after '}': '${rest}'`);
      }
      const top = stack.pop();
      if (!top) throw err(name, line, "'}' without a matching '{'");
      current = stack.length > 0 ? stack.at(-1)!.sect : top.parent;
      continue;
    }
    const inc = /^(include|includedir)\s+(.+)$/.exec(s);
    if (inc && stack.length === 0) {
      includes.push({ kind: inc[1] as "include" | "includedir", path: inc[2]!.trim(), line });
      continue;
    }
    if (s.startsWith("=")) throw err(name, line, "expected a key before '='");
    const m = /^([^\s=]+)\s*(=?)\s*(.*)$/s.exec(s);
    if (!m) throw err(name, line, "expected 'key = value'");
    const key = m[1]!;
    if (m[2] !== "=") throw err(name, line, "expected '=' after key");
    if (!current) throw err(name, line, `relation '${key}' before any [section]`);
    let raw = m[3]!;
    let value: string | Krb5ConfSection;
    if (raw === "{") {
      if (stack.length >= MAX_NESTING) throw err(name, line, "subsections nested too deeply");
      value = new Map();
      stack.push({ sect: value, line, parent: current });
    } else {
      if (raw.startsWith('"')) raw = unquote(raw, name, line);
      value = raw;
    }
    let list = current.get(key);
    if (!list) {
      list = [];
      current.set(key, list);
    }
    list.push({ value, line, source: name });
    if (typeof value !== "string") current = value;
  }
  if (stack.length > 0) {
    throw err(name, stack.at(-1)!.line, "'{' is never closed");
  }
  return interpret(sections, includes);
}

/** Enctype names MIT accepts (and their aliases), plus family names. */
const ENCTYPE_BY_NAME: Record<string, number[]> = {
  "des-cbc-crc": [1],
  "des-cbc-md4": [2],
  "des-cbc-md5": [3],
  "des3-cbc-sha1": [16],
  "des3-hmac-sha1": [16],
  "des3-cbc-sha1-kd": [16],
  "aes128-cts-hmac-sha1-96": [17],
  "aes128-cts": [17],
  "aes128-sha1": [17],
  "aes256-cts-hmac-sha1-96": [18],
  "aes256-cts": [18],
  "aes256-sha1": [18],
  "aes128-cts-hmac-sha256-128": [19],
  "aes128-sha2": [19],
  "aes256-cts-hmac-sha384-192": [20],
  "aes256-sha2": [20],
  "arcfour-hmac": [23],
  "rc4-hmac": [23],
  "arcfour-hmac-md5": [23],
  "arcfour-hmac-exp": [24],
  "rc4-hmac-exp": [24],
  "arcfour-hmac-md5-exp": [24],
  "camellia128-cts-cmac": [25],
  "camellia128-cts": [25],
  "camellia256-cts-cmac": [26],
  "camellia256-cts": [26],
  "des": [1, 2, 3],
  "des3": [16],
  "aes": [18, 17, 20, 19],
  "rc4": [23],
  "camellia": [26, 25],
};
/** MIT's DEFAULT enctype list (1.21). */
const DEFAULT_ENCTYPES = [18, 17, 20, 19, 26, 25];

function parseEnctypes(v: string, name: string, line: number, warnings: string[]): number[] {
  const out: number[] = [];
  for (const tok of v.split(/[\s,]+/).filter((t) => t !== "")) {
    const neg = tok.startsWith("-");
    const t = (neg || tok.startsWith("+") ? tok.slice(1) : tok).toLowerCase();
    let list: number[] | undefined;
    if (t === "default") list = DEFAULT_ENCTYPES;
    else if (/^-?\d+$/.test(t)) list = [Number(t)];
    else list = ENCTYPE_BY_NAME[t];
    if (!list) {
      warnings.push(`${name} line ${line}: unknown enctype '${tok}' ignored`);
      continue;
    }
    for (const e of list) {
      const i = out.indexOf(e);
      if (neg) {
        if (i >= 0) out.splice(i, 1);
      } else if (i < 0) out.push(e);
    }
  }
  return out;
}

/**
 * Parses an MIT duration ("300", "5m", "1h30m", "2d", "1:30", "0:05:00")
 * into seconds; undefined when malformed.
 */
export function parseDuration(v: string): number | undefined {
  const s = v.trim();
  if (/^-?\d+$/.test(s)) return Number(s);
  let m = /^(\d+):(\d{1,2})(?::(\d{1,2}))?$/.exec(s);
  if (m) {
    const h = Number(m[1]), mi = Number(m[2]), se = m[3] === undefined ? 0 : Number(m[3]);
    if (mi > 59 || se > 59) return undefined;
    return h * 3600 + mi * 60 + se;
  }
  m = /^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$/.exec(s);
  if (m && s !== "" && (m[1] ?? m[2] ?? m[3] ?? m[4]) !== undefined) {
    return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 +
      Number(m[4] ?? 0);
  }
  return undefined;
}

function interpret(
  sections: Map<string, Krb5ConfSection>,
  includes: Krb5Conf["includes"],
): Krb5Conf {
  const warnings: string[] = [];
  const conf: Krb5Conf = {
    libdefaults: {},
    realms: new Map(),
    domainRealm: new Map(),
    sections,
    includes,
    warnings,
  };
  // MIT uses the first value of a relation.
  const first = (sect: Krb5ConfSection | undefined, key: string): Krb5ConfValue | undefined =>
    sect?.get(key)?.[0];
  const str = (v: Krb5ConfValue, key: string): string => {
    if (typeof v.value !== "string") {
      throw err(v.source, v.line, `'${key}' must be a value, not '{'`, "value");
    }
    return v.value;
  };
  const lib = sections.get("libdefaults");
  const ld = conf.libdefaults;
  const dr = first(lib, "default_realm");
  if (dr) {
    const v = str(dr, "default_realm");
    if (v === "") throw err(dr.source, dr.line, "default_realm is empty", "value");
    ld.defaultRealm = v;
  }
  const et = (key: string): number[] | undefined => {
    const v = first(lib, key);
    return v && parseEnctypes(str(v, key), v.source, v.line, warnings);
  };
  const tkt = et("default_tkt_enctypes");
  if (tkt) ld.defaultTktEnctypes = tkt;
  const tgs = et("default_tgs_enctypes");
  if (tgs) ld.defaultTgsEnctypes = tgs;
  const perm = et("permitted_enctypes");
  if (perm) ld.permittedEnctypes = perm;
  const cs = first(lib, "clockskew");
  if (cs) {
    const n = parseDuration(str(cs, "clockskew"));
    if (n === undefined || n < 0) {
      throw err(cs.source, cs.line, `clockskew '${cs.value}' is not a duration`, "value");
    }
    ld.clockskew = n;
  }
  const upl = first(lib, "udp_preference_limit");
  if (upl) {
    const v = str(upl, "udp_preference_limit");
    if (!/^\d{1,9}$/.test(v)) {
      throw err(upl.source, upl.line, `udp_preference_limit '${v}' is not a number`, "value");
    }
    ld.udpPreferenceLimit = Number(v);
  }
  const kt = first(lib, "kdc_timeout");
  if (kt) {
    const n = parseDuration(str(kt, "kdc_timeout"));
    if (n === undefined || n <= 0) {
      throw err(
        kt.source,
        kt.line,
        `kdc_timeout '${kt.value}' is not a positive duration`,
        "value",
      );
    }
    ld.kdcTimeoutMs = n * 1000;
  }
  for (const [realm, vals] of sections.get("realms") ?? []) {
    for (const v of vals) {
      if (typeof v.value === "string") {
        throw err(v.source, v.line, `realm '${realm}' must be followed by '= {'`);
      }
      const r: Krb5ConfRealm = conf.realms.get(realm) ?? { kdc: [], adminServer: [] };
      for (const k of v.value.get("kdc") ?? []) {
        const s = str(k, "kdc");
        checkKdc(s, k.source, k.line);
        r.kdc.push(s);
      }
      for (const a of v.value.get("admin_server") ?? []) r.adminServer.push(str(a, "admin_server"));
      const dd = first(v.value, "default_domain");
      if (dd && r.defaultDomain === undefined) r.defaultDomain = str(dd, "default_domain");
      conf.realms.set(realm, r);
    }
  }
  for (const [host, vals] of sections.get("domain_realm") ?? []) {
    const v = vals[0]!;
    conf.domainRealm.set(host.toLowerCase(), str(v, host));
  }
  return conf;
}

function checkKdc(spec: string, name: string, line: number): void {
  let s = spec.trim().replace(/^(udp|tcp)\//i, "");
  const bad = (d: string) => err(name, line, `kdc '${spec}': ${d}`, "value");
  if (s === "") throw bad("empty address");
  let port: string | undefined;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) throw bad("expected ']' after the IPv6 address");
    const host = s.slice(1, end);
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host) || !host.includes(":")) {
      throw bad(`'${host}' is not an IPv6 address`);
    }
    const rest = s.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw bad("expected ':' after ']'");
      port = rest.slice(1);
    }
    s = host;
  } else {
    const colons = (s.match(/:/g) ?? []).length;
    if (colons === 1) {
      const i = s.indexOf(":");
      port = s.slice(i + 1);
      s = s.slice(0, i);
    } else if (colons > 1) {
      throw bad("an IPv6 address with a port must be written [address]:port");
    }
    if (!/^[A-Za-z0-9._-]+$/.test(s)) throw bad(`'${s}' is not a host name or address`);
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || +port < 1 || +port > 65535)) {
    throw bad(`port '${port}' is not 1..65535`);
  }
}

/**
 * The realm of `host` from [domain_realm]: an exact entry first, then the
 * longest `.domain` suffix; undefined when nothing matches (callers then
 * fall back to default_realm or the upper-cased domain, as MIT does).
 */
export function realmOfHost(conf: Krb5Conf, host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, "");
  const exact = conf.domainRealm.get(h);
  if (exact !== undefined) return exact;
  for (let i = h.indexOf("."); i >= 0; i = h.indexOf(".", i + 1)) {
    const r = conf.domainRealm.get(h.slice(i));
    if (r !== undefined) return r;
  }
  return undefined;
}

/**
 * Reads and parses a krb5.conf file, following `include` and `includedir`
 * (files in the directory whose names are made of letters, digits, `-`
 * and `_`, or end in `.conf`, in name order, as MIT does). Needs read
 * permission for the files involved. Each must be a regular file of at most
 * {@link KRB5CONF_MAX_SIZE} octets (a FIFO or device is refused, not read).
 */
export function loadKrb5Conf(path: string): Promise<Krb5Conf> {
  try {
    return Promise.resolve(loadKrb5ConfSync(path));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** {@link loadKrb5Conf}, synchronously (the files are small and bounded). */
export function loadKrb5ConfSync(path: string): Krb5Conf {
  const texts: { name: string; text: string }[] = [];
  const seen = new Set<string>();
  const visit = (p: string, depth: number): void => {
    if (depth > 8) throw new ConfigError("syntax", p, "includes nested more than 8 deep");
    if (seen.has(p)) return;
    seen.add(p);
    let text: string;
    try {
      // A regular file of bounded size only: a FIFO would block, a device never end.
      text = readRegularTextFile(p, "krb5.conf", KRB5CONF_MAX_SIZE);
    } catch (e) {
      const d = e instanceof ConfigError ? e.detail : (e as Error).message;
      throw new ConfigError("io", p, `cannot read: ${d}`, { cause: e });
    }
    const conf = parseKrb5Conf(text, { name: p });
    texts.push({ name: p, text });
    for (const inc of conf.includes) {
      if (inc.kind === "include") {
        visit(inc.path, depth + 1);
      } else {
        const names: string[] = [];
        try {
          for (const e of Deno.readDirSync(inc.path)) {
            if (e.isFile && (/^[A-Za-z0-9_-]+$/.test(e.name) || e.name.endsWith(".conf"))) {
              names.push(e.name);
            }
          }
        } catch (e) {
          throw new ConfigError(
            "io",
            `${p} line ${inc.line}`,
            `cannot read directory ${inc.path}`,
            {
              cause: e,
            },
          );
        }
        for (const n of names.sort()) visit(`${inc.path}/${n}`, depth + 1);
      }
    }
  };
  visit(path, 0);
  if (texts.length === 1) return parseKrb5Conf(texts[0]!.text, { name: texts[0]!.name });
  // Merge: relations from later files are appended (MIT: first value wins).
  const parsed = texts.map((t) => parseKrb5Conf(t.text, { name: t.name }));
  const merged = new Map<string, Krb5ConfSection>();
  for (const c of parsed) {
    for (const [sn, sect] of c.sections) {
      const m = merged.get(sn) ?? new Map();
      for (const [k, v] of sect) m.set(k, [...(m.get(k) ?? []), ...v]);
      merged.set(sn, m);
    }
  }
  const out = interpret(merged, parsed.flatMap((c) => c.includes));
  out.warnings.unshift(
    ...parsed.flatMap((c) => c.warnings).filter((w) => !out.warnings.includes(w)),
  );
  return out;
}
