/**
 * `kink sa list`: the kernel's IPsec SAs, like `ip xfrm state`, with keys
 * redacted unless `--show-keys`. The body is in `sa_run.ts`, loaded when the
 * command runs.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { LIBC_PATH } from "../../../ffi/libc.ts";

/** `kink sa list [--json] [--show-keys] [--netns NAME]`. */
export const saListCommand: Command = {
  name: "sa list",
  summary: "List the kernel's IPsec SAs (like ip xfrm state; keys redacted)",
  usage: "sa list [--json] [--show-keys] [--netns NAME]",
  description: "Reads the SAs through NETLINK_XFRM (needs CAP_NET_ADMIN, i.e. root).\n" +
    "Keys are shown only with --show-keys.",
  options: {
    json: { type: "boolean", description: "Print JSON instead of text" },
    "show-keys": {
      type: "boolean",
      description: "Print key bytes (hex) instead of redacting them",
    },
    netns: {
      type: "string",
      arg: "NAME",
      description: "Read the SAs of network namespace NAME (/run/netns/NAME)",
    },
  },
  permissions: () => [`--allow-ffi=${LIBC_PATH}`],
  permissionNotes: [`--allow-ffi=${LIBC_PATH}: netlink sockets through libc (nothing else)`],
  async run(args, io) {
    const { runSaList } = await import("./sa_run.ts");
    return await runSaList(args, io);
  },
};
