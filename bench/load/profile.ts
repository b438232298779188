/**
 * Where kink's CPU goes per exchange: runs two kink daemons under
 * `deno run --cpu-prof` (see kink.ts), `--n` CREATE exchanges with `--window`
 * outstanding after the untimed warm-up (in rounds of ≤ 250 peers, each
 * followed by a DELETE of every pair), stops them, and summarises each V8 CPU
 * profile by layer (file path) and by function, in µs per CREATE exchange
 * (start-up, warm-up and the DELETEs are in the profile too: read shares).
 *
 *     deno run --allow-all bench/load/profile.ts [--kink-root DIR] [--n 2000] [--window 50]
 *     deno run --allow-all bench/load/profile.ts --summarise FILE.cpuprofile --exchanges N
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withNetns } from "../../tests/harness/netns.ts";
import { withRealm } from "../../tests/harness/krb5_realm.ts";
import { loadTempDir, runWindowed } from "./common.ts";
import { KinkLab } from "./kink.ts";
import { MAX_PEERS } from "./run_kink.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Layer of a profile frame, from its URL. */
export function layerOf(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(idle)") return "idle";
  if (fn === "(program)") return "V8/runtime (program)";
  const m = /\/(core\/[a-z]+|crypto-wasm|ffi|tests|bench)\//.exec(url);
  if (m) return m[1]!;
  if (url.startsWith("wasm://")) return "crypto-wasm";
  if (url.includes("node:") || url.includes("ext:deno_node") || url.includes("node/")) {
    return "deno node: compat (dgram, …)";
  }
  if (url.startsWith("ext:")) return `deno ${url.split("/")[0]!.slice(4)}`;
  if (url === "") return "native/builtins";
  return url.replace(/^.*\/\/[^/]*/, "");
}

/** Summary lines (µs per exchange) of one profile. */
export function summarise(p: CpuProfile, exchanges: number, top = 25): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, k) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[k] ?? 0)));
  const layer = new Map<string, number>();
  const fn = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const l = layerOf(n.callFrame.url, n.callFrame.functionName);
    if (l === "idle") continue;
    busy += us;
    layer.set(l, (layer.get(l) ?? 0) + us);
    const file = n.callFrame.url.replace(/^.*\/(core|crypto-wasm|ffi)\//, "$1/");
    const key = `${n.callFrame.functionName || "(anonymous)"} ${file}:${
      n.callFrame.lineNumber + 1
    }`;
    fn.set(key, (fn.get(key) ?? 0) + us);
  }
  const per = (us: number) => (us / Math.max(1, exchanges)).toFixed(1).padStart(8);
  const lines = [
    `busy (non-idle) JS-thread time: ${(busy / 1000).toFixed(0)} ms over ${exchanges} exchanges = ${
      per(busy).trim()
    } µs/exchange`,
    "",
    "by layer (µs/exchange, share):",
  ];
  for (const [l, us] of [...layer].sort((a, b) => b[1] - a[1])) {
    lines.push(`${per(us)}  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${l}`);
  }
  lines.push("", `top ${top} functions by self time (µs/exchange):`);
  for (const [f, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${per(us)}  ${f}`);
  }
  return lines.join("\n");
}

async function profileRun(root: string, n: number, window: number, out: string): Promise<number> {
  await Deno.mkdir(out, { recursive: true });
  let done = 0;
  await withNetns(3, async ([kdc, a, b]) => {
    await withRealm(
      { principals: ["kink/a.kink.test", "kink/b.kink.test"], netns: kdc!.name },
      async (realm) => {
        const dir = await loadTempDir("prof");
        const lab = await KinkLab.start({
          root,
          dir,
          realm,
          a: a!,
          b: b!,
          peers: Math.min(n, MAX_PEERS),
          profileDir: out,
        });
        try {
          // rounds of ≤ 250 CREATEs, each followed by DELETEs of every pair (a config names ≤ 256 peers)
          for (let left = n; left > 0;) {
            const k = Math.min(left, MAX_PEERS);
            lab.begin();
            const r = await runWindowed(lab, {
              impl: "kink",
              workload: "profile",
              detail: "",
              n: k,
              window,
            });
            done += r.completed;
            delete r.raw;
            console.log(JSON.stringify(r));
            left -= k;
            await lab.reset();
          }
        } finally {
          await lab.stop();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      },
    );
  });
  return done;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "kink-root": { type: "string", default: new URL("../../", import.meta.url).pathname },
      n: { type: "string", default: "2000" },
      window: { type: "string", default: "50" },
      out: { type: "string", default: "/tmp/kink-load-profile" },
      summarise: { type: "string" },
      exchanges: { type: "string" },
    },
  });
  if (values.summarise) {
    const p = JSON.parse(await Deno.readTextFile(values.summarise)) as CpuProfile;
    console.log(summarise(p, Number(values.exchanges ?? "1")));
  } else {
    const n = Number(values.n), out = values.out!;
    const done = await profileRun(values["kink-root"]!, n, Number(values.window), out);
    for (const side of ["initiator", "responder"]) {
      for (const e of Deno.readDirSync(`${out}/${side}`)) {
        if (!e.name.endsWith(".cpuprofile")) continue;
        const p = JSON.parse(await Deno.readTextFile(`${out}/${side}/${e.name}`)) as CpuProfile;
        console.log(`\n## ${side} (${e.name}; warm-up and start-up included)\n`);
        console.log(summarise(p, done));
      }
    }
  }
}
