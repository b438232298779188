/**
 * The SA half of the kernel contract on a kernel with ESP (run by
 * `deno task test:vm` inside qemu, or directly on an ESP-capable host): every
 * algorithm, family, mode and option kink installs comes back from GETSA and
 * from a dump field for field; errno semantics; batching; EXPIRE events.
 */
import { registerContract } from "../../unit/kernel/contract.ts";
import { espSkipReason, kernelInNetns } from "../../integration/kernel/env.ts";

// The policy half runs in the integration tier (tests/integration/kernel/netlink_host_test.ts):
// the host kernel has policies, only ESP needs this tier.
registerContract(
  "netlink esp",
  kernelInNetns,
  { policies: false, sas: true },
  await espSkipReason(),
);
