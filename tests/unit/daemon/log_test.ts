/**
 * The daemon's log writer (core/daemon/log.ts): lines go out in order in
 * batches while a slow reader holds a write, the logging call never waits for
 * it, a full buffer drops lines and says how many, flush writes everything
 * queued, and a byte array passed as a field (key bytes) is never written.
 */
import assert from "node:assert/strict";
import { Logger, StderrLogWriter } from "../../../core/daemon/log.ts";

const dec = new TextDecoder();

/** A writer whose asynchronous writes complete only when the test releases them. */
function gated() {
  const written: string[] = [];
  const gates: (() => void)[] = [];
  const sync: string[] = [];
  const w = new StderrLogWriter({
    maxBuffered: 200,
    delayMs: 0,
    write: (b) =>
      new Promise<void>((resolve) => {
        gates.push(() => {
          written.push(dec.decode(b));
          resolve();
        });
      }),
    writeSync: (b) => void sync.push(dec.decode(b)),
  });
  const release = async () => {
    const g = gates.splice(0);
    for (const f of g) f();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { w, written, gates, sync, release };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("log writer: a slow reader never blocks the logger; lines logged meanwhile go out together, in order", async () => {
  const { w, written, gates, release } = gated();
  w.sink("one");
  await tick();
  assert.equal(gates.length, 1, "the first line is being written");
  w.sink("two");
  w.sink("three"); // returned although the first write has not completed
  await tick();
  assert.equal(gates.length, 1, "one write at a time");
  assert.equal(w.queued, 2);
  await release();
  assert.equal(gates.length, 1, "the queued lines go out in one write");
  await release();
  assert.deepEqual(written, ["one\n", "two\nthree\n"]);
  assert.equal(w.batches, 2);
  assert.equal(w.dropped, 0);
});

Deno.test("log writer: a full buffer drops lines, counts them and announces them before the next batch", async () => {
  const { w, written, release } = gated();
  w.sink("first");
  await tick();
  const line = "x".repeat(49); // 50 characters with its newline: four fit in 200
  for (let i = 0; i < 6; i++) w.sink(`${i}${line.slice(1)}`);
  assert.equal(w.dropped, 2);
  assert.equal(w.queued, 4);
  await release();
  await release();
  assert.equal(written.length, 2);
  const second = written[1]!.split("\n");
  assert.match(second[0]!, / WARN {2}log-dropped lines=2$/);
  assert.deepEqual(second.slice(1, 5).map((l) => l[0]), ["0", "1", "2", "3"]);
  w.sink("after");
  await tick();
  await release();
  assert.equal(written[2], "after\n", "announced once");
});

Deno.test("log writer: flush resolves only once every queued line is written; flushSync writes what is queued", async () => {
  const { w, written, sync, gates } = gated();
  for (let i = 0; i < 3; i++) w.sink(`line ${i}`);
  let flushed = false;
  const f = w.flush().then(() => flushed = true);
  await tick();
  w.sink("line 3"); // logged while the flush waits: also written before it resolves
  while (!flushed) {
    for (const g of gates.splice(0)) g();
    await tick();
  }
  await f;
  assert.deepEqual(written.join(""), "line 0\nline 1\nline 2\nline 3\n");
  w.sink("at exit");
  w.flushSync();
  assert.deepEqual(sync, ["at exit\n"]);
  w.flushSync();
  assert.equal(sync.length, 1, "nothing written twice");
});

Deno.test("logger: formats are unchanged — text escapes control characters, JSON lines parse back; key bytes are never written", () => {
  const lines: string[] = [];
  const now = () => Date.UTC(2026, 0, 2, 3, 4, 5, 6);
  const text = new Logger((l) => lines.push(l), { now }, { peer: "gw\nb" });
  const key = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  text.info("sa-up", {
    spi: 7,
    note: "a b",
    empty: "",
    gone: undefined,
    key: key as unknown as string,
  });
  assert.equal(
    lines[0],
    '2026-01-02T03:04:05.006Z INFO  sa-up peer=gw\\x0ab spi=7 note="a b" empty="" ' +
      'key="[key: object not logged]"',
  );
  const json = new Logger((l) => lines.push(l), { now, format: "json" });
  json.warn("bad\u0007", { n: 10n, key: key as unknown as string });
  const o = JSON.parse(lines[1]!);
  assert.deepEqual(o, {
    ts: "2026-01-02T03:04:05.006Z",
    level: "warn",
    event: "bad\u0007",
    n: "10",
    key: "[key: object not logged]",
  });
  for (const l of lines) assert.ok(!/dead|beef|222|173/i.test(l), l);
  assert.equal(
    text.format("warn", "log-dropped", { lines: 3 }).split(" ").slice(1).join(" "),
    "WARN  log-dropped peer=gw\\x0ab lines=3",
  );
});

Deno.test("log writer: lines logged within the write interval share one write; the first after a quiet spell goes at once", async () => {
  const written: string[] = [];
  const w = new StderrLogWriter({
    delayMs: 3_600_000, // longer than any test: only flush() ends the wait
    write: (b) => {
      written.push(dec.decode(b));
      return Promise.resolve();
    },
  });
  w.sink("a");
  await tick();
  assert.deepEqual(written, ["a\n"], "written in the same turn's microtasks");
  w.sink("b");
  await tick();
  w.sink("c");
  await tick();
  assert.equal(written.length, 1, "b and c wait for the interval");
  await w.flush(); // flush does not wait for the interval
  assert.deepEqual(written, ["a\n", "b\nc\n"]);
});
