/**
 * The daemon's kernel policies for a transport-mode peer: over IPv6 they let
 * Neighbor Discovery (RFC 4861 NS/NA, ICMPv6 types 135 and 136) between the
 * two gateways pass in clear — without it, the first unicast Neighbor
 * Advertisement falls on the "any protocol" IPsec policy before any SA exists
 * and the gateways never reach each other (the VM tier's IPv6 transport case
 * shows it) — and the daemon recognises those bypasses as its own.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../../core/config/mod.ts";
import { BYPASS_PRIORITY, ownsPolicy, peerPolicies } from "../../../core/daemon/policies.ts";
import type { PolicyState } from "../../../core/kernel/mod.ts";

const BASE = 0x4b490000;

function peer(address: string, local: string) {
  const cfg = parseConfig(
    [
      "[identity]",
      'principal = "kink/a.example@EX"',
      'keytab = "/etc/k.keytab"',
      "[[peer]]",
      'name = "b"',
      `address = "${address}"`,
      `local_address = "${local}"`,
      'principal = "kink/b.example@EX"',
      'mode = "transport"',
      "",
    ].join("\n"),
    "p.toml",
  );
  return cfg.peers[0]!;
}

const asState = (p: ReturnType<typeof peerPolicies>[number]): PolicyState =>
  ({ ...p, templates: p.templates ?? [] }) as unknown as PolicyState;

Deno.test("daemon policies: an IPv6 transport peer gets NS/NA bypasses both ways, IPv4 none", () => {
  const v6 = peerPolicies(peer("2001:db8::2", "2001:db8::1"), "2001:db8::1", BASE + 1);
  const nd = v6.filter((p) => p.selector.proto === 58);
  assert.deepEqual(
    nd.map((p) => `${p.dir} ${p.selector.src}->${p.selector.dst} type ${p.selector.sport}`).sort(),
    [
      "in 2001:db8::2->2001:db8::1 type 135",
      "in 2001:db8::2->2001:db8::1 type 136",
      "out 2001:db8::1->2001:db8::2 type 135",
      "out 2001:db8::1->2001:db8::2 type 136",
    ],
  );
  for (const p of nd) {
    assert.equal(p.priority, BYPASS_PRIORITY);
    assert.equal((p.templates ?? []).length, 0, "a bypass has no template");
    assert.equal(p.selector.dport, 0, "any ICMP code");
    assert.equal(p.selector.srcPrefixLen, 128);
    assert.equal(p.selector.dstPrefixLen, 128);
    assert.ok(ownsPolicy(asState(p), BASE));
  }
  // Every policy it installs is recognised as its own (so stop and reconcile remove them all).
  for (const p of v6) assert.ok(ownsPolicy(asState(p), BASE), JSON.stringify(p));

  const v4 = peerPolicies(peer("192.0.2.2", "192.0.2.1"), "192.0.2.1", BASE + 1);
  assert.equal(v4.filter((p) => p.selector.proto === 58 || p.selector.proto === 1).length, 0);

  // Another ICMPv6 bypass at the same priority (echo request, 128) is not the daemon's.
  const echo = { ...nd[0]!, selector: { ...nd[0]!.selector, sport: 128 } };
  assert.equal(ownsPolicy(asState(echo), BASE), false);
});
