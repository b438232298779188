/**
 * One kink gateway for the interop tests: the real engine (core/engine) run by
 * the daemon's {@link EngineDriver} over real UDP sockets (core/net's UdpTransport),
 * the in-memory kernel (the host kernel has no ESP; NETLINK_XFRM in the VM tier), and a real Kerberos
 * client against the test's KDC. Started by tests/integration/interop/kinkd_harness.ts
 * inside a network namespace (`ip netns exec NS deno run … kink_node.ts CONFIG`),
 * it reads commands as JSON lines on stdin and writes JSON lines on stdout:
 *
 * - in: `{"id":N,"cmd":"up"|"down"|"status"|"rekey","peer":P}`,
 *   `{"id":N,"cmd":"delete","peer":P,"spi":S}`, `{"id":N,"cmd":"sas"}` (the
 *   kernel's SAs, keys in hex — a test peer, never the daemon),
 *   `{"id":N,"cmd":"engine"}` (engine status), `{"id":N,"cmd":"quit"}`.
 * - out: `{"ready":true}` once the socket is bound, `{"event":E}` for every
 *   engine event, `{"id":N,"ok":true,…}` answers.
 *
 * CONFIG (JSON file): `{ principal, keytab, krb5Conf, local, peers: PeerConfig[], kernel? }`;
 * `kernel: "netlink"` uses the namespace's own kernel through NETLINK_XFRM (needs
 * `--allow-ffi`; the VM tier) instead of the in-memory one.
 *
 * @module
 */
import { Engine, type EngineCommand, type PeerConfig } from "../../../core/engine/mod.ts";
import { EngineDriver } from "../../../core/daemon/driver.ts";
import { UdpTransport } from "../../../core/net/mod.ts";
import { Logger } from "../../../core/daemon/log.ts";
import { type KernelIpsec, MemoryKernel, NetlinkKernel } from "../../../core/kernel/mod.ts";
import {
  clientOptionsFromKrb5Conf,
  decodeTicket,
  KerberosClient,
  loadKrb5Conf,
  parsePrincipal,
  principalEquals,
  readKeytab,
} from "../../../core/kerberos/mod.ts";
import { systemClock, type TimerClock } from "../../../core/util/clock.ts";
import { systemRandom } from "../../../core/util/random.ts";
import { toHex } from "../../../core/util/bytes.ts";

interface NodeConfig {
  principal: string;
  keytab: string;
  krb5Conf: string;
  local: string;
  peers: PeerConfig[];
  /** Added to the engine's clock only (the Kerberos client keeps the true time). */
  engineClockOffsetMs?: number;
  /** `"memory"` (default) or `"netlink"`: the namespace's kernel. */
  kernel?: "memory" | "netlink";
}

const cfg = JSON.parse(await Deno.readTextFile(Deno.args[0]!)) as NodeConfig;
const out = (o: unknown) => console.log(JSON.stringify(o));
const offset = cfg.engineClockOffsetMs ?? 0;
// The engine's clock, skewed by `offset` (timers are absolute times on that clock).
const clock: TimerClock = offset === 0 ? systemClock : {
  now: () => systemClock.now() + offset,
  setTimer: (at, fn) => systemClock.setTimer(at - offset, fn),
  clearTimer: (id) => systemClock.clearTimer(id),
};
const me = parsePrincipal(cfg.principal);
const keys = readKeytab(await Deno.readFile(cfg.keytab)).filter((e) =>
  principalEquals(e.principal, me)
);
const client = new KerberosClient(me, { keytab: keys }, {
  ...clientOptionsFromKrb5Conf(await loadKrb5Conf(cfg.krb5Conf)),
  now: () => systemClock.now(),
});
const kernel: KernelIpsec = cfg.kernel === "netlink"
  ? NetlinkKernel.open()
  : new MemoryKernel({ clock });
const events = await kernel.subscribe();
const engine = new Engine({
  identity: { principal: cfg.principal, serviceKeys: keys },
  epoch: Math.floor(clock.now() / 1000) >>> 0,
  peers: cfg.peers,
  // Each node is a fresh gateway with nothing accepted before: no replay-cache recovery wait.
  // (A restarted node keeps this: in the restart cells it only initiates.)
  firstStart: true,
}, { random: systemRandom });
const transport = UdpTransport.open({ locals: [{ address: cfg.local, port: 910 }] });
const log = new Logger((line) => console.error(line), { level: "debug" });
const driver = new EngineDriver(engine, {
  transport,
  kernel,
  clock,
  log,
  tickets: async (req) => {
    try {
      const server = parsePrincipal(req.server);
      const o: { peerTgt?: ReturnType<typeof decodeTicket> } = {};
      if (req.peerTgt) o.peerTgt = decodeTicket(req.peerTgt);
      const credentials = req.fresh && !req.peerTgt
        ? await client.tgsExchange(await client.getTgt(), server)
        : await client.getServiceTicket(server, o);
      return { ok: true, credentials };
    } catch (e) {
      const err = e as { krbError?: { errorCode: number }; message?: string };
      return {
        ok: false,
        message: String(err.message ?? e),
        ...(err.krbError ? { errorCode: err.krbError.errorCode } : {}),
      };
    }
  },
});
driver.onEvent((e) => out({ event: e }));
const running = driver.run(events);
out({ ready: true });

const dec = new TextDecoder();
let buf = "";
for await (const chunk of Deno.stdin.readable) {
  buf += dec.decode(chunk, { stream: true });
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (line.trim() === "") continue;
    const m = JSON.parse(line) as {
      id: number;
      cmd: string;
      peer?: string;
      spi?: number;
      force?: boolean;
    };
    try {
      switch (m.cmd) {
        case "up":
        case "down":
        case "status":
        case "rekey":
          driver.with((e, now) =>
            e.command(
              now,
              { kind: m.cmd, peer: m.peer!, ...(m.force ? { force: true } : {}) } as EngineCommand,
            )
          );
          out({ id: m.id, ok: true });
          break;
        case "delete":
          driver.with((e, now) => e.command(now, { kind: "delete", peer: m.peer!, spi: m.spi! }));
          out({ id: m.id, ok: true });
          break;
        case "engine":
          out({ id: m.id, ok: true, status: driver.with((e) => e.status()) });
          break;
        case "sas": {
          const sas = (await kernel.listSas()).map((s) => ({
            src: s.src,
            dst: s.dst,
            proto: s.proto,
            spi: s.spi,
            enc: s.enc ? { name: s.enc.name, key: toHex(s.enc.key) } : undefined,
            auth: s.auth ? { name: s.auth.name, key: toHex(s.auth.key) } : undefined,
          }));
          out({ id: m.id, ok: true, sas });
          break;
        }
        case "quit":
          await driver.close();
          await transport.close();
          await events.close();
          await kernel.close();
          client.dispose();
          out({ id: m.id, ok: true });
          Deno.exit(0);
          break;
        default:
          out({ id: m.id, ok: false, error: `unknown command ${m.cmd}` });
      }
    } catch (e) {
      out({ id: m.id, ok: false, error: String((e as Error).message ?? e) });
    }
  }
}
await running;
