import { sql } from "kysely";
import type { TestApp } from "../harness.js";

/**
 * Database snapshots: every row of every table, so a refused call can be proven to have changed
 * nothing. "Nothing changed" compares every row of every table except `VOLATILE_COLUMNS`.
 */

/** VOLATILE_COLUMNS change on reads by design (batched lastUsedAt) and are left out of snapshots. */
export const VOLATILE_COLUMNS: ReadonlySet<string> = new Set(["last_used_at"]);

/** DbSnapshot holds every row of every table (volatile columns removed), as sorted JSON strings. */
export type DbSnapshot = Map<string, string[]>;

/** listTables lists the app's tables (the test schema's on PostgreSQL), sorted. */
export async function listTables(t: TestApp): Promise<string[]> {
  const db = t.app.db.kysely;
  if (t.config.database.engine === "postgres") {
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = ${t.config.database.schema} and table_type = 'BASE TABLE'`.execute(db);
    return rows.map((r) => r.table_name).sort();
  }
  const { rows } = await sql<{ name: string }>`
    select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db);
  return rows.map((r) => r.name).sort();
}

/**
 * REFUSAL_COUNTERS are tables whose purpose is to count refused attempts (the login and sign-up
 * throttle, the `access.denied` rate-limit windows): a refusal writes there by design, so "a refusal
 * changes nothing" is checked on every other table.
 */
export const REFUSAL_COUNTERS: readonly string[] = ["throttle_counter", "audit_denial_window"];

/** stateTables is `listTables` without `REFUSAL_COUNTERS`: the tables a refusal must leave alone. */
export async function stateTables(t: TestApp): Promise<string[]> {
  return (await listTables(t)).filter((name) => !REFUSAL_COUNTERS.includes(name));
}

/** snapshotTables reads every row of `tables`, volatile columns left out. */
export async function snapshotTables(t: TestApp, tables: string[]): Promise<DbSnapshot> {
  const snapshot: DbSnapshot = new Map();
  for (const table of tables) {
    const rows = await t.app.db.kysely.selectFrom(table).selectAll().execute();
    snapshot.set(
      table,
      rows
        .map((row) => {
          const kept = Object.fromEntries(
            Object.entries(row as Record<string, unknown>)
              .filter(([k]) => !VOLATILE_COLUMNS.has(k))
              .sort(([x], [y]) => x.localeCompare(y)),
          );
          return JSON.stringify(kept);
        })
        .sort(),
    );
  }
  return snapshot;
}

/** TableDiff: the rows of one table that appeared and disappeared between two snapshots. */
export interface TableDiff {
  table: string;
  added: string[];
  removed: string[];
}

/** diffSnapshots lists, per table, the rows that appeared and disappeared (a change is both). */
export function diffSnapshots(before: DbSnapshot, after: DbSnapshot): TableDiff[] {
  const diffs: TableDiff[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const b = new Set(before.get(table) ?? []);
    const a = new Set(after.get(table) ?? []);
    const added = [...a].filter((r) => !b.has(r));
    const removed = [...b].filter((r) => !a.has(r));
    if (added.length > 0 || removed.length > 0) diffs.push({ table, added, removed });
  }
  return diffs;
}

/** describeDiff renders a diff for a failure message (a few rows per table). */
export function describeDiff(diffs: TableDiff[]): string {
  return diffs
    .map(
      (d) =>
        `${d.table}: +${d.added.length} -${d.removed.length}` +
        `${d.added.slice(0, 2).map((r) => `\n  + ${r.slice(0, 300)}`)}${d.removed.slice(0, 2).map((r) => `\n  - ${r.slice(0, 300)}`)}`,
    )
    .join("\n");
}

/**
 * countRows counts the rows of every table of `tables` in one query: a cheap "did anything change"
 * for sweeps that send thousands of requests (`table=n` pairs, sorted, space-separated).
 */
export async function countRows(t: TestApp, tables: string[]): Promise<string> {
  const parts = tables.map((table) => `select '${table}' as t, count(*) as n from "${table}"`);
  const { rows } = await sql<{ t: string; n: number | string }>`${sql.raw(parts.join(" union all "))}`.execute(
    t.app.db.kysely,
  );
  return rows
    .map((r) => `${r.t}=${Number(r.n)}`)
    .sort()
    .join(" ");
}
