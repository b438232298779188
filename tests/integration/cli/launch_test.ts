/**
 * The real `kink` launcher as an operator runs it (`deno task kink` =
 * `deno run --allow-run=deno core/cli/launch.ts`): exit codes, one-line usage
 * errors on stderr, and subcommands doing their job under the narrow
 * permissions the launcher grants.
 */
import assert from "node:assert/strict";
import { run } from "../../harness/exec.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const LAUNCH = new URL("../../../core/cli/launch.ts", import.meta.url).pathname;

function kink(...argv: string[]) {
  return run([Deno.execPath(), "run", "--quiet", "--allow-run=deno", LAUNCH, ...argv], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  });
}

Deno.test("launcher: --help and version exit 0 with their output on stdout", async () => {
  const help = await kink("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Subcommands:/);
  assert.match(help.stdout, /\bversion\b/);
  assert.equal(help.stderr, "");

  const v = await kink("version");
  assert.equal(v.code, 0, v.stderr);
  const lines = v.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^kink \d+\.\d+\.\d+/);
  assert.match(v.stdout, new RegExp(`^deno ${Deno.version.deno.replaceAll(".", "\\.")} `, "m"));
  assert.match(v.stdout, /^crypto \S/m);
});

Deno.test("launcher: bad command lines give one line on stderr and exit 2", async () => {
  for (const argv of [["--bogus"], ["no-such-subcommand"], ["version", "--bogus"]]) {
    const r = await kink(...argv);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  }
});

Deno.test("launcher: decode runs with --allow-read of exactly its files", async () => {
  const pcap = "tests/fixtures/racoon2/kink.pcap";
  // Both peers' keytabs: every message verifies, so the exit status is 0.
  const keytab = "tests/fixtures/racoon2/B.keytab,tests/fixtures/racoon2/A.keytab";
  const ok = await kink("decode", pcap, "--keytab", keytab);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /KINK/);
  // B's alone leaves the kvno-4 frames unverifiable: exit 4, and the verdict says why.
  const partial = await kink("decode", pcap, "--keytab", "tests/fixtures/racoon2/B.keytab");
  assert.equal(partial.code, 4, partial.stderr);
  assert.match(
    partial.stdout,
    /^verdict: could not verify 4 message\(s\) \(frames 26, 28, 30, 32\)/m,
  );
});
