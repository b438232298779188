/**
 * Runs the SA-install group of bench/xfrm_bench.ts (kink's netlink backend
 * with 1, 16, 64 messages per sendto versus `ip -batch`, same SAs, same run)
 * on a kernel with ESP: inside the qemu VM of the VM tier, or directly when
 * the host kernel has ESP. Under qemu's emulation only the ratios mean
 * anything.
 *
 * Run: deno run --allow-read --allow-write --allow-run --allow-env bench/xfrm_vm.ts
 *
 * @module
 */
import { runWithEsp } from "../tests/harness/vm.ts";

const root = new URL("../", import.meta.url).pathname;
const check = await new Deno.Command("deno", { args: ["check", "bench/xfrm_bench.ts"], cwd: root })
  .output();
if (!check.success) throw new Error(new TextDecoder().decode(check.stderr));
const r = await runWithEsp({
  cmd: [
    "deno",
    "bench",
    "--no-check",
    "--cached-only",
    "--allow-all",
    "bench/xfrm_bench.ts",
  ],
  cwd: root,
  env: { KINK_XFRM_BENCH: "sa", NO_COLOR: "1" },
  onStdout: (c) => Deno.stdout.writeSync(c),
  onStderr: (c) => Deno.stderr.writeSync(c),
});
console.log(`xfrm VM bench: mode ${r.mode}, exit ${r.code}, ${(r.totalMs / 1000).toFixed(1)} s`);
Deno.exitCode = r.code;
