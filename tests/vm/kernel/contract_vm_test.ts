/**
 * The SA half of the kernel contract on a kernel with ESP (run by
 * `deno task test:vm` inside qemu, or directly on an ESP-capable host): every
 * algorithm, family, mode and option kink installs comes back from GETSA and
 * from a dump field for field; errno semantics; batching; EXPIRE events.
 */
import { registerContract } from "../../unit/kernel/contract.ts";
import { canUseKernel, kernelHasEsp, kernelInNetns } from "../../integration/kernel/env.ts";
import { reportSkip } from "../../harness/tiers.ts";

const usable = canUseKernel("kernel ESP tests");
const esp = usable ? await kernelHasEsp() : false;
if (usable && !esp) {
  reportSkip("kernel ESP tests", "this kernel has no ESP (run them with deno task test:vm)");
}

registerContract("netlink esp", kernelInNetns, { policies: false, sas: true }, !esp);
