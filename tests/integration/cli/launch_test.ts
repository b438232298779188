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

/**
 * What the `deno run` the launcher starts may do, seen from inside that process: a `deno` on
 * PATH in front of the real one adds `--preload <probe>` to the child's command line (nothing
 * else), and the probe — running with exactly the child's permissions, before main.ts — asks
 * Deno about each permission and tries a read outside the grant, and reports on stderr. (Not
 * granted means refused: the launcher runs the child with --no-prompt.)
 */
async function probeChild(argv: string[]): Promise<{
  code: number;
  stdout: string;
  probe: Record<string, string>;
}> {
  const dir = await Deno.makeTempDir({ prefix: "kink-launch-probe-" });
  try {
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `const q = (d: Deno.PermissionDescriptor) =>
  Deno.permissions.querySync(d).state === "granted" ? "granted" : "not granted";
const out: Record<string, string> = {};
for (const f of JSON.parse(${JSON.stringify(JSON.stringify(PROBE_READS))})) {
  out["read " + f] = q({ name: "read", path: f });
}
try {
  Deno.readFileSync(${JSON.stringify(OUTSIDE)});
  out["reading outside"] = "succeeded";
} catch (e) {
  out["reading outside"] = e instanceof Deno.errors.NotCapable ? "NotCapable" : String(e);
}
for (const name of ["write", "net", "env", "run", "ffi", "sys"] as const) out[name] = q({ name });
console.error("PROBE " + JSON.stringify(out));
`,
    );
    const wrapper = `${dir}/deno`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nfirst="$1"; shift\nexec ${Deno.execPath()} "$first" --preload ${probe} "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    const r = await run([Deno.execPath(), "run", "--quiet", "--allow-run=deno", LAUNCH, ...argv], {
      cwd: ROOT,
      env: { NO_COLOR: "1", PATH: `${dir}:${Deno.env.get("PATH") ?? ""}` },
    });
    const line = r.stderr.split("\n").find((l) => l.startsWith("PROBE "));
    assert.ok(line, `the probe ran inside the child: ${r.stderr}`);
    return { code: r.code, stdout: r.stdout, probe: JSON.parse(line.slice(6)) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const PCAP = "tests/fixtures/racoon2/kink.pcap";
const KEYTAB = "tests/fixtures/racoon2/B.keytab";
const KEYTAB_A = "tests/fixtures/racoon2/A.keytab";
/** A file beside the granted ones that decode was not given. */
const OUTSIDE = `${ROOT}tests/fixtures/racoon2/README.md`;
const PROBE_READS = [
  `${ROOT}${PCAP}`,
  `${ROOT}${KEYTAB}`,
  `${ROOT}${KEYTAB_A}`,
  OUTSIDE,
  ROOT,
  "/etc/passwd",
];

Deno.test("launcher: decode runs with --allow-read of exactly its files", async () => {
  // Both peers' keytabs: every message verifies, so the exit status is 0.
  const r = await probeChild(["decode", PCAP, "--keytab", KEYTAB, "--keytab", KEYTAB_A]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /KINK/);
  assert.deepEqual(r.probe, {
    [`read ${ROOT}${PCAP}`]: "granted",
    [`read ${ROOT}${KEYTAB}`]: "granted",
    [`read ${ROOT}${KEYTAB_A}`]: "granted",
    [`read ${OUTSIDE}`]: "not granted",
    [`read ${ROOT}`]: "not granted",
    "read /etc/passwd": "not granted",
    "reading outside": "NotCapable",
    write: "not granted",
    net: "not granted",
    env: "not granted",
    run: "not granted",
    ffi: "not granted",
    sys: "not granted",
  });
  // B's alone leaves the kvno-4 frames unverifiable: exit 4, and the verdict says why.
  const partial = await kink("decode", PCAP, "--keytab", KEYTAB);
  assert.equal(partial.code, 4, partial.stderr);
  assert.match(
    partial.stdout,
    /^verdict: could not verify 4 message\(s\) \(frames 26, 28, 30, 32\)/m,
  );
});
