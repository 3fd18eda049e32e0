import type { Comparison, ResultRow, ScenarioResult } from "./results.js";

const HEADERS = [
  "name",
  "rate",
  "unit",
  "p50 ms",
  "p99 ms",
  "cpu us/op",
  "failed",
  "ratio",
  "target",
  "result",
] as const;
const RIGHT_ALIGNED = new Set<string>(["rate", "p50 ms", "p99 ms", "cpu us/op", "failed", "target"]);

/**
 * formatScenario renders a scenario as a text table: one line per measured row, and one more
 * line per extra comparison (a subject compared with several baselines). `ratio` is the subject's
 * rate divided by the named baseline's (or, prefixed `p99`, its p99 latency divided by the
 * baseline's: lower is better); `result` is PASS or MISS where a target exists.
 */
export function formatScenario(scenario: ScenarioResult): string {
  const lines = [`== ${scenario.title} [${scenario.id}]`];
  if (scenario.status !== "measured") {
    lines.push(`   ${scenario.status.toUpperCase()}: ${scenario.reason ?? ""}`);
  }
  if (scenario.rows.length > 0) {
    const cells: string[][] = [];
    for (const r of scenario.rows) {
      const comparisons: Array<Comparison | null> = r.comparisons.length > 0 ? r.comparisons : [null];
      comparisons.forEach((c, i) => {
        cells.push(
          i === 0 ? [...measuredCells(r), ...comparisonCells(c)] : ["", "", "", "", "", "", "", ...comparisonCells(c)],
        );
      });
    }
    lines.push(...renderTable([...HEADERS], cells));
  }
  for (const note of scenario.notes) lines.push(`   - ${note}`);
  return lines.join("\n");
}

function measuredCells(r: ResultRow): string[] {
  return [
    r.role === "baseline" ? `${r.name} (baseline)` : r.name,
    formatRate(r.rate),
    r.unit,
    formatMs(r.p50Ms),
    formatMs(r.p99Ms),
    r.cpuUsPerOp === null ? "-" : Math.round(r.cpuUsPerOp).toLocaleString("en-US"),
    String(r.failures),
  ];
}

function comparisonCells(c: Comparison | null): string[] {
  if (!c) return ["", "", ""];
  const p99 = c.metric === "p99";
  const ratio = Number.isFinite(c.ratio)
    ? `${p99 ? "p99 " : ""}${c.ratio.toFixed(c.ratio < 0.1 ? 3 : 2)}x ${c.baseline}`
    : "n/a";
  if (c.target === undefined) return [ratio, "", ""];
  return [ratio, `${p99 ? "<=" : ">="} ${c.target.toFixed(2)}x`, c.pass ? "PASS" : "MISS"];
}

function formatRate(rate: number): string {
  return Math.round(rate).toLocaleString("en-US");
}

function formatMs(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

function renderTable(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const render = (cells: string[]) =>
    `   ${cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return RIGHT_ALIGNED.has(headers[i] ?? "") ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd()}`;
  return [render(headers), `   ${widths.map((w) => "-".repeat(w)).join("  ")}`, ...rows.map(render)];
}
