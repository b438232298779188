/**
 * The real `kink` launcher (as `deno task kink` runs it) against hostile or
 * awkward inputs (issue 10): devices and FIFOs where files are expected, a
 * huge sparse keytab and capture, a capture cut in its last record, the
 * exit status scripts rely on, `LD_LIBRARY_PATH` in the environment, relative
 * paths from another directory, nested krb5.conf includes, and the child
 * process dying with a SIGKILLed launcher.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { run, sleep } from "../../harness/exec.ts";
import { hasCommand, skipUnless } from "../../harness/tiers.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const PCAP = `${ROOT}tests/fixtures/racoon2/kink.pcap`;
const A_KT = `${ROOT}tests/fixtures/racoon2/A.keytab`;
const B_KT = `${ROOT}tests/fixtures/racoon2/B.keytab`;

/** The `deno run …launch.ts` part of the `kink` task in deno.json, with its exact flags. */
function launcherFlags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(CONFIG)) as { tasks: Record<string, string> };
  const words = json.tasks.kink!.split(/\s+/);
  assert.equal(words[0], "deno");
  return words.slice(1).map((w) => (w.endsWith("launch.ts") ? `${ROOT}${w}` : w));
}

/** `deno task kink …` exactly as an operator types it, from `cwd`. */
function taskArgv(...argv: string[]): string[] {
  return [Deno.execPath(), "task", "--quiet", "--config", CONFIG, "kink", ...argv];
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs `cmd`, killing its process group after `ms` (a hang is a failure, not a stuck test). */
async function runFor(
  cmd: string[],
  ms: number,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Outcome> {
  const child = new Deno.Command("setsid", {
    args: ["--wait", ...cmd],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { NO_COLOR: "1", ...(opts.env ?? {}) },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, ms);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    timedOut,
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kink-cli-hardening-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("launcher: /dev/zero and a FIFO as capture or keytab are refused at once, exit 1", async () => {
  await withTempDir(async (dir) => {
    const fifo = `${dir}/fifo`;
    await run(["mkfifo", fifo]);
    const cases: [string[], RegExp][] = [
      [
        ["decode", "/dev/zero", "--keytab", B_KT],
        /\/dev\/zero: is a character device, not a regular file/,
      ],
      [["decode", PCAP, "--keytab", "/dev/zero"], /\/dev\/zero: is a character device/],
      [["decode", fifo, "--keytab", B_KT], /is a FIFO, not a regular file/],
      [["decode", PCAP, "--keytab", fifo], /is a FIFO/],
    ];
    for (const [argv, want] of cases) {
      const r = await runFor(taskArgv(...argv), 60_000);
      assert.ok(!r.timedOut, `${argv.join(" ")} hung`);
      assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
  });
});

Deno.test("launcher: a FIFO as krb5.conf is refused, not read (ticket exits 1, no hang)", async () => {
  await withTempDir(async (dir) => {
    const fifo = `${dir}/krb5.conf`;
    await run(["mkfifo", fifo]);
    const r = await runFor(
      taskArgv(
        "ticket",
        "--krb5-conf",
        fifo,
        "--keytab",
        A_KT,
        "--client",
        "kink/a.kink.test@KINK.TEST",
        "--service",
        "kink/b.kink.test@KINK.TEST",
      ),
      60_000,
    );
    assert.ok(!r.timedOut, "kink ticket hung on a FIFO krb5.conf");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is a FIFO, not a regular file/);
  });
});

Deno.test("launcher: a 1 GiB sparse keytab is refused by its size before any read", async () => {
  await withTempDir(async (dir) => {
    const kt = `${dir}/big.keytab`;
    const f = await Deno.open(kt, { create: true, write: true });
    await f.truncate(1 << 30);
    f.close();
    const r = await runFor(taskArgv("decode", PCAP, "--keytab", kt), 60_000);
    assert.ok(!r.timedOut);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /1073741824 octets exceed the limit of 16777216/);
  });
});

Deno.test({
  ...skipUnless(
    "launcher: a 256 MiB sparse capture streams in bounded memory (exit 4: cut tail)",
    hasCommand("time") || hasCommand("/usr/bin/time") ? undefined : "missing /usr/bin/time",
  ),
  fn: async () => {
    await withTempDir(async (dir) => {
      const cap = `${dir}/sparse.pcap`;
      const head = new Uint8Array(24);
      const v = new DataView(head.buffer);
      v.setUint32(0, 0xa1b2c3d4, true);
      v.setUint16(4, 2, true);
      v.setUint16(6, 4, true);
      v.setUint32(16, 65535, true);
      v.setUint32(20, 101, true);
      await Deno.writeFile(cap, head);
      const f = await Deno.open(cap, { write: true });
      await f.truncate(256 << 20);
      f.close();
      // GNU time's maximum RSS covers the launcher and the decoding child it waits for.
      const r = await runFor(
        ["/usr/bin/time", "-f", "maxrss=%M", ...taskArgv("decode", cap)],
        300_000,
      );
      assert.ok(!r.timedOut, "decode of a sparse capture did not finish in 5 minutes");
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stdout, /^16777214 packets, 0 KINK messages/m);
      assert.match(r.stdout, /warning: truncated capture: 8 octets of a 16-octet record header/);
      const kib = Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]);
      assert.ok(kib > 0 && kib < 400 * 1024, `max RSS ${kib} KiB for a 256 MiB capture`);
    });
  },
});

Deno.test("launcher: decode exit codes — 0 verified, 3 a Cksum fails, 4 unverifiable or cut", async () => {
  await withTempDir(async (dir) => {
    const both = `${B_KT},${A_KT}`;
    const ok = await runFor(taskArgv("decode", PCAP, "--keytab", both), 120_000);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout.slice(-400));
    // No keytab at all: nothing can be verified, exit 4.
    const none = await runFor(taskArgv("decode", PCAP), 120_000);
    assert.equal(none.code, 4, none.stdout.slice(-400));
    // One bit of the Cksum of frame 7 flipped: exit 3.
    const file = await Deno.readFile(PCAP);
    const bad = file.slice();
    const frame7End = recordEnd(file, 7);
    bad[frame7End - 1]! ^= 1;
    await Deno.writeFile(`${dir}/bad.pcap`, bad);
    const r3 = await runFor(taskArgv("decode", `${dir}/bad.pcap`, "--keytab", both), 120_000);
    assert.equal(r3.code, 3, r3.stdout.slice(-600));
    assert.match(r3.stdout, /verdict: 1 message\(s\) failed verification \(frames 7\)/);
    // Cut inside the last record: every complete frame decoded, a warning, exit 4.
    await Deno.writeFile(`${dir}/cut.pcap`, file.subarray(0, file.length - 3));
    const cut = await runFor(taskArgv("decode", `${dir}/cut.pcap`, "--keytab", both), 120_000);
    assert.equal(cut.code, 4, cut.stderr);
    assert.match(cut.stdout, /^32 packets, 20 KINK messages/m);
    assert.match(cut.stdout, /warning: truncated capture: record 33 claims/);
  });
});

/** Offset one past the end of record `n` (1-based) of a classic little-endian pcap. */
function recordEnd(file: Uint8Array, n: number): number {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let off = 24;
  for (let i = 1; i <= n; i++) off += 16 + v.getUint32(off + 8, true);
  return off;
}

Deno.test("launcher: starts with LD_LIBRARY_PATH exported, and resolves paths from the caller's directory", async () => {
  await withTempDir(async (dir) => {
    const v = await runFor(taskArgv("version"), 60_000, {
      cwd: dir,
      env: { LD_LIBRARY_PATH: "/nonexistent/lib", LD_BIND_NOW: "1" },
    });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^kink \d+\.\d+\.\d+/);
    await Deno.copyFile(PCAP, `${dir}/here.pcap`);
    await Deno.mkdir(`${dir}/kt`);
    await Deno.copyFile(B_KT, `${dir}/kt/B.keytab`);
    await Deno.copyFile(A_KT, `${dir}/kt/A.keytab`);
    const d = await runFor(
      taskArgv("decode", "here.pcap", "--keytab", "kt/B.keytab,kt/A.keytab"),
      120_000,
      { cwd: dir, env: { LD_LIBRARY_PATH: "/nonexistent/lib" } },
    );
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /33 packets, 21 KINK messages, 17 checksums verified/);
  });
});

Deno.test("launcher: nested krb5.conf includes are granted, so the realm's KDC in them is used", async () => {
  await withTempDir(async (dir) => {
    const sock = dgram.createSocket("udp4");
    const got = new Promise<number>((resolve) => sock.on("message", (m) => resolve(m.length)));
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", () => resolve()));
    const port = sock.address().port;
    try {
      await Deno.mkdir(`${dir}/conf.d`);
      await Deno.writeTextFile(`${dir}/krb5.conf`, `include ${dir}/inc1.conf\n`);
      await Deno.writeTextFile(`${dir}/inc1.conf`, `includedir ${dir}/conf.d\n`);
      await Deno.writeTextFile(
        `${dir}/conf.d/realm.conf`,
        `[libdefaults]\n default_realm = KINK.TEST\n[realms]\n KINK.TEST = {\n  kdc = 127.0.0.1:${port}\n }\n`,
      );
      const r = runFor(
        taskArgv(
          "ticket",
          "--krb5-conf",
          `${dir}/krb5.conf`,
          "--keytab",
          A_KT,
          "--client",
          "kink/a.kink.test",
          "--service",
          "kink/b.kink.test",
        ),
        60_000,
      );
      const first = await Promise.race([got, r.then(() => 0)]);
      const done = await r;
      assert.ok(first > 0, `no AS-REQ reached the KDC named in the nested include: ${done.stderr}`);
      assert.equal(done.code, 1); // nobody answers: the KDC is unreachable
    } finally {
      sock.close();
    }
  });
});

Deno.test({
  ...skipUnless(
    "launcher: SIGKILL of the launcher kills its child (parent-death signal)",
    hasCommand("setpriv") ? undefined : "missing setpriv",
  ),
  fn: async () => {
    await withTempDir(async (dir) => {
      // A 2 GiB sparse capture keeps the child decoding for a while.
      const cap = `${dir}/long.pcap`;
      const head = new Uint8Array(24);
      const v = new DataView(head.buffer);
      v.setUint32(0, 0xa1b2c3d4, true);
      v.setUint32(16, 65535, true);
      v.setUint32(20, 101, true);
      await Deno.writeFile(cap, head);
      const f = await Deno.open(cap, { write: true });
      await f.truncate(2 ** 31);
      f.close();
      const launcher = new Deno.Command(Deno.execPath(), {
        args: [...launcherFlags(), "decode", cap],
        stdout: "null",
        stderr: "null",
      }).spawn();
      let childPid: number | undefined;
      for (let i = 0; i < 100 && childPid === undefined; i++) {
        await sleep(100);
        const ps = await run(["ps", "-o", "pid=,args=", "--ppid", String(launcher.pid)]);
        const line = ps.stdout.split("\n").find((l) =>
          l.includes("main.ts") && l.includes("decode")
        );
        if (line) childPid = Number(line.trim().split(/\s+/)[0]);
      }
      assert.ok(childPid, "the launcher's child never appeared");
      await sleep(300);
      launcher.kill("SIGKILL");
      await launcher.status;
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        await sleep(100);
        const ps = await run(["ps", "-o", "stat=", "-p", String(childPid)]);
        alive = ps.code === 0 && !ps.stdout.trim().startsWith("Z");
      }
      if (alive) Deno.kill(childPid!, "SIGKILL");
      assert.ok(!alive, `child ${childPid} outlived the SIGKILLed launcher`);
    });
  },
});
