/**
 * The driver's durability barrier with the replay cache in group commit
 * (as `kink daemon` runs it): an accepted authenticator's entry is in the
 * cache's file before any datagram that relied
 * on it leaves the responder; concurrent CREATEs share commits.
 *
 * When a commit cannot write (a full file system: a tmpfs in a private mount
 * namespace), the responder withholds every datagram until a snapshot with
 * all its entries is written, and the exchanges then complete from the
 * initiator's retransmissions.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../../harness/tiers.ts";
import { SELECTORS, startPair, until } from "./barrier_pair.ts";

Deno.test("driver barrier: every responder datagram leaves after the entries it relied on are in the replay cache file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "kink-barrier-" });
  const p = startPair(`${dir}/replay.log`);
  try {
    p.up();
    const done = () => p.events.a.filter((e) => e.type === "sa-up").length === SELECTORS;
    await until(done, 20_000, "every CREATE of the first up");
    assert.equal(p.events.b.filter((e) => e.type === "sa-up").length, SELECTORS);
    // Every CREATE's authenticator was accepted and relied on by a REPLY.
    assert.equal(p.replay.size, SELECTORS);
    assert.ok(p.sends.length >= SELECTORS, `${p.sends.length} datagrams`);
    for (const [i, s] of p.sends.entries()) {
      assert.ok(s.accepted >= 0, `datagram ${i} not produced by the engine`);
      assert.ok(
        s.fileEntries >= s.accepted,
        `datagram ${i} left with ${s.fileEntries} entries in the file of the ${s.accepted} accepted before it`,
      );
    }
    // Group commit: fewer commits than entries when CREATEs arrive together,
    // never more than one per entry.
    assert.ok(p.b.counters.commits >= 1 && p.b.counters.commits <= SELECTORS);
    assert.equal(p.b.counters.withheld, 0);
  } finally {
    await p.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

function canUnshare(): boolean {
  try {
    // Succeeds only as root (or with CAP_SYS_ADMIN).
    return new Deno.Command("unshare", { args: ["-m", "true"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  ...skipUnless(
    "driver barrier: with the replay cache unable to write (full disk) no responder datagram leaves until its entries are durable",
    canUnshare() ? undefined : "needs root for a private mount namespace (unshare -m)",
  ),
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "kink-barrier-" });
    try {
      const mnt = `${dir}/mnt`;
      Deno.mkdirSync(mnt);
      const pair = new URL("./barrier_pair.ts", import.meta.url).href;
      const script = `${dir}/full.ts`;
      Deno.writeTextFileSync(
        script,
        `import { SELECTORS, startPair, until } from ${JSON.stringify(pair)};
// Skew 8 s: a failed snapshot is retried after 1 s.
const p = startPair(${JSON.stringify(`${mnt}/replay.log`)}, 8_000);
// Bring the log up to the end of its tmpfs page (appends inside an allocated
// page need no space), with entries of another client.
let dummies = 0;
const logPath = ${JSON.stringify(`${mnt}/replay.log`)};
while (Deno.statSync(logPath).size % 4096 <= 4096 - 49) {
  p.replay.check({ client: "x@KINK.TEST", server: "y@KINK.TEST", ctimeMs: Date.now(), cusec: dummies++ });
  if (!p.replay.commit()) throw new Error("commit failed before the disk was full");
}
const fillerPath = ${JSON.stringify(`${mnt}/filler`)};
const filler = Deno.openSync(fillerPath, { write: true, create: true });
try { while (true) filler.writeSync(new Uint8Array(512)); } catch { /* ENOSPC */ }
try { while (true) filler.writeSync(new Uint8Array(1)); } catch { /* ENOSPC */ }
p.up();
await until(() => p.b.counters.withheld > 0, 20_000, "a withheld datagram");
await new Promise((r) => setTimeout(r, 1500));
const whileFull = {
  sent: p.sends.length,
  upA: p.events.a.filter((e) => e.type === "sa-up").length,
  withheld: p.b.counters.withheld,
  logged: p.logB.some((l) => l.includes("datagrams-withheld")),
};
filler.close();
Deno.removeSync(fillerPath);
await until(
  () => p.events.a.filter((e) => e.type === "sa-up").length === SELECTORS,
  30_000,
  "every CREATE after the disk has room again",
);
const bad = p.sends.filter((s) => s.accepted < 0 || s.fileEntries < s.accepted).length;
console.log(JSON.stringify({ whileFull, after: p.sends.length, bad, accepted: p.replay.size - dummies }));
await p.close();
`,
      );
      const out = await new Deno.Command("unshare", {
        args: [
          "-m",
          "sh",
          "-c",
          `mount -t tmpfs -o size=64k kink-test ${mnt} && exec "$0" run --quiet -A ${script}`,
          Deno.execPath(),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, err);
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      // While the cache could not persist: nothing sent, nothing up on the initiator.
      assert.equal(r.whileFull.sent, 0, JSON.stringify(r));
      assert.equal(r.whileFull.upA, 0, JSON.stringify(r));
      assert.ok(r.whileFull.withheld > 0 && r.whileFull.logged, JSON.stringify(r));
      // Afterwards every datagram left with its entries in the file, and every CREATE completed.
      assert.ok(r.after >= SELECTORS, JSON.stringify(r));
      assert.equal(r.bad, 0, JSON.stringify(r));
      // (Authenticators refused as unavailable meanwhile come again in new CREATEs.)
      assert.ok(r.accepted >= SELECTORS, JSON.stringify(r));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
