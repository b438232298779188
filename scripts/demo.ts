/**
 * `deno task demo`: two KINK gateways on one machine, end to end, narrated.
 *
 * It builds, from nothing: a throwaway MIT realm (krb5kdc), four network
 * namespaces — host A ─ gateway A ═ gateway B ─ host B — and starts on each
 * gateway a real `kink daemon` process (its own keytab, its own
 * configuration, the netlink kernel, the Deno flags `kink daemon` computes
 * for that configuration). Then it shows: host A's ping making the kernel
 * ACQUIRE, the KINK CREATE/REPLY, `kink status` on both gateways,
 * `ip -s xfrm state` with rising counters and equal keys on both sides, a
 * rekey under a running ping, a DELETE, and finally the captured exchange
 * decoded by `kink decode` with the gateways' keytabs. Everything is
 * removed at the end (and by the test harness's watchdog if the demo is
 * killed).
 *
 * ESP must work in the kernel: when the running kernel lacks it, the demo
 * re-runs itself inside the project's qemu VM (tests/harness/vm.ts), where
 * Debian's kernel has it.
 *
 * @module
 */
import { hostHasEsp, runWithEsp } from "../tests/harness/vm.ts";
import { ensureWatchdog, onExit, tempRoot, uniqueName } from "../tests/harness/cleanup.ts";
import { run, runOk, sleep } from "../tests/harness/exec.ts";
import { type Realm, withRealm } from "../tests/harness/krb5_realm.ts";
import { readConfigFile } from "../core/config/mod.ts";
import { controlRequest } from "../core/daemon/control.ts";
import type { DaemonStatus } from "../core/daemon/daemon.ts";
import { daemonFlags, daemonResources } from "../core/cli/commands/daemon_flags.ts";
import { renderStatus } from "../core/cli/commands/control.ts";
import { decodeCommand } from "../core/cli/commands/decode.ts";
import { parseCommandArgs } from "../core/cli/command.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = `${ROOT}core/cli/main.ts`;
const T0 = performance.now();
const enc = new TextEncoder();

function say(text: string): void {
  const t = ((performance.now() - T0) / 1000).toFixed(1).padStart(5);
  Deno.stdout.writeSync(enc.encode(`\n[${t}s] ── ${text}\n`));
}
function show(lines: string | string[], indent = "    "): void {
  const all = (Array.isArray(lines) ? lines : lines.split("\n")).filter((l) => l !== "");
  Deno.stdout.writeSync(enc.encode(all.map((l) => indent + l).join("\n") + "\n"));
}

// ---------------------------------------------------------------------------
// Outside: run where ESP works.

if (!Deno.args.includes("--inside")) {
  const esp = await hostHasEsp();
  console.log(
    esp
      ? "kink demo: the running kernel has ESP; running here."
      : "kink demo: the running kernel has no ESP; running inside the qemu VM (Debian's kernel).",
  );
  if (!esp) {
    // The VM sees the host's Deno cache through a read-only mount (its own writes vanish at
    // power-off): load the daemon's and kink decode's modules here first, so that their
    // transpiled code and V8 code cache are on the host when the guest needs them.
    await Promise.all([
      import("../core/cli/commands/daemon_run.ts"),
      import("../core/cli/commands/decode_run.ts"),
    ]);
  }
  const r = await runWithEsp({
    cmd: [
      Deno.execPath(),
      "run",
      "--quiet",
      "-A",
      "--no-check",
      `${ROOT}scripts/demo.ts`,
      "--inside",
    ],
    cwd: ROOT,
    timeoutMs: 300_000,
    onStdout: (c) => Deno.stdout.writeSync(c),
    onStderr: (c) => Deno.stderr.writeSync(c),
  });
  const secs = (r.totalMs / 1000).toFixed(1);
  console.log(
    `\nkink demo: ${r.success ? "done" : `FAILED (exit ${r.code})`} in ${secs} s` +
      (r.mode === "qemu" ? ` (VM boot ${(r.bootMs / 1000).toFixed(1)} s)` : ""),
  );
  Deno.exit(r.code);
}

// ---------------------------------------------------------------------------
// Inside: the demo itself (root, ESP available).

await ensureWatchdog();
const base = uniqueName("demo");
const NS = { ha: `${base}-ha`, gwa: `${base}-gwa`, gwb: `${base}-gwb`, hb: `${base}-hb` };
const created: string[] = [];
const procs: Deno.ChildProcess[] = [];
const unregister = onExit(() => {
  for (const p of procs) {
    try {
      p.kill("SIGKILL");
    } catch { /* gone */ }
  }
  for (const ns of created) {
    try {
      new Deno.Command("ip", { args: ["netns", "del", ns] }).outputSync();
    } catch { /* gone */ }
  }
});

const ipn = (ns: string, ...a: string[]) => runOk(["ip", "-n", ns, ...a]);
const inNs = (ns: string, cmd: string[]) => run(["ip", "netns", "exec", ns, ...cmd]);

/** The namespaces and the WAN between the gateways (what the KDC in gw-a needs). */
async function wan(): Promise<void> {
  for (const ns of Object.values(NS)) {
    await runOk(["ip", "netns", "add", ns]);
    created.push(ns);
    await ipn(ns, "link", "set", "lo", "up");
  }
  // The WAN first, so that it is each gateway's first address (the KDC's address).
  await veth(NS.gwa, "wan", NS.gwb, "wan");
  await addr(NS.gwa, "wan", "192.0.2.1/24");
  await addr(NS.gwb, "wan", "192.0.2.2/24");
}

/** The hosts behind the gateways: run while the realm is being created. */
async function lan(): Promise<void> {
  await veth(NS.ha, "eth0", NS.gwa, "lan");
  await veth(NS.hb, "eth0", NS.gwb, "lan");
  await addr(NS.gwa, "lan", "10.1.0.1/24");
  await addr(NS.gwb, "lan", "10.2.0.1/24");
  await addr(NS.ha, "eth0", "10.1.0.2/24");
  await addr(NS.hb, "eth0", "10.2.0.2/24");
  await ipn(NS.ha, "route", "add", "default", "via", "10.1.0.1");
  await ipn(NS.hb, "route", "add", "default", "via", "10.2.0.1");
  await ipn(NS.gwa, "route", "add", "10.2.0.0/24", "via", "192.0.2.2");
  await ipn(NS.gwb, "route", "add", "10.1.0.0/24", "via", "192.0.2.1");
  for (const gw of [NS.gwa, NS.gwb]) {
    await inNs(gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  }
}

function veth(a: string, an: string, b: string, bn: string) {
  return runOk([
    "ip",
    "link",
    "add",
    an,
    "netns",
    a,
    "type",
    "veth",
    "peer",
    "name",
    bn,
    "netns",
    b,
  ]);
}

async function addr(ns: string, dev: string, a: string): Promise<void> {
  await ipn(ns, "addr", "add", a, "dev", dev);
  await ipn(ns, "link", "set", dev, "up");
}

interface Gw {
  name: string;
  ns: string;
  config: string;
  socket: string;
  keytab: string;
  proc?: Deno.ChildProcess;
  log: string[];
  /** performance.now() when its process was spawned, and when it logged `started`. */
  spawnedAt?: number;
  startedAt?: number;
}

async function writeConfig(
  realm: Realm,
  dir: string,
  me: "a" | "b",
): Promise<Gw> {
  const other = me === "a" ? "b" : "a";
  const wan = { a: "192.0.2.1", b: "192.0.2.2" };
  const lan = { a: "10.1.0.0/24", b: "10.2.0.0/24" };
  const d = `${dir}/gw-${me}`;
  await Deno.mkdir(d, { recursive: true, mode: 0o700 });
  const principal = realm.principal(`kink/gw-${me}.kink.test`);
  const config = `${d}/kink.toml`;
  const socket = `${d}/run/kink.sock`;
  await Deno.writeTextFile(
    config,
    [
      "[daemon]",
      `listen = ["${wan[me]}:910"]`,
      `state_dir = "${d}/state"`,
      `control_socket = "${socket}"`,
      `krb5_conf = "${realm.krb5Conf}"`,
      "",
      "[identity]",
      `principal = "${principal}"`,
      `keytab = "${realm.keytab(principal)}"`,
      "",
      "[[peer]]",
      `name = "gw-${other}"`,
      `address = "${wan[other]}"`,
      `local_address = "${wan[me]}"`,
      `principal = "${realm.principal(`kink/gw-${other}.kink.test`)}"`,
      `mode = "tunnel"`,
      `proposals = ["esp-aes128gcm16"]`,
      "[[peer.traffic]]",
      `local = "${lan[me]}"`,
      `remote = "${lan[other]}"`,
      "",
    ].join("\n"),
  );
  return {
    name: `gw-${me}`,
    ns: me === "a" ? NS.gwa : NS.gwb,
    config,
    socket,
    keytab: realm.keytab(principal),
    log: [],
  };
}

async function startDaemon(gw: Gw, realm: Realm): Promise<void> {
  // The flags `kink daemon` computes for this configuration (the launcher's helper does the
  // same from a process allowed to read only the configuration and krb5.conf).
  const cfg = await readConfigFile(gw.config);
  const kdcs = [`${realm.kdc.host}:${realm.kdc.port}`];
  const flags = daemonFlags(daemonResources(cfg, kdcs, []), gw.config, "netlink");
  show(`${gw.name}: deno run ${flags.join(" ")} core/cli/main.ts daemon --config ${gw.config}`);
  const proc = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      gw.ns,
      "setpriv",
      "--pdeathsig",
      "KILL",
      "--",
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-prompt",
      "--no-check",
      ...flags,
      MAIN,
      "daemon",
      "--config",
      gw.config,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  procs.push(proc);
  gw.proc = proc;
  gw.spawnedAt = performance.now();
  (async () => {
    let buf = "";
    for await (const c of proc.stderr.pipeThrough(new TextDecoderStream())) {
      buf += c;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        gw.log.push(line);
        if (gw.startedAt === undefined && / started /.test(line)) gw.startedAt = performance.now();
        if (/ (started|sa-up|sa-down|exchange-failed|stopped|reconciled) /.test(line)) {
          show(`[${gw.name}] ${line.replace(/^\S+ /, "")}`, "    ");
        }
      }
    }
  })();
}

async function waitLog(gw: Gw, re: RegExp, from: number, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const l = gw.log.slice(from).find((x) => re.test(x));
    if (l) return l;
    await sleep(100);
  }
  throw new Error(`${gw.name}: no log line matching ${re} within ${ms} ms`);
}

async function ctl<T>(gw: Gw, cmd: string, args: Record<string, unknown> = {}): Promise<T> {
  return await controlRequest(gw.socket, cmd, args) as T;
}

interface XState {
  src: string;
  dst: string;
  spi: string;
  key: string;
  bytes: number;
  packets: number;
}

async function xfrmStates(ns: string): Promise<{ text: string; states: XState[] }> {
  const text = (await inNs(ns, ["ip", "-s", "xfrm", "state"])).stdout;
  const states: XState[] = [];
  for (const block of text.split(/\n(?=src )/)) {
    const m = /^src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)/.exec(block);
    if (!m) continue;
    const key = /aead \S+ (0x[0-9a-f]+)/.exec(block)?.[1] ?? "";
    const cur = /lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)/.exec(block);
    states.push({
      src: m[1]!,
      dst: m[2]!,
      spi: m[3]!,
      key,
      bytes: Number(cur?.[1] ?? 0),
      packets: Number(cur?.[2] ?? 0),
    });
  }
  return { text, states };
}

function showStates(name: string, st: XState[]): void {
  show(`${name}: ip -s xfrm state`);
  for (const s of st) {
    show(
      `${s.src} → ${s.dst} esp spi ${s.spi}  key ${
        s.key.slice(0, 18)
      }…  ${s.bytes} bytes, ${s.packets} packets`,
      "      ",
    );
  }
}

let exitCode = 0;
const notThere: string[] = [];
/** Where the time went: [step, performance.now() at its end]. */
const marks: [string, number][] = [["Deno start-up of the demo", T0]];
const lap = (step: string) => marks.push([step, performance.now()]);
const dir = await Deno.makeTempDir({ dir: tempRoot(), prefix: `${base}-` });
try {
  say("Network: host A (10.1.0.2) ─ gw-a (192.0.2.1) ═══ gw-b (192.0.2.2) ─ host B (10.2.0.2)");
  await wan();
  // The hosts' side is wired while the realm is created (both mostly wait on processes).
  const lanDone = lan();
  lanDone.catch(() => {}); // awaited below; a failure must not surface as unhandled first

  await withRealm({
    principals: ["kink/gw-a.kink.test", "kink/gw-b.kink.test"],
    netns: NS.gwa,
  }, async (realm) => {
    await lanDone;
    lap("network and MIT realm");
    const before = await inNs(NS.ha, ["ping", "-c", "1", "-W", "1", "10.2.0.2"]);
    show(
      `host A → host B without IPsec policies: ${
        before.success ? "reachable (plain routing)" : "no answer"
      }`,
    );
    say(
      `MIT realm ${realm.realm}: krb5kdc on ${realm.kdc.host}:${realm.kdc.port}, one keytab per gateway`,
    );
    const a = await writeConfig(realm, dir, "a");
    const b = await writeConfig(realm, dir, "b");
    show(await Deno.readTextFile(a.config));

    const cap = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        NS.gwa,
        "dumpcap",
        "-q",
        "-i",
        "wan",
        "-f",
        "udp port 910 or udp port 88",
        "-w",
        `${dir}/kink.pcapng`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    procs.push(cap);

    say("Starting both gateways: `kink daemon --config …` (netlink kernel) in their namespaces");
    await Promise.all([startDaemon(a, realm), startDaemon(b, realm)]);
    await Promise.all([waitLog(a, / started /, 0, 60_000), waitLog(b, / started /, 0, 60_000)]);
    lap("starting both daemons");

    say(
      "Host A pings host B: the tunnel policy makes gw-a's kernel ACQUIRE; gw-a sends a KINK CREATE, gw-b answers with a REPLY",
    );
    // One ping every 200 ms until the first reply (at most 30 s): the requests before it fall
    // on the policy while no SA exists.
    let lost = 0;
    let reply = "";
    {
      const first = new Deno.Command("ip", {
        args: ["netns", "exec", NS.ha, "ping", "-i", "0.2", "-w", "30", "10.2.0.2"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      procs.push(first);
      let text = "";
      for await (const c of first.stdout.pipeThrough(new TextDecoderStream())) {
        text += c;
        const m = /^.*bytes from.*icmp_seq=(\d+).*$/m.exec(text);
        if (m) {
          reply = m[0];
          lost = Number(m[1]) - 1;
          try {
            first.kill("SIGINT");
          } catch { /* ended */ }
          break;
        }
      }
      await first.status;
    }
    await waitLog(a, / sa-up /, 0);
    await waitLog(b, / sa-up /, 0);
    lap("first CREATE/REPLY (ACQUIRE to the first echo reply)");
    show(
      `${lost} echo request(s) dropped while the SAs were negotiated (the kernel holds no SA yet), then:`,
    );
    show(reply || "no reply");
    if (!reply) exitCode = 1;

    say(
      "kink status on both gateways (each daemon's control socket, printed as `kink status` prints it)",
    );
    for (const gw of [a, b]) {
      show(`${gw.name}:`);
      show(renderStatus(await ctl<DaemonStatus>(gw, "status")), "    ");
    }

    say("ip -s xfrm state on both gateways: the same SPIs and keys, counters rising");
    const sa1 = await xfrmStates(NS.gwa);
    const sb1 = await xfrmStates(NS.gwb);
    await inNs(NS.ha, ["ping", "-c", "5", "-i", "0.2", "10.2.0.2"]);
    const sa2 = await xfrmStates(NS.gwa);
    const sb2 = await xfrmStates(NS.gwb);
    showStates("gw-a (before 5 more pings)", sa1.states);
    showStates("gw-a (after)", sa2.states);
    showStates("gw-b (after)", sb2.states);
    let equal = 0;
    for (const s of sa2.states) {
      const twin = sb2.states.find((t) => t.spi === s.spi && t.dst === s.dst);
      if (twin && twin.key === s.key && s.key !== "") equal++;
    }
    const rising = sa2.states.some((s) =>
      s.packets > (sa1.states.find((t) => t.spi === s.spi)?.packets ?? 0)
    ) && sb2.states.some((s) =>
      s.packets > (sb1.states.find((t) => t.spi === s.spi)?.packets ?? 0)
    );
    show(
      `SAs with the same SPI and the same key on both gateways: ${equal} of ${sa2.states.length}`,
    );
    show(`counters rising on both sides: ${rising ? "yes" : "NO"}`);
    if (equal < 2 || !rising) exitCode = 1;

    lap("status and counters");
    say("Rekey (kink rekey gw-b) while host A keeps pinging every 100 ms");
    // The ping runs from before the rekey until three replies after the old pair's outbound
    // SA is gone (at most 20 s), then SIGINT makes it print its counts.
    const pinger = new Deno.Command("ip", {
      args: ["netns", "exec", NS.ha, "ping", "-i", "0.1", "-w", "20", "10.2.0.2"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    procs.push(pinger);
    let pingText = "";
    const replies = () => (pingText.match(/bytes from/g) ?? []).length;
    const pingRead = (async () => {
      for await (const c of pinger.stdout.pipeThrough(new TextDecoderStream())) pingText += c;
    })();
    const repliesAtLeast = async (n: number, ms: number) => {
      const end = Date.now() + ms;
      while (replies() < n && Date.now() < end) await sleep(50);
      return replies() >= n;
    };
    // Traffic through the current pair first (three replies), then the rekey.
    await repliesAtLeast(3, 10_000);
    const mark = a.log.length;
    await ctl(a, "rekey", { peer: "gw-b" });
    try {
      await waitLog(a, / sa-up .*rekey=true/, mark, 15_000);
      // The old pair's outbound SA goes as the new one comes up (sa-down reason=rekeyed);
      // three more replies show the traffic on the new pair.
      await waitLog(a, / sa-down .*reason=rekeyed/, mark, 5_000);
      await repliesAtLeast(replies() + 3, 5_000);
    } catch {
      notThere.push("the rekey did not report a new SA pair within 15 s");
    }
    try {
      pinger.kill("SIGINT");
    } catch { /* ended by -w */ }
    await pinger.status;
    await pingRead;
    const stat = /(\d+) packets transmitted, (\d+) received/.exec(pingText);
    show(
      stat
        ? `ping during the rekey: ${stat[1]} sent, ${stat[2]} received (${
          Number(stat[1]) - Number(stat[2])
        } lost)`
        : pingText,
    );

    lap("rekey under ping");
    say("DELETE (kink down gw-b): the SAs go on both gateways");
    const markA = a.log.length;
    const markB = b.log.length;
    await ctl(a, "down", { peer: "gw-b" });
    // gw-a logs sa-down when it sends the DELETE, gw-b when it receives it.
    await Promise.all([
      waitLog(a, / sa-down /, markA, 10_000),
      waitLog(b, / sa-down /, markB, 10_000),
    ]).catch(() => {});
    for (const gw of [a, b]) {
      const st = await ctl<DaemonStatus>(gw, "status");
      show(
        `${gw.name}: SA pairs ${
          st.engine.saPairs.map((p) => p.state).join(", ") || "none"
        }; kernel SAs ${st.sas.length} (inbound ones stay for the DELETE grace)`,
      );
    }
    if (!b.log.slice(markB).some((l) => /sa-down|DELETE/.test(l))) {
      show("(gw-b logs sa-down when the grace ends)");
    }

    // The capture ends here (CREATE, REPLY, rekey, DELETE); kink decode runs while the
    // daemons shut down.
    await sleep(300);
    try {
      cap.kill("SIGINT");
    } catch { /* gone */ }
    await cap.status;
    // `kink decode FILE --keytab A,B`, run in this process (one Deno start-up less under
    // emulation) while the daemons shut down: the command's own code and output.
    const decArgv = [`${dir}/kink.pcapng`, "--keytab", `${a.keytab},${b.keytab}`];
    const decOut: string[] = [];
    const decoding = decodeCommand.run(parseCommandArgs(decodeCommand, decArgv), {
      out: (l) => decOut.push(l),
      err: (l) => decOut.push(l),
    }).then((code) => ({ code, stdout: decOut.join("\n") }));

    lap("DELETE");
    say("SIGTERM to both daemons: DELETE to the peer, owned SAs and policies removed, exit 0");
    for (const gw of [a, b]) gw.proc!.kill("SIGTERM");
    const codes = await Promise.all([a.proc!.status, b.proc!.status]);
    const left = (await xfrmStates(NS.gwa)).states.length +
      (await xfrmStates(NS.gwb)).states.length;
    const pols = (await inNs(NS.gwa, ["ip", "xfrm", "policy"])).stdout.trim() +
      (await inNs(NS.gwb, ["ip", "xfrm", "policy"])).stdout.trim();
    show(
      `exit codes ${codes.map((c) => c.code).join(", ")}; SAs left ${left}; policies left ${
        pols === "" ? 0 : pols.split("\n").filter((l) => l.startsWith("src")).length
      }`,
    );
    if (codes.some((c) => c.code !== 0) || left !== 0 || pols !== "") exitCode = 1;

    say(
      `The captured exchange, decoded by \`kink decode ${
        decArgv.map((x) => x.replace(`${dir}/`, "")).join(" ")
      }\` (both gateways' keytabs)`,
    );
    const dec = await decoding;
    const decLines = dec.stdout.split("\n");
    show(
      decLines.filter((l) =>
        /^(frame|\s+(cksum|Cksum|SA |sa |session))|verified|CREATE|REPLY|DELETE|ACK/i.test(l)
      ).slice(0, 40),
    );
    show(`(kink decode exit ${dec.code}; ${decLines.length} lines in full)`);
    lap("SIGTERM and kink decode");
    if (dec.code !== 0) exitCode = 1;
  });
} catch (e) {
  exitCode = 1;
  console.error(`demo failed: ${e instanceof Error ? e.stack ?? e.message : e}`);
} finally {
  for (const p of procs) {
    try {
      p.kill("SIGKILL");
    } catch { /* gone */ }
  }
  for (const ns of created.reverse()) await run(["ip", "netns", "del", ns]);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  unregister();
}
if (notThere.length > 0) say(`Not shown: ${notThere.join("; ")}`);
{
  // Where the time went (inside the VM when the demo runs there; boot time is printed outside).
  lap("clean-up");
  const parts: string[] = [];
  let prev = 0;
  for (const [step, at] of marks) {
    parts.push(`${step} ${((at - prev) / 1000).toFixed(1)} s`);
    prev = at;
  }
  say(`Time: ${parts.join("; ")}`);
}
say(exitCode === 0 ? "Demo complete; nothing left behind." : "Demo FAILED (see above).");
Deno.exit(exitCode);
