import { sql } from "kysely";
import type { TestApp } from "../harness.js";

/**
 * "A refused call changed nothing": the rows every table gained and lost, from a change log the
 * test world installs (`installChangeLog`), `VOLATILE_COLUMNS` aside; and row counts for sweeps.
 */

/** VOLATILE_COLUMNS change on reads by design (batched lastUsedAt) and are left out of the change log. */
export const VOLATILE_COLUMNS: ReadonlySet<string> = new Set(["last_used_at"]);

/** listTables lists the app's tables (the test schema's on PostgreSQL), sorted, the change log left out. */
export async function listTables(t: TestApp): Promise<string[]> {
  const db = t.app.db.kysely;
  if (t.config.database.engine === "postgres") {
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = ${t.config.database.schema} and table_type = 'BASE TABLE'`.execute(db);
    return rows
      .map((r) => r.table_name)
      .filter((n) => n !== CHANGE_LOG)
      .sort();
  }
  const { rows } = await sql<{ name: string }>`
    select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db);
  return rows
    .map((r) => r.name)
    .filter((n) => n !== CHANGE_LOG)
    .sort();
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

/** TableDiff: the rows of one table that appeared and disappeared between two moments. */
export interface TableDiff {
  table: string;
  added: string[];
  removed: string[];
}

/** CHANGE_LOG is the table the change-log triggers write to (`installChangeLog`). */
export const CHANGE_LOG = "iso_change_log";

/**
 * installChangeLog makes every table of `tables` record each row it inserts, updates or deletes
 * in `CHANGE_LOG` (the row before and after, as JSON, volatile columns left out), from triggers
 * that run inside the writing transaction: a rolled-back write leaves no record. "What did this
 * call change" is then one indexed read of the records after a mark (`changesSince`), however
 * large the database grew, where a snapshot of every row of every table grows with it. Test
 * worlds only: the plane itself never has these triggers.
 */
export async function installChangeLog(t: TestApp, tables: string[]): Promise<void> {
  const db = t.app.db.kysely;
  const watched = tables.filter((name) => name !== CHANGE_LOG);
  if (t.config.database.engine === "postgres") {
    const schema = t.config.database.schema;
    const q = (name: string) => `"${schema}"."${name}"`;
    const volatile = [...VOLATILE_COLUMNS].map((c) => ` - '${c}'`).join("");
    const statements = [
      `create table ${q(CHANGE_LOG)} (id bigserial primary key, tbl text not null, old_row text, new_row text)`,
      `create function ${q("iso_log_change")}() returns trigger language plpgsql as $$
       begin
         insert into ${q(CHANGE_LOG)} (tbl, old_row, new_row) values (
           TG_TABLE_NAME,
           case when TG_OP in ('UPDATE', 'DELETE') then (to_jsonb(OLD)${volatile})::text end,
           case when TG_OP in ('INSERT', 'UPDATE') then (to_jsonb(NEW)${volatile})::text end);
         return null;
       end $$`,
      ...watched.map(
        (name) =>
          `create trigger iso_log_change after insert or update or delete on ${q(name)} for each row execute function ${q("iso_log_change")}()`,
      ),
    ];
    await sql.raw(statements.join(";\n")).execute(db);
    return;
  }
  const statements = [
    `create table "${CHANGE_LOG}" (id integer primary key autoincrement, tbl text not null, old_row text, new_row text)`,
  ];
  for (const name of watched) {
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${name})`.execute(db);
    const columns = rows.map((r) => r.name).filter((c) => !VOLATILE_COLUMNS.has(c));
    // json_object refuses BLOBs: those are recorded as hex.
    const json = (row: "NEW" | "OLD") =>
      `json_object(${columns
        .map((c) => `'${c}', case when typeof(${row}."${c}") = 'blob' then hex(${row}."${c}") else ${row}."${c}" end`)
        .join(", ")})`;
    const log = (oldRow: string, newRow: string) =>
      `insert into "${CHANGE_LOG}" (tbl, old_row, new_row) values ('${name}', ${oldRow}, ${newRow});`;
    statements.push(
      `create trigger "iso_i_${name}" after insert on "${name}" begin ${log("null", json("NEW"))} end`,
      `create trigger "iso_u_${name}" after update on "${name}" begin ${log(json("OLD"), json("NEW"))} end`,
      `create trigger "iso_d_${name}" after delete on "${name}" begin ${log(json("OLD"), "null")} end`,
    );
  }
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** changeMark: the position of the change log now (what `changesSince` counts from). */
export async function changeMark(t: TestApp): Promise<number> {
  const { rows } = await sql<{
    id: number | string | null;
  }>`select max(id) as id from ${sql.table(CHANGE_LOG)}`.execute(t.app.db.kysely);
  return Number(rows[0]?.id ?? 0);
}

/**
 * changesSince: what the tables hold now that they did not at `mark`, and the reverse, per table
 * — the rows written since, netted out (a row inserted then deleted, or changed and changed back,
 * is no change), as comparing every row of every table at both moments would find.
 */
export async function changesSince(t: TestApp, mark: number): Promise<TableDiff[]> {
  const rows = await t.app.db.kysely
    .selectFrom(CHANGE_LOG as never)
    .select(["tbl", "old_row", "new_row"] as never[])
    .where("id" as never, ">", mark as never)
    .orderBy("id" as never)
    .execute();
  const net = new Map<string, Map<string, number>>();
  const bump = (table: string, row: string | null, by: number) => {
    if (row === null) return;
    const counts = net.get(table) ?? new Map<string, number>();
    net.set(table, counts);
    counts.set(row, (counts.get(row) ?? 0) + by);
  };
  for (const r of rows as unknown as Array<{ tbl: string; old_row: string | null; new_row: string | null }>) {
    bump(r.tbl, r.old_row, -1);
    bump(r.tbl, r.new_row, 1);
  }
  const diffs: TableDiff[] = [];
  for (const [table, counts] of net) {
    const added: string[] = [];
    const removed: string[] = [];
    for (const [row, n] of counts) {
      for (let i = 0; i < n; i++) added.push(row);
      for (let i = 0; i < -n; i++) removed.push(row);
    }
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
