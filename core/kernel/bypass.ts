/**
 * Bypass policies for a daemon's own socket: KINK messages (and the Kerberos
 * traffic a gateway needs before any SA exists) must travel in clear even
 * when a policy would otherwise require IPsec between the same hosts.
 *
 * The per-socket way (`setsockopt(IP_XFRM_POLICY / IPV6_XFRM_POLICY)` with
 * an `XFRM_POLICY_ALLOW` policy in each direction, as strongSwan's
 * `bypass_socket` and racoon do) needs the socket's file descriptor, which
 * Deno's UDP sockets do not expose. kink therefore installs the selector
 * equivalent: for a socket bound to local port P, an outbound policy for
 * UDP from port P and an inbound policy for UDP to port P, any address, of
 * each family, action allow, no templates — equivalent to
 *
 * ```sh
 * ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp sport P dir out priority 0 action allow
 * ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport P dir in  priority 0 action allow
 * ip xfrm policy add src ::/0 dst ::/0 proto udp sport P dir out priority 0 action allow
 * ip xfrm policy add src ::/0 dst ::/0 proto udp dport P dir in  priority 0 action allow
 * ```
 *
 * For a socket that sends from its bound port (kink's always does) this
 * covers exactly that socket's traffic — its requests and replies both
 * leave from P and arrive at P — and nothing else, since no other socket
 * can hold P. Priority 0 is the kernel's highest; on equal priority the
 * kernel prefers the older policy, so install these at start-up, before
 * the IPsec policies (or give those a priority above 0).
 *
 * @module
 */
import type { Family } from "./addr.ts";
import type { PolicyConfig, PolicyId } from "./model.ts";
import { anySelector } from "./selector.ts";
import { invalid } from "./validate.ts";

/** Options of {@link socketBypassPolicies}. */
export interface BypassOptions {
  /** Address families to cover (default both). */
  families?: readonly Family[];
  /** Policy priority (default 0, the highest). */
  priority?: number;
  /** IP protocol of the socket (default 17, UDP). */
  proto?: number;
}

/**
 * The policies that let a socket bound to `localPort` send and receive in
 * clear (see the module documentation for the `ip xfrm` equivalent). Install
 * them with `addPolicies` (or `updatePolicy`, to be idempotent across
 * restarts), remove them with {@link bypassPolicyIds}. KINK's port is 910
 * (`KINK_PORT` of the wire layer).
 */
export function socketBypassPolicies(
  localPort: number,
  opts: BypassOptions = {},
): PolicyConfig[] {
  if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
    invalid("bypass policy", `local port ${localPort} not in 1..65535`);
  }
  const proto = opts.proto ?? 17;
  const priority = opts.priority ?? 0;
  const out: PolicyConfig[] = [];
  for (const family of opts.families ?? ["inet", "inet6"] as const) {
    const any = anySelector(family);
    out.push(
      { selector: { ...any, proto, sport: localPort }, dir: "out", action: "allow", priority },
      { selector: { ...any, proto, dport: localPort }, dir: "in", action: "allow", priority },
    );
  }
  return out;
}

/** The ids of {@link socketBypassPolicies}' policies (to query or delete them). */
export function bypassPolicyIds(
  localPort: number,
  opts: BypassOptions = {},
): PolicyId[] {
  return socketBypassPolicies(localPort, opts).map((p) => ({ dir: p.dir, selector: p.selector }));
}
