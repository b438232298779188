/**
 * What a `kink` start-up loads, read from Deno's own module graph (`deno info --json`): the
 * launcher, `kink --help` and the daemon's flag helper load the subcommands' declarations and
 * nothing of their implementations; each subcommand's `run()` reaches its implementation only
 * through a dynamic import. Under the VM's emulation every module loaded costs a start-up
 * tens of milliseconds (and the first `node:` module several hundred, for Deno's Node
 * compatibility layer), so this is what keeps `kink version` and `kink daemon` starting fast.
 */
import assert from "node:assert/strict";
import { runOk } from "../../harness/exec.ts";

const ROOT = new URL("../../../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; isDynamic?: boolean; code?: { specifier?: string } }[];
}

interface Graph {
  /** Every module reachable through static imports (the ones loaded before main runs). */
  statics: Set<string>;
  /** Specifiers the static modules import dynamically. */
  dynamics: Set<string>;
}

async function graph(entry: string): Promise<Graph> {
  const info = JSON.parse(
    await runOk([Deno.execPath(), "info", "--json", new URL(entry, ROOT).pathname], {
      cwd: ROOT.pathname,
    }),
  ) as { roots: string[]; modules: InfoModule[]; redirects?: Record<string, string> };
  const byId = new Map(info.modules.map((m) => [m.specifier, m]));
  const statics = new Set<string>();
  const dynamics = new Set<string>();
  const todo = [...info.roots];
  while (todo.length > 0) {
    let s = todo.pop()!;
    s = info.redirects?.[s] ?? s;
    if (statics.has(s)) continue;
    statics.add(s);
    for (const d of byId.get(s)?.dependencies ?? []) {
      const target = d.code?.specifier;
      if (!target) continue;
      if (d.isDynamic) dynamics.add(target);
      else todo.push(target);
    }
  }
  return { statics, dynamics };
}

function local(statics: Set<string>): string[] {
  return [...statics].filter((s) => s.startsWith(ROOT.href)).map((s) => s.slice(ROOT.href.length));
}

/** Modules no start-up may load before it knows which subcommand runs. */
const HEAVY = [
  /^core\/cli\/commands\/\w+_run\.ts$/,
  /^core\/daemon\/daemon\.ts$/,
  /^core\/engine\//,
  /^core\/kerberos\/client\.ts$/,
  /^core\/kernel\/netlink\.ts$/,
  /^core\/config\/toml\.ts$/,
  /^core\/crypto\/mod\.ts$/,
  /^core\/cli\/decode\/(analyze|render)\.ts$/,
  /^crypto-wasm\//,
];

for (const entry of ["core/cli/launch.ts", "core/cli/main.ts"]) {
  Deno.test(`cli start-up: ${entry} statically loads no subcommand implementation`, async () => {
    const g = await graph(entry);
    const heavy = local(g.statics).filter((m) => HEAVY.some((re) => re.test(m)));
    assert.deepEqual(heavy, [], `${entry} loads ${heavy.join(", ")} at start-up`);
    assert.ok(
      ![...g.statics].some((s) => s.startsWith("npm:")),
      `${entry} loads npm packages at start-up`,
    );
    // Deno's Node compatibility layer: several hundred ms of every start-up under the VM.
    const node = [...g.statics].filter((s) => s.startsWith("node:"));
    assert.deepEqual(node, [], `${entry} loads ${node.join(", ")} at start-up`);
  });
}

Deno.test("cli start-up: every subcommand reaches its implementation by a dynamic import", async () => {
  const g = await graph("core/cli/main.ts");
  const dyn = [...g.dynamics].filter((s) => s.startsWith(ROOT.href)).map((s) =>
    s.slice(ROOT.href.length)
  );
  for (
    const m of [
      "core/cli/commands/daemon_run.ts",
      "core/cli/commands/decode_run.ts",
      "core/cli/commands/ticket_run.ts",
      "core/cli/commands/sa_run.ts",
      "core/cli/commands/policy_run.ts",
      "core/config/mod.ts",
      "core/crypto/mod.ts",
    ]
  ) {
    assert.ok(dyn.includes(m), `${m} is not imported dynamically by a subcommand (${dyn})`);
  }
});

Deno.test("cli start-up: the daemon's flag helper loads the config parser, not the daemon", async () => {
  const g = await graph("core/cli/commands/daemon_flags_helper.ts");
  const mods = local(g.statics);
  assert.ok(mods.includes("core/config/toml.ts"), "the helper must parse the configuration");
  const heavy = mods.filter((m) => HEAVY.some((re) => re.test(m)) && m !== "core/config/toml.ts");
  assert.deepEqual(heavy, [], `the helper loads ${heavy.join(", ")}`);
  const node = [...g.statics].filter((s) => s.startsWith("node:"));
  assert.deepEqual(node, [], `the helper loads ${node.join(", ")}`);
});
