/**
 * The kernel contract suite against the in-memory backend, on virtual time
 * (a ManualClock: lifetime tests advance it instead of waiting) and seeded
 * randomness (SPI allocation reproduces).
 */
import { MemoryKernel } from "../../../core/kernel/mod.ts";
import { ManualClock } from "../../../core/util/clock.ts";
import { SeededRandom } from "../../../core/util/random.ts";
import { registerContract } from "./contract.ts";

registerContract("memory", () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const k = new MemoryKernel({ clock, random: new SeededRandom(910) });
  return Promise.resolve({ k, clock, done: () => k.close() });
}, { policies: true, sas: true });
