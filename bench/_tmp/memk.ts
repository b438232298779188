import { MemoryKernel, type SaConfig } from "../../core/kernel/mod.ts";
const gc = (globalThis as { gc?: () => void }).gc!;
function memSa(i: number): SaConfig {
  return { src: "10.88.0.1", dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, proto: "esp", spi: 0x1000 + i, mode: "tunnel", reqid: 0x4b490000 + (i % 1000),
    replayWindow: 32, ...(Deno.args[0] === "nolt" ? {} : { lifetime: { softAddSeconds: 3000, hardAddSeconds: 3600 } }),
    selector: { family: "inet", src: `10.100.${(i >> 8) & 255}.${i & 255}`, srcPrefixLen: 32, dst: `10.150.${(i >> 8) & 255}.${i & 255}`, dstPrefixLen: 32, proto: 0, sport: 0, dport: 0, ifindex: 0 },
    aead: { name: "rfc4106(gcm(aes))", key: new Uint8Array(20).fill(i & 255), icvBits: 128 } };
}
const { systemClock } = await import("../../core/util/clock.ts");
const { HeapTimerClock } = await import("../../core/util/clock.ts"); const k = new MemoryKernel({ clock: Deno.args[1] === "heap" ? new HeapTimerClock(systemClock) : systemClock });
gc(); gc();
const m0 = Deno.memoryUsage();
const N = 100_000;
for (let i = 0; i < N; i++) await k.addSa(memSa(i));
gc(); gc();
const m1 = Deno.memoryUsage();
console.log(k.saCount, m0.heapUsed, m1.heapUsed, m0.external, m1.external); console.log("bytes/SA heap+ext", Math.round((m1.heapUsed + m1.external - m0.heapUsed - m0.external) / N), "rss delta MiB", ((m1.rss - m0.rss) / 1048576).toFixed(0));
Deno.exit(0);
