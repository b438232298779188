/**
 * `kink policy list`: the kernel's IPsec policies, like `ip xfrm policy`. The
 * body is in `policy_run.ts`, loaded when the command runs.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { LIBC_PATH } from "../../../ffi/libc.ts";

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
    const { runPolicyList } = await import("./policy_run.ts");
    return await runPolicyList(args, io);
  },
};
