import { sql } from "kysely";
import type { z } from "zod";
import { SupportAccessErrors } from "../../../platform/access.js";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { UsageErrors } from "../errors.js";
import { toMeter } from "../internal/rows.js";
import { type Bucket, buckets, isTimeZone, nextWindow, type Window, windowStart } from "../internal/zones.js";
import type { UsageQuery, UsageResult } from "../schemas.js";
import type { UsageTables } from "../tables.js";
import type { MetersService } from "./meters.js";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const MAX_WINDOWS = 50_000;
const MAX_RANGE_MS = 400 * 24 * HOUR;

/** Acc accumulates rollup rows: count, sum, extremes and the latest value (and distinct values). */
interface Acc {
  n: number;
  total: number;
  min: number | null;
  max: number | null;
  latestTime: number | null;
  latestId: string | null;
  latestValue: number | null;
  distinct: Set<string> | null;
}

interface RollupRow {
  tenant_id: string;
  bucket_start: number | string;
  group_key: string;
  n: number | string;
  total: number | string;
  min_value: number | null;
  max_value: number | null;
  latest_time: number | string | null;
  latest_id: string | null;
  latest_value: number | null;
}

/** Segment is part of a window answered by one grain of rollups. */
interface Segment {
  from: number;
  to: number;
  bucket: number;
}

/**
 * segmentsOf splits windows into the parts the hour rollups answer (whole UTC hours) and the parts
 * the minute rollups answer (the edges): a month in a whole-hour zone reads ~744 hour rows and no
 * minute rows; a window edge at :30 (India) reads at most 59 minute rows per edge. Every window
 * boundary is a whole minute, so the answer is exact.
 */
export function segmentsOf(windows: Bucket[]): { hours: Segment[]; minutes: Segment[] } {
  const hours: Segment[] = [];
  const minutes: Segment[] = [];
  windows.forEach((w, bucket) => {
    const hs = Math.ceil(w.from / HOUR) * HOUR;
    const he = Math.floor(w.to / HOUR) * HOUR;
    if (hs < he) {
      hours.push({ from: hs, to: he, bucket });
      if (w.from < hs) minutes.push({ from: w.from, to: hs, bucket });
      if (he < w.to) minutes.push({ from: he, to: w.to, bucket });
    } else {
      minutes.push({ from: w.from, to: w.to, bucket });
    }
  });
  return { hours, minutes };
}

/** find returns the segment containing `t` (segments sorted and disjoint), or null. */
function find(segments: Segment[], t: number): Segment | null {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid] as Segment;
    if (t < s.from) hi = mid - 1;
    else if (t >= s.to) lo = mid + 1;
    else return s;
  }
  return null;
}

function emptyAcc(distinct: boolean): Acc {
  return {
    n: 0,
    total: 0,
    min: null,
    max: null,
    latestTime: null,
    latestId: null,
    latestValue: null,
    distinct: distinct ? new Set() : null,
  };
}

function fold(a: Acc, b: Acc): void {
  a.n += b.n;
  a.total += b.total;
  if (b.min !== null && (a.min === null || b.min < a.min)) a.min = b.min;
  if (b.max !== null && (a.max === null || b.max > a.max)) a.max = b.max;
  if (
    b.latestTime !== null &&
    (a.latestTime === null ||
      b.latestTime > a.latestTime ||
      (b.latestTime === a.latestTime && (b.latestId as string) > (a.latestId as string)))
  ) {
    a.latestTime = b.latestTime;
    a.latestId = b.latestId;
    a.latestValue = b.latestValue;
  }
  if (b.distinct && a.distinct) for (const v of b.distinct) a.distinct.add(v);
}

/**
 * QueryService answers usage by meter × tenant × range from the rollups: windows of a minute, an
 * hour, a day or a month in an IANA time zone, grouped by the meter's dimensions (and `tenantId`),
 * with totals. `unique_count` meters read their distinct values per minute instead.
 */
export class QueryService {
  readonly #db: TypedDb<UsageTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly meters: MetersService,
  ) {
    this.#db = m.db.tables<UsageTables>();
  }

  async query(ctx: ActionContext, meterIdOrKey: string, q: z.infer<typeof UsageQuery>): Promise<UsageResult> {
    const access = await this.m.access.require(ctx, "usage:read", {
      tenantId: q.tenantId ?? null,
      field: "query.tenantId",
    });
    const meter = toMeter(await this.meters.row(access.environmentId, meterIdOrKey));
    const bad = (path: string, message: string) =>
      new AppError(UsageErrors.invalid_query, `${path}: ${message}`, { errors: [{ path, message }] });
    if (!isTimeZone(q.timeZone)) throw bad("query.timeZone", "must be an IANA time zone");
    const month = windowStart("month", this.m.clock.now(), q.timeZone);
    const from = q.from === undefined ? month : Date.parse(q.from);
    const to = q.to === undefined ? nextWindow("month", month, q.timeZone) : Date.parse(q.to);
    if (from % MINUTE !== 0) throw bad("query.from", "must be a whole minute");
    if (to % MINUTE !== 0) throw bad("query.to", "must be a whole minute");
    if (!(from < to)) throw bad("query.to", "must be after `from`");
    if (to - from > MAX_RANGE_MS) throw bad("query.to", "the range may span at most 400 days");
    const dims = Object.keys(meter.groupBy).sort();
    const groupBy = q.groupBy ? [...new Set(q.groupBy.split(",").map((s) => s.trim()))] : [];
    for (const g of groupBy) {
      if (g !== "tenantId" && !dims.includes(g)) throw bad("query.groupBy", `${g} is not a dimension of the meter`);
    }
    if (access.environmentOnly === true && groupBy.includes("tenantId")) {
      // An operator acting environment-wide reads the environment's totals; a tenant's figures are
      // the tenant's, read under support access to it (`tenantId`).
      throw new AppError(
        SupportAccessErrors.support_access_required,
        "Usage by tenant is each tenant's own: query one tenant (`tenantId`) under support access to it, or the environment's totals without grouping by tenant.",
      );
    }
    let windows: Bucket[];
    try {
      windows = buckets(from, to, (q.window ?? null) as Window | null, q.timeZone, MAX_WINDOWS);
    } catch {
      throw bad("query.window", `more than ${MAX_WINDOWS} windows: choose a longer window or a shorter range`);
    }
    const picks = groupBy.map((g) => (g === "tenantId" ? -1 : dims.indexOf(g)));
    const project = (tenantId: string, groupKey: string) => {
      if (picks.length === 0) return "[]";
      const values = JSON.parse(groupKey) as Array<string | null>;
      return JSON.stringify(picks.map((i) => (i === -1 ? tenantId : (values[i] ?? null))));
    };
    const unique = meter.aggregation === "unique_count";
    const perWindow: Array<Map<string, Acc>> = windows.map(() => new Map());
    const add = (bucket: number, group: string, acc: Acc) => {
      const map = perWindow[bucket] as Map<string, Acc>;
      const cur = map.get(group);
      if (cur) fold(cur, acc);
      else map.set(group, acc);
    };
    const { hours, minutes } = segmentsOf(windows);
    const rows = await this.readRollups(
      access.environmentId,
      meter.id,
      access.tenantId,
      hours,
      minutes,
      meter.aggregation === "latest",
      picks.length > 0,
    );
    for (const { segment, row } of rows) {
      add(segment.bucket, project(row.tenant_id, row.group_key), {
        n: Number(row.n),
        total: Number(row.total),
        min: row.min_value === null ? null : Number(row.min_value),
        max: row.max_value === null ? null : Number(row.max_value),
        latestTime: row.latest_time === null ? null : Number(row.latest_time),
        latestId: row.latest_id,
        latestValue: row.latest_value === null ? null : Number(row.latest_value),
        distinct: unique ? new Set() : null,
      });
    }
    if (unique) {
      const values = await this.#db
        .q()
        .selectFrom("usage_distinct")
        .select(["tenant_id", "bucket_start", "group_key", "value"])
        .where("environment_id", "=", access.environmentId)
        .where("meter_id", "=", meter.id)
        .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
        .where("bucket_start", ">=", from)
        .where("bucket_start", "<", to)
        .execute();
      const segments = windows.map((w, bucket) => ({ ...w, bucket }));
      for (const v of values) {
        const s = find(segments, Number(v.bucket_start));
        if (!s) continue;
        const acc = emptyAcc(true);
        acc.distinct?.add(v.value);
        add(s.bucket, project(v.tenant_id, v.group_key), acc);
      }
    }
    const measureOf = (a: Acc): number | null => {
      switch (meter.aggregation) {
        case "count":
          return a.n;
        case "sum":
          return a.total;
        case "max":
          return a.max;
        case "min":
          return a.min;
        case "latest":
          return a.latestValue;
        case "unique_count":
          return a.distinct?.size ?? 0;
      }
    };
    const rowOf = (group: string, a: Acc) => ({
      group: Object.fromEntries(groupBy.map((g, i) => [g, (JSON.parse(group) as Array<string | null>)[i] ?? null])),
      value: measureOf(a),
      events: a.n,
    });
    const totals = new Map<string, Acc>();
    const out = windows.map((w, i) => {
      const map = perWindow[i] as Map<string, Acc>;
      if (groupBy.length === 0 && !map.has("[]")) map.set("[]", emptyAcc(unique));
      for (const [g, a] of map) {
        const t = totals.get(g) ?? emptyAcc(unique);
        fold(t, a);
        totals.set(g, t);
      }
      return {
        from: new Date(w.from).toISOString(),
        to: new Date(w.to).toISOString(),
        rows: [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([g, a]) => rowOf(g, a)),
      };
    });
    return {
      meter: { id: meter.id, key: meter.key, aggregation: meter.aggregation },
      tenantId: access.tenantId,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      window: q.window ?? null,
      timeZone: q.timeZone,
      groupBy,
      windows: out,
      totals: [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([g, a]) => rowOf(g, a)),
    };
  }

  /**
   * readRollups reads the rollups of `hours` (hour rows) and `minutes` (minute rows), each row with
   * its segment. Unless `rows` (the latest value needs each row), the database aggregates them per
   * segment × tenant × group key, so a month answers with a few rows per group: one indexed range
   * per segment when there are few, else one range with each row mapped to its segment by a `case`.
   * Only minute windows over long ranges read raw rows.
   */
  async readRollups(
    environmentId: string,
    meterId: string,
    tenantId: string | null,
    hours: Segment[],
    minutes: Segment[],
    rows: boolean,
    groups: boolean,
    tx?: Tx,
  ): Promise<Array<{ segment: Segment; row: RollupRow }>> {
    const out: Array<{ segment: Segment; row: RollupRow }> = [];
    const base = (grain: number, lo: number, hi: number) =>
      this.#db
        .q(tx)
        .selectFrom("usage_rollup")
        .where("environment_id", "=", environmentId)
        .where("meter_id", "=", meterId)
        .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
        .where("grain", "=", grain)
        .where("bucket_start", ">=", lo)
        .where("bucket_start", "<", hi);
    const raw = async (grain: number, segments: Segment[], lo: number, hi: number) => {
      const found = (await base(grain, lo, hi)
        .select([
          "tenant_id",
          "bucket_start",
          "group_key",
          "n",
          "total",
          "min_value",
          "max_value",
          "latest_time",
          "latest_id",
          "latest_value",
        ])
        .execute()) as RollupRow[];
      for (const row of found) {
        const segment = find(segments, Number(row.bucket_start));
        if (segment) out.push({ segment, row });
      }
    };
    const grouped = async (grain: number, segments: Segment[], lo: number, hi: number, mapped: boolean) => {
      const seg = mapped
        ? sql<number>`case ${sql.join(
            segments.map((s, i) => sql`when bucket_start >= ${s.from} and bucket_start < ${s.to} then ${i}`),
            sql` `,
          )} end`
        : sql<number>`0`;
      // Without groups, one sum per segment: grouping by the group key costs a sort.
      const found = await base(grain, lo, hi)
        .select((eb) => [
          seg.as("seg"),
          groups ? "tenant_id" : sql<string>`''`.as("tenant_id"),
          groups ? "group_key" : sql<string>`'[]'`.as("group_key"),
          eb.fn.sum<number | string>("n").as("n"),
          eb.fn.sum<number | string>("total").as("total"),
          eb.fn.min<number | null>("min_value").as("min_value"),
          eb.fn.max<number | null>("max_value").as("max_value"),
        ])
        .$if(groups, (qb) => qb.groupBy([sql`1`, "tenant_id", "group_key"]))
        .$if(!groups && mapped, (qb) => qb.groupBy(sql`1`))
        .execute();
      for (const r of found) {
        if (r.seg === null || r.n === null) continue;
        const segment = mapped
          ? (segments[Number(r.seg)] as Segment)
          : (segments.find((s) => s.from === lo) as Segment);
        out.push({
          segment,
          row: { ...r, bucket_start: segment.from, latest_time: null, latest_id: null, latest_value: null },
        });
      }
    };
    const read = async (grain: number, segments: Segment[]) => {
      if (segments.length === 0) return;
      const first = (segments[0] as Segment).from;
      const last = (segments[segments.length - 1] as Segment).to;
      if (rows) {
        if (segments.length <= 16) for (const s of segments) await raw(grain, segments, s.from, s.to);
        else await raw(grain, segments, first, last);
      } else if (segments.length <= (grain === HOUR ? 4 : 100)) {
        // One indexed range each (edges of windows are short, far apart: never scan between them).
        for (const s of segments) await grouped(grain, segments, s.from, s.to, false);
      } else if (grain === HOUR && segments.length <= 400) {
        await grouped(grain, segments, first, last, true);
      } else {
        await raw(grain, segments, first, last);
      }
    };
    await read(HOUR, hours);
    await read(MINUTE, minutes);
    return out;
  }

  /**
   * used sums a meter's usage of one tenant over [from, to) (minute-aligned): the sum of values for
   * `sum` meters, the number of events otherwise. Runs in `tx` when given (a hold's decision).
   */
  async used(
    environmentId: string,
    meterId: string,
    aggregation: string,
    tenantId: string,
    from: number,
    to: number,
    tx?: Tx,
  ): Promise<number> {
    const used = await this.usedByMeter(environmentId, [{ id: meterId, aggregation }], tenantId, from, to, tx);
    return used.get(meterId) ?? 0;
  }

  /**
   * usedByMeter is `used` for several meters of one tenant over one range, in one statement (one
   * indexed range per meter and segment): meter id → usage (0 without events).
   */
  async usedByMeter(
    environmentId: string,
    meters: ReadonlyArray<{ id: string; aggregation: string }>,
    tenantId: string,
    from: number,
    to: number,
    tx?: Tx,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>(meters.map((m) => [m.id, 0]));
    const { hours, minutes } = segmentsOf([{ from, to }]);
    const segments = [...hours.map((s) => [HOUR, s] as const), ...minutes.map((s) => [MINUTE, s] as const)];
    if (meters.length === 0 || segments.length === 0) return out;
    // One statement: per meter and segment, a correlated sum over one indexed range of the meter's
    // rollups of the tenant. (A union of the ranges, or a join, is planned by PostgreSQL as a
    // parallel scan: ten times slower.) Summed per segment, then per meter, like `used` one by one.
    const ranges = [...out.keys()].flatMap((meterId) =>
      segments.map(
        ([grain, s]) =>
          sql`(${meterId}, ${sums(meters, meterId)}, cast(${grain} as integer), cast(${s.from} as bigint), cast(${s.to} as bigint))`,
      ),
    );
    const result = await sql<{
      meter_id: string;
      u: number | string | null;
    }>`with v(meter_id, kind, grain, lo, hi) as (values ${sql.join(
      ranges,
    )}) select meter_id, sum(u) as u from (select v.meter_id, (select sum(case when v.kind = 'n' then r.n else r.total end) from usage_rollup r where r.environment_id = ${environmentId} and r.meter_id = v.meter_id and r.tenant_id = ${tenantId} and r.grain = v.grain and r.bucket_start >= v.lo and r.bucket_start < v.hi) as u from v) parts group by meter_id`.execute(
      this.#db.q(tx),
    );
    for (const r of result.rows) out.set(r.meter_id, Number(r.u ?? 0));
    return out;
  }
}

/** sums names the rollup column a meter's usage sums: `total` (sum meters) or `n` (event counts). */
function sums(meters: ReadonlyArray<{ id: string; aggregation: string }>, meterId: string): "total" | "n" {
  return meters.find((m) => m.id === meterId)?.aggregation === "sum" ? "total" : "n";
}
