import { type ColumnDataType, type CreateTableBuilder, sql } from "kysely";
import type { Engine } from "./db.js";

/**
 * Portable column types. Migrations use these instead of engine-specific names, so one migration
 * creates the same logical table on SQLite and PostgreSQL:
 * - IDs are prefixed text (`ten_01J…`), see `ids.ts`;
 * - timestamps are integer epoch milliseconds (`bigint`);
 * - money is an integer amount in minor units plus an ISO 4217 currency code;
 * - JSON is `text` on SQLite and `jsonb` on PostgreSQL (read it with `fromJson`);
 * - booleans are `boolean` on PostgreSQL and 0/1 integers on SQLite (read with `Boolean(x)`).
 */
export function columnTypes(engine: Engine) {
  return {
    id: "text" as ColumnDataType,
    text: "text" as ColumnDataType,
    timestamp: "bigint" as ColumnDataType,
    integer: "bigint" as ColumnDataType,
    json: (engine === "postgres" ? "jsonb" : "text") as ColumnDataType,
    boolean: (engine === "postgres" ? "boolean" : "integer") as ColumnDataType,
    bytes: (engine === "postgres" ? "bytea" : "blob") as ColumnDataType,
  };
}

/** moneyColumns adds `<name>_amount` (minor units) and `<name>_currency` to a table. */
export function moneyColumns<TB extends string, C extends string>(
  table: CreateTableBuilder<TB, C>,
  name: string,
): CreateTableBuilder<TB, C> {
  return table
    .addColumn(`${name}_amount`, "bigint", (c) => c.notNull())
    .addColumn(`${name}_currency`, "text", (c) => c.notNull().check(sqlCurrencyCheck(`${name}_currency`)));
}

function sqlCurrencyCheck(column: string) {
  return sql`length(${sql.ref(column)}) = 3 and upper(${sql.ref(column)}) = ${sql.ref(column)}`;
}

/** checkIn builds a CHECK constraint limiting `column` to the given string values. */
export function checkIn(column: string, values: readonly string[]) {
  return sql`${sql.ref(column)} in (${sql.join(values.map((v) => sql.lit(v)))})`;
}
