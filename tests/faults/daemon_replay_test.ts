/**
 * Replay and tamper against real daemons: the CREATE A sent is captured on
 * the wire (dumpcap in B's namespace) and sent again to B from a fourth
 * namespace with A's address spoofed (raw socket, `flood_send.py`):
 * repeatedly at once, again after a second, every single-bit-flipped copy
 * of it, and again after B was SIGKILLed and restarted (its replay cache
 * persisted in its state directory). B never installs a second pair, and
 * after its restart none at all. `KINK_FAULTS_LONG=1` also replays it after
 * the 300 s skew window.
 */
import assert from "node:assert/strict";
import {
  commandsSkipReason,
  netnsSkipReason,
  realmSkipReason,
  skipUnless,
} from "../harness/tiers.ts";
import { sleep } from "../harness/exec.ts";
import { startGateway, type StatusJson, stopGateway } from "../integration/daemon/gateways.ts";
import { startCapture } from "../integration/daemon/leak.ts";
import { extractUdp, readCapture } from "../../core/wire/mod.ts";
import { assertNoKeys, counters, ctl, upAndMatch, withGateways } from "./daemons.ts";

const LONG = Deno.env.get("KINK_FAULTS_LONG") === "1";
const FLOOD = new URL("./flood_send.py", import.meta.url).pathname;

async function writeDatagrams(path: string, grams: Uint8Array[]): Promise<void> {
  const out = new Uint8Array(grams.reduce((n, g) => n + 4 + g.length, 0));
  const v = new DataView(out.buffer);
  let o = 0;
  for (const g of grams) {
    v.setUint32(o, g.length);
    out.set(g, o + 4);
    o += 4 + g.length;
  }
  await Deno.writeFile(path, out);
}

Deno.test({
  ...skipUnless(
    "faults, real daemons: a captured CREATE replayed from a fourth namespace with the peer's address spoofed — at once, after 1 s, bit-flipped, after the responder's restart — never gives a second SA pair",
    netnsSkipReason(),
    realmSkipReason(),
    commandsSkipReason("python3", "dumpcap"),
  ),
  async fn() {
    await withGateways(async (c) => {
      const cap = await startCapture(c.b, `${c.dir}/replay.pcapng`);
      const ga = await startGateway(c.a, c.fa, "memory");
      let gb = await startGateway(c.b, c.fb, "memory");
      const logs = [ga.log, gb.log];
      const status = async () => await ctl(gb, "status") as StatusJson;
      const replay = async (file: string, seconds: number) => {
        const p = c.m.spawn(["python3", FLOOD, file, c.b.addr4, String(seconds), c.a.addr4], {
          stdout: "piped",
        });
        const out = new TextDecoder().decode((await p.output()).stdout);
        await sleep(300);
        return Number(/sent (\d+)/.exec(out)?.[1] ?? "0");
      };
      const report: string[] = [];
      try {
        const { sb } = await upAndMatch(ga, gb, "genuine");
        const pairOf = (s: StatusJson) => JSON.stringify(s.engine.saPairs.map((p) => p.inbound));
        const genuine = pairOf(sb);
        await cap.stop();
        const create = readCapture(await Deno.readFile(cap.file)).map(extractUdp).find((u) =>
          "payload" in u && u.dstPort === 910 && u.src === c.a.addr4 && u.payload[0] === 1
        );
        assert.ok(create && "payload" in create, "no CREATE captured");
        const bytes = create.payload;
        await writeDatagrams(`${c.dir}/create.bin`, [bytes]);
        const flips: Uint8Array[] = [];
        for (let bit = 0; bit < bytes.length * 8; bit++) {
          const x = bytes.slice();
          x[bit >> 3]! ^= 0x80 >> (bit & 7);
          flips.push(x);
        }
        await writeDatagrams(`${c.dir}/flips.bin`, flips);

        const check = async (what: string, pairs: string) => {
          const s = await status();
          assert.equal(pairOf(s), pairs, `${what}: B's pairs changed`);
          assert.equal(s.engine.transactions.length, 0, `${what}: a transaction left`);
          const d = Object.entries(counters(s)).filter(([k]) => k.startsWith("dropped"));
          report.push(`${what}: ${JSON.stringify(Object.fromEntries(d))}`);
        };
        const n1 = await replay(`${c.dir}/create.bin`, 1);
        await check(`${n1} copies at once`, genuine);
        await sleep(1000);
        const n2 = await replay(`${c.dir}/create.bin`, 1);
        await check(`${n2} copies after 1 s`, genuine);
        const n3 = await replay(`${c.dir}/flips.bin`, 2);
        await check(`${n3} bit-flipped copies (${flips.length} positions)`, genuine);
        // B restarts (new epoch, empty memory kernel, persisted replay cache).
        gb.signal("SIGKILL");
        await gb.exited;
        gb = await startGateway(c.b, c.fb, "memory");
        logs.push(gb.log);
        const empty = pairOf(await status());
        assert.equal(empty, "[]");
        const n4 = await replay(`${c.dir}/create.bin`, 1);
        await check(`${n4} copies after B's restart`, empty);
        if (LONG) {
          await sleep(310_000);
          const n5 = await replay(`${c.dir}/create.bin`, 1);
          await check(`${n5} copies after the skew window`, empty);
        }
        console.log(`\nreplayed CREATE (${bytes.length} octets):\n  ${report.join("\n  ")}`);
      } finally {
        await stopGateway(ga);
        await stopGateway(gb);
      }
      assertNoKeys(logs.flat(), c.keytabKeys, "replay run");
    });
  },
});
