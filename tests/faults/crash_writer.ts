/**
 * Child process of `crash_test.ts`: writes as fast as it can until it is
 * killed with SIGKILL, printing one line to stdout after each write has
 * returned (so the parent knows what was durable when the kill came).
 *
 * `state DIR`: `writeAtomic(DIR/state.json, {seq, pad})` for seq = 1, 2, …
 * (pads of 0..256 KiB so a kill often lands inside a write); prints `seq`.
 *
 * `replay DIR`: a file-backed `ReplayCache` in DIR; records a new
 * authenticator per iteration, prints `client cusec ctimeMs` after `check`
 * returned ok (persisted, fsynced).
 *
 * @module
 */
import { writeAtomic } from "../../core/daemon/state.ts";
import { ReplayCache } from "../../core/kerberos/mod.ts";

const [mode, dir] = Deno.args;
const enc = new TextEncoder();
const out = (s: string) => Deno.stdout.writeSync(enc.encode(`${s}\n`));

if (mode === "state") {
  const start = Number(Deno.args[2] ?? "1");
  for (let seq = start;; seq++) {
    const pad = "x".repeat((seq * 7919) % (256 * 1024));
    await writeAtomic(`${dir}/state.json`, enc.encode(JSON.stringify({ seq, pad })));
    out(`${seq}`);
  }
} else if (mode === "replay") {
  const cache = ReplayCache.open({
    skewMs: 300_000,
    path: `${dir}/replay`,
    firstStart: Deno.args[2] === "first",
  });
  out("open");
  const client = `c${Deno.pid}@KINK.TEST`;
  for (let i = 0;; i++) {
    const e = { client, server: "kink/b@KINK.TEST", ctimeMs: Date.now(), cusec: i % 1_000_000 };
    const v = cache.check(e);
    if (v.ok) out(`${e.client} ${e.cusec} ${e.ctimeMs}`);
    else out(`refused ${v.reason}`);
  }
} else {
  console.error("usage: crash_writer.ts state|replay DIR");
  Deno.exit(2);
}
