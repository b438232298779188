/**
 * `kink policy list`: the kernel's IPsec policies, like `ip xfrm policy`.
 *
 * @module
 */
import { type Command, type CommandIO, flagOpt } from "../command.ts";
import { type KernelIpsec, LIBC_PATH, type PolicyState } from "../../kernel/mod.ts";
import { formatLifetime, formatSelector, openKernel } from "./sa.ts";
import { safeJson } from "../../util/text.ts";

/** Renders policies as text. */
export function formatPolicies(ps: PolicyState[]): string[] {
  const out: string[] = [];
  for (const p of ps) {
    out.push(formatSelector(p.selector));
    out.push(`\tdir ${p.dir} action ${p.action} priority ${p.priority} index ${p.index}`);
    if (p.mark) out.push(`\tmark 0x${p.mark.value.toString(16)}/0x${p.mark.mask.toString(16)}`);
    const lt = formatLifetime(p.lifetime);
    if (lt) out.push(`\tlimits: ${lt}`);
    for (const t of p.templates) {
      out.push(`\ttmpl src ${t.src} dst ${t.dst}`);
      out.push(
        `\t\tproto ${t.proto} spi 0x${
          t.spi.toString(16).padStart(8, "0")
        } reqid ${t.reqid} mode ${t.mode} level ${t.level}`,
      );
    }
  }
  return out;
}

/** Lists policies from `k` to `io` (the body of `kink policy list`). */
export async function listPoliciesTo(
  k: KernelIpsec,
  io: CommandIO,
  json: boolean,
): Promise<number> {
  const ps = await k.listPolicies();
  if (json) io.out(safeJson(ps, 2));
  else for (const l of formatPolicies(ps)) io.out(l);
  return 0;
}

/** `kink policy list [--json] [--netns NAME]`. */
export const policyListCommand: Command = {
  name: "policy list",
  summary: "List the kernel's IPsec policies (like ip xfrm policy)",
  usage: "policy list [--json] [--netns NAME]",
  description: "Reads the policies through NETLINK_XFRM (needs CAP_NET_ADMIN, i.e. root).",
  options: {
    json: { type: "boolean", description: "Print JSON instead of text" },
    netns: {
      type: "string",
      arg: "NAME",
      description: "Read the policies of network namespace NAME (/run/netns/NAME)",
    },
  },
  permissions: () => [`--allow-ffi=${LIBC_PATH}`],
  permissionNotes: [`--allow-ffi=${LIBC_PATH}: netlink sockets through libc (nothing else)`],
  async run(args, io) {
    const k = openKernel(args);
    try {
      return await listPoliciesTo(k, io, flagOpt(args, "json"));
    } finally {
      await k.close();
    }
  },
};
