/**
 * kink's command-line tokenizer (core/cli/command.ts `parseArgv`) against `node:util`
 * `parseArgs` — the parser it replaces on the start-up path — on many random command lines:
 * the same tokens, values, positionals, and the same refusals with the same first line.
 */
import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { ArgvError, type ArgvOption, parseArgv } from "../../../core/cli/command.ts";
import { SeededRandom } from "../../../core/util/random.ts";

const OPTIONS: Record<string, ArgvOption> = {
  help: { type: "boolean", short: "h" },
  config: { type: "string", short: "c" },
  keytab: { type: "string", short: "k", multiple: true },
  json: { type: "boolean", short: "j" },
  verbose: { type: "boolean", short: "v", multiple: true },
  kernel: { type: "string" },
};

const PIECES = [
  "--config",
  "--config=a.toml",
  "--config=",
  "-c",
  "-ca.toml",
  "-c=x",
  "--keytab",
  "-k",
  "-kK1,K2",
  "--keytab=K",
  "-h",
  "--help",
  "--help=1",
  "-hj",
  "-jh",
  "-jc",
  "-jcX",
  "-hjv",
  "-vv",
  "--json",
  "--verbose",
  "--kernel",
  "--kernel=memory",
  "--",
  "-",
  "---x",
  "--bogus",
  "-x",
  "-hx",
  "-xh",
  "status",
  "a.pcap",
  "-1",
  "--=",
  "--__proto__",
  "--constructor",
  "memory",
  "--no-json",
  "-",
  "x=y",
  "--c",
  "-config",
];

function oracle(argv: string[]) {
  try {
    const r = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    return {
      ok: true as const,
      values: { ...r.values },
      positionals: r.positionals,
      tokens: r.tokens,
    };
  } catch (e) {
    const msg = (e as Error).message;
    const first = msg.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    return { ok: false as const, error: first };
  }
}

function ours(argv: string[]) {
  try {
    const r = parseArgv(argv, OPTIONS);
    return {
      ok: true as const,
      values: { ...r.values },
      positionals: r.positionals,
      tokens: r.tokens,
    };
  } catch (e) {
    if (!(e instanceof ArgvError)) throw e;
    return { ok: false as const, error: e.message };
  }
}

Deno.test("argv: kink's parser agrees with node:util parseArgs on 10000 random command lines", () => {
  const rnd = new SeededRandom(0x4b494e4b);
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    const n = rnd.nextUint32() % 6;
    const argv: string[] = [];
    for (let j = 0; j < n; j++) argv.push(PIECES[rnd.nextUint32() % PIECES.length]!);
    const want = oracle(argv);
    if (!want.ok) refused++;
    assert.deepEqual(ours(argv), want, JSON.stringify(argv));
  }
  // Both outcomes were exercised.
  assert.ok(refused > 500 && refused < 9_500, `refused ${refused}`);
});
