/**
 * The daemon's control socket: a Unix stream socket speaking JSON lines.
 *
 * Request:  `{"id": 1, "token": "…", "cmd": "status", "args": {…}}` + `\n`
 * Response: `{"id": 1, "ok": true, "result": …}` or
 *           `{"id": 1, "ok": false, "error": {"category": "…", "message": "…"}}` + `\n`
 *
 * Access: the socket is created mode 0600 in a directory of mode 0700, and
 * every request must carry the token the daemon wrote (mode 0600) next to
 * the socket at start (`<socket>.token`): only a process that can read
 * root's files can talk to the daemon. Lines are bounded
 * ({@link MAX_CONTROL_LINE}), connections are bounded
 * ({@link MAX_CONTROL_CONNECTIONS}) and idle ones are closed.
 *
 * @module
 */
import { DaemonError } from "./errors.ts";

/** Longest request or response line (1 MiB: a status of 100,000 SAs is paged, not one line). */
export const MAX_CONTROL_LINE = 1 << 20;
/** Concurrent control connections. */
export const MAX_CONTROL_CONNECTIONS = 16;
/** An idle connection is closed after this long. */
export const CONTROL_IDLE_MS = 30_000;

/** A control request. */
export interface ControlRequest {
  /** Echoed in the response. */
  id: number;
  /**
   * Command name (`status`, `up`, `down`, `rekey`, `probe` (a STATUS exchange),
   * `reload`, `metrics`; `acquire` with `inject_acquires` only, for tests).
   */
  cmd: string;
  /** Command arguments. */
  args: Record<string, unknown>;
}

/** Handles one authenticated request; the result is sent as JSON. */
export type ControlHandler = (req: ControlRequest) => Promise<unknown> | unknown;

const enc = new TextEncoder();

function tokenPath(socketPath: string): string {
  return `${socketPath}.token`;
}

function tokenEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

async function writeLine(conn: Deno.Conn, obj: unknown): Promise<void> {
  const b = enc.encode(JSON.stringify(obj) + "\n");
  let off = 0;
  while (off < b.length) off += await conn.write(b.subarray(off));
}

/** Reads `\n`-terminated lines from a connection, bounded in length. */
async function* lines(conn: Deno.Conn, idleMs: number): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(16384);
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(chunk),
      new Promise<"idle">((r) => {
        timer = setTimeout(() => r("idle"), idleMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (n === "idle" || n === null) return;
    const merged = new Uint8Array(buf.length + n);
    merged.set(buf);
    merged.set(chunk.subarray(0, n), buf.length);
    buf = merged;
    // every complete line of the chunk, then one copy of the rest (a write of many requests
    // costs linear time, not a copy of the remainder per line)
    let start = 0, nl: number;
    while ((nl = buf.indexOf(10, start)) >= 0) {
      yield dec.decode(buf.subarray(start, nl));
      start = nl + 1;
    }
    if (start > 0) buf = buf.slice(start);
    if (buf.length > MAX_CONTROL_LINE) {
      throw new DaemonError("control", "control socket", "request line too long");
    }
  }
}

/**
 * Peer-credential checking for the control socket (SO_PEERCRED through libc;
 * Deno exposes no descriptor of a `Deno.UnixConn`, so the connections are
 * found by their local address, see `unixPeersOf` in ffi/libc.ts).
 */
export interface PeerCheck {
  /** The connections accepted on `path`, with their peers' credentials. */
  peers(path: string): { fd: number; pid: number; uid: number }[];
  /** Ends the connection on `fd`. */
  shutdown(fd: number): void;
  /** User ids allowed to connect (root and the daemon's own). */
  allowedUids: readonly number[];
  /** Told of every connection refused. */
  onRefused?: (peer: { pid: number; uid: number }) => void;
}

/** A running control server. */
export class ControlServer {
  readonly #listener: Deno.Listener;
  readonly #token: string;
  readonly #handler: ControlHandler;
  readonly #path: string;
  #conns = new Set<Deno.Conn>();
  #loop: Promise<void>;
  /** Requests refused for a missing or wrong token. */
  refused = 0;
  /** Connections refused for their peer's user id. */
  refusedPeers = 0;
  readonly #check: PeerCheck | undefined;
  #seenPeers = new Set<string>();

  private constructor(
    path: string,
    listener: Deno.Listener,
    token: string,
    handler: ControlHandler,
    check: PeerCheck | undefined,
  ) {
    this.#check = check;
    this.#path = path;
    this.#listener = listener;
    this.#token = token;
    this.#handler = handler;
    this.#loop = this.#accept();
  }

  /**
   * Creates the socket at `path` (its directory is created mode 0700 if
   * missing and must not be writable by others), writes a fresh token to
   * `<path>.token` (0600), and serves `handler`.
   */
  static async start(
    path: string,
    handler: ControlHandler,
    check?: PeerCheck,
  ): Promise<ControlServer> {
    const dir = path.slice(0, Math.max(1, path.lastIndexOf("/")));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await Deno.stat(dir);
    if (st.mode !== null && (st.mode & 0o022) !== 0) {
      throw new DaemonError(
        "control",
        `control socket ${path}`,
        `directory ${dir} is writable by group or others (mode ${
          (st.mode & 0o777).toString(8)
        }); refusing`,
      );
    }
    try {
      const l = await Deno.lstat(path);
      if (!l.isSocket) {
        throw new DaemonError("control", `control socket ${path}`, "exists and is not a socket");
      }
      await Deno.remove(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const tp = tokenPath(path);
    const tmp = `${tp}.${token.slice(0, 8)}`;
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      await f.write(enc.encode(token + "\n"));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, tp);
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, 0o600);
    return new ControlServer(path, listener, token, handler, check);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      // Before anything is read from it (the handler starts below): a connection
      // from a user other than root or the daemon's is ended at the socket.
      if (this.#check && !this.#vetPeers(this.#check)) {
        this.refusedPeers++;
        conn.close();
        continue;
      }
      if (this.#conns.size >= MAX_CONTROL_CONNECTIONS) {
        writeLine(conn, {
          id: 0,
          ok: false,
          error: { category: "busy", message: "too many control connections" },
        })
          .catch(() => {}).finally(() => conn.close());
        continue;
      }
      this.#conns.add(conn);
      this.#serve(conn).catch(() => {}).finally(() => {
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed already */ }
      });
    }
  }

  /**
   * Checks the peers of the connections on the socket after an accept;
   * false when the connection just accepted (the one not seen at the last
   * check) is from a user not allowed — or when it cannot be told apart from
   * one that is not. Connections of users not allowed are also shut down at
   * the socket.
   */
  #vetPeers(check: PeerCheck): boolean {
    let peers: { fd: number; pid: number; uid: number }[];
    try {
      peers = check.peers(this.#path);
    } catch {
      return true; // the mode and the token still apply
    }
    const seen = new Set<string>();
    let refused = 0;
    for (const p of peers) {
      const key = `${p.fd}:${p.pid}`;
      if (check.allowedUids.includes(p.uid)) {
        seen.add(key); // known good from now on
        continue;
      }
      if (!this.#seenPeers.has(key)) refused++;
      try {
        check.shutdown(p.fd);
      } catch { /* closed meanwhile */ }
      check.onRefused?.({ pid: p.pid, uid: p.uid });
    }
    this.#seenPeers = seen;
    return refused === 0;
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    for await (const line of lines(conn, CONTROL_IDLE_MS)) {
      let id = 0;
      let req: { id?: unknown; token?: unknown; cmd?: unknown; args?: unknown };
      try {
        req = JSON.parse(line);
        if (typeof req !== "object" || req === null) throw new Error("not an object");
      } catch {
        await writeLine(conn, {
          id,
          ok: false,
          error: { category: "malformed", message: "request is not a JSON object" },
        });
        continue;
      }
      if (typeof req.id === "number" && Number.isSafeInteger(req.id)) id = req.id;
      if (typeof req.token !== "string" || !tokenEqual(req.token, this.#token)) {
        this.refused++;
        await writeLine(conn, {
          id,
          ok: false,
          error: { category: "denied", message: "missing or wrong control token" },
        });
        return;
      }
      if (typeof req.cmd !== "string") {
        await writeLine(conn, {
          id,
          ok: false,
          error: { category: "malformed", message: "cmd must be a string" },
        });
        continue;
      }
      const args = typeof req.args === "object" && req.args !== null && !Array.isArray(req.args)
        ? req.args as Record<string, unknown>
        : {};
      try {
        const result = await this.#handler({ id, cmd: req.cmd, args });
        await writeLine(conn, { id, ok: true, result: result ?? null });
      } catch (e) {
        const err = e as { category?: string; message?: string };
        await writeLine(conn, {
          id,
          ok: false,
          error: {
            category: typeof err.category === "string" ? err.category : "failed",
            message: String(err.message ?? e),
          },
        });
      }
    }
  }

  /** Stops serving, closes every connection and removes the socket and token. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await this.#loop;
    for (const p of [this.#path, tokenPath(this.#path)]) {
      await Deno.remove(p).catch(() => {});
    }
  }
}

/**
 * Sends one request to a daemon's control socket and returns its result;
 * throws {@link DaemonError} with the daemon's category on failure.
 */
export async function controlRequest(
  path: string,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 10_000,
): Promise<unknown> {
  let token: string;
  try {
    token = (await Deno.readTextFile(tokenPath(path))).trim();
  } catch (e) {
    throw new DaemonError(
      "control",
      `control socket ${path}`,
      e instanceof Deno.errors.PermissionDenied || (e as Error).name === "PermissionDenied"
        ? "cannot read the control token (root only)"
        : "no daemon running (no control token)",
    );
  }
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    throw new DaemonError(
      "control",
      `control socket ${path}`,
      `cannot connect: ${(e as Error).message}`,
    );
  }
  try {
    await writeLine(conn, { id: 1, token, cmd, args });
    for await (const line of lines(conn, timeoutMs)) {
      const r = JSON.parse(line) as {
        ok: boolean;
        result?: unknown;
        error?: { category: string; message: string };
      };
      if (r.ok) return r.result;
      throw new DaemonError(
        "control",
        cmd,
        r.error?.message ?? "failed",
        undefined,
        r.error?.category,
      );
    }
    throw new DaemonError("control", cmd, "no answer from the daemon");
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
