/**
 * Reading the daemon configuration from disk: bounded, regular files only,
 * UTF-8 only (integration tier: it needs temp files outside the repository).
 */
import assert from "node:assert/strict";
import { MAX_CONFIG_OCTETS, readConfigFile } from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors.ts";

Deno.test("config: the file reader refuses non-regular files and files over the bound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-config-" });
  try {
    await assert.rejects(
      readConfigFile(dir),
      (e) => e instanceof ConfigError && /not a regular file/.test(e.message),
    );
    const big = `${dir}/big.toml`;
    await Deno.writeTextFile(big, "# " + "x".repeat(MAX_CONFIG_OCTETS) + "\n");
    await assert.rejects(
      readConfigFile(big),
      (e) => e instanceof ConfigError && /larger than/.test(e.message),
    );
    const bin = `${dir}/bin.toml`;
    await Deno.writeFile(bin, new Uint8Array([0x61, 0x3d, 0xff, 0xfe]));
    await assert.rejects(
      readConfigFile(bin),
      (e) => e instanceof ConfigError && /UTF-8/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: a FIFO is refused at once instead of hanging", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-config-" });
  try {
    const fifo = `${dir}/fifo.toml`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success);
    // No writer ever appears: a reader that opened the FIFO would block forever.
    await assert.rejects(
      readConfigFile(fifo),
      (e) => e instanceof ConfigError && /not a regular file/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
