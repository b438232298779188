/**
 * Kernel-interface benchmarks, each against a baseline measured in the same run:
 *
 * - policy installs on the running kernel: kink's netlink backend with 1, 16
 *   and 64 messages per sendto versus `ip -batch` installing the same
 *   policies (baseline), each run in a throwaway network namespace. Both
 *   sides are started before the clock runs: kink's netlink socket is open,
 *   and `ip -n NS -batch -` is already running and has answered one command
 *   (its start-up, `setns` and netlink socket are behind it); the timed
 *   region is writing the commands to its stdin until it answers the
 *   `xfrm policy count` written after them (stdout line-buffered through
 *   `stdbuf -oL`). Its exit is outside the timed region too;
 * - SA installs the same way, when the kernel has ESP (in the VM tier's qemu
 *   or on an ESP-capable host);
 * - the in-memory backend: 100,000 SA installs (creating and closing the
 *   backend outside the timed region), and the memory each SA takes
 *   (printed; needs `--v8-flags=--expose-gc` for an exact figure).
 *
 * The kernel groups need root and: deno bench --allow-read --allow-write
 * --allow-run --allow-env --allow-ffi=/lib/x86_64-linux-gnu/libc.so.6
 * --v8-flags=--expose-gc bench/xfrm_bench.ts
 * Without those permissions only the in-memory group runs.
 *
 * @module
 */
import {
  type KernelIpsec,
  MemoryKernel,
  NetlinkKernel,
  type PolicyConfig,
  type SaConfig,
  selector,
} from "../core/kernel/mod.ts";
import { LIBC_PATH } from "../ffi/libc.ts";
import { skipUnless } from "../tests/harness/tiers.ts";
import { benchSas, IpBatch, saLine } from "./ip_batch.ts";

const N_POLICIES = 2000;
const N_SAS = 500;

/** `KINK_XFRM_BENCH=sa` runs only the SA group (what bench/xfrm_vm.ts runs inside qemu). */
function only(): string | undefined {
  try {
    return Deno.env.get("KINK_XFRM_BENCH");
  } catch {
    return undefined;
  }
}
const saOnly = only() === "sa";

function granted(d: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(d).state === "granted";
  } catch {
    return false;
  }
}

function isRoot(): boolean {
  try {
    const o = new Deno.Command("id", { args: ["-u"], stdout: "piped" }).outputSync();
    return new TextDecoder().decode(o.stdout).trim() === "0";
  } catch {
    return false;
  }
}

const kernelOk = granted({ name: "ffi", path: LIBC_PATH }) && granted({ name: "run" }) &&
  granted({ name: "write" }) && isRoot();
const noKernel = kernelOk
  ? undefined
  : `needs root and --allow-ffi=${LIBC_PATH} --allow-run --allow-write`;
const notSaOnly = saOnly ? "KINK_XFRM_BENCH=sa runs only the SA group" : undefined;

function policies(n: number): PolicyConfig[] {
  const out: PolicyConfig[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      selector: selector(`10.${(i >> 8) & 255}.${i & 255}.0/24`, "172.16.0.0/16"),
      dir: "out",
      priority: 100,
      templates: [{
        proto: "esp",
        mode: "tunnel",
        src: "192.0.2.1",
        dst: "192.0.2.2",
        reqid: i + 1,
      }],
    });
  }
  return out;
}

function policyLine(p: PolicyConfig): string {
  const s = p.selector, t = p.templates![0]!;
  return `xfrm policy add src ${s.src}/${s.srcPrefixLen} dst ${s.dst}/${s.dstPrefixLen} dir ${p.dir} ` +
    `priority ${p.priority} tmpl src ${t.src} dst ${t.dst} proto esp reqid ${t.reqid} mode tunnel`;
}

interface Ns {
  name: string;
  k: NetlinkKernel;
  ip: IpBatch;
}

let ns: Ns | undefined;
let esp = false;
if (kernelOk) {
  const name = `kink-bench-${Deno.pid}`;
  new Deno.Command("ip", { args: ["netns", "add", name] }).outputSync();
  globalThis.addEventListener("unload", () => {
    ns?.ip.kill();
    new Deno.Command("ip", { args: ["netns", "del", name] }).outputSync();
  });
  try {
    const k = NetlinkKernel.open({ netns: `/run/netns/${name}` });
    ns = { name, k, ip: await IpBatch.start(name) };
    try {
      await k.addSa(benchSas(1)[0]!);
      esp = true;
    } catch {
      esp = false;
    }
    await k.flushSas();
  } catch (e) {
    ns?.ip.kill();
    new Deno.Command("ip", { args: ["netns", "del", name] }).outputSync();
    throw e;
  }
}

const POLS = policies(N_POLICIES);
const polBatch = POLS.map(policyLine).join("\n") + "\n";

/** Fails the benchmark when any install of a batch failed (so a failing run is never fast). */
async function check(res: Promise<(unknown | undefined)[]>, n: number): Promise<void> {
  const r = await res;
  if (r.length !== n) throw new Error(`${r.length} outcomes for ${n} installs`);
  const bad = r.find((x) => x !== undefined);
  if (bad) throw new Error(`install failed: ${String(bad)}`);
}

/** Fails the benchmark unless the kernel holds exactly `n` policies / SAs after a run. */
async function expectCount(k: KernelIpsec, what: "policies" | "sas", n: number): Promise<void> {
  const got = what === "policies" ? (await k.listPolicies()).length : (await k.listSas()).length;
  if (got !== n) throw new Error(`${got} ${what} installed, expected ${n}`);
}

const polGroup = `policy installs (${N_POLICIES} per run, host kernel)`;
Deno.bench({
  ...skipUnless("ip -batch (already running)", noKernel, notSaOnly),
  group: polGroup,
  baseline: true,
  n: 30,
  warmup: 3,
  async fn(b) {
    await ns!.k.flushPolicies();
    b.start();
    await ns!.ip.run(polBatch);
    b.end();
    await expectCount(ns!.k, "policies", N_POLICIES);
  },
});
for (const per of [1, 16, 64]) {
  Deno.bench({
    ...skipUnless(`kink netlink, ${per} per sendto`, noKernel, notSaOnly),
    group: polGroup,
    n: 30,
    warmup: 3,
    async fn(b) {
      await ns!.k.flushPolicies();
      b.start();
      await check(ns!.k.addPolicies(POLS, per), N_POLICIES);
      b.end();
      await expectCount(ns!.k, "policies", N_POLICIES);
    },
  });
}

const SAS = benchSas(N_SAS);
const saBatch = SAS.map(saLine).join("\n") + "\n";
const saGroup = `SA installs (${N_SAS} per run, kernel with ESP)`;
const noEsp = noKernel ?? (esp ? undefined : "this kernel has no ESP (bench/xfrm_vm.ts runs it)");
Deno.bench({
  ...skipUnless("ip -batch (already running)", noEsp),
  group: saGroup,
  baseline: true,
  n: 5,
  warmup: 1,
  async fn(b) {
    await ns!.k.flushSas();
    b.start();
    await ns!.ip.run(saBatch);
    b.end();
    await expectCount(ns!.k, "sas", N_SAS);
  },
});
for (const per of [1, 16, 64]) {
  Deno.bench({
    ...skipUnless(`kink netlink, ${per} per sendto`, noEsp),
    group: saGroup,
    n: 5,
    warmup: 1,
    async fn(b) {
      await ns!.k.flushSas();
      b.start();
      await check(ns!.k.addSas(SAS, per), N_SAS);
      b.end();
      await expectCount(ns!.k, "sas", N_SAS);
    },
  });
}

// In-memory backend: 100,000 SAs.
const N_MEM = 100_000;
function memSa(i: number): SaConfig {
  return {
    src: "10.0.0.1",
    dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    proto: "esp",
    spi: 0x1000 + i,
    mode: "transport",
    reqid: i,
    replayWindow: 32,
    enc: { name: "cbc(aes)", key: new Uint8Array(16).fill(i & 255) },
    auth: { name: "hmac(sha256)", key: new Uint8Array(32).fill(i & 255), truncBits: 128 },
  };
}

function memSas(): SaConfig[] {
  return Array.from({ length: N_MEM }, (_, i) => memSa(i));
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!saOnly) {
  // Configurations are made on the fly and dropped, so only the backend's own memory counts.
  const k = new MemoryKernel();
  for (let i = 0; i < 1000; i++) await k.addSa(memSa(N_MEM + i)); // warm up, not counted
  gc?.();
  gc?.();
  const m0 = Deno.memoryUsage();
  for (let i = 0; i < N_MEM; i++) await k.addSa(memSa(i));
  gc?.();
  gc?.();
  const m1 = Deno.memoryUsage();
  const bytes = m1.heapUsed + m1.external - m0.heapUsed - m0.external;
  console.log(
    `in-memory backend: ${N_MEM} SAs take ${(bytes / 1024 / 1024).toFixed(1)} MiB ` +
      `(V8 heap + external), ${Math.round(bytes / N_MEM)} bytes per SA` +
      (gc ? "" : " (approximate: run with --v8-flags=--expose-gc)"),
  );
  await k.close();
}

const memGroup = `in-memory backend (${N_MEM} SAs per run)`;
const MEM = saOnly ? [] : memSas();
// Construction and close() (which wipes 100,000 SAs' keys) stay outside the timed region.
Deno.bench({
  ...skipUnless("add 100,000 SAs one by one", notSaOnly),
  group: memGroup,
  baseline: true,
  n: 3,
  warmup: 1,
  async fn(b) {
    const k = new MemoryKernel();
    b.start();
    for (const c of MEM) await k.addSa(c);
    b.end();
    await expectCount(k, "sas", N_MEM);
    await k.close();
  },
});
Deno.bench({
  ...skipUnless("addSas(100,000)", notSaOnly),
  group: memGroup,
  n: 3,
  warmup: 1,
  async fn(b) {
    const k = new MemoryKernel();
    b.start();
    await check(k.addSas(MEM), N_MEM);
    b.end();
    await expectCount(k, "sas", N_MEM);
    await k.close();
  },
});
