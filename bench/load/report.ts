/**
 * Tables (stdout, markdown) and an SVG plot of a load-benchmark run.
 *
 * @module
 */
import type { WorkloadResult } from "./common.ts";
import { WORKLOADS } from "./workloads.ts";

const f = (x: number | undefined, d = 1) => x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d);

/** One markdown table of every result, grouped by workload. */
export function resultsTable(rs: WorkloadResult[]): string {
  const head =
    "| workload | impl | done/asked | SA pairs/s | p50 ms | p99 ms | CPU ms/exch (i+r) | RSS MiB (i/r) | retx | rcvbuf drops |\n" +
    "|---|---|---|---|---|---|---|---|---|---|";
  const rows: string[] = [];
  for (const w of WORKLOADS) {
    for (const r of rs.filter((x) => x.workload === w.key)) {
      if (r.detail === "n/a") {
        rows.push(`| ${w.label} | ${r.impl} | n/a: ${r.notes ?? ""} | | | | | | | |`);
        continue;
      }
      const cpu = r.cpuMsSplit
        ? `${f(r.cpuMsPerExchange, 2)} (${f(r.cpuMsSplit.initiator, 2)}+${
          f(r.cpuMsSplit.responder, 2)
        })`
        : "–";
      const rss = r.rssMiB ? `${f(r.rssMiB.initiator)}/${f(r.rssMiB.responder)}` : "–";
      rows.push(
        `| ${w.label} | ${r.impl} | ${r.completed}/${r.requested} | ${f(r.rate)} | ${
          f(r.latencyMs?.p50, 2)
        } | ${f(r.latencyMs?.p99, 2)} | ${cpu} | ${rss} | ${r.retransmissions ?? "–"} | ${
          r.rcvbufErrors ?? "–"
        } |`,
      );
    }
  }
  return [head, ...rows].join("\n");
}

/** kink's rate and CPU as ratios to each peer's, per workload. */
export function ratioTable(rs: WorkloadResult[], kink = "kink"): string {
  const lines = [
    "| workload | kink/kinkd rate | kink/strongSwan rate | kinkd/kink CPU | strongSwan/kink CPU |",
    "|---|---|---|---|---|",
  ];
  const get = (impl: string, w: string) =>
    rs.find((r) => r.impl === impl && r.workload === w && r.detail !== "n/a");
  const ratio = (a?: number, b?: number) =>
    a === undefined || b === undefined || !(b > 0) || Number.isNaN(a)
      ? "–"
      : `${(a / b).toFixed(2)}×`;
  for (const w of WORKLOADS) {
    const k = get(kink, w.key);
    if (!k) continue;
    const d = get("kinkd", w.key), s = get("strongswan", w.key);
    lines.push(
      `| ${w.label} | ${ratio(k.rate, d?.rate)} | ${ratio(k.rate, s?.rate)} | ${
        ratio(d?.cpuMsPerExchange, k.cpuMsPerExchange)
      } | ${ratio(s?.cpuMsPerExchange, k.cpuMsPerExchange)} |`,
    );
  }
  return lines.join("\n");
}

/** Issue 14's targets against kink's figures. */
export function targetsTable(rs: WorkloadResult[], kink = "kink"): string {
  const get = (w: string) => rs.find((r) => r.impl === kink && r.workload === w);
  const w10 = get("win10"), w50 = get("win50"), burst = get("burst1000"), seq = get("seq");
  const best = Math.max(w10?.rate ?? 0, w50?.rate ?? 0, seq?.rate ?? 0);
  const cpu = Math.min(
    ...[seq, w10, w50].map((r) => r?.cpuMsPerExchange ?? Infinity),
  );
  const steady = w50?.rate;
  const rows: [string, string, boolean | undefined][] = [
    ["≥ 5,000 SA pairs/s with ≤ 50 outstanding", `${f(best)}/s`, best >= 5000],
    ["≤ 0.3 ms CPU per exchange (both sides)", `${f(cpu, 2)} ms`, cpu <= 0.3],
    [
      "p99 < 10 ms at 50 outstanding",
      `${f(w50?.latencyMs?.p99, 2)} ms`,
      (w50?.latencyMs?.p99 ?? Infinity) < 10,
    ],
    [
      "1,000-ACQUIRE burst ≥ 80% of steady rate, none lost",
      burst && steady
        ? `${f(100 * burst.rate / steady, 0)}% of the 50-window rate, ${burst.failures} lost`
        : "–",
      burst && steady ? burst.rate >= 0.8 * steady && burst.failures === 0 : undefined,
    ],
  ];
  const hold = get("hold100k");
  if (hold?.rssMiB) {
    const rss = Math.max(hold.rssMiB.initiator, hold.rssMiB.responder);
    rows.push([
      "100,000 SAs held in ≤ 300 MB RSS (daemon)",
      `${f(rss, 0)} MiB (larger side) at ${hold.completed * 2} SAs per side`,
      hold.completed * 2 >= 100_000 ? rss <= 300 : undefined,
    ]);
  }
  return [
    "| target | measured | met |",
    "|---|---|---|",
    ...rows.map(([t, m, ok]) => `| ${t} | ${m} | ${ok === undefined ? "–" : ok ? "yes" : "no"} |`),
  ].join("\n");
}

/** A grouped bar chart (SA pairs/s, log scale) per workload and implementation, as SVG. */
export function svgPlot(rs: WorkloadResult[], title: string): string {
  const impls = [...new Set(rs.map((r) => r.impl))];
  const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
  const ws = WORKLOADS.filter((w) => rs.some((r) => r.workload === w.key && r.rate > 0));
  const W = 140 * Math.max(1, ws.length) + 120, H = 420, top = 50, bottom = 90, left = 70;
  const ph = H - top - bottom;
  const maxRate = Math.max(10, ...rs.map((r) => (r.rate > 0 ? r.rate : 0)));
  const lo = 1, hi = Math.pow(10, Math.ceil(Math.log10(maxRate)));
  const y = (v: number) => top + ph - ph * (Math.log10(Math.max(v, lo)) - 0) / Math.log10(hi);
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let e = 0; Math.pow(10, e) <= hi; e++) {
    const v = Math.pow(10, e), yy = y(v);
    parts.push(
      `<line x1="${left}" x2="${W - 20}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${v}</text>`,
    );
  }
  parts.push(
    `<text x="16" y="${top + ph / 2}" transform="rotate(-90 16 ${
      top + ph / 2
    })" text-anchor="middle">SA pairs / s (log)</text>`,
  );
  const gw = (W - left - 20) / Math.max(1, ws.length);
  const bw = Math.min(28, (gw - 20) / Math.max(1, impls.length));
  ws.forEach((w, wi) => {
    const x0 = left + wi * gw + (gw - bw * impls.length) / 2;
    impls.forEach((impl, ii) => {
      const r = rs.find((x) => x.impl === impl && x.workload === w.key);
      if (!r || !(r.rate > 0)) return;
      const yy = y(r.rate);
      parts.push(
        `<rect x="${x0 + ii * bw}" y="${yy}" width="${bw - 2}" height="${top + ph - yy}" fill="${
          colours[ii % colours.length]
        }"><title>${esc(`${impl} ${w.label}: ${r.rate.toFixed(0)}/s`)}</title></rect>`,
        `<text x="${x0 + ii * bw + bw / 2 - 1}" y="${yy - 3}" text-anchor="middle" font-size="9">${
          r.rate.toFixed(0)
        }</text>`,
      );
    });
    const lx = left + wi * gw + gw / 2;
    const words = w.label.split(" ");
    const l1 = words.slice(0, 2).join(" "), l2 = words.slice(2).join(" ");
    parts.push(
      `<text x="${lx}" y="${top + ph + 16}" text-anchor="middle">${esc(l1)}</text>`,
      `<text x="${lx}" y="${top + ph + 30}" text-anchor="middle">${esc(l2)}</text>`,
    );
  });
  impls.forEach((impl, ii) => {
    const x = left + ii * 130;
    parts.push(
      `<rect x="${x}" y="${H - 28}" width="12" height="12" fill="${
        colours[ii % colours.length]
      }"/>`,
      `<text x="${x + 16}" y="${H - 18}">${esc(impl)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
