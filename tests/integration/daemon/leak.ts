/**
 * Key-leak checks for daemon tests: the KINK exchange is captured on the
 * wire (dumpcap in a gateway's namespace), `kink decode --json --show-keys`
 * opens it with the gateways' keytabs (code we test separately against
 * racoon2's traffic) and yields the ticket session keys and every SA key the
 * exchange derived; the daemons' logs are then searched for them.
 *
 * @module
 */
import type { Netns } from "../../harness/netns.ts";
import { sleep } from "../../harness/exec.ts";
import { kink } from "./gateways.ts";

/** A running capture. */
export interface Capture {
  /** The pcapng file. */
  file: string;
  /** Stops the capture (waits until the file is complete). */
  stop(): Promise<void>;
}

/** Captures UDP port 910 (and 88) on `eth0` of `ns` into `file`. */
export async function startCapture(ns: Netns, file: string): Promise<Capture> {
  const proc = ns.spawn(
    ["dumpcap", "-q", "-i", "eth0", "-f", "udp port 910 or udp port 88", "-w", file],
    { stdout: "null", stderr: "null", stdin: "null" },
  );
  // dumpcap creates the file once it captures.
  for (let i = 0; i < 50; i++) {
    try {
      await Deno.stat(file);
      break;
    } catch {
      await sleep(100);
    }
  }
  return {
    file,
    async stop() {
      await sleep(300);
      try {
        proc.kill("SIGINT");
      } catch { /* exited */ }
      await proc.status;
    },
  };
}

/** Lower-case hex of bytes. */
export function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Every key `kink decode --show-keys` recovers from a capture (hex), and the decode's JSON lines. */
export async function keysFromCapture(
  file: string,
  keytabs: string[],
): Promise<{ keys: string[]; lines: Record<string, unknown>[] }> {
  const r = await kink("decode", file, "--keytab", keytabs.join(","), "--json", "--show-keys");
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as Record<string, unknown>
  );
  const keys = new Set<string>();
  for (const m of lines) {
    const s = m["session"] as { key?: string } | undefined;
    if (s?.key) keys.add(s.key.toLowerCase());
    for (const sa of (m["sas"] as Record<string, string>[] | undefined) ?? []) {
      for (const k of ["encKey", "authKey", "salt"]) if (sa[k]) keys.add(sa[k]!.toLowerCase());
    }
  }
  return { keys: [...keys].filter((k) => k.length >= 8), lines };
}

function b64(hex: string): string {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return btoa(String.fromCharCode(...b));
}

/** The keys (hex) found in `lines`, as hex (any case), base64, or a comma-separated byte list. */
export function keysInLog(lines: string[], keys: string[]): string[] {
  const text = lines.join("\n");
  const lower = text.toLowerCase();
  return keys.filter((k) => {
    const bytes = k.match(/../g)!.map((x) => parseInt(x, 16));
    return lower.includes(k) || text.includes(b64(k)) || text.includes(bytes.join(",")) ||
      lower.includes(k.match(/../g)!.join(":"));
  });
}
