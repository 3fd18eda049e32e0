import { type Baseplate, unwrap } from "@baseplate/sdk";
import { useMemo, useState } from "preact/hooks";
import { inEnvironment } from "../api.js";
import { type Series, UsageChart } from "../chart.js";
import { InEnvironment } from "../lists.js";
import { Link } from "../router.js";
import { Badge, Empty, PageHeader, Show, useLoad } from "../ui.js";

/**
 * Usage: the environment's meters and their usage over time (`GET /v1/usage/meters/{id}/usage`),
 * as a chart and a table. Environment-wide an operator reads the environment's totals, grouped by
 * the meter's dimensions; a tenant's own usage is on its page, under support access (the plane
 * refuses grouping by tenant without it). `UsagePanel` is shared with the tenant page.
 */
export function Usage() {
  return (
    <>
      <PageHeader
        title="Usage"
        subtitle="What the environment's meters counted over time. A tenant's own usage, limits and holds are on its page."
      />
      <InEnvironment>{(id) => <MeterUsage key={id} client={inEnvironment(id)} />}</InEnvironment>
    </>
  );
}

function MeterUsage({ client }: { client: Baseplate }) {
  const [meters, reload] = useLoad(
    (signal) => unwrap(client.GET("/v1/usage/meters", { params: { query: { limit: 100 } }, signal })),
    [client],
  );
  return (
    <Show state={meters} what="meters" retry={reload}>
      {(page) =>
        page.data.length === 0 ? (
          <Empty>
            No meters yet: a meter counts usage events of one type (<code>POST /v1/usage/meters</code>).
          </Empty>
        ) : (
          <>
            <UsagePanel client={client} meters={page.data} />
            <h2 class="section-header">Meters</h2>
            <table class="table">
              <caption class="visually-hidden">Meters</caption>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Counts</th>
                  <th scope="col">Aggregation</th>
                  <th scope="col">Dimensions</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <code>{m.key}</code> {m.archivedAt && <Badge>archived</Badge>}
                    </td>
                    <td>
                      <code>{m.eventType}</code>
                    </td>
                    <td>
                      {m.aggregation}
                      {m.valuePath ? (
                        <>
                          {" "}
                          of <code>{m.valuePath}</code>
                        </>
                      ) : null}
                    </td>
                    <td>{Object.keys(m.groupBy).join(", ") || <span class="muted">—</span>}</td>
                    <td>{m.description || <span class="muted">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )
      }
    </Show>
  );
}

export interface MeterChoice {
  id: string;
  key: string;
  aggregation: string;
  groupBy: Record<string, string>;
}

/** RANGES: the periods a chart covers, each with its window (UTC). */
const RANGES = {
  "24h": { label: "Last 24 hours", window: "hour" },
  "7d": { label: "Last 7 days", window: "day" },
  "30d": { label: "Last 30 days", window: "day" },
  "12m": { label: "Last 12 months", window: "month" },
} as const;
type Range = keyof typeof RANGES;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** rangeOf: [from, to) of a range ending with the current window, in UTC, as ISO minutes. */
export function rangeOf(range: Range, now = Date.now()): { from: string; to: string } {
  const d = new Date(now);
  let from: number;
  let to: number;
  if (range === "24h") {
    to = Math.floor(now / HOUR) * HOUR + HOUR;
    from = to - 24 * HOUR;
  } else if (range === "12m") {
    to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 11, 1);
  } else {
    to = Math.floor(now / DAY) * DAY + DAY;
    from = to - (range === "7d" ? 7 : 30) * DAY;
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/** groupLabel names a row's group (`model=gpt, region=eu`), or "Total" for an ungrouped query. */
function groupLabel(group: Record<string, string | null>): string {
  const parts = Object.entries(group).map(([k, v]) => `${k}=${v ?? "∅"}`);
  return parts.length ? parts.join(", ") : "Total";
}

/** MAX_SERIES: the lines a chart draws; further groups are summed into "Other". */
const MAX_SERIES = 8;

/**
 * UsagePanel: a meter, a range and a grouping chosen by the operator, the usage they give drawn
 * as a chart, with its totals and the figures per window as a table. With `tenantId` it reads that
 * tenant's usage (the caller needs support access to it).
 */
export function UsagePanel({
  client,
  meters,
  tenantId,
}: {
  client: Baseplate;
  meters: MeterChoice[];
  tenantId?: string;
}) {
  const [meterId, setMeterId] = useState(meters[0]?.id ?? "");
  const [range, setRange] = useState<Range>("30d");
  const [groupBy, setGroupBy] = useState("");
  const meter = meters.find((m) => m.id === meterId) ?? meters[0];
  const dims = meter ? Object.keys(meter.groupBy).sort() : [];
  const scope = tenantId ? "usage-tenant" : "usage-env";
  const [state, reload] = useLoad(
    (signal) => {
      const { from, to } = rangeOf(range);
      return unwrap(
        client.GET("/v1/usage/meters/{meterId}/usage", {
          params: {
            path: { meterId: meter?.id ?? "" },
            query: {
              from,
              to,
              window: RANGES[range].window,
              ...(tenantId ? { tenantId } : {}),
              ...(groupBy && dims.includes(groupBy) ? { groupBy } : {}),
            },
          },
          signal,
        }),
      );
    },
    [client, meter?.id, range, groupBy, tenantId],
  );
  const chart = useMemo(() => {
    if (state.status !== "ok") return null;
    const r = state.data;
    const starts = r.windows.map((w) => Date.parse(w.from));
    // The groups by total, largest first; beyond MAX_SERIES they are summed into "Other".
    const totals = new Map<string, number>();
    for (const row of r.totals) totals.set(groupLabel(row.group), row.value ?? 0);
    const order = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    const shown = order.slice(0, order.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES);
    const other = order.length > shown.length;
    const series: Series[] = [...shown, ...(other ? ["Other"] : [])].map((label) => ({ label, values: [] }));
    if (series.length === 0) series.push({ label: "Total", values: [] });
    r.windows.forEach((w, i) => {
      for (const s of series) s.values[i] = 0;
      for (const row of w.rows) {
        const label = groupLabel(row.group);
        const target = series.find((s) => s.label === label) ?? (other ? series.at(-1) : undefined);
        if (target) target.values[i] = (target.values[i] ?? 0) + (row.value ?? 0);
      }
    });
    return { starts, series };
  }, [state]);
  if (!meter) return <Empty>No meters yet.</Empty>;
  const summary = `Usage of ${meter.key} per ${RANGES[range].window}, ${RANGES[range].label.toLowerCase()}${
    tenantId ? " for this tenant" : " in the environment"
  }`;
  return (
    <section class="card" aria-labelledby={`${scope}-title`}>
      <h2 id={`${scope}-title`}>Usage over time</h2>
      <form class="filters" aria-label="Usage chart" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for={`${scope}-meter`}>Meter</label>
          <select
            id={`${scope}-meter`}
            value={meter.id}
            onChange={(e) => {
              setMeterId(e.currentTarget.value);
              setGroupBy("");
            }}
          >
            {meters.map((m) => (
              <option key={m.id} value={m.id}>
                {m.key} ({m.aggregation})
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for={`${scope}-range`}>Period</label>
          <select id={`${scope}-range`} value={range} onChange={(e) => setRange(e.currentTarget.value as Range)}>
            {(Object.keys(RANGES) as Range[]).map((k) => (
              <option key={k} value={k}>
                {RANGES[k].label}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for={`${scope}-group`}>Group by</label>
          <select
            id={`${scope}-group`}
            value={groupBy}
            disabled={dims.length === 0}
            onChange={(e) => setGroupBy(e.currentTarget.value)}
          >
            <option value="">Nothing (total)</option>
            {dims.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </div>
      </form>
      <Show state={state} what="usage" retry={reload}>
        {(r) => (
          <>
            {chart && <UsageChart starts={chart.starts} series={chart.series} label={summary} unit={meter.key} />}
            <p class="muted small">Windows in UTC · {r.totals.reduce((n, t) => n + t.events, 0)} events counted</p>
            <table class="table">
              <caption>Totals, {RANGES[range].label.toLowerCase()}</caption>
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col">Value</th>
                  <th scope="col">Events</th>
                </tr>
              </thead>
              <tbody>
                {r.totals.length === 0 ? (
                  <tr>
                    <td colSpan={3} class="muted">
                      Nothing counted in this period.
                    </td>
                  </tr>
                ) : (
                  r.totals.map((t) => (
                    <tr key={groupLabel(t.group)}>
                      <td>{groupLabel(t.group)}</td>
                      <td>{t.value ?? "—"}</td>
                      <td>{t.events}</td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
            <details>
              <summary>Figures per {RANGES[range].window}</summary>
              <table class="table">
                <caption class="visually-hidden">Usage per window</caption>
                <thead>
                  <tr>
                    <th scope="col">Window (UTC)</th>
                    <th scope="col">Group</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {r.windows.flatMap((w) =>
                    w.rows.map((row) => (
                      <tr key={`${w.from}${groupLabel(row.group)}`}>
                        <td>
                          <time dateTime={w.from}>{w.from.slice(0, RANGES[range].window === "hour" ? 16 : 10)}</time>
                        </td>
                        <td>{groupLabel(row.group)}</td>
                        <td>{row.value ?? "—"}</td>
                      </tr>
                    )),
                  )}
                </tbody>
              </table>
            </details>
          </>
        )}
      </Show>
      {!tenantId && (
        <p class="muted small">
          Usage by tenant is each tenant's own: open a tenant from <Link href="/tenants">Tenants</Link> and request
          support access to see its usage, limits, holds and invoices.
        </p>
      )}
    </section>
  );
}
