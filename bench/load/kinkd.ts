/**
 * racoon2's kinkd ↔ kinkd, the peer package of ../shared/interop/racoon2/peer/:
 * two kinkd processes (PF_KEY stand-in `pfkeyshim.so`, default log level, no
 * -D flags) in two namespaces of our own, a real MIT KDC in the initiator's
 * namespace (as in the peers' reference method), a warm-up ACQUIRE that
 * fetches the TGT and the service ticket before anything is timed.
 *
 * ACQUIREs are written to the stand-in's FIFO (`acquire SRC DST 1`); kinkd's
 * `acquire()` does no duplicate check, so each gives its own CREATE/REPLY
 * and its own SA pair. An exchange is complete when the outbound `SA ADD`
 * has appeared in the stand-in's log on both sides (µs timestamps).
 *
 * @module
 */
import type { Netns } from "../../tests/harness/netns.ts";
import type { Realm } from "../../tests/harness/krb5_realm.ts";
import { runOk } from "../../tests/harness/exec.ts";
import { type AcquireLab, type Completion, FileTail, sleep } from "./common.ts";

/** Where the peer package lives (override with KINKD_PEER). */
export const PEER_PKG = Deno.env.get("KINKD_PEER") ??
  new URL("../../../shared/interop/racoon2/peer", import.meta.url).pathname;

/** Whether the peer package is usable here. */
export function kinkdAvailable(): string | undefined {
  try {
    Deno.statSync(`${PEER_PKG}/bin/kinkd`);
    Deno.statSync(`${PEER_PKG}/run-peer.sh`);
    return undefined;
  } catch {
    return `no kinkd peer package at ${PEER_PKG} (set KINKD_PEER)`;
  }
}

/** A running kinkd pair. */
export class KinkdLab implements AcquireLab {
  readonly pids: { initiator: number; responder: number };
  readonly #fifo: Deno.FsFile;
  readonly #ta: FileTail;
  readonly #tb: FileTail;
  readonly #a: number[] = [];
  readonly #b: number[] = [];
  #matched = 0;
  readonly #line: Uint8Array;
  /** Outbound SPIs of A (initiator side) in order, for EXPIRE injection. */
  readonly outboundSpis: string[] = [];

  private constructor(
    readonly dir: string,
    readonly addrA: string,
    readonly addrB: string,
    pids: { initiator: number; responder: number },
    fifo: Deno.FsFile,
  ) {
    this.pids = pids;
    this.#fifo = fifo;
    this.#ta = new FileTail(`${dir}/A/run/sadb.log`);
    this.#tb = new FileTail(`${dir}/B/run/sadb.log`);
    this.#line = new TextEncoder().encode(`acquire ${addrA} ${addrB} 1\n`);
  }

  /** Starts kinkd B (responder) then A (initiator) and warms up with one exchange. */
  static async start(dir: string, realm: Realm, a: Netns, b: Netns): Promise<KinkdLab> {
    const pa = realm.principal("kink/a.kink.test"), pb = realm.principal("kink/b.kink.test");
    const pids: number[] = [];
    for (
      const [side, ns, me, peer, mp, pp] of [
        ["B", b, b.addr4, a.addr4, pb, pa],
        ["A", a, a.addr4, b.addr4, pa, pb],
      ] as const
    ) {
      await Deno.mkdir(`${dir}/${side}/run`, { recursive: true });
      const conf = `${dir}/${side}/racoon2.conf`;
      await runOk([
        `${PEER_PKG}/tools/mkconf.sh`,
        `${PEER_PKG}/conf/initiator.conf.in`,
        conf,
        `MY_ADDR=${me}`,
        `PEER_ADDR=${peer}`,
        `MY_PRINCIPAL=${mp}`,
        `PEER_PRINCIPAL=${pp}`,
      ]);
      await runOk([
        `${PEER_PKG}/run-peer.sh`,
        "-m",
        "shim",
        "-n",
        ns.name,
        "-c",
        conf,
        "-k",
        realm.keytab(mp),
        "-K",
        realm.krb5Conf,
        "-r",
        `${dir}/${side}/run`,
        "-p",
        `${dir}/${side}/run/kinkd.pid`,
        "-d",
        "",
      ]);
      pids.push(Number((await Deno.readTextFile(`${dir}/${side}/run/kinkd.pid`)).trim()));
    }
    const fifo = await Deno.open(`${dir}/A/run/ctl.fifo`, { write: true });
    const lab = new KinkdLab(dir, a.addr4, b.addr4, {
      initiator: pids[1]!,
      responder: pids[0]!,
    }, fifo);
    // Warm-up: TGT and service ticket fetched here, outside every timed run.
    await lab.inject(0);
    const deadline = Date.now() + 20_000;
    let n = 0;
    while (n < 1 && Date.now() < deadline) {
      n += (await lab.poll()).length;
      await sleep(20);
    }
    if (n < 1) throw new Error(`kinkd warm-up exchange did not complete (see ${dir})`);
    return lab;
  }

  /** Injects one ACQUIRE. */
  async inject(_i: number): Promise<void> {
    let off = 0;
    while (off < this.#line.length) off += await this.#fifo.write(this.#line.subarray(off));
  }

  /** Injects a soft EXPIRE for A's outbound SA `spi` (kinkd rekeys: CREATE, then DELETE). */
  async expire(spi: string): Promise<void> {
    const l = new TextEncoder().encode(`expire ${this.addrA} ${this.addrB} ${spi}\n`);
    let off = 0;
    while (off < l.length) off += await this.#fifo.write(l.subarray(off));
  }

  /** Completion times of exchanges finished since the last call. */
  poll(): Completion[] {
    const adds = (lines: string[], into: number[], spis?: string[]) => {
      for (const l of lines) {
        const m = /^(\d+\.\d+) SA ADD .* spi 0x([0-9a-f]+)/.exec(l);
        if (m) {
          into.push(Number(m[1]) * 1000);
          spis?.push(m[2]!);
        }
      }
    };
    adds(this.#ta.lines(), this.#a, this.outboundSpis);
    adds(this.#tb.lines(), this.#b);
    const out: Completion[] = [];
    while (this.#matched < this.#a.length && this.#matched < this.#b.length) {
      out.push({ t: Math.max(this.#a[this.#matched]!, this.#b[this.#matched]!) });
      this.#matched++;
    }
    return out;
  }

  /** Stops both kinkd processes (SIGTERM by PID, then SIGKILL). */
  async stop(): Promise<void> {
    try {
      this.#fifo.close();
    } catch { /* closed */ }
    this.#ta.close();
    this.#tb.close();
    for (const pid of [this.pids.initiator, this.pids.responder]) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* gone */ }
    }
    await sleep(300);
    for (const pid of [this.pids.initiator, this.pids.responder]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}
