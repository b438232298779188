/**
 * The control commands of a running daemon, over its control socket
 * (core/daemon/control.ts): `kink status [--json]`, `kink up PEER`,
 * `kink down PEER`, `kink rekey PEER`, `kink reload`, `kink metrics`.
 * Each reads the socket's token and talks to the socket, nothing else.
 *
 * @module
 */
import {
  allowPaths,
  type Command,
  type CommandIO,
  flagOpt,
  type ParsedArgs,
  stringOpt,
} from "../command.ts";
import { DEFAULTS } from "../../config/defaults.ts";
import { controlRequest } from "../../daemon/control.ts";
import type { DaemonStatus } from "../../daemon/daemon.ts";
import { DaemonError } from "../../daemon/errors.ts";
import { escapeControl } from "../../util/text.ts";

function socketOf(args: ParsedArgs): string {
  return stringOpt(args, "socket") ?? DEFAULTS.controlSocket;
}

const socketOption = {
  socket: {
    type: "string" as const,
    arg: "PATH",
    path: "file" as const,
    description: `The daemon's control socket (default ${DEFAULTS.controlSocket})`,
  },
};

function socketPermissions(args: ParsedArgs): string[] {
  const s = socketOf(args);
  return [
    allowPaths("read", [s, `${s}.token`], "--socket"),
    allowPaths("write", [s], "--socket"),
    `--allow-net=unix:${s}`,
  ];
}

const socketNotes = [
  "--allow-read of the control socket and its token file (<socket>.token, root only)",
  "--allow-write and --allow-net=unix: of the control socket (connecting to a Unix socket)",
];

async function request(
  args: ParsedArgs,
  io: CommandIO,
  cmd: string,
  cargs: Record<string, unknown> = {},
): Promise<{ ok: true; result: unknown } | { ok: false }> {
  try {
    return { ok: true, result: await controlRequest(socketOf(args), cmd, cargs, 30_000) };
  } catch (e) {
    if (e instanceof DaemonError) {
      io.err(`kink ${cmd}: ${escapeControl(e.message)}`);
      return { ok: false };
    }
    throw e;
  }
}

function hex(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, "0")}`;
}

function dur(s: number | undefined): string {
  if (s === undefined) return "-";
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

function table(rows: string[][]): string[] {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join("  "));
}

/** The readable form of a daemon's status (what `kink status` prints without `--json`). */
export function renderStatus(st: DaemonStatus): string[] {
  const e = st.engine;
  const out = [
    `kink daemon ${st.principal}  config ${st.config}`,
    `  up since ${
      new Date(st.startedAt).toISOString()
    }  epoch ${e.epoch}  kernel ${st.kernel.backend} (${st.kernel.sas} SAs, ${st.kernel.policies} policies owned)`,
    "",
    "Peers:",
  ];
  out.push(
    ...table([
      ["  NAME", "ADDRESS", "STATE", "EPOCH", "SA PAIRS", "IN FLIGHT", "LAST ERROR"],
      ...e.peers.map((p) => [
        `  ${p.name}`,
        p.address,
        p.state,
        p.peerEpoch === undefined ? "-" : String(p.peerEpoch),
        String(p.saPairs),
        String(p.transactions),
        p.lastFailure ? `${p.lastFailure.reason}: ${p.lastFailure.detail}` : "-",
      ]),
    ]),
  );
  const always = st.always ?? []; // absent from a daemon of an earlier version
  if (always.length) {
    out.push("", "Retrying (start = always):");
    out.push(
      ...table([
        ["  PEER", "FAILURES", "NEXT ATTEMPT", "LAST ERROR"],
        ...always.map((r) => [
          `  ${r.peer}`,
          String(r.failures),
          r.nextAttemptAt === undefined
            ? "now"
            : `in ${dur(Math.max(0, Math.round((r.nextAttemptAt - st.engine.now) / 1000)))}`,
          r.lastError,
        ]),
      ]),
    );
  }
  out.push("", "SA pairs:");
  if (e.saPairs.length === 0) out.push("  (none)");
  else {
    out.push(
      ...table([
        ["  PEER", "STATE", "ROLE", "INBOUND", "OUTBOUND", "AGE", "REKEY IN", "EXPIRES IN"],
        ...e.saPairs.map((p) => [
          `  ${p.peer}`,
          p.state,
          p.initiator ? "initiator" : "responder",
          p.inbound.map((x) => `${x.protocol} ${hex(x.spi)}`).join(","),
          p.outbound.map((x) => `${x.protocol} ${hex(x.spi)}`).join(","),
          dur(Math.max(0, Math.round((e.now - p.createdAt) / 1000))),
          p.rekeyAt === undefined ? "-" : dur(Math.max(0, Math.round((p.rekeyAt - e.now) / 1000))),
          dur(Math.max(0, Math.round((p.expiresAt - e.now) / 1000))),
        ]),
      ]),
    );
  }
  out.push("", "Kernel SAs:");
  if (st.sas.length === 0) out.push("  (none)");
  else {
    out.push(
      ...table([
        ["  PEER", "DIR", "SPI", "SRC → DST", "ALGORITHMS", "BYTES", "PACKETS", "AGE", "LEFT"],
        ...st.sas.map((s) => [
          `  ${s.peer ?? "?"}`,
          s.dir,
          `${s.proto} ${hex(s.spi)}`,
          `${s.src} → ${s.dst}`,
          s.algorithms.join(" + "),
          String(s.bytes),
          String(s.packets),
          dur(s.ageSeconds),
          dur(s.remainingSeconds),
        ]),
      ]),
    );
  }
  out.push("", "Transactions in flight:");
  if (e.transactions.length === 0) out.push("  (none)");
  else {
    out.push(
      ...table([
        ["  PEER", "XID", "COMMAND", "ROLE", "STATE", "SENT"],
        ...e.transactions.map((t) => [
          `  ${t.peer}`,
          String(t.xid),
          t.command,
          t.role,
          t.state,
          String(t.transmissions),
        ]),
      ]),
    );
  }
  return out.map((l) => escapeControl(l));
}

/** `kink status [--json]`. */
export const statusCommand: Command = {
  name: "status",
  summary: "Show a running daemon's peers, SAs and transactions",
  usage: "status [--json] [--socket PATH]",
  options: {
    json: { type: "boolean", description: "Print the status as one JSON object" },
    ...socketOption,
  },
  permissions: socketPermissions,
  permissionNotes: socketNotes,
  async run(args, io) {
    const r = await request(args, io, "status");
    if (!r.ok) return 1;
    if (flagOpt(args, "json")) io.out(JSON.stringify(r.result));
    else for (const l of renderStatus(r.result as DaemonStatus)) io.out(l);
    return 0;
  },
};

function peerCommand(name: "up" | "down" | "rekey", summary: string): Command {
  return {
    name,
    summary,
    usage: `${name} PEER [--socket PATH]`,
    options: { ...socketOption },
    positionals: { min: 1, max: 1, name: "PEER" },
    permissions: socketPermissions,
    permissionNotes: socketNotes,
    async run(args, io) {
      const r = await request(args, io, name, { peer: args.positionals[0] });
      if (!r.ok) return 1;
      io.out(`${name} ${escapeControl(args.positionals[0]!)}: requested`);
      return 0;
    },
  };
}

/** `kink reload`. */
export const reloadCommand: Command = {
  name: "reload",
  summary: "Make a running daemon re-read its configuration (as SIGHUP does)",
  usage: "reload [--socket PATH]",
  options: { ...socketOption },
  permissions: socketPermissions,
  permissionNotes: socketNotes,
  async run(args, io) {
    const r = await request(args, io, "reload");
    if (!r.ok) return 1;
    const res = r.result as { ok: boolean; detail: string; problems?: string[] };
    (res.ok ? io.out : io.err)(`reload: ${escapeControl(res.detail)}`);
    for (const p of res.problems ?? []) io.err(`  ${escapeControl(p)}`);
    return res.ok ? 0 : 1;
  },
};

/** `kink metrics`. */
export const metricsCommand: Command = {
  name: "metrics",
  summary: "Print a running daemon's metrics (Prometheus text format)",
  usage: "metrics [--socket PATH]",
  options: { ...socketOption },
  permissions: socketPermissions,
  permissionNotes: socketNotes,
  async run(args, io) {
    const r = await request(args, io, "metrics");
    if (!r.ok) return 1;
    io.out(String(r.result).replace(/\n$/, ""));
    return 0;
  },
};

/** Every control command, in `kink --help` order. */
export const controlCommands: Command[] = [
  statusCommand,
  peerCommand("up", "Negotiate SAs with a peer now"),
  peerCommand("down", "DELETE every SA pair with a peer"),
  peerCommand("rekey", "Rekey the SA pairs with a peer"),
  reloadCommand,
  metricsCommand,
];
