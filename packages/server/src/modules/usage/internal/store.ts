import { CompiledQuery, type Kysely } from "kysely";
import type { Engine, Tx } from "../../../platform/db/db.js";

/**
 * The hot statements of ingestion, as precompiled multi-row SQL (one text per row count and engine):
 * - events: `insert … on conflict do nothing returning id` — the primary key (environment_id, id)
 *   decides, inside the write's transaction, which copies are new: a concurrent copy waits for the
 *   first to commit (PostgreSQL) or runs after it (SQLite's single writer) and inserts nothing;
 * - rollups: `insert … on conflict do update` folding counts, sums, extremes and the latest value
 *   into the minute and hour buckets, so a late event lands in its own bucket like any other;
 * - distinct values of `unique_count` meters: `insert … on conflict do nothing`.
 * Rows are sorted by key before writing, so two writers lock rollup rows in one order.
 */

const EVENT_COLUMNS = [
  "environment_id",
  "id",
  "tenant_id",
  "type",
  "time",
  "source",
  "data",
  "credential_id",
  "actor_type",
  "received_at",
] as const;

const ROLLUP_COLUMNS = [
  "environment_id",
  "meter_id",
  "tenant_id",
  "grain",
  "bucket_start",
  "group_key",
  "shard",
  "n",
  "total",
  "min_value",
  "max_value",
  "latest_time",
  "latest_id",
  "latest_value",
] as const;

const NEWER =
  "(excluded.latest_time > usage_rollup.latest_time or (excluded.latest_time = usage_rollup.latest_time and excluded.latest_id > usage_rollup.latest_id))";

/** ROLLUP_CONFLICT folds a delta into an existing rollup row: every field merges exactly. */
const ROLLUP_CONFLICT = [
  "on conflict (environment_id, meter_id, tenant_id, grain, bucket_start, group_key, shard) do update set",
  "n = usage_rollup.n + excluded.n,",
  "total = usage_rollup.total + excluded.total,",
  "min_value = case when usage_rollup.min_value is null or excluded.min_value < usage_rollup.min_value then excluded.min_value else usage_rollup.min_value end,",
  "max_value = case when usage_rollup.max_value is null or excluded.max_value > usage_rollup.max_value then excluded.max_value else usage_rollup.max_value end,",
  `latest_value = case when usage_rollup.latest_time is null or ${NEWER} then excluded.latest_value else usage_rollup.latest_value end,`,
  `latest_id = case when usage_rollup.latest_time is null or ${NEWER} then excluded.latest_id else usage_rollup.latest_id end,`,
  `latest_time = case when usage_rollup.latest_time is null or ${NEWER} then excluded.latest_time else usage_rollup.latest_time end`,
].join(" ");

const DISTINCT_COLUMNS = ["environment_id", "meter_id", "tenant_id", "bucket_start", "group_key", "value"] as const;

/** Keep each statement below SQLite's 32,766 parameters. */
const MAX_PARAMS = 30_000;

export interface RollupDelta {
  environmentId: string;
  meterId: string;
  tenantId: string;
  grain: number;
  bucketStart: number;
  groupKey: string;
  shard: number;
  n: number;
  total: number;
  min: number | null;
  max: number | null;
  latestTime: number | null;
  latestId: string | null;
  latestValue: number | null;
}

export class UsageStore {
  readonly #texts = new Map<string, string>();

  constructor(private readonly engine: Engine) {}

  #text(kind: string, rows: number, head: string, width: number, tail: string): string {
    const key = `${kind}:${rows}`;
    let text = this.#texts.get(key);
    if (!text) {
      const pg = this.engine === "postgres";
      const row = (r: number) =>
        `(${Array.from({ length: width }, (_, i) => (pg ? `$${r * width + i + 1}` : "?")).join(", ")})`;
      text = `${head} values ${Array.from({ length: rows }, (_, r) => row(r)).join(", ")} ${tail}`;
      this.#texts.set(key, text);
    }
    return text;
  }

  /**
   * insertEvents inserts the events (values flattened in EVENT_COLUMNS order, ids unique within the
   * call) and returns the ids that were new; the others were stored before.
   */
  async insertEvents(tx: Tx, rows: unknown[][]): Promise<Set<string>> {
    const inserted = new Set<string>();
    const width = EVENT_COLUMNS.length;
    const per = Math.floor(MAX_PARAMS / width);
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      const text = this.#text(
        "event",
        chunk.length,
        `insert into usage_event (${EVENT_COLUMNS.join(", ")})`,
        width,
        "on conflict (environment_id, id) do nothing returning id",
      );
      const result = await tx.executeQuery<{ id: string }>(CompiledQuery.raw(text, chunk.flat()));
      for (const r of result.rows) inserted.add(r.id);
    }
    return inserted;
  }

  /** upsertRollups folds the deltas (unique by key) into the rollups. */
  async upsertRollups(tx: Tx, deltas: RollupDelta[]): Promise<void> {
    const sorted = sortDeltas(deltas);
    const width = ROLLUP_COLUMNS.length;
    const per = Math.floor(MAX_PARAMS / width);
    const tail = ROLLUP_CONFLICT;
    for (let i = 0; i < sorted.length; i += per) {
      const chunk = sorted.slice(i, i + per);
      const text = this.#text(
        "rollup",
        chunk.length,
        `insert into usage_rollup (${ROLLUP_COLUMNS.join(", ")})`,
        width,
        tail,
      );
      const values: unknown[] = [];
      for (const d of chunk) values.push(...deltaValues(d));
      await tx.executeQuery(CompiledQuery.raw(text, values));
    }
  }

  /**
   * insertAlone (PostgreSQL) stores one event in one statement, outside any transaction: it
   * share-locks `meters` if each is still active at the version given, inserts the event only if
   * all are, and folds `deltas` and `distinct` in only if the event was new. `metersCurrent` false
   * means nothing was written (a meter changed since the caller read it).
   */
  async insertAlone(
    runner: Pick<Kysely<never>, "executeQuery">,
    meters: Array<{ id: string; updatedAt: number }>,
    event: unknown[],
    deltas: RollupDelta[],
    distinct: unknown[][],
  ): Promise<{ metersCurrent: boolean; inserted: boolean }> {
    const sorted = sortDeltas(deltas);
    const key = `alone:${meters.length}:${sorted.length}:${distinct.length}`;
    let text = this.#texts.get(key);
    let n = 0;
    const p = () => `$${++n}`;
    const list = (width: number) => Array.from({ length: width }, p).join(", ");
    if (!text) {
      const m = meters.map(() => `(id = ${p()} and updated_at = ${p()})`).join(" or ");
      const parts = [
        `m as materialized (select id from usage_meter where archived_at is null and (${m}) for key share)`,
        `ins as (insert into usage_event (${EVENT_COLUMNS.join(", ")}) select ${list(EVENT_COLUMNS.length)} where (select count(*) from m) = ${p()} on conflict (environment_id, id) do nothing returning id)`,
        ...sorted.map(
          (_, i) =>
            `r${i} as (insert into usage_rollup (${ROLLUP_COLUMNS.join(", ")}) select ${list(ROLLUP_COLUMNS.length)} from ins ${ROLLUP_CONFLICT})`,
        ),
        ...distinct.map(
          (_, i) =>
            `d${i} as (insert into usage_distinct (${DISTINCT_COLUMNS.join(", ")}) select ${list(DISTINCT_COLUMNS.length)} from ins on conflict do nothing)`,
        ),
      ];
      text = `with ${parts.join(", ")} select (select count(*) from m)::int as live, (select count(*) from ins)::int as inserted`;
      this.#texts.set(key, text);
    }
    const values: unknown[] = [];
    for (const meter of meters) values.push(meter.id, meter.updatedAt);
    values.push(...event, meters.length);
    for (const d of sorted) values.push(...deltaValues(d));
    for (const row of distinct) values.push(...row);
    const result = await runner.executeQuery<{ live: number; inserted: number }>(CompiledQuery.raw(text, values));
    const row = result.rows[0];
    return { metersCurrent: Number(row?.live) === meters.length, inserted: Number(row?.inserted) === 1 };
  }

  /** insertDistinct records distinct values (rows in DISTINCT_COLUMNS order); repeats insert nothing. */
  async insertDistinct(tx: Tx, rows: unknown[][]): Promise<void> {
    const sorted = [...rows].sort((a, b) => (a.join("\u0000") < b.join("\u0000") ? -1 : 1));
    const width = DISTINCT_COLUMNS.length;
    const per = Math.floor(MAX_PARAMS / width);
    for (let i = 0; i < sorted.length; i += per) {
      const chunk = sorted.slice(i, i + per);
      const text = this.#text(
        "distinct",
        chunk.length,
        `insert into usage_distinct (${DISTINCT_COLUMNS.join(", ")})`,
        width,
        "on conflict do nothing",
      );
      await tx.executeQuery(CompiledQuery.raw(text, chunk.flat()));
    }
  }
}

function deltaValues(d: RollupDelta): unknown[] {
  return [
    d.environmentId,
    d.meterId,
    d.tenantId,
    d.grain,
    d.bucketStart,
    d.groupKey,
    d.shard,
    d.n,
    d.total,
    d.min,
    d.max,
    d.latestTime,
    d.latestId,
    d.latestValue,
  ];
}

/**
 * sortDeltas orders deltas by their rollup key (each key built once), so that every writer upserts
 * rollup rows in one order and two transactions never wait on each other's locks in a cycle.
 */
function sortDeltas(deltas: RollupDelta[]): RollupDelta[] {
  const keyed = deltas.map(
    (d) =>
      [
        `${d.meterId}\u0000${d.tenantId}\u0000${d.grain}\u0000${d.bucketStart}\u0000${d.groupKey}\u0000${d.shard}`,
        d,
      ] as const,
  );
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed.map((k) => k[1]);
}
