/**
 * Reading the configuration file: a regular file, bounded in size.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type DaemonConfig, parseConfig } from "./schema.ts";
import { MAX_CONFIG_OCTETS } from "./toml.ts";
import { escapeControl } from "../util/text.ts";

/**
 * Reads and validates a configuration file. Refuses anything but a regular
 * file (a FIFO or device would hang or never end) and files over
 * {@link MAX_CONFIG_OCTETS}; the size is checked while reading, so a file
 * that grows is still bounded.
 */
export async function readConfigFile(path: string): Promise<DaemonConfig> {
  const shown = escapeControl(path);
  let f: Deno.FsFile;
  try {
    // stat before open: opening a FIFO for reading would block until a writer appears.
    if (!(await Deno.stat(path)).isFile) throw new ConfigError("io", shown, "not a regular file");
    f = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError("io", shown, `cannot open: ${escapeControl((e as Error).message)}`, {
      cause: e,
    });
  }
  try {
    const st = await f.stat();
    if (!st.isFile) throw new ConfigError("io", shown, "not a regular file");
    // The buffer starts at the file's size (+1 to see growth) and doubles up to the bound.
    let buf = new Uint8Array(Math.min(MAX_CONFIG_OCTETS, st.size) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const next = new Uint8Array(Math.min(MAX_CONFIG_OCTETS + 1, buf.length * 2));
        next.set(buf);
        buf = next;
      }
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
      if (n > MAX_CONFIG_OCTETS) {
        throw new ConfigError("io", shown, `larger than ${MAX_CONFIG_OCTETS} octets`);
      }
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      throw new ConfigError("syntax", shown, "not UTF-8 text");
    }
    return parseConfig(text, path);
  } finally {
    f.close();
  }
}
