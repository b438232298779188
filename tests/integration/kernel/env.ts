/**
 * Helpers shared by the kernel tests that talk to a real kernel (integration
 * tier on the host, VM tier under qemu): a {@link NetlinkKernel} inside a
 * throwaway network namespace (XFRM state is per namespace, so tests never
 * touch the host's own SAs and policies), ESP detection, and parsers of
 * `ip xfrm` output.
 */
import { createNetns } from "../../harness/netns.ts";
import { netnsSkipReason } from "../../harness/tiers.ts";
import { LIBC_PATH } from "../../../ffi/libc.ts";
import { KernelError, NetlinkKernel } from "../../../core/kernel/mod.ts";
import type { ContractEnv } from "../../unit/kernel/contract.ts";

/**
 * Why a real kernel cannot be used here (not root, no `ip`, libc FFI not
 * allowed), or undefined when it can. For `skipUnless` in tiers.ts.
 */
export function kernelSkipReason(): string | undefined {
  const ns = netnsSkipReason();
  if (ns) return ns;
  let ok = false;
  try {
    ok = Deno.permissions.querySync({ name: "ffi", path: LIBC_PATH }).state === "granted";
  } catch {
    ok = false;
  }
  return ok ? undefined : `needs --allow-ffi=${LIBC_PATH}`;
}

/** A fresh namespace with a NetlinkKernel in it (for the contract suite). */
export async function kernelInNetns(): Promise<ContractEnv & { ns: string }> {
  const g = await createNetns(1);
  const ns = g.namespaces[0]!.name;
  try {
    const k = NetlinkKernel.open({ netns: `/run/netns/${ns}` });
    return {
      k,
      ns,
      async done() {
        await k.close();
        await g.destroy();
      },
    };
  } catch (e) {
    await g.destroy();
    throw e;
  }
}

let espCache: boolean | undefined;

/** True when the running kernel installs ESP SAs (probed once, in a throwaway namespace). */
export async function kernelHasEsp(): Promise<boolean> {
  if (espCache !== undefined) return espCache;
  const env = await kernelInNetns();
  try {
    await env.k.addSa({
      src: "10.0.0.1",
      dst: "10.0.0.2",
      proto: "esp",
      spi: 0x100,
      mode: "transport",
      enc: { name: "cbc(aes)", key: new Uint8Array(16) },
      auth: { name: "hmac(sha256)", key: new Uint8Array(32), truncBits: 128 },
    });
    espCache = true;
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    espCache = false;
  } finally {
    await env.done();
  }
  return espCache;
}

/**
 * Why ESP tests cannot run here: {@link kernelSkipReason}, or a kernel
 * without ESP (the host's; they run in the VM tier). Undefined when they can.
 */
export async function espSkipReason(): Promise<string | undefined> {
  const k = kernelSkipReason();
  if (k) return k;
  return await kernelHasEsp()
    ? undefined
    : "this kernel has no ESP (run it with deno task test:vm)";
}

/** One SA as `ip xfrm state` prints it (the fields kink checks). */
export interface IpXfrmState {
  src: string;
  dst: string;
  proto: string;
  spi: number;
  reqid: number;
  mode: string;
  replayWindow: number;
  /** e.g. `{ "enc": ["cbc(aes)", "0x…"], "auth-trunc": ["hmac(sha256)", "0x…", "128"] }` */
  algs: Record<string, string[]>;
  /** Byte and packet counters (with `ip -s`). */
  bytes?: number;
  packets?: number;
  /** The whole block, for messages. */
  text: string;
}

/** Parses `ip [-s] xfrm state` output. */
export function parseIpXfrmState(out: string): IpXfrmState[] {
  const blocks = out.split(/^(?=src )/m).filter((b) => b.startsWith("src "));
  return blocks.map((text) => {
    const head =
      /^src (\S+) dst (\S+)\n\s+proto (\S+) spi (0x[0-9a-f]+)(?:\(\d+\))? reqid (\d+)(?:\(0x[0-9a-f]+\))? mode (\S+)/m
        .exec(text);
    if (!head) throw new Error(`cannot parse ip xfrm state block:\n${text}`);
    const algs: Record<string, string[]> = {};
    for (const m of text.matchAll(/^\s+(enc|auth|auth-trunc|aead|comp) (.+)$/gm)) {
      algs[m[1]!] = m[2]!.replace(/\(\d+ bits\)/, "").trim().split(/\s+/); // `ip -s` adds "(N bits)"
    }
    const rw = /replay-window (\d+)/.exec(text);
    const cur = /lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)/.exec(text);
    const s: IpXfrmState = {
      src: head[1]!,
      dst: head[2]!,
      proto: head[3]!,
      spi: parseInt(head[4]!, 16),
      reqid: Number(head[5]),
      mode: head[6]!,
      replayWindow: rw ? Number(rw[1]) : 0,
      algs,
      text,
    };
    if (cur) {
      s.bytes = Number(cur[1]);
      s.packets = Number(cur[2]);
    }
    return s;
  });
}

/** One policy as `ip xfrm policy` prints it. */
export interface IpXfrmPolicy {
  src: string;
  dst: string;
  proto?: string;
  sport?: string;
  dport?: string;
  dir: string;
  priority: number;
  action?: string;
  mark?: string;
  tmpls: { src: string; dst: string; proto: string; reqid: number; mode: string; level?: string }[];
  text: string;
}

/** Parses `ip xfrm policy` output. */
export function parseIpXfrmPolicy(out: string): IpXfrmPolicy[] {
  const blocks = out.split(/^(?=src )/m).filter((b) => b.startsWith("src "));
  return blocks.map((text) => {
    const head = /^src (\S+) dst (\S+)(.*)\n\s+dir (\S+) (?:action (\S+) )?priority (\d+)/.exec(
      text,
    );
    if (!head) throw new Error(`cannot parse ip xfrm policy block:\n${text}`);
    const rest = head[3]!;
    const p: IpXfrmPolicy = {
      src: head[1]!,
      dst: head[2]!,
      dir: head[4]!,
      priority: Number(head[6]),
      tmpls: [],
      text,
    };
    if (head[5]) p.action = head[5];
    const proto = /proto (\S+)/.exec(rest);
    if (proto) p.proto = proto[1]!;
    const sport = /sport (\S+)/.exec(rest);
    if (sport) p.sport = sport[1]!;
    const dport = /dport (\S+)/.exec(rest);
    if (dport) p.dport = dport[1]!;
    const type = /type (\S+)/.exec(rest);
    if (type) p.sport = type[1]!;
    const mark = /mark (\S+)/.exec(text);
    if (mark) p.mark = mark[1]!;
    for (
      const m of text.matchAll(
        /tmpl src (\S+) dst (\S+)\n\s+proto (\S+) reqid (\d+) mode (\S+)(?:\n\s+level (\S+))?/g,
      )
    ) {
      const t: IpXfrmPolicy["tmpls"][number] = {
        src: m[1]!,
        dst: m[2]!,
        proto: m[3]!,
        reqid: Number(m[4]),
        mode: m[5]!,
      };
      if (m[6]) t.level = m[6];
      p.tmpls.push(t);
    }
    return p;
  });
}
