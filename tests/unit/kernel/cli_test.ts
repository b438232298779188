/** `kink sa list` / `kink policy list` rendering and permissions (in-memory backend). */
import assert from "node:assert/strict";
import { MemoryKernel } from "../../../core/kernel/mod.ts";
import { saListCommand } from "../../../core/cli/commands/sa.ts";
import { listSasTo } from "../../../core/cli/commands/sa_run.ts";
import { policyListCommand } from "../../../core/cli/commands/policy.ts";
import { listPoliciesTo } from "../../../core/cli/commands/policy_run.ts";
import { toHex } from "../../../core/util/bytes.ts";
import { POLICY_CASES, saCases } from "./contract.ts";

function capture() {
  const lines: string[] = [];
  return {
    io: { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) },
    text: () => lines.join("\n"),
  };
}

Deno.test("kink sa list: keys are redacted unless --show-keys, in text and JSON", async () => {
  const k = new MemoryKernel();
  const cases = saCases();
  for (const c of cases) await k.addSa(c);
  const keys = cases.flatMap((c) => [c.enc?.key, c.auth?.key, c.aead?.key]).filter((
    x,
  ): x is Uint8Array => !!x && x.length > 0);
  for (const json of [false, true]) {
    const hidden = capture();
    await listSasTo(k, hidden.io, json, false);
    for (const key of keys) {
      assert.ok(!hidden.text().includes(toHex(key)), "no key bytes without --show-keys");
    }
    const shown = capture();
    await listSasTo(k, shown.io, json, true);
    for (const key of keys) {
      assert.ok(shown.text().includes(toHex(key)), "every key with --show-keys");
    }
  }
  const j = capture();
  await listSasTo(k, j.io, true, false);
  const parsed = JSON.parse(j.text()) as {
    spi: number;
    enc?: { keyLength: number; key: string };
  }[];
  assert.equal(parsed.length, cases.length);
  const first = parsed.find((s) => s.spi === cases[0]!.spi)!;
  assert.deepEqual(first.enc, { name: "cbc(aes)", keyLength: 16, key: "redacted" });
  const t = capture();
  await listSasTo(k, t.io, false, false);
  assert.match(t.text(), /proto esp spi 0x00001000 reqid 1 mode transport/);
  assert.match(t.text(), /enc cbc\(aes\) <16 octets redacted>/);
  await k.close();
});

Deno.test("kink policy list: text and JSON", async () => {
  const k = new MemoryKernel();
  for (const c of POLICY_CASES) await k.addPolicy(c.config);
  const t = capture();
  await listPoliciesTo(k, t.io, false);
  assert.match(t.text(), /^src 10\.1\.0\.0\/24 dst 10\.2\.0\.0\/24 proto 6 dport 443$/m);
  assert.match(
    t.text(),
    /tmpl src 192\.0\.2\.1 dst 192\.0\.2\.2\n\t\tproto esp spi 0x00000000 reqid 7 mode tunnel level required/,
  );
  const j = capture();
  await listPoliciesTo(k, j.io, true);
  assert.equal((JSON.parse(j.text()) as unknown[]).length, POLICY_CASES.length);
  await k.close();
});

Deno.test("kink sa/policy list: the only permission is FFI to libc", () => {
  const args = { values: {}, positionals: [] };
  assert.deepEqual(saListCommand.permissions(args), [
    "--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6",
  ]);
  assert.deepEqual(policyListCommand.permissions(args), [
    "--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6",
  ]);
});
