/**
 * KDC faults with a real MIT KDC behind them: dead and garbage-speaking KDCs
 * listed first are skipped within their timeouts, the TCP path and the
 * RESPONSE_TOO_BIG fallback reach the real KDC, and the event loop keeps
 * running throughout.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { withRealm } from "../../harness/krb5_realm.ts";
import { KerberosClient } from "../../../core/kerberos/client.ts";
import {
  type KdcEndpoint,
  KdcUnreachableError,
  sendToKdc,
} from "../../../core/kerberos/transport.ts";
import { readKeytab } from "../../../core/kerberos/keytab.ts";
import { parsePrincipal } from "../../../core/kerberos/principal.ts";
import { encodeKdcReq, encodeKrbError, peekMessageType } from "../../../core/kerberos/messages.ts";
import { ErrorCode, MsgType, NameType } from "../../../core/kerberos/iana.ts";

async function udpServer(
  onMessage: (s: dgram.Socket, msg: Uint8Array, rinfo: dgram.RemoteInfo) => void,
  port = 0,
): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket("udp4");
  s.on("message", (m, r) => onMessage(s, new Uint8Array(m), r));
  await new Promise<void>((r) => s.bind(port, "127.0.0.1", () => r()));
  return { port: s.address().port, close: () => s.close() };
}

async function closedTcpPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Listens on TCP `port` and relays each connection to `to` (Deno sockets, closed on demand). */
function tcpRelay(port: number, to: { host: string; port: number }): { close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  const pump = async (a: Deno.Conn, b: Deno.Conn) => {
    try {
      await a.readable.pipeTo(b.writable);
    } catch {
      // the other side went away
    }
  };
  const accept = (async () => {
    try {
      for await (const inbound of listener) {
        const out = await Deno.connect({ hostname: to.host, port: to.port });
        conns.add(inbound).add(out);
        tasks.push(Promise.all([pump(inbound, out), pump(out, inbound)]).then(() => {}));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed by pipeTo
        }
      }
      await accept;
      await Promise.all(tasks);
    },
  };
}

function ticker(ms: number): { stop(): number } {
  let ticks = 0;
  const id = setInterval(() => ticks++, ms);
  return { stop: () => (clearInterval(id), ticks) };
}

Deno.test("kerberos: KDC failover, garbage, TCP and RESPONSE_TOO_BIG against a real KDC", async (t) => {
  await withRealm({ principals: ["alice"] }, async (realm) => {
    const alice = parsePrincipal(realm.principal("alice"));
    const keytab = readKeytab(Deno.readFileSync(realm.keytab("alice")));
    const client = (kdcs: KdcEndpoint[], timeoutMs: number, udpPreferenceLimit?: number) =>
      new KerberosClient(alice, { keytab }, {
        kdcs: () => kdcs,
        transport: udpPreferenceLimit === undefined
          ? { timeoutMs }
          : { timeoutMs, udpPreferenceLimit },
      });

    await t.step("dead KDCs first: the real one answers after their timeouts", async () => {
      const silent = await udpServer(() => {});
      const refused = await closedTcpPort();
      const tick = ticker(10);
      const t0 = performance.now();
      try {
        const c = client([
          { host: "127.0.0.1", port: silent.port },
          { host: "127.0.0.1", port: refused, protocol: "tcp" },
          realm.kdc,
        ], 400);
        const tgt = await c.getTgt();
        assertEquals(tgt.server.components, ["krbtgt", realm.realm]);
        c.dispose();
      } finally {
        silent.close();
      }
      const elapsed = performance.now() - t0;
      const ticks = tick.stop();
      // One 400 ms UDP timeout, an immediate refusal, then the real KDC.
      assert(elapsed >= 390 && elapsed < 2000, `elapsed ${elapsed} ms`);
      assert(ticks >= 20, `the event loop ran only ${ticks} 10-ms timers in ${elapsed} ms`);
    });

    await t.step(
      "a KDC that answers garbage is skipped; only garbage is a typed error",
      async () => {
        const garbage = await udpServer((s, _m, r) =>
          s.send(new TextEncoder().encode("<html>hello</html>"), r.port, r.address)
        );
        try {
          const c = client([{ host: "127.0.0.1", port: garbage.port }, realm.kdc], 1000);
          assertEquals((await c.getTgt()).client, alice);
          c.dispose();
          const bad = client([{ host: "127.0.0.1", port: garbage.port }], 1000);
          await rejects(bad.getTgt(), (e: unknown) => {
            assert(e instanceof KdcUnreachableError, String(e));
            assertEquals(e.category, "kdc-bad-reply");
            assert(
              e.message.includes(`127.0.0.1:${garbage.port} (malformed reply: first octet 0x3c`),
              e.message,
            );
            return true;
          });
        } finally {
          garbage.close();
        }
      },
    );

    await t.step("TCP: configured tcp/ KDC and requests above udp_preference_limit", async () => {
      const c = client([{ ...realm.kdc, protocol: "tcp" }], 2000);
      assertEquals((await c.getTgt()).client, alice);
      c.dispose();
      // Every request is above a 1-octet limit, so it goes over TCP directly.
      const big = client([realm.kdc], 2000, 1);
      assertEquals((await big.getTgt()).client, alice);
      big.dispose();
    });

    await t.step(
      "KRB_ERR_RESPONSE_TOO_BIG over UDP makes the same KDC be asked over TCP",
      async () => {
        // UDP on port P always answers RESPONSE_TOO_BIG; TCP on P relays to the real KDC.
        const tooBig = encodeKrbError({
          pvno: 5,
          msgType: MsgType.KRB_ERROR,
          stime: new Date(Math.floor(Date.now() / 1000) * 1000),
          susec: 0,
          errorCode: ErrorCode.KRB_ERR_RESPONSE_TOO_BIG,
          realm: realm.realm,
          sname: { nameType: NameType.SRV_INST, components: ["krbtgt", realm.realm] },
        });
        let udpHits = 0;
        const udp = await udpServer((s, _m, r) => {
          udpHits++;
          s.send(tooBig, r.port, r.address);
        });
        const relay = tcpRelay(udp.port, realm.kdc);
        try {
          const c = client([{ host: "127.0.0.1", port: udp.port }], 2000);
          assertEquals((await c.getTgt()).client, alice);
          c.dispose();
          assert(udpHits >= 1);
          // The transport reports the fallback in its attempts.
          const asReq = encodeKdcReq({
            pvno: 5,
            msgType: MsgType.AS_REQ,
            reqBody: {
              kdcOptions: 0,
              cname: { nameType: NameType.PRINCIPAL, components: ["alice"] },
              realm: realm.realm,
              sname: { nameType: NameType.SRV_INST, components: ["krbtgt", realm.realm] },
              till: new Date(Math.floor(Date.now() / 1000 + 3600) * 1000),
              nonce: 12345,
              etype: [18, 17],
            },
          });
          const r = await sendToKdc(asReq, [{ host: "127.0.0.1", port: udp.port }], {
            timeoutMs: 2000,
          });
          assertEquals(r.protocol, "tcp");
          assertEquals(r.attempts[0]!.outcome, "KRB_ERR_RESPONSE_TOO_BIG");
          assertEquals(peekMessageType(r.reply), MsgType.AS_REP);
        } finally {
          udp.close();
          await relay.close();
        }
      },
    );
  });
});
