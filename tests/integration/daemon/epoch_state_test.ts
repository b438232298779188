/**
 * The daemon's epoch across restarts (core/daemon/state.ts `claimEpoch`, on
 * a real state directory): each start announces an epoch after the one the
 * previous start recorded — also within the same second or after the clock
 * went back — and records it durably before the engine may send it; a state
 * file it cannot trust or cannot write stops the start with a typed error.
 */
import assert from "node:assert/strict";
import { claimEpoch } from "../../../core/daemon/state.ts";
import { DaemonError } from "../../../core/daemon/errors.ts";
import { RUN_PREFIX } from "../../harness/cleanup.ts";

const T = Date.UTC(2026, 5, 1, 12, 0, 0);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `${RUN_PREFIX}epoch-` });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const recorded = async (dir: string) =>
  JSON.parse(await Deno.readTextFile(`${dir}/epoch.json`)) as { version: number; epoch: number };

Deno.test("daemon epoch state: starts within one second, and after the clock went back, each announce a newer epoch, recorded in epoch.json", async () => {
  await withDir(async (dir) => {
    const s = T / 1000;
    assert.deepEqual(await claimEpoch(dir, T + 100), { epoch: s });
    assert.deepEqual(await recorded(dir), { version: 1, epoch: s });
    assert.deepEqual(await claimEpoch(dir, T + 400), { epoch: s + 1, previous: s });
    assert.deepEqual(await claimEpoch(dir, T + 900), { epoch: s + 2, previous: s + 1 });
    assert.deepEqual(await claimEpoch(dir, T - 86_400_000), { epoch: s + 3, previous: s + 2 });
    assert.deepEqual(await claimEpoch(dir, T + 60_000), { epoch: s + 60, previous: s + 3 });
    assert.deepEqual(await recorded(dir), { version: 1, epoch: s + 60 });
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(left, ["epoch.json"], "no temp file left");
    assert.equal(Deno.statSync(`${dir}/epoch.json`).mode! & 0o777, 0o600);
  });
});

Deno.test("daemon epoch state: a malformed epoch.json or a state directory it cannot use refuses the start with a DaemonError", async () => {
  await withDir(async (dir) => {
    for (const bad of ['{"version":1,"epoch":-1}', '{"version":2,"epoch":5}', "[]", "not json"]) {
      await Deno.writeTextFile(`${dir}/epoch.json`, bad);
      await assert.rejects(
        claimEpoch(dir, T),
        (e) => e instanceof DaemonError && e.category === "state",
        bad,
      );
    }
  });
  await withDir(async (dir) => {
    // The state "directory" is a file: neither read nor write can work.
    await Deno.remove(dir);
    await Deno.writeTextFile(dir, "");
    await assert.rejects(
      claimEpoch(dir, T),
      (e) => e instanceof DaemonError && e.category === "state",
    );
    await Deno.remove(dir);
    await Deno.mkdir(dir);
  });
});
