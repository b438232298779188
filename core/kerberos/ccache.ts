/**
 * MIT FILE credential caches (MIT `ccache_file_format.rst`).
 *
 * Reading accepts versions 1–4 (1 and 2 in host byte order — little-endian
 * on the machines kink runs on — 3 and 4 big-endian; version 1 has no name
 * type and counts the realm among the components; version 3 writes the key
 * enctype twice; version 4 has tagged header fields, of which tag 1 is the
 * KDC time offset). Configuration entries (server realm `X-CACHECONF:`)
 * are returned apart from the credentials. Writing produces version 4.
 *
 * Ticket fields are kept as opaque octets: a cache may hold anything there.
 * Malformed files yield a {@link KerberosError} (category `"decode"`,
 * context `"ccache"`) with the offset; no length or count field is trusted
 * beyond the octets actually present.
 *
 * @module
 */
import { ByteReader, ByteWriter } from "../util/bytes.ts";
import { KerberosError } from "./errors.ts";
import { NameType } from "./iana.ts";
import type { AuthorizationDataEntry, EncryptionKey, HostAddress } from "./messages.ts";
import { formatPrincipal, type Principal } from "./principal.ts";
import { type RandomSource, systemRandom } from "../util/random.ts";

/** Realm of configuration entries. */
export const CCACHE_CONF_REALM = "X-CACHECONF:";
/** First component of configuration entries. */
export const CCACHE_CONF_PREFIX = "krb5_ccache_conf_data";
/** Maximum ccache size read (octets). */
export const CCACHE_MAX_SIZE = 64 << 20;
const MAX_COMPONENTS = 1024;

/** One credential. `key.keyvalue` is secret: never log it. */
export interface CcacheCredential {
  /** Client principal. */
  client: Principal;
  /** Server principal. */
  server: Principal;
  /** Session key. */
  key: EncryptionKey;
  /** Authentication time. */
  authtime: Date;
  /** Start time (absent when 0 in the file). */
  starttime?: Date;
  /** Expiry. */
  endtime: Date;
  /** Renewal limit (absent when 0 in the file). */
  renewTill?: Date;
  /** True for a user-to-user ticket (encrypted in a session key). */
  isSkey: boolean;
  /** TicketFlags (RFC 4120 bit 0 = MSB). */
  ticketFlags: number;
  /** Client addresses. */
  addresses: HostAddress[];
  /** Authorization data. */
  authdata: AuthorizationDataEntry[];
  /** The ticket's DER octets (opaque to the cache). */
  ticket: Uint8Array;
  /** The second ticket (user-to-user), empty when none. */
  secondTicket: Uint8Array;
}

/** A configuration entry (MIT `krb5_cc_set_config`). */
export interface CcacheConfigEntry {
  /** Key, e.g. `"pa_type"`, `"fast_avail"`, `"refresh_time"`. */
  key: string;
  /** The principal the entry is about, when any (string form). */
  principal?: string;
  /** Value octets. */
  value: Uint8Array;
}

/** A credential cache. */
export interface Ccache {
  /** File format version (1–4); {@link writeCcache} always writes 4. */
  version: number;
  /** The default (client) principal. */
  defaultPrincipal: Principal;
  /** KDC time offset (version 4 header tag 1). */
  kdcOffset?: { seconds: number; microseconds: number };
  /** Credentials, in file order (configuration entries excluded). */
  credentials: CcacheCredential[];
  /** Configuration entries, in file order. */
  config: CcacheConfigEntry[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

function decodeFail(detail: string, offset: number): never {
  const d = detail.includes(" at offset ") ? detail : `${detail} at offset ${offset}`;
  throw new KerberosError("decode", "ccache", d, { offset });
}

/** Parses a FILE credential cache. */
export function readCcache(bytes: Uint8Array): Ccache {
  if (bytes.length > CCACHE_MAX_SIZE) {
    decodeFail(`file of ${bytes.length} octets exceeds the limit of ${CCACHE_MAX_SIZE}`, 0);
  }
  const r = new ByteReader(bytes, decodeFail);
  if (bytes.length < 2) decodeFail("too short for a version number", 0);
  const b0 = r.u8();
  const version = r.u8();
  if (b0 !== 5 || version < 1 || version > 4) {
    decodeFail(
      `unknown ccache version 0x${((b0 << 8) | version).toString(16).padStart(4, "0")}`,
      0,
    );
  }
  const le = version <= 2;
  const cc: Ccache = {
    version,
    defaultPrincipal: { nameType: 0, components: [], realm: "" },
    credentials: [],
    config: [],
  };
  if (version === 4) {
    const hlen = r.u16();
    const hr = new ByteReader(bytes, decodeFail, r.offset, r.offset + hlen);
    r.skip(hlen);
    while (hr.remaining > 0) {
      const tag = hr.u16();
      const len = hr.u16();
      const at = hr.offset;
      const v = hr.bytesView(len);
      if (tag === 1) {
        if (len !== 8) decodeFail(`KDC time offset field of ${len} octets (expected 8)`, at);
        const dv = new DataView(v.buffer, v.byteOffset, 8);
        cc.kdcOffset = { seconds: dv.getInt32(0), microseconds: dv.getInt32(4) };
      }
    }
  }
  const data = (): Uint8Array => r.take(r.u32(le));
  const text = (what: string): string => {
    const at = r.offset;
    try {
      return utf8.decode(data());
    } catch (e) {
      if (e instanceof KerberosError) throw e;
      return decodeFail(`${what} is not valid UTF-8`, at);
    }
  };
  const principal = (): Principal => {
    const at = r.offset;
    const nameType = version === 1 ? NameType.UNKNOWN : r.i32(le);
    let count = r.u32(le);
    if (version === 1) {
      if (count === 0) decodeFail("principal with no realm", at);
      count--;
    }
    if (count > MAX_COMPONENTS) decodeFail(`principal with ${count} components`, at);
    const realm = text("realm");
    const components: string[] = [];
    for (let i = 0; i < count; i++) components.push(text("name component"));
    return { nameType, components, realm };
  };
  const time = (): number => r.u32(le);
  cc.defaultPrincipal = principal();
  let index = 0;
  while (r.remaining > 0) {
    const start = r.offset;
    try {
      const client = principal();
      const server = principal();
      const keytype = r.u16(le);
      if (version === 3) r.u16(le);
      const keyvalue = data();
      const authtime = time();
      const starttime = time();
      const endtime = time();
      const renewTill = time();
      const isSkey = r.u8();
      const ticketFlags = r.u32(le);
      const addresses: HostAddress[] = [];
      const nAddr = r.u32(le);
      for (let i = 0; i < nAddr; i++) {
        const addrType = r.u16(le);
        addresses.push({ addrType, address: data() });
      }
      const authdata: AuthorizationDataEntry[] = [];
      const nAd = r.u32(le);
      for (let i = 0; i < nAd; i++) {
        const adType = (r.u16(le) << 16) >> 16;
        authdata.push({ adType, adData: data() });
      }
      const ticket = data();
      const secondTicket = data();
      if (isSkey > 1) decodeFail(`is_skey ${isSkey} is not 0 or 1`, start);
      if (server.realm === CCACHE_CONF_REALM && server.components[0] === CCACHE_CONF_PREFIX) {
        const e: CcacheConfigEntry = { key: server.components[1] ?? "", value: ticket };
        if (server.components[2] !== undefined) e.principal = server.components[2];
        cc.config.push(e);
        keyvalue.fill(0);
      } else {
        const c: CcacheCredential = {
          client,
          server,
          key: { keytype: (keytype << 16) >> 16, keyvalue },
          authtime: new Date(authtime * 1000),
          endtime: new Date(endtime * 1000),
          isSkey: isSkey === 1,
          ticketFlags,
          addresses,
          authdata,
          ticket,
          secondTicket,
        };
        if (starttime) c.starttime = new Date(starttime * 1000);
        if (renewTill) c.renewTill = new Date(renewTill * 1000);
        cc.credentials.push(c);
      }
    } catch (e) {
      if (e instanceof KerberosError && e.category === "decode") {
        throw new KerberosError(
          "decode",
          "ccache",
          `credential ${index} (from offset ${start}): ${e.detail}`,
          { offset: e.offset ?? start, cause: e },
        );
      }
      throw e;
    }
    index++;
  }
  return cc;
}

function encFail(detail: string): never {
  throw new KerberosError("encode", "write ccache", detail);
}

function u32Time(d: Date | undefined, what: string): number {
  if (d === undefined) return 0;
  const t = Math.floor(d.getTime() / 1000);
  if (!Number.isFinite(t) || t < 0 || t > 0xffffffff) encFail(`${what} outside the 32-bit range`);
  return t;
}

/** Serialises a credential cache in FILE format version 4. */
export function writeCcache(cc: Omit<Ccache, "version"> & { version?: number }): Uint8Array {
  const w = new ByteWriter(1024);
  w.u8(5).u8(4);
  if (cc.kdcOffset) {
    w.u16(12).u16(1).u16(8).i32(cc.kdcOffset.seconds).i32(cc.kdcOffset.microseconds);
  } else {
    w.u16(0);
  }
  const data = (b: Uint8Array) => w.u32(b.length).bytes(b);
  const principal = (p: Principal) => {
    if (p.components.length > MAX_COMPONENTS) encFail("principal with too many components");
    w.i32(p.nameType | 0).u32(p.components.length);
    data(utf8enc.encode(p.realm));
    for (const c of p.components) data(utf8enc.encode(c));
  };
  const cred = (c: CcacheCredential) => {
    principal(c.client);
    principal(c.server);
    if (c.key.keytype < -0x8000 || c.key.keytype > 0xffff) encFail("keytype does not fit 16 bits");
    w.u16(c.key.keytype & 0xffff);
    data(c.key.keyvalue);
    w.u32(u32Time(c.authtime, "authtime"));
    w.u32(u32Time(c.starttime, "starttime"));
    w.u32(u32Time(c.endtime, "endtime"));
    w.u32(u32Time(c.renewTill, "renew-till"));
    w.u8(c.isSkey ? 1 : 0);
    w.u32(c.ticketFlags >>> 0);
    w.u32(c.addresses.length);
    for (const a of c.addresses) {
      w.u16(a.addrType & 0xffff);
      data(a.address);
    }
    w.u32(c.authdata.length);
    for (const a of c.authdata) {
      w.u16(a.adType & 0xffff);
      data(a.adData);
    }
    data(c.ticket);
    data(c.secondTicket);
  };
  principal(cc.defaultPrincipal);
  for (const c of cc.credentials) cred(c);
  for (const e of cc.config) {
    const comps = [CCACHE_CONF_PREFIX, e.key];
    if (e.principal !== undefined) comps.push(e.principal);
    cred({
      client: cc.defaultPrincipal,
      server: { nameType: NameType.PRINCIPAL, components: comps, realm: CCACHE_CONF_REALM },
      key: { keytype: 0, keyvalue: new Uint8Array(0) },
      authtime: new Date(0),
      endtime: new Date(0),
      isSkey: false,
      ticketFlags: 0,
      addresses: [],
      authdata: [],
      ticket: e.value,
      secondTicket: new Uint8Array(0),
    });
  }
  return w.finish();
}

/** A config entry about `principal` (as MIT names them). */
export function ccacheConfig(
  key: string,
  value: Uint8Array,
  principal?: Principal,
): CcacheConfigEntry {
  const e: CcacheConfigEntry = { key, value };
  if (principal) e.principal = formatPrincipal(principal);
  return e;
}

/** Zeroes every session key in the cache. */
export function wipeCcache(cc: Ccache): void {
  for (const c of cc.credentials) c.key.keyvalue.fill(0);
}

/**
 * Writes a ccache to `path` atomically and privately:
 *
 * 1. the temporary file is created exclusively (O_CREAT|O_EXCL: an existing
 *    file or symbolic link there makes it fail, so nothing is written through
 *    a link another user planted) with mode 0600, named
 *    `<path>.<16 random hex digits>.tmp` when the process may create files in
 *    the directory, else `<path>.tmp` (the one name a narrowly permitted
 *    process, such as `kink ticket`, is granted);
 * 2. it is written and fsynced, then renamed over `path`;
 * 3. the directory is fsynced when the process may read it (without that
 *    permission the rename reaches the disk with the next file-system commit;
 *    a power loss before then leaves the previous ccache in place).
 *
 * On every failure the temporary file is removed. The serialised bytes are
 * zeroed afterwards; the caller wipes `cc`.
 */
export async function writeCcacheFile(
  path: string,
  cc: Omit<Ccache, "version"> & { version?: number },
  random: RandomSource = systemRandom,
): Promise<void> {
  const bytes = writeCcache(cc);
  const dir = dirOf(path);
  let tmp = `${path}.tmp`;
  if (permitted("write", dir)) {
    const r = random.fill(new Uint8Array(8));
    tmp = `${path}.${[...r].map((b) => b.toString(16).padStart(2, "0")).join("")}.tmp`;
  }
  let created = false;
  let renamed = false;
  const fail = (what: string, e: unknown): never => {
    throw new KerberosError("io", `write ccache ${path}`, `${what}: ${(e as Error).message}`, {
      cause: e,
    });
  };
  try {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    } catch (e) {
      return fail(
        e instanceof Deno.errors.AlreadyExists
          ? `temporary file ${tmp} already exists (left by an interrupted run, or planted): remove it`
          : `cannot create ${tmp}`,
        e,
      );
    }
    created = true;
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } catch (e) {
      fail(`cannot write ${tmp}`, e);
    } finally {
      f.close();
    }
    try {
      await Deno.rename(tmp, path);
      renamed = true;
    } catch (e) {
      fail(`cannot rename ${tmp} to ${path}`, e);
    }
    if (permitted("read", dir)) {
      try {
        const d = await Deno.open(dir, { read: true });
        try {
          await d.sync();
        } finally {
          d.close();
        }
      } catch (e) {
        fail(`cannot fsync ${dir}`, e);
      }
    }
  } finally {
    bytes.fill(0);
    if (created && !renamed) {
      try {
        await Deno.remove(tmp);
      } catch {
        // already gone
      }
    }
  }
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function permitted(name: "read" | "write", path: string): boolean {
  try {
    return Deno.permissions.querySync({ name, path }).state === "granted";
  } catch {
    return false;
  }
}
