/**
 * MIT keytab files (the FILE: keytab format, MIT `keytab_file_format.rst`).
 *
 * Reading accepts format 0x0502 (big-endian, with name types) and the old
 * 0x0501 (host byte order — little-endian on the machines kink runs on — no
 * name type, component count including the realm). Records with a negative
 * length are deleted entries ("holes") and are skipped; a zero length ends
 * the file. The optional trailing 32-bit kvno overrides the 8-bit one when
 * present and non-zero. Writing produces 0x0502 with both kvno fields, as
 * MIT does.
 *
 * Every malformed input yields a {@link KerberosError} (category
 * `"decode"`, context `"keytab"`) that names the record and offset; no
 * length field is trusted beyond the bytes actually present.
 *
 * @module
 */
import { ByteReader, ByteWriter } from "../util/bytes.ts";
import { KerberosError } from "./errors.ts";
import { NameType } from "./iana.ts";
import { formatPrincipal, type Principal, principalEquals } from "./principal.ts";

/** One keytab entry. `key` is secret material: never log it; wipe it when done. */
export interface KeytabEntry {
  /** The principal the key belongs to. */
  principal: Principal;
  /** When the key was written (seconds since the epoch). */
  timestamp: number;
  /** Key version number (32-bit). */
  kvno: number;
  /** Encryption type of the key. */
  enctype: number;
  /** Key octets. */
  key: Uint8Array;
}

const DENO_INSPECT = Symbol.for("Deno.customInspect");
const NODE_INSPECT = Symbol.for("nodejs.util.inspect.custom");

function describeEntry(e: KeytabEntry): Record<string, unknown> {
  return {
    principal: formatPrincipal(e.principal),
    kvno: e.kvno,
    enctype: e.enctype,
    timestamp: e.timestamp,
    key: `[${e.key.length} octets redacted]`,
  };
}

/** Maximum keytab size read (octets). */
export const KEYTAB_MAX_SIZE = 16 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

function decodeFail(detail: string, offset: number): never {
  const d = detail.includes(" at offset ") ? detail : `${detail} at offset ${offset}`;
  throw new KerberosError("decode", "keytab", d, { offset });
}

/**
 * Parses a keytab file. Deleted entries (holes) are skipped. The entries'
 * keys are copies, so the caller can (and should) wipe `bytes` at once, and
 * the entries with {@link wipeKeytab} when done. An entry prints redacted:
 * `Deno.inspect`/`console.log` and `JSON.stringify` show the principal,
 * kvno, enctype and the key's length, never its octets (a copy made by
 * spreading the entry loses this; print `entry.key` itself and you print the key).
 */
export function readKeytab(bytes: Uint8Array): KeytabEntry[] {
  if (bytes.length > KEYTAB_MAX_SIZE) {
    decodeFail(`file of ${bytes.length} octets exceeds the limit of ${KEYTAB_MAX_SIZE}`, 0);
  }
  const r = new ByteReader(bytes, decodeFail);
  if (bytes.length < 2) decodeFail("too short for a version number", 0);
  const b0 = r.u8();
  const ver = r.u8();
  if (b0 !== 5 || (ver !== 1 && ver !== 2)) {
    decodeFail(`unknown keytab version 0x${((b0 << 8) | ver).toString(16).padStart(4, "0")}`, 0);
  }
  const le = ver === 1;
  const out: KeytabEntry[] = [];
  let index = 0;
  while (r.remaining > 0) {
    const at = r.offset;
    if (r.remaining < 4) decodeFail(`truncated record length (${r.remaining} octets left)`, at);
    const size = r.i32(le);
    if (size === 0) break;
    if (size === -0x80000000) decodeFail("bad record length -2^31", at);
    if (size < 0) {
      const hole = -size;
      if (hole > r.remaining) {
        decodeFail(`deleted entry of ${hole} octets runs past the end (${r.remaining} left)`, at);
      }
      r.skip(hole);
      continue;
    }
    if (size > r.remaining) {
      decodeFail(`record of ${size} octets exceeds the ${r.remaining} octets left`, at);
    }
    const start = r.offset;
    out.push(readEntry(bytes, start, start + size, le, index));
    r.skip(size);
    index++;
  }
  return out;
}

function readEntry(
  bytes: Uint8Array,
  start: number,
  end: number,
  le: boolean,
  index: number,
): KeytabEntry {
  const fail = (detail: string, offset: number): never =>
    decodeFail(`entry ${index}: ${detail}`, offset);
  const r = new ByteReader(bytes, fail, start, end);
  const str = (what: string): string => {
    const at = r.offset;
    const n = r.u16(le);
    const v = r.bytesView(n);
    try {
      return utf8.decode(v);
    } catch {
      return fail(`${what} is not valid UTF-8`, at);
    }
  };
  let count = r.u16(le);
  if (le) {
    if (count === 0) fail("component count 0 leaves no room for the realm", start);
    count--; // v1 counts the realm
  }
  const realm = str("realm");
  const components: string[] = [];
  for (let i = 0; i < count; i++) components.push(str(`component ${i}`));
  const nameType = le ? NameType.PRINCIPAL : r.u32(le);
  const timestamp = r.u32(le);
  let kvno = r.u8();
  const enctype = r.u16(le);
  const klen = r.u16(le);
  const key = r.bytesView(klen).slice();
  if (r.remaining >= 4) {
    const k32 = r.u32(le);
    if (k32 !== 0) kvno = k32;
  }
  const entry: KeytabEntry = {
    principal: { nameType: nameType | 0, components, realm },
    timestamp,
    kvno,
    enctype,
    key,
  };
  // Not enumerable: spreading or comparing an entry sees only its fields.
  Object.defineProperty(entry, DENO_INSPECT, {
    value: (inspect: (v: unknown, o: unknown) => string, opts: unknown) =>
      `KeytabEntry ${inspect(describeEntry(entry), opts)}`,
  });
  Object.defineProperty(entry, NODE_INSPECT, { value: () => describeEntry(entry) });
  Object.defineProperty(entry, "toJSON", { value: () => describeEntry(entry) });
  return entry;
}

function encFail(detail: string): never {
  throw new KerberosError("encode", "write keytab", detail);
}

/** Serialises entries as a 0x0502 keytab file (8-bit and 32-bit kvno both written). */
export function writeKeytab(entries: readonly KeytabEntry[]): Uint8Array {
  const w = new ByteWriter(64 + entries.length * 128);
  w.u8(5).u8(2);
  for (const [i, e] of entries.entries()) {
    const rec = new ByteWriter(128);
    const p = e.principal;
    if (p.components.length > 0xffff) encFail(`entry ${i}: too many components`);
    rec.u16(p.components.length);
    for (const s of [p.realm, ...p.components]) {
      const b = utf8enc.encode(s);
      if (b.length > 0xffff) encFail(`entry ${i}: name part longer than 65535 octets`);
      rec.u16(b.length).bytes(b);
    }
    if (!Number.isInteger(e.kvno) || e.kvno < 0 || e.kvno > 0xffffffff) {
      encFail(`entry ${i}: kvno ${e.kvno} outside 0..2^32-1`);
    }
    if (!Number.isInteger(e.enctype) || e.enctype < -0x8000 || e.enctype > 0xffff) {
      encFail(`entry ${i}: enctype ${e.enctype} does not fit 16 bits`);
    }
    if (!Number.isInteger(e.timestamp) || e.timestamp < 0 || e.timestamp > 0xffffffff) {
      encFail(`entry ${i}: timestamp ${e.timestamp} outside 0..2^32-1`);
    }
    if (e.key.length > 0xffff) encFail(`entry ${i}: key longer than 65535 octets`);
    rec.u32(p.nameType >>> 0);
    rec.u32(e.timestamp);
    rec.u8(e.kvno & 0xff);
    rec.u16(e.enctype & 0xffff);
    rec.u16(e.key.length).bytes(e.key);
    rec.u32(e.kvno);
    const body = rec.finish();
    w.i32(body.length).bytes(body);
    body.fill(0);
  }
  return w.finish();
}

/** Options of {@link findKeytabEntries}. */
export interface KeytabQuery {
  /** Only this key version. */
  kvno?: number;
  /** Only this encryption type. */
  enctype?: number;
}

/**
 * Entries for `principal` (realm and components compared, name type
 * ignored) that match the query, highest kvno first.
 */
export function findKeytabEntries(
  entries: readonly KeytabEntry[],
  principal: Principal,
  query: KeytabQuery = {},
): KeytabEntry[] {
  return entries
    .filter((e) =>
      principalEquals(e.principal, principal) &&
      (query.kvno === undefined || e.kvno === query.kvno) &&
      (query.enctype === undefined || e.enctype === query.enctype)
    )
    .sort((a, b) => b.kvno - a.kvno);
}

/** Zeroes the key octets of every entry. */
export function wipeKeytab(entries: readonly KeytabEntry[]): void {
  for (const e of entries) e.key.fill(0);
}
