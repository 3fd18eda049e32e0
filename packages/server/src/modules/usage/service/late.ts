import { sql } from "kysely";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { UsageMeterTable, UsageTables } from "../tables.js";
import { measure } from "./ingest.js";
import { segmentsOf } from "./query.js";

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * LATE_AFTER_MS: an event whose time is more than this before its receipt is "late" and is in the
 * partial index `usage_event_late_idx` (its predicate spells the same number: change both or
 * neither). Events on time are found by their time instead (the tenant's time index).
 */
export const LATE_AFTER_MS = 60_000;

type MeterRow = {
  id: string;
  aggregation: UsageMeterTable["aggregation"];
  event_type: string;
  value_path: string | null;
  group_by: unknown;
  key: string;
  created_at: number | string;
  archived_at: number | string | null;
};

/** ReceivedWindow: events with time in [from, to) and received_at in [receivedFrom, receivedTo). */
export interface ReceivedWindow {
  from: number;
  to: number;
  receivedFrom: number;
  receivedTo: number;
}

export interface UsageByReceipt {
  /** used: per meter, the rollups' usage over the range (every event committed so far). */
  used: Map<string, number>;
  /** after: per meter, the part of `used` received at or after the cut-off (`receivedTo` of none). */
  after: Map<string, number>;
  /** late: per meter, the usage of the late window. */
  late: Map<string, number>;
}

/**
 * LateUsageService answers usage by event time and received time, for billing: usage of a range
 * from the rollups, the part of it received after a cut-off, and the usage of a window of event
 * times received between two cut-offs, in ONE statement (one snapshot, so the three agree on
 * PostgreSQL under read committed as on SQLite). A received-time window is read from raw events:
 * late ones (time before receipt by more than LATE_AFTER_MS) through the partial index by
 * received_at, the others through the time index over [receivedFrom − LATE_AFTER_MS, to) only, so
 * neither read scans the period's events. Each event counts for a meter as in the rollups: its
 * value (`sum` meters) or 1, if the meter existed and was active when it was received.
 */
export class LateUsageService {
  readonly #db: TypedDb<UsageTables>;

  constructor(m: ModuleContext) {
    this.#db = m.db.tables<UsageTables>();
  }

  async usedByReceipt(
    environmentId: string,
    meters: ReadonlyArray<MeterRow>,
    tenantId: string,
    from: number,
    to: number,
    cutoff: number,
    late: ReceivedWindow | null,
    tx?: Tx,
  ): Promise<UsageByReceipt> {
    const zero = () => new Map<string, number>(meters.map((m) => [m.id, 0]));
    const out: UsageByReceipt = { used: zero(), after: zero(), late: zero() };
    if (meters.length === 0) return out;
    const { hours, minutes } = segmentsOf(from < to ? [{ from, to }] : []);
    const segments = [...hours.map((s) => [HOUR, s] as const), ...minutes.map((s) => [MINUTE, s] as const)];
    const types = [...new Set(meters.map((m) => m.event_type))];
    const parts = [];
    let head = sql``;
    if (segments.length > 0) {
      const ranges = meters.flatMap((m) =>
        segments.map(
          ([grain, s]) =>
            sql`(${m.id}, ${m.aggregation === "sum" ? "total" : "n"}, cast(${grain} as integer), cast(${s.from} as bigint), cast(${s.to} as bigint))`,
        ),
      );
      head = sql`with v(meter_id, kind, grain, lo, hi) as (values ${sql.join(ranges)}) `;
      parts.push(
        sql`select 'r' as part, meter_id, sum(u) as u, cast(null as text) as type, cast(null as bigint) as time, cast(null as bigint) as received_at, cast(null as text) as data from (select v.meter_id, (select sum(case when v.kind = 'n' then r.n else r.total end) from usage_rollup r where r.environment_id = ${environmentId} and r.meter_id = v.meter_id and r.tenant_id = ${tenantId} and r.grain = v.grain and r.bucket_start >= v.lo and r.bucket_start < v.hi) as u from v) parts group by meter_id`,
      );
    }
    const windows: Array<[string, ReceivedWindow]> = [];
    if (from < to) windows.push(["a", { from, to, receivedFrom: cutoff, receivedTo: Number.MAX_SAFE_INTEGER }]);
    if (late && late.from < late.to && late.receivedFrom < late.receivedTo) windows.push(["l", late]);
    const lateAfter = sql.lit(LATE_AFTER_MS);
    for (const [tag, w] of windows) {
      const base = sql`select ${tag} as part, cast(null as text) as meter_id, cast(null as bigint) as u, type, time, received_at, cast(data as text) as data from usage_event where environment_id = ${environmentId} and tenant_id = ${tenantId} and type in (${sql.join(types)}) and time >= ${w.from} and time < ${w.to} and received_at >= ${w.receivedFrom} and received_at < ${w.receivedTo}`;
      // Late events: the partial index by received time (its predicate, spelled the same).
      parts.push(sql`${base} and time < received_at - ${lateAfter}`);
      // Events on time were received within LATE_AFTER_MS of their time: a short range of times.
      const lo = Math.max(w.from, w.receivedFrom - LATE_AFTER_MS);
      if (lo < w.to) parts.push(sql`${base} and time >= ${lo} and time >= received_at - ${lateAfter}`);
    }
    const result = await sql<{
      part: string;
      meter_id: string | null;
      u: number | string | null;
      type: string | null;
      time: number | string | null;
      received_at: number | string | null;
      data: string | null;
    }>`${head}${sql.join(parts, sql` union all `)}`.execute(this.#db.q(tx));
    const byType = new Map<string, MeterRow[]>();
    for (const m of meters) byType.set(m.event_type, [...(byType.get(m.event_type) ?? []), m]);
    for (const r of result.rows) {
      if (r.part === "r") {
        out.used.set(r.meter_id as string, Number(r.u ?? 0));
        continue;
      }
      const received = Number(r.received_at);
      const data = JSON.parse(r.data ?? "{}") as Record<string, unknown>;
      const target = r.part === "a" ? out.after : out.late;
      for (const meter of byType.get(r.type as string) ?? []) {
        // The rollups count an event for the meters active when it was received: so does this.
        if (received < Number(meter.created_at)) continue;
        if (meter.archived_at !== null && received >= Number(meter.archived_at)) continue;
        let add = 1;
        if (meter.aggregation === "sum") {
          const measured = measure(meter as Parameters<typeof measure>[0], data);
          if (typeof measured === "string") continue;
          add = measured.value ?? 0;
        }
        target.set(meter.id, (target.get(meter.id) ?? 0) + add);
      }
    }
    return out;
  }
}
