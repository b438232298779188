/**
 * The body of `kink policy list` (declared in `policy.ts`), loaded only when
 * the command runs.
 *
 * @module
 */
import { type CommandIO, flagOpt, type ParsedArgs } from "../command.ts";
import type { KernelIpsec, PolicyState } from "../../kernel/mod.ts";
import { formatLifetime, formatSelector, openKernel } from "./sa_run.ts";
import { safeJson } from "../../util/text.ts";

/** Renders policies as text. */
export function formatPolicies(ps: PolicyState[]): string[] {
  const out: string[] = [];
  for (const p of ps) {
    out.push(formatSelector(p.selector));
    out.push(`\tdir ${p.dir} action ${p.action} priority ${p.priority} index ${p.index}`);
    if (p.mark) out.push(`\tmark 0x${p.mark.value.toString(16)}/0x${p.mark.mask.toString(16)}`);
    const lt = formatLifetime(p.lifetime);
    if (lt) out.push(`\tlimits: ${lt}`);
    for (const t of p.templates) {
      out.push(`\ttmpl src ${t.src} dst ${t.dst}`);
      out.push(
        `\t\tproto ${t.proto} spi 0x${
          t.spi.toString(16).padStart(8, "0")
        } reqid ${t.reqid} mode ${t.mode} level ${t.level}`,
      );
    }
  }
  return out;
}

/** Lists policies from `k` to `io` (the body of `kink policy list`). */
export async function listPoliciesTo(
  k: KernelIpsec,
  io: CommandIO,
  json: boolean,
): Promise<number> {
  const ps = await k.listPolicies();
  if (json) io.out(safeJson(ps, 2));
  else for (const l of formatPolicies(ps)) io.out(l);
  return 0;
}

/** Runs `kink policy list` with parsed arguments; resolves to its exit code. */
export async function runPolicyList(args: ParsedArgs, io: CommandIO): Promise<number> {
  const k = openKernel(args);
  try {
    return await listPoliciesTo(k, io, flagOpt(args, "json"));
  } finally {
    await k.close();
  }
}
