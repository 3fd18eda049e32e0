import type pg from "pg";

/**
 * PostgreSQL parses and plans a statement sent without a name every time it runs; for the plane's
 * hot statements (a credential look-up, an idempotent write's inserts, the usage module's one-statement
 * ingest) that costs the database more CPU than running them. `preparingStatements` names a
 * statement the second time its text is seen (up to MAX_NAMED texts), so each pooled connection
 * parses it once and then only binds and executes it (node-postgres keeps the per-connection
 * bookkeeping). Texts without parameters (`begin`, `commit`, DDL) and texts holding several
 * statements are never named. A prepared plan that a schema change made unusable (`cached plan must
 * not change result type`) is answered by running the text unnamed, and the text is not named again.
 */
const MAX_NAMED = 1000;

export class StatementNames {
  readonly #seen = new Map<string, number>();
  readonly #names = new Map<string, string>();
  readonly #refused = new Set<string>();

  /** nameOf returns the name to run `text` under, or null to run it unnamed. */
  nameOf(text: string): string | null {
    const name = this.#names.get(text);
    if (name !== undefined) return name;
    if (this.#names.size >= MAX_NAMED || this.#refused.has(text) || text.includes(";")) return null;
    const seen = (this.#seen.get(text) ?? 0) + 1;
    if (seen < 2) {
      if (this.#seen.size >= 10 * MAX_NAMED) this.#seen.clear();
      this.#seen.set(text, seen);
      return null;
    }
    this.#seen.delete(text);
    const fresh = `bp_${this.#names.size + 1}`;
    this.#names.set(text, fresh);
    return fresh;
  }

  /** refuse stops naming `text` (its prepared plan failed). */
  refuse(text: string): void {
    this.#refused.add(text);
  }

  get size(): number {
    return this.#names.size;
  }
}

type QueryFn = (...args: unknown[]) => unknown;

/**
 * preparingStatements makes every connection of `pool` run named statements for the texts `names`
 * chooses (see StatementNames). Only the `query(text, values)` form is changed, which is the one
 * Kysely uses; any other call goes through untouched.
 */
export function preparingStatements(pool: pg.Pool, names: StatementNames): pg.Pool {
  pool.on("connect", (client: pg.PoolClient) => {
    const original = client.query.bind(client) as QueryFn;
    const query = (text: unknown, values?: unknown, callback?: unknown) => {
      if (typeof text !== "string" || !Array.isArray(values) || values.length === 0 || callback !== undefined) {
        return callback === undefined ? original(text, values) : original(text, values, callback);
      }
      const name = names.nameOf(text);
      if (name === null) return original(text, values);
      return (original({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
        if (!isStalePlan(err)) throw err;
        names.refuse(text);
        return original(text, values);
      });
    };
    (client as unknown as { query: QueryFn }).query = query;
  });
  return pool;
}

/** isStalePlan: PostgreSQL refused a prepared statement whose tables changed shape under it. */
function isStalePlan(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e?.code === "0A000" && /cached plan must not change result type/.test(e.message ?? "");
}
