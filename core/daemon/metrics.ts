/**
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * @module
 */

/** One metric family. */
export interface MetricFamily {
  /** Name, `kink_…` (snake case). */
  name: string;
  /** `counter` or `gauge`. */
  type: "counter" | "gauge";
  /** One line of help. */
  help: string;
  /** Samples: label set (may be empty) and value. */
  samples: { labels?: Record<string, string>; value: number }[];
}

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Renders families as exposition text (ends with a newline). */
export function renderMetrics(families: readonly MetricFamily[]): string {
  let out = "";
  for (const f of families) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) {
      throw new RangeError(`bad metric name ${f.name}`);
    }
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const l = labels.length === 0
        ? ""
        : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
      const v = Number.isFinite(s.value)
        ? String(s.value)
        : s.value > 0
        ? "+Inf"
        : s.value < 0
        ? "-Inf"
        : "NaN";
      out += `${f.name}${l} ${v}\n`;
    }
  }
  return out;
}
