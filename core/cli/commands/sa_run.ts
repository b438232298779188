/**
 * The body of `kink sa list` (declared in `sa.ts`) and the formatting that
 * `kink policy list` shares: loaded only when one of them runs, so that the
 * launcher and the other subcommands do not load the netlink kernel.
 *
 * @module
 */
import { type CommandIO, flagOpt, type ParsedArgs, stringOpt, UsageError } from "../command.ts";
import {
  type KernelIpsec,
  type Lifetime,
  NetlinkKernel,
  type SaState,
  type Selector,
} from "../../kernel/mod.ts";
import { toHex } from "../../util/bytes.ts";
import { safeJson } from "../../util/text.ts";

/** Opens the netlink backend in the namespace named by `--netns`, if any. */
export function openKernel(args: ParsedArgs): NetlinkKernel {
  const ns = stringOpt(args, "netns");
  if (ns === undefined) return NetlinkKernel.open();
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ns) || ns === "." || ns === "..") {
    throw new UsageError(`--netns: invalid namespace name ${JSON.stringify(ns.slice(0, 64))}`);
  }
  return NetlinkKernel.open({ netns: `/run/netns/${ns}` });
}

/** Text of a selector, as `ip xfrm` prints it. */
export function formatSelector(s: Selector): string {
  let t = `src ${s.src}/${s.srcPrefixLen} dst ${s.dst}/${s.dstPrefixLen}`;
  if (s.proto) t += ` proto ${s.proto}`;
  if (s.sport) t += ` sport ${s.sport}`;
  if (s.dport) t += ` dport ${s.dport}`;
  if (s.ifindex) t += ` dev ${s.ifindex}`;
  return t;
}

/** Text of lifetime limits (only the ones set), or undefined. */
export function formatLifetime(l: Lifetime): string | undefined {
  const parts = Object.entries(l).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v}`);
  return parts.length ? parts.join(", ") : undefined;
}

function keyText(key: Uint8Array, show: boolean): string {
  return show ? `0x${toHex(key)}` : `<${key.length} octets redacted>`;
}

/** Renders SAs as text (keys redacted unless `showKeys`). */
export function formatSas(sas: SaState[], showKeys: boolean): string[] {
  const out: string[] = [];
  for (const s of sas) {
    out.push(`src ${s.src} dst ${s.dst}`);
    out.push(
      `\tproto ${s.proto} spi 0x${
        s.spi.toString(16).padStart(8, "0")
      } reqid ${s.reqid} mode ${s.mode}`,
    );
    out.push(
      `\treplay-window ${s.replayWindow}${s.esn ? " flag esn" : ""}${
        s.seq ? ` seq 0x${s.seq.toString(16)}` : ""
      }`,
    );
    if (s.mark) out.push(`\tmark 0x${s.mark.value.toString(16)}/0x${s.mark.mask.toString(16)}`);
    if (s.auth) {
      out.push(`\tauth-trunc ${s.auth.name} ${keyText(s.auth.key, showKeys)} ${s.auth.truncBits}`);
    }
    if (s.enc) out.push(`\tenc ${s.enc.name} ${keyText(s.enc.key, showKeys)}`);
    if (s.aead) {
      out.push(`\taead ${s.aead.name} ${keyText(s.aead.key, showKeys)} ${s.aead.icvBits}`);
    }
    if (!s.enc && !s.auth && !s.aead) out.push("\tlarval (SPI allocated, no keys yet)");
    out.push(`\tsel ${formatSelector(s.selector)}`);
    const lt = formatLifetime(s.lifetime);
    if (lt) out.push(`\tlimits: ${lt}`);
    out.push(
      `\tcurrent: ${s.current.bytes} bytes, ${s.current.packets} packets, added ${
        new Date(s.current.addTime * 1000).toISOString()
      }${
        s.current.useTime ? `, first use ${new Date(s.current.useTime * 1000).toISOString()}` : ""
      }`,
    );
  }
  return out;
}

/** SAs as JSON-ready objects: each key becomes hex (`--show-keys`) or just its length. */
export function saJson(sas: SaState[], showKeys: boolean): unknown[] {
  const k = (
    key: Uint8Array,
  ) => (showKeys ? { key: toHex(key) } : { keyLength: key.length, key: "redacted" });
  return sas.map((s) => {
    const o: Record<string, unknown> = { ...s };
    if (s.enc) o.enc = { name: s.enc.name, ...k(s.enc.key) };
    if (s.auth) o.auth = { name: s.auth.name, truncBits: s.auth.truncBits, ...k(s.auth.key) };
    if (s.aead) o.aead = { name: s.aead.name, icvBits: s.aead.icvBits, ...k(s.aead.key) };
    return o;
  });
}

/** Lists SAs from `k` to `io` (the body of `kink sa list`, usable with any backend). */
export async function listSasTo(
  k: KernelIpsec,
  io: CommandIO,
  json: boolean,
  showKeys: boolean,
): Promise<number> {
  const sas = await k.listSas();
  try {
    if (json) io.out(safeJson(saJson(sas, showKeys), 2));
    else for (const l of formatSas(sas, showKeys)) io.out(l);
  } finally {
    for (const s of sas) for (const key of [s.enc?.key, s.auth?.key, s.aead?.key]) key?.fill(0);
  }
  return 0;
}

/** Runs `kink sa list` with parsed arguments; resolves to its exit code. */
export async function runSaList(args: ParsedArgs, io: CommandIO): Promise<number> {
  const k = openKernel(args);
  try {
    return await listSasTo(k, io, flagOpt(args, "json"), flagOpt(args, "show-keys"));
  } finally {
    await k.close();
  }
}
