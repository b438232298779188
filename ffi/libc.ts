/**
 * The libc calls kink needs for netlink, through `Deno.dlopen`.
 *
 * Only glibc's `libc.so.6` at {@link LIBC_PATH} is opened, so the whole
 * kernel layer runs with `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6` and no
 * other FFI permission. The library is opened lazily, on first use.
 *
 * Blocking is avoided everywhere: sockets are opened with `SOCK_NONBLOCK`,
 * `sendto`/`recvfrom` are called with `MSG_DONTWAIT`, and waiting for
 * readability goes through {@link pollIn}, whose `poll(2)` call is a
 * `nonblocking: true` FFI symbol (it runs on a worker thread and returns a
 * promise), so the event loop stays free while the kernel is busy.
 *
 * `errno` is read through `__errno_location()` (copied out with libc's
 * `memcpy`) right after each synchronous call, on the same thread.
 *
 * @module
 */
import { KernelError } from "../core/kernel/errors.ts";

/** The exact library path opened (and the only path `--allow-ffi` needs). */
export const LIBC_PATH = "/lib/x86_64-linux-gnu/libc.so.6";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  // memcpy(dst, src, 0) returns dst: a buffer's address as a number, for the one struct that
  // holds a pointer (sock_fprog); Deno.UnsafePointer would need FFI beyond libc's path.
  addressOf: { name: "memcpy", parameters: ["buffer", "buffer", "usize"], result: "u64" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
let errnoPtr: Deno.PointerValue | undefined;
const errnoBuf = new Int32Array(1);
const errnoBytes = new Uint8Array(errnoBuf.buffer);

/** Opens libc (once) and returns its symbols. */
export function libc(): Libc {
  if (!lib) {
    try {
      lib = Deno.dlopen(LIBC_PATH, SYMBOLS);
    } catch (e) {
      throw new KernelError(
        "syscall",
        "dlopen",
        `cannot open ${LIBC_PATH}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
  }
  return lib.symbols;
}

/** The calling thread's current `errno`. */
export function errno(): number {
  const l = libc();
  if (!errnoPtr) {
    errnoPtr = l.__errno_location();
    if (errnoPtr === null) throw new KernelError("syscall", "__errno_location", "returned NULL");
  }
  // Copied with libc's memcpy: UnsafePointerView would need FFI permission beyond libc's path.
  l.memcpy(errnoBytes, errnoPtr, 4n);
  return errnoBuf[0]!;
}

// Constants (Linux, x86_64).
/** `AF_NETLINK`. */
export const AF_NETLINK = 16;
/** `SOCK_RAW`. */
export const SOCK_RAW = 3;
/** `SOCK_NONBLOCK`. */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC`. */
export const SOCK_CLOEXEC = 0o2000000;
/** `SOL_SOCKET`. */
export const SOL_SOCKET = 1;
/** `SO_SNDBUF`. */
export const SO_SNDBUF = 7;
/** `SO_RCVBUF`. */
export const SO_RCVBUF = 8;
/** `SO_SNDBUFFORCE` (needs CAP_NET_ADMIN). */
export const SO_SNDBUFFORCE = 32;
/** `SO_RCVBUFFORCE` (needs CAP_NET_ADMIN). */
export const SO_RCVBUFFORCE = 33;
/** `MSG_DONTWAIT`. */
export const MSG_DONTWAIT = 0x40;
/** `MSG_TRUNC`. */
export const MSG_TRUNC = 0x20;
/** `MSG_PEEK`. */
export const MSG_PEEK = 0x2;
/** `POLLIN`. */
export const POLLIN = 1;
/** `O_RDONLY | O_CLOEXEC`. */
export const O_RDONLY_CLOEXEC = 0o2000000;
/** `CLONE_NEWNET`. */
export const CLONE_NEWNET = 0x40000000;

function check(context: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw KernelError.fromErrno("syscall", context, errno());
  return n;
}

/** `socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)`. */
export function socket(domain: number, type: number, protocol: number): number {
  return check(
    "socket",
    libc().socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol),
  );
}

/** `bind(fd, addr, len)`. */
export function bind(fd: number, addr: Uint8Array<ArrayBuffer>): void {
  check("bind", libc().bind(fd, addr, addr.length));
}

/** `getsockname(fd)`; returns the address bytes. */
export function getsockname(fd: number, maxLen = 128): Uint8Array {
  const buf = new Uint8Array(maxLen);
  const len = new Uint32Array([maxLen]);
  check("getsockname", libc().getsockname(fd, buf, new Uint8Array(len.buffer)));
  return buf.subarray(0, Math.min(len[0]!, maxLen));
}

/** `setsockopt(fd, level, name, &int, 4)` with a 32-bit integer value. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setInt32(0, value, true);
  check(`setsockopt(${level}, ${name})`, libc().setsockopt(fd, level, name, v, 4));
}

/** `getsockopt(fd, level, name)` of a 32-bit integer value. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const v = new Uint8Array(4);
  const len = new Uint32Array([4]);
  check(
    `getsockopt(${level}, ${name})`,
    libc().getsockopt(fd, level, name, v, new Uint8Array(len.buffer)),
  );
  return new DataView(v.buffer).getInt32(0, true);
}

/**
 * `sendto(fd, buf, len, MSG_DONTWAIT, addr, addrlen)`; returns octets sent or
 * `-errno` (so callers can handle EAGAIN/ENOBUFS without exceptions).
 */
export function sendto(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  addr: Uint8Array<ArrayBuffer>,
): number {
  const r = Number(libc().sendto(fd, buf, BigInt(buf.length), MSG_DONTWAIT, addr, addr.length));
  return r < 0 ? -errno() : r;
}

/**
 * `recv(fd, buf, len, MSG_DONTWAIT | MSG_TRUNC)`; returns the datagram's full
 * length (may exceed `buf.length` if truncated) or `-errno`.
 */
export function recv(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  const r = Number(libc().recv(fd, buf, BigInt(buf.length), MSG_DONTWAIT | MSG_TRUNC));
  return r < 0 ? -errno() : r;
}

/** `close(fd)`. */
export function close(fd: number): void {
  check("close", libc().close(fd));
}

/**
 * Waits until `fd` is readable or `timeoutMs` passes, without blocking the
 * event loop (the `poll(2)` runs on a worker thread). Resolves to true when
 * readable.
 */
export async function pollIn(fd: number, timeoutMs: number): Promise<boolean> {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, POLLIN, true);
  const r = await libc().poll(pfd, 1n, Math.max(0, Math.min(timeoutMs, 0x7fffffff)));
  // errno of the worker thread is not readable here; a failed poll (EINTR)
  // simply reports "not ready" and the caller polls again.
  return r > 0 && (dv.getInt16(6, true) !== 0);
}

/**
 * Runs `fn` with the calling thread switched into the network namespace at
 * `nsPath` (e.g. `/run/netns/NAME`), then switches back. Sockets created in
 * `fn` stay in that namespace for their whole life.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const enc = new TextEncoder();
  const self = check(
    "open /proc/thread-self/ns/net",
    libc().open(cstr(enc, "/proc/thread-self/ns/net"), O_RDONLY_CLOEXEC),
  );
  let target = -1;
  try {
    target = libc().open(cstr(enc, nsPath), O_RDONLY_CLOEXEC);
    if (target < 0) {
      throw KernelError.fromErrno("syscall", `open network namespace ${nsPath}`, errno());
    }
    check(`setns ${nsPath}`, libc().setns(target, CLONE_NEWNET));
    try {
      return fn();
    } finally {
      check("setns back", libc().setns(self, CLONE_NEWNET));
    }
  } finally {
    if (target >= 0) libc().close(target);
    libc().close(self);
  }
}

function cstr(enc: TextEncoder, s: string): Uint8Array<ArrayBuffer> {
  const b = enc.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** The credentials of the process at the other end of a Unix stream socket. */
export interface UnixPeer {
  /** Our file descriptor of the connection. */
  fd: number;
  /** The peer's process id (SO_PEERCRED, at connect time). */
  pid: number;
  /** The peer's user id (at connect time). */
  uid: number;
  /** The peer's group id (at connect time). */
  gid: number;
}

const AF_UNIX = 1;
const SO_PEERCRED = 17;

/**
 * Every connected socket of this process whose local address is the Unix
 * socket `path` (the connections a listener on `path` accepted), with the
 * peer's credentials (SO_PEERCRED). Deno gives no file descriptor for a
 * `Deno.UnixConn`, so the descriptors are found by asking `getsockname(2)`
 * of each number below `maxFd` (closed numbers fail with EBADF). The
 * listening socket itself is not a connection and is left out.
 */
export function unixPeersOf(path: string, maxFd = 1024): UnixPeer[] {
  const want = new TextEncoder().encode(path);
  const out: UnixPeer[] = [];
  const addr = new Uint8Array(112);
  const alen = new Uint32Array(1);
  const cred = new Uint8Array(12);
  const clen = new Uint32Array(1);
  const c = libc();
  for (let fd = 0; fd < maxFd; fd++) {
    alen[0] = addr.length;
    if (c.getsockname(fd, addr, new Uint8Array(alen.buffer)) !== 0) continue;
    if ((addr[0]! | (addr[1]! << 8)) !== AF_UNIX) continue;
    const n = Math.min(alen[0]!, addr.length) - 2;
    let end = 2 + n;
    while (end > 2 && addr[end - 1] === 0) end--;
    if (end - 2 !== want.length) continue;
    let same = true;
    for (let i = 0; i < want.length && same; i++) same = addr[2 + i] === want[i];
    if (!same) continue;
    clen[0] = 12;
    if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, new Uint8Array(clen.buffer)) !== 0) {
      continue;
    }
    const dv = new DataView(cred.buffer);
    const pid = dv.getInt32(0, true);
    if (pid <= 0) continue;
    // A listening socket reports its own creator; a connection has a peer address.
    const peer = new Uint8Array(112);
    const plen = new Uint32Array([peer.length]);
    if (c.getpeername(fd, peer, new Uint8Array(plen.buffer)) !== 0) continue;
    out.push({ fd, pid, uid: dv.getUint32(4, true), gid: dv.getUint32(8, true) });
  }
  return out;
}

/** `shutdown(fd, SHUT_RDWR)`: ends a connection whatever object wraps the descriptor. */
export function shutdownSocket(fd: number): void {
  check("shutdown", libc().shutdown(fd, 2));
}

const SO_TYPE = 3;
const SOCK_DGRAM = 2;

/**
 * The descriptor of this process's UDP socket bound to exactly `sockaddr`
 * (a `sockaddr_in`/`sockaddr_in6` as {@link getsockname} returns it), found
 * as {@link unixPeersOf} finds Unix sockets: `getsockname(2)` of each number
 * below `maxFd`. Undefined when none or more than one matches (a caller must
 * not guess which socket Deno reads).
 */
export function udpSocketOf(sockaddr: Uint8Array, maxFd = 1024): number | undefined {
  const addr = new Uint8Array(128);
  const alen = new Uint32Array(1);
  const c = libc();
  let found: number | undefined;
  for (let fd = 0; fd < maxFd; fd++) {
    alen[0] = addr.length;
    if (c.getsockname(fd, addr, new Uint8Array(alen.buffer)) !== 0) continue;
    if (alen[0] !== sockaddr.length) continue;
    let same = true;
    for (let i = 0; i < sockaddr.length && same; i++) same = addr[i] === sockaddr[i];
    if (!same) continue;
    let type: number;
    try {
      type = getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
    } catch {
      continue;
    }
    if (type !== SOCK_DGRAM) continue;
    if (found !== undefined) return undefined;
    found = fd;
  }
  return found;
}

const fromLen = new Uint32Array(1);
const fromLenBytes = new Uint8Array(fromLen.buffer);

/**
 * `recvfrom(fd, buf, len, MSG_DONTWAIT | MSG_TRUNC, from, &fromlen)`: one
 * waiting datagram without blocking. Returns its full length (more than
 * `buf.length` when truncated) with the sender's `sockaddr` in `from` (its
 * family says its layout), or `-errno` (`-EAGAIN`, 11, when nothing waits).
 */
export function recvFromNow(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  from: Uint8Array<ArrayBuffer>,
): number {
  fromLen[0] = from.length;
  const r = Number(
    libc().recvfrom(fd, buf, BigInt(buf.length), MSG_DONTWAIT | MSG_TRUNC, from, fromLenBytes),
  );
  return r < 0 ? -errno() : r;
}

/**
 * Sets a socket's receive buffer to `bytes`: `SO_RCVBUFFORCE` (past
 * `net.core.rmem_max`; needs CAP_NET_ADMIN), else `SO_RCVBUF` (capped at
 * `rmem_max`). Returns what is in force afterwards (`SO_RCVBUF`: the kernel
 * reports twice the size asked for, its bookkeeping overhead included).
 */
export function setReceiveBuffer(fd: number, bytes: number): number {
  try {
    setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes);
  } catch {
    try {
      setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
    } catch { /* keep the default */ }
  }
  return getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF);
}

const SO_ATTACH_FILTER = 26;
const SO_DETACH_FILTER = 27;
/** Most peer addresses one classic BPF jump can skip (its offsets are 8-bit). */
export const MAX_FILTER_SOURCES = 250;

/**
 * Attaches a classic BPF socket filter to an IPv4 UDP socket that keeps only
 * datagrams whose IPv4 source is one of `sources` (4 octets each): the kernel
 * drops the rest before they take the socket's receive buffer. Replaces any
 * filter attached before. False for more than {@link MAX_FILTER_SOURCES}
 * sources: then no filter at all (an attached one is removed).
 */
export function attachIpv4SourceFilter(fd: number, sources: readonly Uint8Array[]): boolean {
  const n = sources.length;
  if (n > MAX_FILTER_SOURCES) {
    // No filter rather than an older one that would drop the newer sources.
    libc().setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, new Uint8Array(4), 4); // ENOENT: none
    return false;
  }
  // Large enough to live outside V8's heap: its address stays valid until setsockopt copies it.
  const prog = new Uint8Array(Math.max(4096, (n + 3) * 8));
  const dv = new DataView(prog.buffer);
  const ins = (i: number, code: number, jt: number, jf: number, k: number) => {
    dv.setUint16(i * 8, code, true);
    prog[i * 8 + 2] = jt;
    prog[i * 8 + 3] = jf;
    dv.setUint32(i * 8 + 4, k >>> 0, true);
  };
  // ld [SKF_NET_OFF + 12]: the IPv4 source address (network order, loaded as a number).
  ins(0, 0x20, 0, 0, 0xfff00000 + 12);
  sources.forEach((a, i) => {
    const k = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    ins(1 + i, 0x15, n - i, 0, k); // jeq k: to "keep" (past the other tests and the drop)
  });
  ins(1 + n, 0x06, 0, 0, 0); // ret 0: drop
  ins(2 + n, 0x06, 0, 0, 0xffffffff); // ret all: keep
  const fprog = new Uint8Array(16);
  const fv = new DataView(fprog.buffer);
  fv.setUint16(0, n + 3, true);
  fv.setBigUint64(8, BigInt(libc().addressOf(prog, prog, 0n)), true);
  check(
    "setsockopt(SO_ATTACH_FILTER)",
    libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16),
  );
  return true;
}
