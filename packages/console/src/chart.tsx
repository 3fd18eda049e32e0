import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/**
 * UsageChart draws usage over time with uPlot (a small, maintained canvas chart library: no
 * dependencies, no inline styles or scripts, so it runs under the console's strict CSP). The canvas
 * is not readable by assistive technology: the figure carries a summary as its label, and every
 * chart is followed by the same figures as a table (`UsageTable`).
 */

/** Series is one line of the chart: its label and a value per window (null: no data). */
export interface Series {
  label: string;
  values: Array<number | null>;
}

/** PALETTE: distinguishable line colours (colour-blind safe, Okabe–Ito). */
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];

export function UsageChart({
  starts,
  series,
  label,
  unit,
}: {
  /** starts: each window's start (epoch ms), ascending. */
  starts: number[];
  series: Series[];
  /** label: what the chart shows, read to assistive technology (`Usage of tokens per day`). */
  label: string;
  unit: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(320, Math.floor(el.clientWidth));
    const opts: uPlot.Options = {
      width: width(),
      height: 260,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 64 }],
      legend: { show: series.length > 1 },
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length] as string,
          width: 2,
          points: { show: starts.length <= 40 },
          spanGaps: false,
        })),
      ],
    };
    const data: uPlot.AlignedData = [starts.map((t) => t / 1000), ...series.map((s) => s.values)];
    const plot = new uPlot(opts, data, el);
    // Follow the container's width (the sidebar, a resized window).
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: 260 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [starts, series, unit]);
  return <div ref={box} class="chart" role="img" aria-label={label} data-testid="usage-chart" />;
}
