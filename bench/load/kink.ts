/**
 * kink ↔ kink: two real `kink daemon --kernel memory` processes, each started
 * through the CLI launcher (under the Deno flags it computes) in its own
 * network namespace, a real MIT KDC in a third, real UDP between them.
 *
 * Every exchange needs its own peer: the engine keeps one SA pair per peer
 * (per traffic selector) and looks peers up by address, so each gateway gets
 * `peers` addresses (10.88.x.y on A, 10.89.x.y on B), listens on each, and
 * names peer `p<i>` on both sides (up to 1,000 and more: a configuration may
 * name 65,535). An exchange starts as a kernel ACQUIRE would start it: the
 * daemons run with `inject_acquires = true` (tests and benchmarks only), and
 * the control socket's `acquire` command sends a packet of the flow through
 * A's in-memory kernel, whose policy raises the ACQUIRE. It is complete when
 * both daemons have logged `sa-up` for `p<i>`; rounds are separated by
 * `down` of every peer (DELETE exchanges, untimed).
 *
 * The service ticket is fetched by a warm-up exchange before anything is
 * timed.
 *
 * @module
 */
import type { Netns } from "../../tests/harness/netns.ts";
import type { Realm } from "../../tests/harness/krb5_realm.ts";
import { type AcquireLab, type Completion, cpuSeconds, nowMs, rssMiB, sleep } from "./common.ts";

/** Whether `root` holds a kink with `kink daemon`. */
export function kinkDaemonAvailable(root: string): string | undefined {
  try {
    Deno.statSync(`${root}/core/cli/commands/daemon.ts`);
    return undefined;
  } catch {
    return `no \`kink daemon\` in ${root} (the daemon has not landed there; --kink-root DIR)`;
  }
}

/** The address of peer `i` on side `side` (0: A, 1: B). */
export function peerAddr(side: 0 | 1, i: number): string {
  return `10.${88 + side}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/**
 * Selector address of peer `i`'s selector `k` (of `perPeer`) on side `side`:
 * unique across peers (a policy's selector names one peer), 10.100.x.y on A
 * and 10.150.x.y on B for up to 2^16 selectors per side.
 */
export function selectorAddr(side: 0 | 1, i: number, k: number, perPeer: number): string {
  const j = i * perPeer + k;
  return `10.${100 + 50 * side + (j >>> 16)}.${(j >>> 8) & 255}.${j & 255}`;
}

/** A flow (packet) as the control socket's `acquire` command takes it. */
export interface FlowArgs {
  src: string;
  dst: string;
  proto?: number;
  sport?: number;
  dport?: number;
}

/** Options of {@link KinkLab.start}. */
export interface KinkLabOptions {
  root: string;
  dir: string;
  realm: Realm;
  a: Netns;
  b: Netns;
  peers: number;
  /** Traffic selectors per peer (tunnel mode) or 0 (transport mode). */
  selectors?: number;
  /** Extra `[daemon]` lines (levers). */
  daemonExtra?: string[];
  /**
   * Write V8 CPU profiles of both daemons here: the daemons then run as
   * `deno run --allow-all --cpu-prof core/cli/main.ts daemon …` (the launcher
   * cannot pass `--cpu-prof`); profiles are written when they exit.
   */
  profileDir?: string;
}

class Control {
  #conn: Deno.UnixConn;
  #id = 0;
  #token: string;
  readonly #enc = new TextEncoder();
  #reader: Promise<void>;
  constructor(conn: Deno.UnixConn, token: string) {
    this.#conn = conn;
    this.#token = token;
    // Answers are read (errors kept) so the daemon never blocks on a full socket.
    this.#reader = (async () => {
      const buf = new Uint8Array(65536);
      const dec = new TextDecoder();
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          const t = dec.decode(buf.subarray(0, n), { stream: true });
          if (t.includes('"ok":false')) {
            this.errors++;
            this.lastError = t.slice(t.indexOf('"ok":false'), 400);
          }
        }
      } catch { /* closed */ }
    })();
  }
  /** Control requests the daemon refused (with the last refusal). */
  errors = 0;
  lastError = "";
  static async open(path: string): Promise<Control> {
    const token = (await Deno.readTextFile(`${path}.token`)).trim();
    const conn = await Deno.connect({ transport: "unix", path });
    return new Control(conn, token);
  }
  async send(cmds: { cmd: string; args: Record<string, unknown> }[]): Promise<void> {
    const text = cmds.map((c) =>
      JSON.stringify({ id: ++this.#id, token: this.#token, cmd: c.cmd, args: c.args }) + "\n"
    ).join("");
    const b = this.#enc.encode(text);
    let off = 0;
    while (off < b.length) off += await this.#conn.write(b.subarray(off));
  }
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* closed */ }
    await this.#reader;
  }
}

interface Side {
  proc: Deno.ChildProcess;
  log: string[];
  ctl: Control;
  up: Map<string, number[]>;
  down: number;
  failed: number;
}

/** Descendant PIDs of `pid` (itself included), from /proc/<pid>/task/<tid>/children. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let k = 0; k < out.length; k++) {
    try {
      for (const t of Deno.readDirSync(`/proc/${out[k]}/task`)) {
        const c = Deno.readTextFileSync(`/proc/${out[k]}/task/${t.name}/children`).trim();
        for (const x of c.split(/\s+/).filter(Boolean)) out.push(Number(x));
      }
    } catch { /* gone */ }
  }
  return out;
}

/** A running pair of kink daemons. */
export class KinkLab implements AcquireLab {
  readonly pids: { initiator: number; responder: number };
  readonly #a: Side;
  readonly #b: Side;
  readonly peers: number;
  #round = new Map<string, number>(); // peer -> injection index of the current round
  #matched = new Map<string, number>();

  /** Traffic selectors per peer (0: transport mode, one flow per peer). */
  readonly selectors: number;

  private constructor(a: Side, b: Side, peers: number, selectors: number) {
    this.#a = a;
    this.#b = b;
    this.peers = peers;
    this.selectors = selectors;
    // the daemons proper (deno running main.ts), not the launchers
    const daemon = (p: number) => tree(p).reduce((m, x) => (rssMiB(x) > rssMiB(m) ? x : m), p);
    this.pids = { initiator: daemon(a.proc.pid), responder: daemon(b.proc.pid) };
  }

  /** Launcher + daemon CPU (the launcher only waits). */
  cpu(): { initiator: number; responder: number } {
    const sum = (p: number) => tree(p).reduce((s, x) => s + cpuSeconds(x), 0);
    return { initiator: sum(this.#a.proc.pid), responder: sum(this.#b.proc.pid) };
  }

  /** Lines each daemon logged (for failures). */
  logs(): { a: string[]; b: string[] } {
    return { a: this.#a.log, b: this.#b.log };
  }

  /** Failed exchanges logged so far (both sides). */
  failures(): number {
    return this.#a.failed + this.#b.failed;
  }

  static async start(o: KinkLabOptions): Promise<KinkLab> {
    const { root, dir, realm, a, b, peers } = o;
    const sel = o.selectors ?? 0;
    // addresses: one per peer on each side; the other side's through its primary address (one
    // neighbour entry: on-link routes made one ARP entry per address, and past the neighbour
    // table's gc_thresh2 (512) the kernel dropped packets to the rest — half a 1,000-peer burst)
    for (const [side, ns] of [[0, a], [1, b]] as const) {
      const via = side === 0 ? b.addr4 : a.addr4;
      const lines = [`route add 10.${88 + (1 - side)}.0.0/16 via ${via} dev eth0`];
      for (let i = 0; i < peers; i++) lines.push(`addr add ${peerAddr(side, i)}/32 dev eth0`);
      const f = `${dir}/ip-${side}.batch`;
      await Deno.writeTextFile(f, lines.join("\n") + "\n");
      await ns.runOk(["ip", "-batch", f]);
    }
    const files: { config: string; socket: string }[] = [];
    for (const [side, name] of [[0, "a"], [1, "b"]] as const) {
      const gdir = `${dir}/${name}`;
      await Deno.mkdir(gdir, { recursive: true, mode: 0o700 });
      const me = realm.principal(`kink/${name}.kink.test`);
      const other = realm.principal(`kink/${name === "a" ? "b" : "a"}.kink.test`);
      const socket = `${gdir}/run/kink.sock`;
      const listen = Array.from({ length: peers }, (_, i) => `"${peerAddr(side, i)}:910"`);
      const lines = [
        "[daemon]",
        `listen = [${listen.join(", ")}]`,
        `state_dir = "${gdir}/state"`,
        `control_socket = "${socket}"`,
        `krb5_conf = "${realm.krb5Conf}"`,
        `log_level = "info"`,
        // the control socket's `acquire` command (bench and tests only; --kernel memory)
        `inject_acquires = true`,
        ...(o.daemonExtra ?? []),
        "",
        "[identity]",
        `principal = "${me}"`,
        `keytab = "${realm.keytab(me)}"`,
        "",
      ];
      for (let i = 0; i < peers; i++) {
        lines.push(
          "[[peer]]",
          `name = "p${i}"`,
          `address = "${peerAddr((1 - side) as 0 | 1, i)}"`,
          `local_address = "${peerAddr(side, i)}"`,
          `principal = "${other}"`,
          `mode = "${sel > 0 ? "tunnel" : "transport"}"`,
          `start = "on-demand"`,
          `proposals = ["esp-aes128gcm16"]`,
          `lifetime = "1h"`,
        );
        for (let k = 0; k < sel; k++) {
          const l = selectorAddr(side, i, k, sel), r = selectorAddr((1 - side) as 0 | 1, i, k, sel);
          lines.push("[[peer.traffic]]", `local = "${l}/32"`, `remote = "${r}/32"`);
        }
        lines.push("");
      }
      const config = `${gdir}/kink.toml`;
      await Deno.writeTextFile(config, lines.join("\n"));
      files.push({ config, socket });
    }
    const task = (JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as {
      tasks: Record<string, string>;
    }).tasks["kink"]!;
    const flags = task.split(/\s+/).filter((w) => w.startsWith("--allow-"));
    const sides: Side[] = [];
    for (const [k, ns] of [[1, b], [0, a]] as const) {
      const f = files[k]!;
      const head = o.profileDir
        ? [
          "--allow-all",
          "--cpu-prof",
          `--cpu-prof-dir=${o.profileDir}/${k === 0 ? "initiator" : "responder"}`,
          `${root}/core/cli/main.ts`,
        ]
        : [...flags, `${root}/core/cli/launch.ts`];
      const proc = ns.spawn([
        Deno.execPath(),
        "run",
        "--quiet",
        ...head,
        "daemon",
        "--config",
        f.config,
        "--kernel",
        "memory",
      ], { stdout: "null", stderr: "piped", stdin: "null", cwd: root, env: { NO_COLOR: "1" } });
      const s: Side = {
        proc,
        log: [],
        ctl: undefined as unknown as Control,
        up: new Map(),
        down: 0,
        failed: 0,
      };
      (async () => {
        let buf = "";
        for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) {
          const t = nowMs();
          buf += chunk;
          let i;
          while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.includes(" sa-up ")) {
              const m = / peer=(\S+)/.exec(line);
              if (m) {
                const l = s.up.get(m[1]!);
                if (l) l.push(t);
                else s.up.set(m[1]!, [t]);
              }
            } else if (line.includes(" sa-down ")) {
              s.down++;
            } else {
              if (line.includes("exchange-failed")) s.failed++;
              if (s.log.length < 2000) s.log.push(line);
            }
          }
        }
      })();
      const deadline = Date.now() + 180_000; // a hub's configuration of 50,000 selectors: ~10 s
      for (;;) {
        try {
          await Deno.stat(`${f.socket}.token`);
          if (s.log.some((l) => /\bstarted\b/.test(l))) break;
        } catch { /* not yet */ }
        if (Date.now() > deadline) {
          throw new Error(`kink daemon did not start:\n${s.log.slice(-20).join("\n")}`);
        }
        await sleep(100);
      }
      s.ctl = await Control.open(f.socket);
      sides.push(s);
    }
    const lab = new KinkLab(sides[1]!, sides[0]!, peers, sel);
    // Warm-up: the service ticket (and the KDC round trips) before anything is timed.
    const w = await lab.round(1, 0, 20_000);
    if (w < 1) {
      throw new Error(`kink warm-up exchange failed:\n${sides[1]!.log.slice(-20).join("\n")}`);
    }
    await lab.reset();
    return lab;
  }

  /** Starts a round: forget earlier completions. */
  begin(): void {
    this.#round.clear();
    this.#matched.clear();
    this.#a.up.clear();
    this.#b.up.clear();
  }

  /**
   * The flow of exchange `i` on A: transport mode, peer `i mod peers`'s
   * addresses; tunnel mode, selector `i mod S` of peer `⌊i / S⌋ mod peers`.
   */
  flow(i: number): { peer: string; flow: FlowArgs } {
    const s = this.selectors;
    if (s === 0) {
      const p = i % this.peers;
      return { peer: `p${p}`, flow: { src: peerAddr(0, p), dst: peerAddr(1, p) } };
    }
    const p = Math.floor(i / s) % this.peers, k = i % s;
    return {
      peer: `p${p}`,
      flow: { src: selectorAddr(0, p, k, s), dst: selectorAddr(1, p, k, s) },
    };
  }

  /** An ACQUIRE for exchange `i` on A (a packet of its flow through A's in-memory kernel). */
  async inject(i: number): Promise<void> {
    const { peer, flow } = this.flow(i);
    if (this.selectors <= 1) this.#round.set(peer, i);
    await this.#a.ctl.send([{ cmd: "acquire", args: { flows: [flow] } }]);
  }

  /**
   * ACQUIREs for exchanges from..from+n-1 in one request (a burst); `index`:
   * tell poll() which injection each is (transport mode only).
   */
  async injectMany(from: number, n: number, index = true): Promise<void> {
    const flows: FlowArgs[] = [];
    for (let i = from; i < from + n; i++) {
      const f = this.flow(i);
      if (index && this.selectors <= 1) this.#round.set(f.peer, i);
      flows.push(f.flow);
    }
    await this.#a.ctl.send([{ cmd: "acquire", args: { flows } }]);
  }

  /** A STATUS exchange from A to peer `p<i>` (`probe`). */
  async probe(i: number): Promise<void> {
    await this.#a.ctl.send([{ cmd: "probe", args: { peer: `p${i % this.peers}` } }]);
  }

  /** Control requests the daemons refused, with the last refusal. */
  controlErrors(): { n: number; last: string } {
    return {
      n: this.#a.ctl.errors + this.#b.ctl.errors,
      last: this.#a.ctl.lastError || this.#b.ctl.lastError,
    };
  }

  /** `rekey` for peer `p<i>` on A. */
  async rekey(i: number): Promise<void> {
    const peer = `p${i % this.peers}`;
    this.#round.set(peer, i);
    await this.#a.ctl.send([{ cmd: "rekey", args: { peer } }]);
  }

  /** Exchanges completed on both sides since the last call. */
  poll(): Completion[] {
    const out: Completion[] = [];
    for (const [peer, ta] of this.#a.up) {
      const tb = this.#b.up.get(peer);
      if (tb === undefined) continue;
      let m = this.#matched.get(peer) ?? 0;
      while (m < ta.length && m < tb.length) {
        const t = Math.max(ta[m]!, tb[m]!);
        const i = m === 0 ? this.#round.get(peer) : undefined;
        out.push(i === undefined ? { t } : { t, i });
        m++;
      }
      this.#matched.set(peer, m);
    }
    out.sort((x, y) => x.t - y.t);
    return out;
  }

  /** Runs `n` exchanges on peers from..from+n-1 with at most `window` outstanding (untimed helper). */
  async round(n: number, from: number, timeoutMs: number): Promise<number> {
    this.begin();
    let done = 0;
    const deadline = Date.now() + timeoutMs;
    let sent = 0;
    while (done < n && Date.now() < deadline) {
      while (sent < n && sent - done < 200) await this.inject(from + sent++);
      done += this.poll().length;
      await sleep(5);
    }
    return done;
  }

  /** `down` of every peer, then waits until the DELETEs are over (untimed). */
  async reset(): Promise<void> {
    const cmds = [];
    for (let i = 0; i < this.peers; i++) cmds.push({ cmd: "down", args: { peer: `p${i}` } });
    await this.#a.ctl.send(cmds);
    let last = -1, stable = 0;
    for (let k = 0; k < 600 && stable < 8; k++) {
      await sleep(125);
      const now = this.#a.down + this.#b.down;
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    this.begin();
  }

  /** RSS of both daemons, MiB. */
  rss(): { initiator: number; responder: number } {
    return { initiator: rssMiB(this.pids.initiator), responder: rssMiB(this.pids.responder) };
  }

  /** Stops both daemons (SIGTERM, then SIGKILL by PID). */
  async stop(): Promise<void> {
    const keep = Deno.env.get("KINK_LOAD_LOGS");
    if (keep) {
      await Deno.writeTextFile(`${keep}.a.log`, this.#a.log.join("\n") + "\n");
      await Deno.writeTextFile(`${keep}.b.log`, this.#b.log.join("\n") + "\n");
    }
    await this.#a.ctl?.close();
    await this.#b.ctl?.close();
    for (const s of [this.#a, this.#b]) {
      try {
        s.proc.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const t = setTimeout(() => {
      for (const s of [this.#a, this.#b]) {
        try {
          s.proc.kill("SIGKILL");
        } catch { /* gone */ }
      }
    }, 8000);
    await Promise.all([this.#a.proc.status, this.#b.proc.status]).catch(() => {});
    clearTimeout(t);
  }
}
