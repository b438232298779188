/**
 * The per-peer failure detail of a command that timed out: it says whether the peer answered
 * at all, and a CREATE that got no answer under a session key racoon2's kinkd cannot use
 * (enctypes other than 17/18: kinkd drops such a CREATE in silence, as the live interop cell
 * shows) names that possible cause. An answer that came but could not be used is reported as
 * such, never as that cause.
 */
import assert from "node:assert/strict";
import { type Gateway, Net, transportPair } from "./harness.ts";
import type { EngineEvent } from "../../../core/engine/mod.ts";

type Failed = Extract<EngineEvent, { type: "exchange-failed" }>;

/** A's one failure of `command` after 60 s; also checks the peer's lastFailure says the same. */
async function failureOf(net: Net, a: Gateway, command: "CREATE" | "STATUS"): Promise<string> {
  a.engine.command(net.now, { kind: command === "CREATE" ? "up" : "status", peer: "b" });
  await net.run(net.now + 60_000);
  const f = a.events.filter((e): e is Failed =>
    e.type === "exchange-failed" && e.command === command
  );
  assert.equal(f.length, 1, JSON.stringify(a.events.map((e) => e.type)));
  assert.equal(f[0]!.reason, "timeout");
  const peer = a.engine.status().peers.find((p) => p.name === "b")!;
  assert.equal(peer.lastFailure?.detail, f[0]!.detail);
  return f[0]!.detail;
}

for (const etype of [19, 20] as const) {
  Deno.test(`failure detail: a CREATE no one answers under session-key enctype ${etype} names kinkd's 17/18-only limit`, async () => {
    const net = new Net(70 + etype);
    net.office.sessionEnctype = etype;
    const [a, b] = transportPair(net);
    b.up = false; // silent, as kinkd is for such a CREATE
    const detail = await failureOf(net, a, "CREATE");
    const name = etype === 19 ? "aes128-cts-hmac-sha256-128" : "aes256-cts-hmac-sha384-192";
    assert.ok(detail.startsWith("no REPLY after 5 transmissions, none answered; "), detail);
    assert.ok(detail.includes(`session key is ${name} (enctype ${etype})`), detail);
    assert.ok(detail.includes("racoon2's kinkd accepts only session keys of enctypes 17/18"));
    assert.equal((await a.kernel.listSas()).length, 0);
    await net.close();
  });
}

Deno.test("failure detail: a CREATE no one answers under enctype 18 stays the plain timeout (kinkd can use 18)", async () => {
  const net = new Net(81);
  const [a, b] = transportPair(net);
  b.up = false;
  assert.equal(await failureOf(net, a, "CREATE"), "no REPLY after 5 transmissions");
  await net.close();
});

Deno.test("failure detail: a STATUS no one answers under enctype 20 names no cause (kinkd answers STATUS with such keys)", async () => {
  const net = new Net(82);
  net.office.sessionEnctype = 20;
  const [a, b] = transportPair(net);
  b.up = false;
  assert.equal(await failureOf(net, a, "STATUS"), "no REPLY to STATUS");
  await net.close();
});

Deno.test("failure detail: REPLYs that came but fail their Cksum are counted and named, not blamed on the enctype", async () => {
  const net = new Net(83);
  net.office.sessionEnctype = 20;
  const [a] = transportPair(net);
  let spoiled = 0;
  net.tap = (from, _to, data) => {
    if (from !== "10.77.0.2" || data[0] !== 3) return data; // B's REPLYs (type 3) only
    spoiled++;
    const d = data.slice();
    d[d.length - 1]! ^= 1; // last octet of the Cksum
    return d;
  };
  const detail = await failureOf(net, a, "CREATE");
  assert.ok(spoiled >= 5, `${spoiled} REPLYs spoiled`);
  assert.match(
    detail,
    // One REPLY per transmission (later ones from B's reply cache); the DELETE A sends after
    // the timeout (B may hold the pair) gets spoiled REPLYs too, not counted here.
    /^no usable REPLY after 5 transmissions \(5 answers rejected, the last: .*Cksum does not verify\)$/,
  );
  assert.ok(!detail.includes("kinkd"), detail);
  await net.close();
});
