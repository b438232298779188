/**
 * One control-socket request from a child process holding only the
 * permissions `kink status` takes (read of the socket and its token, write
 * and `unix:` net of the socket): the integration tier's own flags name no
 * test's temporary socket, and a test must not widen them for a command the
 * CLI does not offer (`acquire`, `probe`).
 *
 * @module
 */
import { controlRequest } from "../../../core/daemon/control.ts";

/** Sends `cmd` with `args` to the daemon at `socket`; the result, or an Error with the daemon's message. */
export async function controlCall(
  socket: string,
  cmd: string,
  args: Record<string, unknown> = {},
): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-read=${socket},${socket}.token`,
      `--allow-write=${socket}`,
      `--allow-net=unix:${socket}`,
      new URL(import.meta.url).pathname,
      socket,
      cmd,
      JSON.stringify(args),
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(dec.decode(out.stderr).trim());
  return JSON.parse(dec.decode(out.stdout));
}

if (import.meta.main) {
  const [socket, cmd, args] = Deno.args;
  try {
    const r = await controlRequest(socket!, cmd!, JSON.parse(args ?? "{}"));
    console.log(JSON.stringify(r ?? null));
  } catch (e) {
    console.error(`${(e as Error).name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
