/**
 * `deno task kink sa list` / `policy list` end to end: the launcher starts the
 * CLI with only `--allow-ffi=<libc>`, it reads a throwaway namespace's XFRM
 * state, and what it prints matches what `ip xfrm` installed.
 */
import assert from "node:assert/strict";
import { withNetns } from "../../harness/netns.ts";
import { kernelSkipReason } from "./env.ts";
import { skipUnless } from "../../harness/tiers.ts";

const noKernel = kernelSkipReason();
const launcher = new URL("../../../core/cli/launch.ts", import.meta.url).pathname;

async function kink(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("deno", {
    args: ["run", "--quiet", "--allow-run=deno", launcher, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test({
  ...skipUnless(
    "kink policy list / sa list: read a namespace's kernel state with FFI-to-libc only",
    noKernel,
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async ([ns]) => {
      await ns!.runOk([
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "10.11.0.0/16",
        "dst",
        "10.12.0.0/16",
        "proto",
        "tcp",
        "dport",
        "22",
        "dir",
        "out",
        "priority",
        "77",
        "tmpl",
        "src",
        "192.0.2.7",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
        "reqid",
        "5",
        "mode",
        "tunnel",
      ]);
      await ns!.runOk([
        "ip",
        "xfrm",
        "state",
        "allocspi",
        "src",
        "10.0.0.1",
        "dst",
        "10.0.0.2",
        "proto",
        "esp",
        "reqid",
        "4",
        "min",
        "0x4000",
        "max",
        "0x4000",
      ]);
      const p = await kink(["policy", "list", "--json", "--netns", ns!.name]);
      assert.equal(p.code, 0, p.stderr);
      const ps = JSON.parse(p.stdout) as {
        dir: string;
        priority: number;
        selector: { dport: number; proto: number };
        templates: { reqid: number; dst: string }[];
      }[];
      assert.equal(ps.length, 1);
      assert.equal(ps[0]!.dir, "out");
      assert.equal(ps[0]!.priority, 77);
      assert.deepEqual([ps[0]!.selector.proto, ps[0]!.selector.dport], [6, 22]);
      assert.deepEqual([ps[0]!.templates[0]!.reqid, ps[0]!.templates[0]!.dst], [5, "192.0.2.8"]);
      const s = await kink(["sa", "list", "--netns", ns!.name]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, /^src 10\.0\.0\.1 dst 10\.0\.0\.2$/m);
      assert.match(s.stdout, /proto esp spi 0x00004000 reqid 4 mode transport/);
      const bad = await kink(["sa", "list", "--netns", "kink-no-such-ns-x"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /ENOENT/);
    }),
});
