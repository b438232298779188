/**
 * Crash safety of state files: a child process (`crash_writer.ts`) writes
 * as fast as it can and is killed with SIGKILL at a random moment, many
 * times over.
 *
 * - The daemon's state files (`core/daemon/state.ts` `writeAtomic`): after
 *   every kill the file holds exactly the last content whose write had
 *   returned, or the one being written — never a mix, never empty; the temp
 *   files the kills left behind are removed by the next start
 *   (`openStateDir`), and nothing else is.
 * - The replay cache (`core/kerberos/replay.ts`): after every kill, a cache
 *   reopened on the same file refuses every authenticator the dead process
 *   had accepted (as a replay, or everything for one skew window when the
 *   last record was torn).
 *
 * `KINK_FAULTS_LONG=1` runs 200 kills of each instead of 12.
 */
import assert from "node:assert/strict";
import { ReplayCache } from "../../core/kerberos/mod.ts";
import { openStateDir } from "../../core/daemon/state.ts";

const LONG = Deno.env.get("KINK_FAULTS_LONG") === "1";
const KILLS = LONG ? 200 : 12;
const WRITER = new URL("./crash_writer.ts", import.meta.url).pathname;

/** Runs the writer until it has printed `minLines` lines, waits a random while, SIGKILLs it. */
async function runAndKill(args: string[], dir: string, seed: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--allow-read=${dir}`, `--allow-write=${dir}`, WRITER, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const lines: string[] = [];
  let buf = "";
  let started!: () => void;
  const firstLine = new Promise<void>((r) => (started = r));
  const reader = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        started();
      }
    }
  })();
  const errText = new Response(child.stderr).text();
  child.status.then(() => started());
  await firstLine;
  // A pseudo-random moment 5..125 ms into the writes.
  await new Promise((r) => setTimeout(r, 5 + ((seed * 2654435761) >>> 0) % 120));
  try {
    child.kill("SIGKILL");
  } catch {
    // exited by itself: reported below
  }
  const st = await child.status;
  await reader;
  const err = await errText;
  assert.equal(st.signal, "SIGKILL", `writer exited by itself (${st.code}): ${err}`);
  return lines; // complete lines only: a torn last line stays in `buf`
}

Deno.test(`crash: writeAtomic state file is always old-or-new after ${KILLS} SIGKILLs in the middle of writes`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "kink-faults-state-" });
  try {
    let next = 1;
    let last = 0; // the last seq whose write returned
    let sawNew = 0, sawOld = 0;
    for (let k = 0; k < KILLS; k++) {
      const lines = await runAndKill(["state", dir, String(next)], dir, k + 1);
      const done = lines.map(Number).filter((n) => n > 0);
      if (done.length) last = done[done.length - 1]!;
      const text = await Deno.readTextFile(`${dir}/state.json`);
      let seq: number;
      try {
        seq = (JSON.parse(text) as { seq: number }).seq;
      } catch {
        throw new Error(`kill ${k}: state file torn (${text.length} octets)`);
      }
      const inFlight = done.length ? last + 1 : next;
      assert.ok(seq === last || seq === inFlight, `kill ${k}: seq ${seq}, last ${last}`);
      if (seq === last) sawOld++;
      else sawNew++;
      last = seq;
      next = seq + 2; // never reuse a sequence number
    }
    const temps = () => [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")).length;
    const leftovers = temps();
    // Not ours: a start must leave it alone.
    await Deno.writeTextFile(`${dir}/notes.tmp`, "operator's");
    const content = await Deno.readTextFile(`${dir}/state.json`);
    // What a daemon start does with the directory: the killed writer's temp files go.
    const { lock, removedTemps } = await openStateDir(dir);
    lock.close();
    assert.equal(removedTemps.length, leftovers);
    assert.equal(temps(), 1, "temp files of interrupted writes left after a start");
    assert.equal(await Deno.readTextFile(`${dir}/notes.tmp`), "operator's");
    assert.equal(await Deno.readTextFile(`${dir}/state.json`), content);
    console.log(
      `${KILLS} kills: file held the last completed write ${sawOld}×, the interrupted one ${sawNew}×;` +
        ` ${leftovers} orphan temp file(s) left by the kills, removed at the next start`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(`crash: the replay cache still refuses every accepted authenticator after ${KILLS} SIGKILLs in the middle of writes`, async () => {
  let recovering = 0, clean = 0, accepted = 0;
  for (let k = 0; k < KILLS; k++) {
    const dir = await Deno.makeTempDir({ prefix: "kink-faults-rc-" });
    try {
      const lines = await runAndKill(["replay", dir, "first"], dir, 1000 + k);
      const entries = lines.filter((l) => l !== "open" && !l.startsWith("refused")).map((l) => {
        const [client, cusec, ctimeMs] = l.split(" ");
        return { client: client!, server: "kink/b@KINK.TEST", cusec: +cusec!, ctimeMs: +ctimeMs! };
      });
      accepted += entries.length;
      const cache = ReplayCache.open({ skewMs: 300_000, path: `${dir}/replay` });
      try {
        if (cache.recoveringUntil > 0) recovering++;
        else clean++;
        for (const e of entries) {
          const v = cache.check(e);
          assert.ok(!v.ok, `kill ${k}: accepted authenticator ${e.cusec} accepted again`);
          assert.ok(v.reason === "replay" || v.reason === "recovering", v.reason);
        }
        // A reopened cache that is not recovering still accepts new authenticators.
        if (cache.recoveringUntil === 0) {
          assert.ok(
            cache.check({
              client: "new@KINK.TEST",
              server: "kink/b@KINK.TEST",
              ctimeMs: Date.now(),
              cusec: 1,
            }).ok,
          );
        }
      } finally {
        cache.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  console.log(
    `${KILLS} kills, ${accepted} accepted authenticators: reopened clean ${clean}×` +
      ` (every one refused as a replay), recovering one skew window ${recovering}× (torn record)`,
  );
});
