/**
 * strongSwan ↔ strongSwan with the peers' reference set-up
 * (../shared/peers/strongswan/): Debian's charon with kernel-libipsec (a
 * userspace SAD, ESP in UDP), IKEv2 aes128gcm16-prfsha256-x25519, PSK,
 * configs from `gen-conf.py`, driven over vici by `bench_ss.py` (one JSON line
 * per test: rate, latency from vici initiate to the child-updown event, CPU of
 * each charon from /proc/<pid>/stat). The two charons run in two namespaces of
 * our own carrying the reference addresses (10.79.0.1/.2 on the veth, the
 * traffic-selector addresses on lo), each with a private /run.
 *
 * @module
 */
import { type Netns, withNetns } from "../../tests/harness/netns.ts";
import { run, runOk } from "../../tests/harness/exec.ts";
import { loadTempDir, round, rssMiB, sleep, type WorkloadResult } from "./common.ts";
import { na } from "./run_kinkd.ts";
import type { Sizes } from "./workloads.ts";

/** The reference scripts (override with STRONGSWAN_REF). */
export const SS_REF = Deno.env.get("STRONGSWAN_REF") ??
  new URL("../../../shared/peers/strongswan", import.meta.url).pathname;
const CHARON = "/usr/lib/ipsec/charon";

/** Why strongSwan cannot run here, or undefined. */
export function strongswanAvailable(): string | undefined {
  for (const f of [CHARON, "/usr/sbin/swanctl", `${SS_REF}/bench_ss.py`]) {
    try {
      Deno.statSync(f);
    } catch {
      return `missing ${f} (bash -c '. scripts/install.sh; kink_install bench')`;
    }
  }
  try {
    Deno.statSync("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so");
  } catch {
    return "no kernel-libipsec plugin (Debian libcharon-extra-plugins)";
  }
  return undefined;
}

interface SsOut {
  setups_per_s?: number;
  rekeys_per_s?: number;
  child_sas_per_s?: number;
  n_up?: number;
  wall_s: number;
  setup_latency_ms?: { p50: number; p99: number; mean: number; max: number; n: number };
  rekey_latency_ms?: { p50: number; p99: number; mean: number; max: number; n: number };
  cpu_ms_per_setup_init: number;
  cpu_ms_per_setup_resp: number;
}

/** Runs the strongSwan workloads it has. */
export async function runStrongswan(sizes: Sizes, only: Set<string> | undefined): Promise<
  WorkloadResult[]
> {
  const want = (k: string) => !only || only.has(k);
  const out: WorkloadResult[] = [];
  await withNetns(2, async ([a, b]) => {
    const dir = await loadTempDir("ss");
    const procs: Deno.ChildProcess[] = [];
    try {
      for (
        const [ns, addr, ts] of [[a!, "10.79.0.1", "10.79.1.1"], [
          b!,
          "10.79.0.2",
          "10.79.2.1",
        ]] as const
      ) {
        await ns.runOk(["ip", "addr", "add", `${addr}/24`, "dev", "eth0"]);
        await ns.runOk(["ip", "addr", "add", `${ts}/32`, "dev", "lo"]);
      }
      await runOk(["python3", `${SS_REF}/gen-conf.py`, dir], { env: { LOG: "1" } });
      for (const [side, ns] of [["a", a!], ["b", b!]] as [string, Netns][]) {
        const p = ns.spawn([
          "unshare",
          "-m",
          "sh",
          "-c",
          `mount -t tmpfs tmpfs /run && exec env STRONGSWAN_CONF=${dir}/${side}/strongswan.conf ${CHARON}`,
        ], { stdout: "null", stderr: "null", stdin: "null" });
        procs.push(p);
        await Deno.writeTextFile(`${dir}/${side}/charon.pid`, `${p.pid}\n`);
      }
      // wait for both vici sockets, then load the connections
      for (const side of ["a", "b"]) {
        for (let i = 0; i < 100; i++) {
          try {
            await Deno.stat(`${dir}/${side}/charon.vici`);
            break;
          } catch {
            await sleep(100);
          }
        }
        await runOk(["swanctl", "--load-all", "--file", `${dir}/${side}/swanctl.conf`], {
          env: { STRONGSWAN_CONF: `${dir}/${side}/strongswan.conf` },
        });
      }
      const pids = {
        initiator: Number((await Deno.readTextFile(`${dir}/a/charon.pid`)).trim()),
        responder: Number((await Deno.readTextFile(`${dir}/b/charon.pid`)).trim()),
      };
      const ss = async (...args: string[]): Promise<SsOut> => {
        const r = await run(["python3", `${SS_REF}/bench_ss.py`, ...args], {
          env: { SSDIR: dir },
        });
        if (!r.success) throw new Error(`bench_ss.py ${args.join(" ")}: ${r.stderr.slice(-800)}`);
        const line = r.stdout.trim().split("\n").pop()!;
        return line.startsWith("{") ? JSON.parse(line) as SsOut : ({} as SsOut);
      };
      await ss("warm");
      const n200 = Math.min(200, sizes.seq); // the reference config has conns p1..p200
      const map = (workload: string, detail: string, n: number, o: SsOut): WorkloadResult => {
        const lat = o.setup_latency_ms ?? o.rekey_latency_ms;
        const done = o.n_up ?? lat?.n ?? n;
        return {
          impl: "strongswan",
          workload,
          detail,
          requested: n,
          completed: done,
          failures: n - done,
          wallS: o.wall_s,
          rate: o.setups_per_s ?? o.rekeys_per_s ?? o.child_sas_per_s ?? NaN,
          latencyMs: lat ? { p50: lat.p50, p99: lat.p99, mean: lat.mean, max: lat.max } : undefined,
          cpuMsPerExchange: round(o.cpu_ms_per_setup_init + o.cpu_ms_per_setup_resp),
          cpuMsSplit: { initiator: o.cpu_ms_per_setup_init, responder: o.cpu_ms_per_setup_resp },
          rssMiB: {
            initiator: round(rssMiB(pids.initiator), 1),
            responder: round(rssMiB(pids.responder), 1),
          },
          retransmissions: undefined,
          rcvbufErrors: undefined,
        };
      };
      if (want("seq")) {
        out.push(map(
          "seq",
          `seqsetupev ${n200}: new IKE_SA+CHILD_SA one at a time (vici initiate → child-updown)`,
          n200,
          await ss("seqsetupev", String(n200)),
        ));
      }
      for (const [k, w] of [["win10", 10], ["win50", 50], ["win200", 200]] as const) {
        if (!want(k)) continue;
        const n = Math.min(w, n200);
        out.push(map(
          k,
          `conc ${n}: ${n} new IKE_SA+CHILD_SA initiated at once (not a sliding window)`,
          n,
          await ss("conc", String(n)),
        ));
        await sleep(500);
      }
      if (want("rekey")) {
        const n = Math.min(200, sizes.rekey);
        const r = map(
          "rekey",
          `rekey ${n}: CREATE_CHILD_SA rekeys one after another (vici has no storm)`,
          n,
          await ss("rekey", String(n)),
        );
        out.push(r);
      }
    } finally {
      for (const p of procs) {
        try {
          p.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.all(procs.map((p) => p.status.catch(() => {})));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
  for (
    const [k, why] of [
      ["burst1000", "the reference config has 200 IKE conns (conc 200 is the largest burst)"],
      ["peers1000x10", "not in the reference set-up"],
      ["status1000", "IKEv2 has no STATUS (liveness is INFORMATIONAL on an IKE_SA)"],
      ["hold100k", "not run for strongSwan (kernel-libipsec TUN + routes per child)"],
    ] as const
  ) {
    if (want(k)) out.push(na("strongswan", k, why));
  }
  return out;
}
