/**
 * Security of the daemon process, on a real `kink daemon`:
 *
 * - the control socket is root-only: socket and token mode 0600 in a 0700
 *   directory, owned by root; requests without the token or with a wrong
 *   one are refused; an unprivileged user (uid 65534) can neither read the
 *   token nor connect; state files are not readable by others;
 * - a state directory others may write to is refused at start with a
 *   message that says what to do;
 * - a keytab its group or others may read gives a clear warning at start
 *   (naming the file, its mode and the fix); a keytab of mode 0600 none.
 *
 * The daemon's Deno flags (reads, writes, network, FFI outside them
 * refused) are proven by `tests/integration/daemon/permissions_test.ts`.
 */
import assert from "node:assert/strict";
import { netnsSkipReason, realmSkipReason, skipUnless } from "../harness/tiers.ts";
import { run } from "../harness/exec.ts";
import { startGateway, stopGateway } from "../integration/daemon/gateways.ts";
import { assertNoKeys, ctl, withGateways } from "./daemons.ts";

const skip = [netnsSkipReason(), realmSkipReason()];

/** Sends one raw request line on the socket; returns the answer line. */
async function raw(path: string, line: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(new TextEncoder().encode(line + "\n"));
    const buf = new Uint8Array(65536);
    let text = "";
    const deadline = Date.now() + 5000;
    while (!text.includes("\n") && Date.now() < deadline) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.trim();
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

function modeOf(st: Deno.FileInfo): string {
  return ((st.mode ?? 0) & 0o777).toString(8);
}

Deno.test({
  ...skipUnless(
    "process security: the control socket is root-only (modes, owner, token required); an unprivileged user can neither read the token nor connect; state files are private",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const ga = await startGateway(c.a, c.fa, "memory");
      try {
        const sock = c.fa.socket;
        const dir = sock.slice(0, sock.lastIndexOf("/"));
        const [s, t, d] = [
          await Deno.lstat(sock),
          await Deno.lstat(`${sock}.token`),
          await Deno.lstat(dir),
        ];
        assert.equal(modeOf(s), "600", "socket mode");
        assert.equal(modeOf(t), "600", "token mode");
        assert.equal(modeOf(d), "700", "socket directory mode");
        for (const st of [s, t, d]) assert.equal(st.uid, 0, "not owned by root");
        // Without the token, with a wrong one, with garbage: refused.
        for (
          const line of [
            JSON.stringify({ id: 1, cmd: "status", args: {} }),
            JSON.stringify({ id: 2, token: "0".repeat(64), cmd: "status", args: {} }),
            JSON.stringify({ id: 3, token: "", cmd: "down", args: { peer: "b" } }),
            "not json at all",
          ]
        ) {
          const answer = JSON.parse(await raw(sock, line)) as { ok: boolean };
          assert.equal(answer.ok, false, `accepted: ${line}`);
        }
        assert.ok(await ctl(c.fa, "status"), "the token holder is answered");
        // An unprivileged user: neither the token nor the socket.
        const asNobody = (cmd: string) =>
          run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd]);
        const cat = await asNobody(`cat '${sock}.token'`);
        assert.equal(cat.success, false, "uid 65534 read the token");
        const conn = await asNobody(
          `python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' '${sock}'`,
        );
        assert.equal(conn.success, false, "uid 65534 connected to the control socket");
        assert.match(conn.stderr, /Permission denied/);
        // State files: nothing readable or writable by others.
        const stateDir = `${c.fa.dir}/state`;
        assert.equal(modeOf(await Deno.lstat(stateDir)), "700");
        for (const e of Deno.readDirSync(stateDir)) {
          const m = (await Deno.lstat(`${stateDir}/${e.name}`)).mode! & 0o077;
          assert.equal(m, 0, `${e.name} mode lets others in`);
        }
      } finally {
        await stopGateway(ga);
      }
      assertNoKeys(ga.log, c.keytabKeys, "control socket run");
    });
  },
});

Deno.test({
  ...skipUnless(
    "process security: a state directory others can write to is refused at start with a clear message",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const stateDir = `${c.fa.dir}/state`;
      await Deno.mkdir(stateDir, { recursive: true });
      await Deno.chmod(stateDir, 0o777);
      const err = await startGateway(c.a, c.fa, "memory", 30_000).then(
        async (gw) => {
          await stopGateway(gw);
          return undefined;
        },
        (e: Error) => e.message,
      );
      assert.ok(err !== undefined, "the daemon started on a world-writable state directory");
      assert.match(err, /chmod 700/);
    });
  },
});

Deno.test({
  ...skipUnless(
    "process security: a keytab its group and others can read gives a warning at start naming the file, the mode and the fix; mode 0600 gives none",
    ...skip,
  ),
  async fn() {
    await withGateways(async (c) => {
      const unsafe = (log: string[]) =>
        log.filter((l) => l.includes("key-file-unsafe") && l.includes(c.fa.keytab));
      await Deno.chmod(c.fa.keytab, 0o600);
      const quiet = await startGateway(c.a, c.fa, "memory", 30_000);
      try {
        assert.deepEqual(unsafe(quiet.log), [], "a warning about a keytab of mode 600");
      } finally {
        await stopGateway(quiet);
      }
      await Deno.chmod(c.fa.keytab, 0o644);
      const gw = await startGateway(c.a, c.fa, "memory", 30_000);
      try {
        const w = unsafe(gw.log);
        assert.equal(w.length, 1, `no warning about the keytab's mode 644:\n${gw.log.join("\n")}`);
        assert.match(w[0]!, /mode 644/);
        assert.match(w[0]!, /chmod 600/);
        assert.match(w[0]!, /WARN|warn/);
      } finally {
        await stopGateway(gw);
      }
    });
  },
});
