/**
 * MIT libkrb5 as the judge of kink's AP-REQ/AP-REP messages.
 *
 * Builds `krb5_judge.c` (beside this file) with the system C compiler and
 * libkrb5 once per test process, and wraps its two commands:
 * {@link mitReadApReq} (MIT's `krb5_rd_req` verifies an AP-REQ kink built and
 * answers with `krb5_mk_rep`) and {@link mitMakeApReq} (MIT's
 * `krb5_mk_req_extended` builds an AP-REQ kink must verify, and MIT's
 * `krb5_rd_rep` then judges kink's AP-REP).
 *
 * Needs `cc` and libkrb5-dev; Deno permissions `--allow-run --allow-read
 * --allow-write --allow-env`.
 *
 * @module
 */
import { fromHex, toHex } from "../../../core/util/bytes.ts";
import { HarnessError, runOk } from "../exec.ts";

let built: Promise<string> | undefined;

/** Compiles the judge (once per process) and returns the executable's path. */
export function buildJudge(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "kink-krb5-judge-" });
    const src = new URL("./krb5_judge.c", import.meta.url).pathname;
    const exe = `${dir}/krb5_judge`;
    await runOk(["cc", "-O1", "-Wall", "-o", exe, src, "-lkrb5"]);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    return exe;
  })();
  return built;
}

/** What MIT's `krb5_rd_req` found in an accepted AP-REQ. */
export interface MitAcceptance {
  /** Client principal from the ticket, as MIT unparses it. */
  client: string;
  /** Authenticator ctime (seconds since the epoch). */
  ctime: number;
  /** Authenticator cusec. */
  cusec: number;
  /** Session key enctype. */
  keytype: number;
  /** Session key bytes, hex (test realms only). */
  keyHex: string;
  /** Enctype of the ticket's enc-part (the service key). */
  ticketEtype: number;
  /** AP options MIT saw. */
  apOptions: number;
  /** Whether the authenticator carried a subkey. */
  subkey: boolean;
  /** The AP-REP MIT built with `krb5_mk_rep`. */
  apRep: Uint8Array;
}

/** Outcome of a judge command: accepted with details, or MIT's error. */
export type MitResult<T> = { ok: true; value: T } | { ok: false; code: number; message: string };

function kv(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split(" ")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function parseError(line: string): { ok: false; code: number; message: string } {
  const m = /^error (-?\d+) (.*)$/.exec(line);
  return { ok: false, code: m ? Number(m[1]) : -1, message: m ? m[2]! : line };
}

/**
 * Has MIT verify `apReq` as `server` with the keys in `keytab`, and returns
 * what it saw plus the AP-REP it built. MIT's replay cache is off (the tests
 * judge kink's).
 */
export function mitReadApReq(
  env: Record<string, string>,
  keytab: string,
  server: string,
  apReq: Uint8Array,
): Promise<MitResult<MitAcceptance>> {
  return readApReq(env, ["rd-req", keytab, server], apReq);
}

/**
 * Has MIT verify a user-to-user `apReq` as `server`, decrypting the ticket
 * with the session key of the server's TGT (`enctype`, `keyHex`).
 */
export function mitReadApReqU2U(
  env: Record<string, string>,
  tgtSessionKey: { enctype: number; keyHex: string },
  server: string,
  apReq: Uint8Array,
): Promise<MitResult<MitAcceptance>> {
  const k = `${tgtSessionKey.enctype}:${tgtSessionKey.keyHex}`;
  return readApReq(env, ["rd-req-u2u", k, server], apReq);
}

async function readApReq(
  env: Record<string, string>,
  args: string[],
  apReq: Uint8Array,
): Promise<MitResult<MitAcceptance>> {
  const exe = await buildJudge();
  const child = new Deno.Command(exe, {
    args,
    env: { ...env, KRB5RCACHETYPE: "none" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(toHex(apReq) + "\n"));
  await w.close();
  const out = await child.output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const first = lines[0] ?? "";
  if (!first.startsWith("ok ")) return parseError(first);
  const f = kv(first);
  const rep = lines[1] ?? "";
  if (!rep.startsWith("ap-rep ")) throw new HarnessError(`krb5_judge rd-req: no AP-REP: ${rep}`);
  return {
    ok: true,
    value: {
      client: f.client!,
      ctime: Number(f.ctime),
      cusec: Number(f.cusec),
      keytype: Number(f.keytype),
      keyHex: f.key!,
      ticketEtype: Number(f.ticket_etype),
      apOptions: Number(f.ap_options),
      subkey: f.subkey === "1",
      apRep: fromHex(rep.slice(7)),
    },
  };
}

/** An AP-REQ MIT built, waiting for our AP-REP. */
export interface MitInitiator {
  /** The AP-REQ (mutual-required) from `krb5_mk_req_extended`. */
  apReq: Uint8Array;
  /** Session key enctype and bytes (hex) of the ticket MIT used. */
  keytype: number;
  /** See {@link keytype}. */
  keyHex: string;
  /** Hands our AP-REP to `krb5_rd_rep`; resolves to MIT's verdict. */
  readReply(apRep: Uint8Array): Promise<MitResult<true>>;
  /** Kills the helper if {@link readReply} is never called. */
  abandon(): Promise<void>;
}

/**
 * Has MIT build an AP-REQ for `server` from the credentials in `ccache`
 * (getting a service ticket through the KDC when the cache lacks one).
 */
export async function mitMakeApReq(
  env: Record<string, string>,
  ccache: string,
  server: string,
): Promise<MitResult<MitInitiator>> {
  const exe = await buildJudge();
  const child = new Deno.Command(exe, {
    args: ["mk-req", ccache, server],
    env: { ...env, KRB5RCACHETYPE: "none" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const nextLine = async (): Promise<string> => {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
    }
    const i = buf.indexOf("\n");
    const line = i < 0 ? buf : buf.slice(0, i);
    buf = i < 0 ? "" : buf.slice(i + 1);
    return line;
  };
  const stdin = child.stdin.getWriter();
  const finish = async () => {
    try {
      await stdin.close();
    } catch {
      // closed
    }
    while (!(await reader.read()).done) { /* drain */ }
    await child.stderr.cancel();
    await child.status;
  };
  const l1 = await nextLine();
  if (!l1.startsWith("ap-req ")) {
    await finish();
    return parseError(l1);
  }
  const info = kv(await nextLine());
  return {
    ok: true,
    value: {
      apReq: fromHex(l1.slice(7)),
      keytype: Number(info.keytype),
      keyHex: info.key!,
      async readReply(apRep: Uint8Array): Promise<MitResult<true>> {
        await stdin.write(new TextEncoder().encode(toHex(apRep) + "\n"));
        const l = await nextLine();
        await finish();
        return l === "ok rd-rep" ? { ok: true, value: true } : parseError(l);
      },
      abandon: finish,
    },
  };
}

/** What MIT's `krb5_rd_error` read from a KRB-ERROR. */
export interface MitKrbError {
  /** error-code (MIT reports it as is, e.g. 37 for KRB_AP_ERR_SKEW). */
  error: number;
  /** stime, seconds since the epoch. */
  stime: number;
  /** susec. */
  susec: number;
  /** ctime (0 when absent). */
  ctime: number;
  /** cusec (0 when absent). */
  cusec: number;
  /** Server principal. */
  server: string;
  /** Client principal, or "-". */
  client: string;
}

/** Has MIT's `krb5_rd_error` decode a KRB-ERROR. */
export async function mitReadError(krbError: Uint8Array): Promise<MitResult<MitKrbError>> {
  const exe = await buildJudge();
  const child = new Deno.Command(exe, {
    args: ["rd-error", "-", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(toHex(krbError) + "\n"));
  await w.close();
  const out = await child.output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n")[0] ?? "";
  if (!line.startsWith("ok ")) return parseError(line);
  const f = kv(line);
  return {
    ok: true,
    value: {
      error: Number(f.error),
      stime: Number(f.stime),
      susec: Number(f.susec),
      ctime: Number(f.ctime),
      cusec: Number(f.cusec),
      server: f.server!,
      client: f.client!,
    },
  };
}
