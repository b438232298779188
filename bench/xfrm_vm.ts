/**
 * SA installation through kink's netlink FFI against `ip -batch` on a kernel
 * with ESP: inside the qemu VM of the VM tier, or directly when the host
 * kernel has ESP. Under qemu's emulation only the ratios mean anything.
 *
 * Runs bench/xfrm_batch.ts (batch sizes 1, 10, 100, 1,000; kink's time as a
 * ratio to ip's at each; issue 14's target) and, with `--all`, the SA group
 * of bench/xfrm_bench.ts as well (1, 16, 64 messages per sendto versus one
 * `ip -batch` of every SA). Writes the batch table's JSON to `--json FILE`.
 *
 * Run: deno run --allow-read --allow-write --allow-run --allow-env bench/xfrm_vm.ts [--all] [--json FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runWithEsp } from "../tests/harness/vm.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { all: { type: "boolean", default: false }, json: { type: "string" } },
});
const root = new URL("../", import.meta.url).pathname;
const check = await new Deno.Command("deno", {
  args: ["check", "bench/xfrm_bench.ts", "bench/xfrm_batch.ts"],
  cwd: root,
}).output();
if (!check.success) throw new Error(new TextDecoder().decode(check.stderr));
const jsonIn = values.json ? "/tmp/kink-xfrm-batch.json" : undefined;
const script = [
  `deno run --no-check --cached-only --allow-all bench/xfrm_batch.ts${
    jsonIn ? ` --json ${jsonIn}` : ""
  }`,
  ...(values.all
    ? ["KINK_XFRM_BENCH=sa deno bench --no-check --cached-only --allow-all bench/xfrm_bench.ts"]
    : []),
].join(" && ");
let out = "";
const dec = new TextDecoder();
const r = await runWithEsp({
  cmd: ["sh", "-c", script],
  cwd: root,
  env: { NO_COLOR: "1" },
  onStdout: (c) => {
    out += dec.decode(c, { stream: true });
    Deno.stdout.writeSync(c);
  },
  onStderr: (c) => Deno.stderr.writeSync(c),
});
console.log(`xfrm VM bench: mode ${r.mode}, exit ${r.code}, ${(r.totalMs / 1000).toFixed(1)} s`);
if (values.json) {
  const line = out.split("\n").find((l) => l.startsWith("JSON "));
  if (line) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ mode: r.mode, ...JSON.parse(line.slice(5)) }, null, 2) + "\n",
    );
  }
}
Deno.exitCode = r.code;
