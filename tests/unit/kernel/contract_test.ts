/** The kernel contract suite against the in-memory backend. */
import { MemoryKernel } from "../../../core/kernel/mod.ts";
import { registerContract } from "./contract.ts";

registerContract("memory", () => {
  const k = new MemoryKernel();
  return Promise.resolve({ k, done: () => k.close() });
}, { policies: true, sas: true });
