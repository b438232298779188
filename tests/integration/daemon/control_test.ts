/**
 * The control socket: root-only by file mode and token, JSON lines, bounded
 * lines, typed errors, nothing left behind.
 */
import assert from "node:assert/strict";
import { controlRequest, ControlServer, MAX_CONTROL_LINE } from "../../../core/daemon/control.ts";
import { DaemonError } from "../../../core/daemon/errors.ts";
import { commandsSkipReason, rootSkipReason, skipUnless } from "../../harness/tiers.ts";

/**
 * The directory the tests' sockets live in. Deno 2.9 asks for `--allow-net=unix:PATH` for a
 * Unix socket, by exact path, so the integration tier's flags name these two sockets:
 * `unix:/tmp/kink-control-test/kink.sock` and `unix:/tmp/kink-control-test/run/kink.sock`.
 */
const SOCKET_DIR = "/tmp/kink-control-test";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.remove(SOCKET_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(SOCKET_DIR, { mode: 0o700 });
  const dir = SOCKET_DIR;
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rawExchange(path: string, payload: string): Promise<string> {
  const c = await Deno.connect({ transport: "unix", path });
  try {
    await c.write(new TextEncoder().encode(payload));
    const buf = new Uint8Array(65536);
    let got = "";
    while (!got.includes("\n")) {
      const n = await c.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    return got;
  } finally {
    c.close();
  }
}

Deno.test("control: a request with the token is answered; socket and token are mode 0600", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/run/kink.sock`;
    const seen: string[] = [];
    const srv = await ControlServer.start(path, (req) => {
      seen.push(req.cmd);
      return { echo: req.args };
    });
    try {
      assert.equal((await Deno.stat(`${dir}/run`)).mode! & 0o777, 0o700);
      assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${path}.token`)).mode! & 0o777, 0o600);
      assert.deepEqual(await controlRequest(path, "status", { peer: "b" }), {
        echo: { peer: "b" },
      });
      assert.deepEqual(seen, ["status"]);
    } finally {
      await srv.close();
    }
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(`${path}.token`), Deno.errors.NotFound);
  });
});

Deno.test("control: requests without or with a wrong token are refused and never reach the handler", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/kink.sock`;
    let calls = 0;
    const srv = await ControlServer.start(path, () => ++calls);
    try {
      const none = JSON.parse(
        await rawExchange(path, '{"id":7,"cmd":"down","args":{"peer":"b"}}\n'),
      );
      assert.deepEqual(none, {
        id: 7,
        ok: false,
        error: { category: "denied", message: "missing or wrong control token" },
      });
      const token = (await Deno.readTextFile(`${path}.token`)).trim();
      const wrong = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
      const bad = JSON.parse(
        await rawExchange(path, JSON.stringify({ id: 8, token: wrong, cmd: "down" }) + "\n"),
      );
      assert.equal(bad.error.category, "denied");
      assert.equal(calls, 0);
      assert.equal(srv.refused, 2);
    } finally {
      await srv.close();
    }
  });
});

Deno.test("control: malformed requests get typed errors; an over-long line closes the connection", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/kink.sock`;
    const srv = await ControlServer.start(path, (req) => {
      if (req.cmd === "fail") throw new DaemonError("not-found", "down", "no peer named x");
      return "ok";
    });
    try {
      const token = (await Deno.readTextFile(`${path}.token`)).trim();
      assert.equal(JSON.parse(await rawExchange(path, "not json\n")).error.category, "malformed");
      assert.equal(
        JSON.parse(await rawExchange(path, `{"id":1,"token":"${token}","cmd":5}\n`)).error.category,
        "malformed",
      );
      await assert.rejects(
        controlRequest(path, "fail"),
        (e) =>
          e instanceof DaemonError && e.remoteCategory === "not-found" &&
          /no peer named x/.test(e.message),
      );
      const c = await Deno.connect({ transport: "unix", path });
      const big = new Uint8Array(MAX_CONTROL_LINE + 65536).fill(0x61);
      // Write it all (a single write may be partial); the server may close mid-way.
      for (let off = 0; off < big.length;) {
        const n = await c.write(big.subarray(off)).catch(() => -1);
        if (n < 0) break;
        off += n;
      }
      const n = await c.read(new Uint8Array(16)).catch(() => null);
      assert.equal(n, null, "the server must close a connection whose line exceeds the bound");
      c.close();
      assert.equal(await controlRequest(path, "still-alive"), "ok");
    } finally {
      await srv.close();
    }
  });
});

Deno.test("control: a socket directory writable by others is refused", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/open`);
    await Deno.chmod(`${dir}/open`, 0o777);
    await assert.rejects(
      ControlServer.start(`${dir}/open/kink.sock`, () => null),
      (e) => e instanceof DaemonError && /writable by group or others/.test(e.message),
    );
  });
});

Deno.test("control: without a running daemon the client says so", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      controlRequest(`${dir}/none.sock`, "status"),
      (e) => e instanceof DaemonError && /no daemon running/.test(e.message),
    );
  });
});

Deno.test({
  ...skipUnless(
    "control: with peer credentials checked (SO_PEERCRED through libc), a connection from another user is ended before its request is read, even with the token and a socket others may open; root's is answered",
    rootSkipReason(),
    commandsSkipReason("setpriv", "/usr/bin/python3"),
  ),
  async fn() {
    const { unixPeersOf, shutdownSocket } = await import("../../../core/kernel/mod.ts");
    await withDir(async (dir) => {
      const path = `${dir}/run/kink.sock`;
      const handled: string[] = [];
      const refused: number[] = [];
      const srv = await ControlServer.start(path, (req) => {
        handled.push(req.cmd);
        return "answered";
      }, {
        peers: (p) => unixPeersOf(p),
        shutdown: shutdownSocket,
        allowedUids: [0],
        onRefused: (p) => refused.push(p.uid),
      });
      try {
        // A mode mistake: directory and socket open to everyone, the token readable.
        await Deno.chmod(dir, 0o755);
        await Deno.chmod(`${dir}/run`, 0o755);
        await Deno.chmod(path, 0o666);
        const token = (await Deno.readTextFile(`${path}.token`)).trim();
        const client = (uid: number) =>
          new Deno.Command("setpriv", {
            args: [
              `--reuid=${uid}`,
              `--regid=${uid}`,
              "--clear-groups",
              "/usr/bin/python3",
              "-c",
              "import socket,sys\n" +
              "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1])\n" +
              "s.sendall((sys.argv[2]+'\\n').encode())\n" +
              "try:\n  print(s.recv(65536).decode().strip() or 'EOF')\n" +
              "except ConnectionResetError:\n  print('RESET')",
              path,
              JSON.stringify({ id: 1, token, cmd: "status", args: {} }),
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
        const other = await client(65534);
        const said = new TextDecoder().decode(other.stdout).trim() +
          new TextDecoder().decode(other.stderr);
        // Ended without an answer: end of stream, or a reset (the request was never read).
        assert.match(new TextDecoder().decode(other.stdout).trim(), /^(EOF|RESET)$/, said);
        assert.deepEqual(refused, [65534]);
        assert.equal(srv.refusedPeers, 1);
        const root = await client(0);
        assert.match(new TextDecoder().decode(root.stdout), /"answered"/);
        assert.deepEqual(handled, ["status"], "the other user's request reached the handler");
      } finally {
        await srv.close();
      }
    });
  },
});
