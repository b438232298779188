/**
 * Asynchronous transport to Kerberos KDCs (RFC 4120 §7.2.1, §7.2.2).
 *
 * A request goes to the KDCs of a realm one after the other, each with its
 * own timeout: over UDP first, over TCP (4-octet big-endian length prefix)
 * when the request is larger than `udp_preference_limit`, when the KDC is
 * configured as `tcp/host:port`, or when the KDC answers over UDP with
 * KRB_ERR_RESPONSE_TOO_BIG (52). Every socket and timer is released whatever
 * happens, and nothing here blocks the event loop: a dead KDC costs its
 * timeout in wall-clock time, never in CPU or in other tasks' latency.
 *
 * **Host names.** A KDC given by name (`kdc = kdc.example.com`, the usual
 * krb5.conf form) is resolved here, never inside a socket callback: over
 * UDP with `node:dns` `lookup` (the system resolver, getaddrinfo: /etc/hosts
 * then DNS), which under Deno needs `--allow-net=<name>` (the name, any
 * port) and then `--allow-net=<address>:<port>` for each address it yields;
 * the addresses are tried in the resolver's order. Over TCP the name goes to
 * the socket, which Deno resolves under `--allow-net=<name>:<port>` alone.
 * So a process granted only `<name>:<port>` (what `kink ticket --kdc` grants)
 * cannot resolve the name for UDP: it then asks that KDC over TCP (which
 * MIT and Heimdal KDCs serve on the same port) and says so in the attempts.
 * A socket callback never throws: every failure becomes an attempt outcome.
 *
 * Errors name every address tried and why it failed, e.g.
 * `"KDC unreachable: tried 127.0.0.1:7 (timeout 1000 ms), 127.0.0.1:8 (connection refused)"`.
 *
 * @module
 */
import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import { describeDerLengthProblem, readDerLength } from "./der.ts";
import { KerberosError } from "./errors.ts";
import { formatEndpoint, type KdcEndpoint, localBindAddress } from "./endpoint.ts";

// Re-exported: callers that only parse or format KDC addresses import endpoint.ts, which loads
// no node: module (see its module documentation).
export {
  formatEndpoint,
  type KdcEndpoint,
  localBindAddress,
  parseKdcEndpoint,
} from "./endpoint.ts";

/** Options of {@link sendToKdc}. */
export interface KdcSendOptions {
  /**
   * Time allowed for one try (one KDC, one transport), in milliseconds, from
   * the moment the request is sent. Default 1000. Each later UDP pass waits
   * twice as long as the one before (1 s, 2 s, … — MIT's back-off), so a KDC
   * that answers slowly, or a reply delayed on a loaded host, is still heard.
   */
  timeoutMs?: number;
  /** Requests larger than this many octets go over TCP directly (krb5.conf
   * `udp_preference_limit`). Default 1465. */
  udpPreferenceLimit?: number;
  /** Largest reply accepted over TCP, in octets. Default 1 MiB. */
  maxReplyOctets?: number;
  /** Aborts the whole exchange (all tries). */
  signal?: AbortSignal;
  /**
   * Passes over the KDC list for UDP: a KDC whose UDP try timed out is asked
   * again in the next pass (a datagram may be lost), with a doubled timeout.
   * Default 2 (1 s + 2 s with the default timeout).
   */
  udpRounds?: number;
}

/** What happened when one KDC address was tried. */
export interface KdcAttempt {
  /** `host:port` (IPv6 hosts in brackets). */
  address: string;
  /** Transport used for this try. */
  protocol: "udp" | "tcp";
  /** Why the try did not produce a reply, or `"ok"`. */
  outcome: string;
}

/** A reply obtained from a KDC. */
export interface KdcReply {
  /** The reply message (AS-REP, TGS-REP or KRB-ERROR), without TCP framing. */
  reply: Uint8Array;
  /** Address that answered. */
  address: string;
  /** Transport that carried the reply. */
  protocol: "udp" | "tcp";
  /** Every try made, the successful one last. */
  attempts: KdcAttempt[];
}

/** Default number of UDP passes over the KDC list. */
export const DEFAULT_UDP_ROUNDS = 2;
/** Default per-try timeout, milliseconds. */
export const DEFAULT_KDC_TIMEOUT_MS = 1000;
/** MIT's default `udp_preference_limit`. */
export const DEFAULT_UDP_PREFERENCE_LIMIT = 1465;
/** Default bound on a TCP reply. */
export const DEFAULT_MAX_REPLY_OCTETS = 1 << 20;

const KRB_ERR_RESPONSE_TOO_BIG = 52;

/**
 * The error raised when no KDC produced a usable reply. `attempts` lists
 * every address tried and what went wrong there.
 */
export class KdcUnreachableError extends KerberosError {
  /** Every try made, in order. */
  readonly attempts: KdcAttempt[];
  /**
   * Builds the error; the message lists every address tried.
   *
   * @param category `"kdc-unreachable"` (nobody answered usefully) or `"kdc-bad-reply"`
   *   (at least one KDC answered with bytes that are not a Kerberos reply)
   * @param attempts the tries made
   */
  constructor(
    category: "kdc-unreachable" | "kdc-bad-reply",
    attempts: KdcAttempt[],
    options?: { cause?: unknown },
  ) {
    const what = category === "kdc-bad-reply" ? "no usable KDC reply" : "KDC unreachable";
    const list = attempts.length === 0
      ? "no KDC address configured"
      : "tried " + summariseAttempts(attempts);
    super(category, what, list, options);
    this.attempts = attempts;
  }
}

/** Renders attempts, each distinct (address, outcome) once with a count: `a:88 (timeout 1000 ms ×2)`. */
function summariseAttempts(attempts: readonly KdcAttempt[]): string {
  const seen = new Map<string, number>();
  for (const a of attempts) {
    const k = `${a.protocol === "tcp" ? "tcp/" : ""}${a.address} (${a.outcome}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].map(([k, n]) => `${k}${n > 1 ? ` ×${n}` : ""})`).join(", ");
}

/**
 * Sends one KDC request (AS-REQ or TGS-REQ DER) to the KDCs in order and
 * resolves to the first usable reply. A reply is usable when it is a DER
 * `[APPLICATION 11]` (AS-REP), `[APPLICATION 13]` (TGS-REP) or
 * `[APPLICATION 30]` (KRB-ERROR) whose outer length matches the datagram;
 * interpreting it is the caller's job. A KRB-ERROR RESPONSE_TOO_BIG over
 * UDP makes the same KDC be retried over TCP.
 *
 * Rejects with {@link KdcUnreachableError} when every KDC failed, or with a
 * {@link KerberosError} `"aborted"` when `signal` fires.
 */
export async function sendToKdc(
  request: Uint8Array,
  kdcs: readonly KdcEndpoint[],
  options: KdcSendOptions = {},
): Promise<KdcReply> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_KDC_TIMEOUT_MS;
  const limit = options.udpPreferenceLimit ?? DEFAULT_UDP_PREFERENCE_LIMIT;
  const maxReply = options.maxReplyOctets ?? DEFAULT_MAX_REPLY_OCTETS;
  const rounds = Math.max(1, Math.floor(options.udpRounds ?? DEFAULT_UDP_ROUNDS));
  const attempts: KdcAttempt[] = [];
  let sawBadReply = false;
  // KDCs whose UDP try timed out get another try in the next round (a lost
  // datagram is not a dead KDC); refusals and bad replies do not.
  let pending = kdcs.map((_, i) => i);
  for (let round = 0; round < rounds && pending.length > 0; round++) {
    const timedOut: number[] = [];
    for (const i of pending) {
      const kdc = kdcs[i]!;
      throwIfAborted(options.signal, attempts);
      const address = formatEndpoint(kdc);
      const useTcpFirst = kdc.protocol === "tcp" || request.length > limit;
      if (!useTcpFirst) {
        const r = await tryOnce(
          "udp",
          kdc,
          request,
          timeoutMs * 2 ** round,
          maxReply,
          options.signal,
        );
        if (r.ok) {
          if (!isResponseTooBig(r.reply)) {
            attempts.push({ address, protocol: "udp", outcome: "ok" });
            return { reply: r.reply, address, protocol: "udp", attempts };
          }
          attempts.push({ address, protocol: "udp", outcome: "KRB_ERR_RESPONSE_TOO_BIG" });
          if (kdc.protocol === "udp") continue;
        } else {
          attempts.push({ address, protocol: "udp", outcome: r.reason });
          if (r.badReply) sawBadReply = true;
          if (r.aborted) throwIfAborted(options.signal, attempts);
          if (r.timedOut) timedOut.push(i);
          // UDP could not even be tried (the name cannot be resolved under
          // this process's permissions): TCP to the name may still be allowed.
          if (!(r.unresolvable && kdc.protocol !== "udp" && round === 0)) continue;
        }
      } else if (round > 0) {
        continue; // TCP retransmits by itself; it is tried once
      }
      const r = await tryOnce("tcp", kdc, request, timeoutMs, maxReply, options.signal);
      if (r.ok) {
        attempts.push({ address, protocol: "tcp", outcome: "ok" });
        return { reply: r.reply, address, protocol: "tcp", attempts };
      }
      attempts.push({ address, protocol: "tcp", outcome: r.reason });
      if (r.badReply) sawBadReply = true;
      if (r.aborted) throwIfAborted(options.signal, attempts);
    }
    pending = timedOut;
  }
  throw new KdcUnreachableError(sawBadReply ? "kdc-bad-reply" : "kdc-unreachable", attempts);
}

function throwIfAborted(signal: AbortSignal | undefined, attempts: KdcAttempt[]): void {
  if (signal?.aborted) {
    const tried = attempts.map((a) => `${a.address} (${a.outcome})`).join(", ");
    throw new KerberosError(
      "aborted",
      "KDC exchange",
      tried ? `aborted after trying ${tried}` : "aborted before any KDC was tried",
    );
  }
}

type TryResult =
  | { ok: true; reply: Uint8Array }
  | {
    ok: false;
    reason: string;
    badReply?: boolean;
    aborted?: boolean;
    timedOut?: boolean;
    /** The host name could not be resolved for UDP (no permission to resolve it). */
    unresolvable?: boolean;
  };

/**
 * Checks that `b` is exactly one DER element tagged [APPLICATION 11], [13]
 * or [30]. Returns a reason when it is not.
 */
export function checkKdcReplyFraming(b: Uint8Array): string | undefined {
  if (b.length < 2) return `malformed reply: ${b.length} octet(s)`;
  const tag = b[0]!;
  if (tag !== 0x6b && tag !== 0x6d && tag !== 0x7e) {
    return `malformed reply: first octet 0x${
      tag.toString(16).padStart(2, "0")
    }, not AS-REP/TGS-REP/KRB-ERROR`;
  }
  const l = readDerLength(b, 1, b.length, "ber");
  if (!l.ok) return `malformed reply: ${describeDerLengthProblem(l.problem, "the reply")}`;
  const len = l.length;
  const hdr = l.next;
  if (hdr + len !== b.length) {
    return `malformed reply: DER length ${len} does not match ${b.length - hdr} octet(s) received`;
  }
  return undefined;
}

/**
 * True when `reply` is a KRB-ERROR whose error-code is
 * KRB_ERR_RESPONSE_TOO_BIG. Walks the outer SEQUENCE only as far as field
 * [6]; never throws, whatever the bytes.
 */
export function isResponseTooBig(reply: Uint8Array): boolean {
  if (reply[0] !== 0x7e) return false;
  // 7e L 30 L { [0] pvno [1] msg-type [2]? [3]? [4] stime [5] susec [6] error-code }
  let p = 0;
  const readLen = (): number => {
    const l = readDerLength(reply, p, reply.length, "ber");
    if (!l.ok) return -1;
    p = l.next;
    return l.length;
  };
  p = 1;
  if (readLen() < 0) return false;
  if (reply[p++] !== 0x30) return false;
  if (readLen() < 0) return false;
  while (p < reply.length) {
    const tag = reply[p++]!;
    const len = readLen();
    if (len < 0 || p + len > reply.length) return false;
    if (tag === 0xa6) {
      if (reply[p] !== 0x02) return false;
      const ilen = reply[p + 1]!;
      if (ilen < 1 || ilen > 4) return false;
      let v = 0;
      for (let i = 0; i < ilen; i++) v = v * 256 + reply[p + 2 + i]!;
      return v === KRB_ERR_RESPONSE_TOO_BIG;
    }
    p += len;
  }
  return false;
}

function udpFamily(host: string): "udp4" | "udp6" {
  return net.isIP(host) === 6 ? "udp6" : "udp4";
}

function tryOnce(
  protocol: "udp" | "tcp",
  kdc: KdcEndpoint,
  request: Uint8Array,
  timeoutMs: number,
  maxReply: number,
  signal: AbortSignal | undefined,
): Promise<TryResult> {
  return protocol === "udp"
    ? tryUdpKdc(kdc, request, timeoutMs, signal)
    : tryTcp(kdc, request, timeoutMs, maxReply, signal);
}

/**
 * The Deno net permission a socket operation needs, when it is not granted.
 * Checked up front because a refused UDP bind surfaces as an uncaught
 * exception in a later tick rather than as a socket error.
 */
function missingNetPermission(host: string, port: number): string | undefined {
  const desc = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  return netGranted(desc) === false ? desc : undefined;
}

/** Whether Deno grants net access to `desc`; undefined when the API does not accept it. */
function netGranted(desc: string): boolean | undefined {
  try {
    return Deno.permissions.querySync({ name: "net", host: desc }).state === "granted";
  } catch {
    return undefined; // not a name the permission API accepts; let the socket decide
  }
}

/** Largest number of addresses of one KDC name tried over UDP. */
const MAX_RESOLVED = 8;

/**
 * Resolves a KDC host name with the system resolver (`node:dns` lookup,
 * getaddrinfo: /etc/hosts, then DNS), bounded by `timeoutMs`. Never throws.
 */
export function resolveKdcHost(
  host: string,
  timeoutMs: number,
): Promise<{ addresses: string[] } | { error: string; permission?: boolean }> {
  if (net.isIP(host) !== 0) return Promise.resolve({ addresses: [host] });
  if (netGranted(host) === false) {
    return Promise.resolve({
      error: `resolving ${host} needs --allow-net=${host}`,
      permission: true,
    });
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { addresses: string[] } | { error: string; permission?: boolean }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ error: `resolving ${host} timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    try {
      dns.lookup(host, { all: true }, (err, addrs) => {
        try {
          if (err) {
            const code = (err as { code?: string }).code;
            if (code === "EPERM") {
              return finish({
                error: `resolving ${host} needs --allow-net=${host}`,
                permission: true,
              });
            }
            return finish({ error: `cannot resolve ${host}: ${describeSocketError(err)}` });
          }
          const list = [...new Set((addrs ?? []).map((a) => a.address))]
            .filter((a) => net.isIP(a) !== 0)
            .slice(0, MAX_RESOLVED);
          finish(
            list.length > 0 ? { addresses: list } : { error: `${host} has no address` },
          );
        } catch (e) {
          finish({ error: `cannot resolve ${host}: ${describeSocketError(e)}` });
        }
      });
    } catch (e) {
      finish({ error: `cannot resolve ${host}: ${describeSocketError(e)}` });
    }
  });
}

/** UDP to a KDC by address or name: names are resolved first, each address tried in turn. */
async function tryUdpKdc(
  kdc: KdcEndpoint,
  request: Uint8Array,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TryResult> {
  if (net.isIP(kdc.host) !== 0) return await tryUdp(kdc.host, kdc.port, request, timeoutMs, signal);
  const deadline = Date.now() + timeoutMs;
  const res = await resolveKdcHost(kdc.host, timeoutMs);
  if ("error" in res) {
    return res.permission
      ? { ok: false, reason: res.error, unresolvable: true }
      : { ok: false, reason: res.error };
  }
  const reasons: string[] = [];
  let last: TryResult = { ok: false, reason: "no address" };
  for (const ip of res.addresses) {
    if (signal?.aborted) return { ok: false, reason: "aborted", aborted: true };
    const left = Math.max(1, deadline - Date.now());
    last = await tryUdp(ip, kdc.port, request, left, signal);
    if (last.ok || last.aborted || last.badReply) return last;
    reasons.push(`${formatEndpoint({ host: ip, port: kdc.port })}: ${last.reason}`);
    if (deadline - Date.now() <= 0) break;
  }
  const r: TryResult = { ok: false, reason: reasons.join("; ") || last.reason };
  if (!last.ok && last.timedOut) r.timedOut = true;
  return r;
}

function tryUdp(
  host: string,
  port: number,
  request: Uint8Array,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TryResult> {
  const bindAddr = localBindAddress(host);
  const missing = missingNetPermission(bindAddr, 0) ?? missingNetPermission(host, port);
  if (missing) {
    return Promise.resolve({ ok: false, reason: `no Deno --allow-net permission for ${missing}` });
  }
  return new Promise<TryResult>((resolve) => {
    let done = false;
    let sock: dgram.Socket | undefined;
    const onAbort = () => finish({ ok: false, reason: "aborted", aborted: true });
    const finish = (r: TryResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (sock) {
        sock.removeAllListeners("message");
        try {
          sock.close();
        } catch {
          // already closed
        }
      }
      resolve(r);
    };
    // Every callback below runs outside this promise's executor: an
    // exception there would be uncaught and end the process.
    const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
      try {
        fn(...a);
      } catch (e) {
        finish({ ok: false, reason: describeSocketError(e) });
      }
    };
    if (signal?.aborted) return resolve({ ok: false, reason: "aborted", aborted: true });
    // The KDC's time counts from the send; the socket's set-up (slow on a loaded host, or
    // at the first use in a process) is bounded by its own timeout of the same length.
    const expire = () => finish({ ok: false, reason: `timeout ${timeoutMs} ms`, timedOut: true });
    let timer = setTimeout(expire, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      sock = dgram.createSocket(udpFamily(host));
    } catch (e) {
      return finish({ ok: false, reason: describeSocketError(e) });
    }
    const s = sock;
    s.on("error", guard((e: Error) => finish({ ok: false, reason: describeSocketError(e) })));
    s.on(
      "message",
      guard((msg: Uint8Array) => {
        const reply = new Uint8Array(msg);
        const bad = checkKdcReplyFraming(reply);
        finish(bad ? { ok: false, reason: bad, badReply: true } : { ok: true, reply });
      }),
    );
    try {
      s.bind(
        0,
        bindAddr,
        guard(() => {
          if (done) return;
          // Connected to the KDC's address: only it can answer.
          s.connect(
            port,
            host,
            guard(() => {
              if (done) return;
              s.send(
                request,
                guard((err: Error | null) => {
                  if (err) return finish({ ok: false, reason: describeSocketError(err) });
                  if (done) return;
                  clearTimeout(timer);
                  timer = setTimeout(expire, timeoutMs);
                }),
              );
            }),
          );
        }),
      );
    } catch (e) {
      finish({ ok: false, reason: describeSocketError(e) });
    }
  });
}

function tryTcp(
  kdc: KdcEndpoint,
  request: Uint8Array,
  timeoutMs: number,
  maxReply: number,
  signal: AbortSignal | undefined,
): Promise<TryResult> {
  const missing = missingNetPermission(kdc.host, kdc.port);
  if (missing) {
    return Promise.resolve({ ok: false, reason: `no Deno --allow-net permission for ${missing}` });
  }
  return new Promise<TryResult>((resolve) => {
    let done = false;
    let sock: net.Socket | undefined;
    const chunks: Uint8Array[] = [];
    let have = 0;
    let want = -1;
    const onAbort = () => finish({ ok: false, reason: "aborted", aborted: true });
    const finish = (r: TryResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (sock) {
        sock.removeAllListeners("data");
        sock.destroy();
      }
      resolve(r);
    };
    // As for UDP: an exception in a socket callback must not escape.
    const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
      try {
        fn(...a);
      } catch (e) {
        finish({ ok: false, reason: describeSocketError(e) });
      }
    };
    if (signal?.aborted) return resolve({ ok: false, reason: "aborted", aborted: true });
    const timer = setTimeout(
      () => finish({ ok: false, reason: `timeout ${timeoutMs} ms`, timedOut: true }),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    const framed = new Uint8Array(4 + request.length);
    new DataView(framed.buffer).setUint32(0, request.length);
    framed.set(request, 4);
    try {
      sock = net.connect({ host: kdc.host, port: kdc.port });
    } catch (e) {
      return finish({ ok: false, reason: describeSocketError(e) });
    }
    sock.on("error", guard((e: Error) => finish({ ok: false, reason: describeSocketError(e) })));
    sock.on(
      "connect",
      guard(() => {
        sock?.write(framed);
      }),
    );
    sock.on(
      "data",
      guard((d: Uint8Array) => {
        chunks.push(new Uint8Array(d));
        have += d.length;
        if (want < 0 && have >= 4) {
          const all = joinChunks(chunks, have);
          chunks.length = 0;
          chunks.push(all);
          const n = new DataView(all.buffer, all.byteOffset, 4).getUint32(0);
          if (n & 0x80000000) {
            return finish({
              ok: false,
              reason: "malformed reply: TCP length prefix has the reserved high bit set",
              badReply: true,
            });
          }
          if (n > maxReply) {
            return finish({
              ok: false,
              reason: `malformed reply: TCP length ${n} exceeds the ${maxReply}-octet limit`,
              badReply: true,
            });
          }
          want = n;
        }
        if (want >= 0 && have >= 4 + want) {
          const all = joinChunks(chunks, have);
          if (have > 4 + want) {
            return finish({
              ok: false,
              reason: `malformed reply: ${have - 4 - want} octet(s) after the framed reply`,
              badReply: true,
            });
          }
          const reply = all.slice(4);
          const bad = checkKdcReplyFraming(reply);
          finish(bad ? { ok: false, reason: bad, badReply: true } : { ok: true, reply });
        }
      }),
    );
    sock.on(
      "end",
      guard(() => {
        finish({
          ok: false,
          reason: want < 0
            ? `connection closed after ${have} octet(s), before the length prefix`
            : `connection closed after ${have - 4} of ${want} reply octets`,
          badReply: have > 0,
        });
      }),
    );
    sock.on(
      "close",
      guard(() => finish({ ok: false, reason: "connection closed without a reply" })),
    );
  });
}

function joinChunks(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function describeSocketError(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "EHOSTUNREACH":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "ENOTFOUND":
    case "EAI_NONAME":
      return "host name not found";
  }
  if (e instanceof Deno.errors.NotCapable) return "no Deno --allow-net permission for it";
  const msg = e instanceof Error ? e.message : String(e);
  if (/Requires net access/i.test(msg)) return "no Deno --allow-net permission for it";
  return typeof code === "string" ? code.toLowerCase() : msg.split("\n")[0]!;
}
