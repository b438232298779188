/**
 * Kerberos principal names and their string form (RFC 1964 §2.1.1, as MIT's
 * `krb5_parse_name`/`krb5_unparse_name` use it): components separated by
 * `/`, then `@REALM`; `\` escapes `/`, `@` and `\` itself, and `\0 \b \t \n`
 * stand for NUL, backspace, tab and newline.
 *
 * {@link formatPrincipal} writes every other control character (C0, DEL, C1,
 * line separators, bidi controls) as `\xNN` or `\u{N}` (see
 * `core/util/text.ts`), so a name from the wire prints inert. MIT's unparser
 * leaves those raw; MIT's parser would read `\x1b` as `x1b`, so such names
 * do not round-trip through the string form — they are for display.
 *
 * @module
 */
import { KerberosError } from "./errors.ts";
import { NameType } from "./iana.ts";
import { escapeControl } from "../util/text.ts";

/** A principal: name type, name components and realm. */
export interface Principal {
  /** Name type (RFC 4120 §6.2), e.g. 1 = NT-PRINCIPAL. */
  nameType: number;
  /** Name components, e.g. `["kink", "b.kink.test"]`. */
  components: string[];
  /** Realm, e.g. `"KINK.TEST"`. */
  realm: string;
}

/** Options of {@link parsePrincipal}. */
export interface ParsePrincipalOptions {
  /** Realm to use when the string has none. Without it a missing realm is an error. */
  defaultRealm?: string;
  /** Name type to use; by default inferred as MIT does (krbtgt → SRV-INST, WELLKNOWN, else PRINCIPAL). */
  nameType?: number;
}

function fail(s: string, detail: string): never {
  throw new KerberosError("invalid-argument", `parse principal ${JSON.stringify(s)}`, detail);
}

/**
 * Parses `"kink/b.kink.test@KINK.TEST"` into a {@link Principal}.
 *
 * The name type is inferred: `krbtgt/REALM@REALM` is NT-SRV-INST (2),
 * `WELLKNOWN/...` is NT-WELLKNOWN (11), anything else NT-PRINCIPAL (1).
 */
export function parsePrincipal(s: string, opts: ParsePrincipalOptions = {}): Principal {
  if (s.length === 0) fail(s, "empty name");
  const components: string[] = [];
  let cur = "";
  let realm: string | undefined;
  let inRealm = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\") {
      i++;
      if (i >= s.length) fail(s, "trailing backslash");
      const e = s[i]!;
      switch (e) {
        case "0":
          cur += "\0";
          break;
        case "b":
          cur += "\b";
          break;
        case "t":
          cur += "\t";
          break;
        case "n":
          cur += "\n";
          break;
        default:
          cur += e;
      }
      continue;
    }
    if (c === "@") {
      if (inRealm) fail(s, `unescaped '@' in realm at position ${i}`);
      components.push(cur);
      cur = "";
      inRealm = true;
      continue;
    }
    if (c === "/" && !inRealm) {
      components.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  if (inRealm) {
    realm = cur;
    if (realm.length === 0) fail(s, "empty realm after '@'");
  } else {
    components.push(cur);
    if (opts.defaultRealm === undefined) fail(s, "no realm and no default realm");
    realm = opts.defaultRealm;
  }
  if (components.length === 1 && components[0] === "") fail(s, "empty name");
  return { nameType: opts.nameType ?? inferNameType(components), components, realm };
}

function inferNameType(components: string[]): number {
  if (components.length === 2 && components[0] === "krbtgt") return NameType.SRV_INST;
  if (components.length >= 1 && components[0] === "WELLKNOWN") return NameType.WELLKNOWN;
  return NameType.PRINCIPAL;
}

function quote(s: string, realm: boolean): string {
  let out = "";
  for (const c of s) {
    switch (c) {
      case "\\":
      case "@":
        out += "\\" + c;
        break;
      case "/":
        out += realm ? c : "\\/";
        break;
      case "\0":
        out += "\\0";
        break;
      case "\b":
        out += "\\b";
        break;
      case "\t":
        out += "\\t";
        break;
      case "\n":
        out += "\\n";
        break;
      default:
        // Every other control character (ESC, BEL, CR, DEL, C1, bidi
        // overrides…) as \xNN / \u{N}: names come from the wire and are printed.
        out += escapeControl(c);
    }
  }
  return out;
}

/** Formats a principal as `a/b@REALM` with RFC 1964 escaping. */
export function formatPrincipal(p: Principal): string {
  return p.components.map((c) => quote(c, false)).join("/") + "@" + quote(p.realm, true);
}

/** Formats only the name part (no realm), escaped as in {@link formatPrincipal}. */
export function formatPrincipalName(components: readonly string[]): string {
  return components.map((c) => quote(c, false)).join("/");
}

/** True when two principals have the same components and realm (name type ignored, as RFC 4120 §6.2 says). */
export function principalEquals(a: Principal, b: Principal): boolean {
  if (a.realm !== b.realm || a.components.length !== b.components.length) return false;
  for (let i = 0; i < a.components.length; i++) {
    if (a.components[i] !== b.components[i]) return false;
  }
  return true;
}

/** The principal `krbtgt/REALM@REALM` (or a cross-realm TGS name when `serverRealm` differs). */
export function tgsPrincipal(realm: string, serverRealm: string = realm): Principal {
  return { nameType: NameType.SRV_INST, components: ["krbtgt", serverRealm], realm };
}
