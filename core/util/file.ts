/**
 * Bounded reading of the files an operator names (keytabs, captures,
 * krb5.conf): only regular files are opened — a FIFO would block forever and
 * a device such as /dev/zero never ends — and the size limit is checked on
 * the file's metadata before reading and again while reading, so a file that
 * grows (or lies about its size) costs at most the limit in memory.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

function ioError(what: string, path: string, detail: string, cause?: unknown): ConfigError {
  return new ConfigError("io", `read ${what}`, `${path}: ${detail}`, cause ? { cause } : {});
}

/**
 * Opens `path` for reading after checking (before opening, so a FIFO cannot
 * block the open) that it is a regular file of at most `maxBytes`; checks the
 * opened file again with fstat. Permission errors (`Deno.errors.NotCapable`)
 * pass through unchanged; everything else is a {@link ConfigError} `"io"`.
 */
export function openRegularFile(path: string, what: string, maxBytes: number): {
  file: Deno.FsFile;
  size: number;
} {
  const check = (info: Deno.FileInfo) => {
    if (!info.isFile) throw ioError(what, path, `is ${kindOf(info)}, not a regular file`);
    if (info.size > maxBytes) {
      throw ioError(what, path, `${info.size} octets exceed the limit of ${maxBytes}`);
    }
  };
  let file: Deno.FsFile;
  try {
    check(Deno.statSync(path));
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof ConfigError) throw e;
    throw ioError(what, path, e instanceof Error ? e.message : String(e), e);
  }
  try {
    const info = file.statSync();
    check(info);
    return { file, size: info.size };
  } catch (e) {
    file.close();
    throw e instanceof ConfigError ? e : ioError(what, path, String(e), e);
  }
}

/**
 * Reads a whole regular file of at most `maxBytes` octets (see
 * {@link openRegularFile}). Reading stops with an error as soon as more than
 * `maxBytes` arrive; intermediate buffers are zeroed, so the bytes of a
 * secret file (a keytab) exist only in the returned array.
 */
export function readRegularFile(path: string, what: string, maxBytes: number): Uint8Array {
  const { file, size } = openRegularFile(path, what, maxBytes);
  try {
    let buf = new Uint8Array(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) {
          buf.fill(0);
          throw ioError(what, path, `grew past the limit of ${maxBytes} octets while read`);
        }
        const bigger = new Uint8Array(Math.min(buf.length * 2, maxBytes + 1));
        bigger.set(buf);
        buf.fill(0);
        buf = bigger;
      }
      const got = file.readSync(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n > maxBytes) {
      buf.fill(0);
      throw ioError(what, path, `grew past the limit of ${maxBytes} octets while read`);
    }
    const out = buf.slice(0, n);
    buf.fill(0);
    return out;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof ConfigError) throw e;
    throw ioError(what, path, e instanceof Error ? e.message : String(e), e);
  } finally {
    file.close();
  }
}

/** {@link readRegularFile} decoded as UTF-8 (invalid sequences replaced). */
export function readRegularTextFile(path: string, what: string, maxBytes: number): string {
  return new TextDecoder().decode(readRegularFile(path, what, maxBytes));
}
