/**
 * The `kink` CLI front door: top-level help, every subcommand's help (with its
 * Deno permissions), one-line usage errors with exit code 2, `version`, and
 * the launcher granting no permission for help.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { main, topHelp } from "../../../core/cli/main.ts";
import { COMMANDS, findCommand } from "../../../core/cli/commands/mod.ts";
import { launchArgs } from "../../../core/cli/launch.ts";
import type { CommandIO } from "../../../core/cli/command.ts";
import { cryptoBuildId } from "../../../core/crypto/mod.ts";

interface Captured {
  code: number;
  out: string[];
  err: string[];
}

async function cli(...argv: string[]): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main(argv, io);
  // A "line" written through io may itself contain newlines: split for counting.
  return {
    code,
    out: out.join("\n").split("\n"),
    err: err.length ? err.join("\n").split("\n") : [],
  };
}

const denoJson = JSON.parse(
  await Deno.readTextFile(new URL("../../../deno.json", import.meta.url)),
) as { version: string };

Deno.test("cli: --help lists every subcommand with its summary and exits 0", async () => {
  for (const flag of ["--help", "-h", "help"]) {
    const r = await cli(flag);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    const text = r.out.join("\n");
    assert.match(text, /Usage: deno task kink <subcommand>/);
    assert.ok(COMMANDS.length > 0);
    for (const c of COMMANDS) {
      assert.ok(
        r.out.some((l) => l.trimStart().startsWith(c.name) && l.includes(c.summary)),
        `--help does not list ${c.name}`,
      );
    }
  }
});

Deno.test("cli: no arguments prints help and exits 2", async () => {
  const r = await cli();
  assert.equal(r.code, 2);
  assert.equal(r.out.join("\n"), topHelp());
});

Deno.test("cli: every subcommand's --help shows usage, options and Deno permissions", async () => {
  for (const c of COMMANDS) {
    const r = await cli(...c.name.split(" "), "--help");
    assert.equal(r.code, 0, `${c.name} --help`);
    assert.deepEqual(r.err, []);
    const text = r.out.join("\n");
    assert.ok(text.startsWith(`Usage: kink ${c.usage}`), `${c.name}: ${r.out[0]}`);
    assert.match(text, /-h, --help/);
    for (const name of Object.keys(c.options)) {
      assert.match(text, new RegExp(`--${name}\\b`), `${c.name} --help lacks --${name}`);
    }
    const perms = text.slice(text.indexOf("Deno permissions:"));
    assert.ok(text.includes("Deno permissions:"), `${c.name} --help lacks permissions`);
    assert.ok(c.permissionNotes.length > 0, `${c.name} documents no permissions`);
    for (const note of c.permissionNotes) assert.ok(perms.includes(note), note);
    // -h is the same as --help
    const short = await cli(...c.name.split(" "), "-h");
    assert.deepEqual(short, r);
  }
});

Deno.test("cli: unknown option, unknown subcommand, extra argument → one line on stderr, exit 2", async () => {
  const cases: string[][] = [
    ["--bogus"],
    ["frobnicate"],
    ...COMMANDS.map((c) => [...c.name.split(" "), "--no-such-option"]),
  ];
  const version = COMMANDS.find((c) => c.name === "version");
  if (version) cases.push(["version", "extra-argument"]);
  for (const argv of cases) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.equal(r.err.length, 1, `${argv.join(" ")}: ${JSON.stringify(r.err)}`);
    assert.deepEqual(r.out.filter((l) => l !== ""), [], argv.join(" "));
    const line = r.err[0]!;
    assert.match(line, /^kink\b/);
    const bad = argv.find((a) =>
      a.startsWith("--") || a === "frobnicate" || a === "extra-argument"
    );
    if (bad !== "extra-argument") assert.ok(line.includes(bad!), line);
    else assert.match(line, /expected 0 argument\(s\), got 1/);
  }
});

Deno.test("cli: version prints kink's version, the Deno version and the crypto build id", async () => {
  for (const argv of [["version"], ["--version"]]) {
    const r = await cli(...argv);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    const text = r.out.join("\n");
    assert.ok(r.out.includes(`kink ${denoJson.version}`), text);
    assert.match(text, new RegExp(`deno ${Deno.version.deno.replaceAll(".", "\\.")}\\b`));
    assert.ok(cryptoBuildId.length > 0);
    assert.ok(r.out.includes(`crypto ${cryptoBuildId}`), text);
  }
  // When the build id names the wasm's hash, it is the hash of the wasm actually shipped.
  const m = /sha256:([0-9a-f]{8,64})/.exec(cryptoBuildId);
  if (m) {
    const wasm = await Deno.readFile(
      new URL("../../../crypto-wasm/pkg/kink_crypto_bg.wasm", import.meta.url),
    );
    assert.ok(createHash("sha256").update(wasm).digest("hex").startsWith(m[1]!), cryptoBuildId);
  }
});

Deno.test("cli: launcher grants no permission for help and none for version", () => {
  for (const c of COMMANDS) {
    const args = launchArgs([...c.name.split(" "), "--help"]);
    assert.deepEqual(args.filter((a) => a.startsWith("--allow") || a === "-A"), [], c.name);
    assert.ok(args.includes("--no-prompt"));
  }
  assert.deepEqual(launchArgs(["version"]).filter((a) => a.startsWith("--allow")), []);
  // An unparsable command line gets no permissions either (main.ts reports the error).
  assert.deepEqual(launchArgs(["version", "--bogus"]).filter((a) => a.startsWith("--allow")), []);
  assert.equal(findCommand(["no-such-command"]), undefined);
});
