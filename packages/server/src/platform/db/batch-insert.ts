import { CompiledQuery } from "kysely";
import type { Engine, Tx } from "./db.js";

/**
 * BatchInsert writes many rows into one table in multi-row `INSERT` statements of precompiled SQL,
 * for append paths too hot for one query-builder call per row. Statement texts are built once per
 * row count and reused, with the engine's own placeholders.
 *
 * `insert(tx, values)` takes the rows' values flattened in `columns` order (so `values.length` must
 * be a multiple of `columns.length`, or it throws) and writes them in one statement: callers keep
 * each call well below the engine's parameter limit (32766 on SQLite, 65535 on PostgreSQL).
 * `table` and `columns` are trusted identifiers of the caller's own module, never input.
 */
export class BatchInsert {
  readonly #statements = new Map<number, string>();
  readonly #head: string;

  constructor(
    private readonly engine: Engine,
    table: string,
    private readonly columns: readonly string[],
  ) {
    this.#head = `insert into ${table} (${columns.join(", ")})`;
  }

  async insert(tx: Tx, values: unknown[]): Promise<void> {
    const width = this.columns.length;
    if (values.length === 0) return;
    if (values.length % width !== 0) throw new Error(`BatchInsert: ${values.length} values for ${width} columns`);
    await tx.executeQuery(CompiledQuery.raw(this.#statement(values.length / width), values));
  }

  #statement(rows: number): string {
    let text = this.#statements.get(rows);
    if (!text) {
      const width = this.columns.length;
      const postgres = this.engine === "postgres";
      const row = (r: number) =>
        `(${Array.from({ length: width }, (_, i) => (postgres ? `$${r * width + i + 1}` : "?")).join(", ")})`;
      text = `${this.#head} values ${Array.from({ length: rows }, (_, r) => row(r)).join(", ")}`;
      this.#statements.set(rows, text);
    }
    return text;
  }
}
