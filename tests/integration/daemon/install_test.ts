/**
 * Installation: the systemd unit passes `systemd-analyze verify`, and the
 * executable `deno task compile` builds reports the build id of the source
 * it was built from.
 */
import assert from "node:assert/strict";
import { run } from "../../harness/exec.ts";
import { hasCommand, skipUnless } from "../../harness/tiers.ts";
import { compileArgs } from "../../../scripts/compile.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

Deno.test({
  ...skipUnless(
    "install: contrib/systemd/kink.service passes systemd-analyze verify",
    hasCommand("systemd-analyze") ? undefined : "missing systemd-analyze",
  ),
  async fn() {
    // verify checks that ExecStart's program exists: give it one at the unit's path, in a copy.
    const dir = await Deno.makeTempDir({ prefix: "kink-test-unit-" });
    try {
      const unit = await Deno.readTextFile(`${ROOT}contrib/systemd/kink.service`);
      assert.match(unit, /^ExecStart=\/usr\/local\/bin\/kink daemon --config /m);
      assert.match(unit, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE$/m);
      assert.match(unit, /^ProtectSystem=strict$/m);
      await Deno.writeTextFile(
        `${dir}/kink.service`,
        unit.replace(/^ExecStart=\/usr\/local\/bin\/kink /m, "ExecStart=/bin/true "),
      );
      const r = await run(["systemd-analyze", "verify", `${dir}/kink.service`]);
      assert.equal(r.code, 0, r.stderr);
      // No warning about the unit itself (the host's other units may warn; ours must not).
      assert.deepEqual(r.stderr.split("\n").filter((l) => l.includes("kink.service")), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Where `deno compile` finds its runtime without downloading it, or why it cannot. */
function denortSkipReason(): string | undefined {
  try {
    if (Deno.env.get("DENORT_BIN")) return undefined;
    const dir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    const zip = `${dir}/dl/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`;
    Deno.statSync(zip);
    return undefined;
  } catch {
    return "deno compile needs Deno's denort runtime, which is not cached here and is not fetched by tests (set DENORT_BIN)";
  }
}

Deno.test({
  ...skipUnless(
    "install: deno task compile builds one kink executable whose version is the source's build id",
    denortSkipReason(),
  ),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kink-test-compile-" });
    try {
      const out = `${dir}/kink`;
      const c = await run([Deno.execPath(), ...compileArgs(out)], { cwd: ROOT });
      assert.equal(c.code, 0, c.stderr);
      const bin = await run([out, "version"]);
      const src = await run([
        Deno.execPath(),
        "run",
        "--quiet",
        `${ROOT}core/cli/main.ts`,
        "version",
      ]);
      assert.equal(bin.code, 0, bin.stderr);
      assert.equal(bin.stdout, src.stdout);
      assert.match(bin.stdout, /^crypto .*wasm sha256:[0-9a-f]+/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
