/**
 * Proof of the VM tier: the kernel the tier runs on really installs ESP SAs.
 *
 * Runs only under `deno task test:vm` (which sets `KINK_VM=1`: inside the qemu VM, or directly
 * on a host whose kernel has ESP). Every SA goes into a throwaway network namespace
 * (`unshare --net`), so a real gateway's SA database is never touched. The expectations come
 * from the kernel: `ip xfrm state` reads the SAs back over NETLINK_XFRM, and /proc/crypto lists
 * the transforms the kernel instantiated for them.
 */
import assert from "node:assert/strict";
import { run } from "../../harness/exec.ts";
import { skipUnless, vmSkipReason } from "../../harness/tiers.ts";

const notVm = vmSkipReason();

const ENC_KEY = "000102030405060708090a0b0c0d0e0f";
const AUTH_KEY = "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
const GCM_KEY = "303132333435363738393a3b3c3d3e3f40414243"; // 16-octet key + 4-octet salt

/** Runs `script` with sh in a fresh network namespace and returns its stdout. */
async function inNetns(script: string): Promise<string> {
  const r = await run(["unshare", "--net", "sh", "-ec", script]);
  assert.equal(r.code, 0, `netns script failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

Deno.test({
  ...skipUnless(
    "vm tier: ip xfrm state add proto esp with cbc(aes) + hmac(sha256) is installed",
    notVm,
  ),
  async fn() {
    const out = await inNetns([
      "ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1001 reqid 7",
      `mode transport enc 'cbc(aes)' 0x${ENC_KEY} auth-trunc 'hmac(sha256)' 0x${AUTH_KEY} 128`,
      "\nip xfrm state",
    ].join(" "));
    assert.match(out, /src 192\.0\.2\.1 dst 192\.0\.2\.2/);
    assert.match(out, /proto esp spi 0x00001001 reqid 7 mode transport/);
    assert.match(out, new RegExp(`enc cbc\\(aes\\) 0x${ENC_KEY}`));
    assert.match(out, new RegExp(`auth-trunc hmac\\(sha256\\) 0x${AUTH_KEY} 128`));
    const crypto = await Deno.readTextFile("/proc/crypto");
    assert.match(crypto, /name\s*: authenc\(hmac\(sha256\),cbc\(aes\)\)/);
  },
});

Deno.test({
  ...skipUnless(
    "vm tier: ip xfrm state add proto esp with rfc4106(gcm(aes)) is installed",
    notVm,
  ),
  async fn() {
    const out = await inNetns([
      "ip xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x2002",
      `mode tunnel aead 'rfc4106(gcm(aes))' 0x${GCM_KEY} 128`,
      "\nip xfrm state",
    ].join(" "));
    assert.match(out, /src 2001:db8::1 dst 2001:db8::2/);
    assert.match(out, /proto esp spi 0x00002002 reqid 0 mode tunnel/);
    assert.match(out, new RegExp(`aead rfc4106\\(gcm\\(aes\\)\\) 0x${GCM_KEY} 128`));
    const crypto = await Deno.readTextFile("/proc/crypto");
    assert.match(crypto, /name\s*: rfc4106\(gcm\(aes\)\)/);
  },
});

Deno.test({
  ...skipUnless(
    "vm tier: an unknown ESP algorithm is refused by the kernel",
    notVm,
  ),
  async fn() {
    // Control: the kernel, not ip(8), validates algorithms; a bogus one must fail.
    const r = await run([
      "unshare",
      "--net",
      "ip",
      "xfrm",
      "state",
      "add",
      ...["src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x3003"],
      ...["enc", "cbc(no-such-cipher)", `0x${ENC_KEY}`],
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found|not supported|Invalid/i);
  },
});
