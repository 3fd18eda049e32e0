import { AsyncLocalStorage } from "node:async_hooks";
import { CompiledQuery, type Kysely, sql, type Transaction } from "kysely";
import { type CommitHooks, GroupCommit } from "./group-commit.js";

export type Engine = "sqlite" | "postgres";

/**
 * Tx is a transaction handle. Services pass it to `facts.record`, `jobs.enqueue` and the
 * idempotency ledger so the change, its fact and its jobs commit together or not at all.
 */
// biome-ignore lint/suspicious/noExplicitAny: table types belong to modules; see `Db.typed`.
export type Tx = Transaction<any>;
// biome-ignore lint/suspicious/noExplicitAny: table types belong to modules; see `Db.typed`.
export type AnyKysely = Kysely<any>;

/**
 * TypedDb is a module's view of the database, typed with its own tables. `q(tx)` queries inside
 * `tx`; `q()` queries outside any transaction (each statement commits on its own). It adds no
 * checks: the table types are the module's claim about its own migrations.
 */
export class TypedDb<Tables> {
  constructor(private readonly db: Db) {}

  q(tx?: Tx): Kysely<Tables> {
    return (tx ?? this.db.kysely) as unknown as Kysely<Tables>;
  }

  /**
   * compiled builds a hot query once and returns a function that runs it with new arguments, so a
   * request pays neither for building the query nor for compiling it to SQL. `build` gets one
   * placeholder per argument and must use each only as a plain value (`where(col, "=", arg)`,
   * `values({ col: arg })`), never in a list or an expression; every argument is a string.
   * The result is the query's rows; `tx` runs it inside a transaction.
   */
  compiled<Args extends string[], Row>(
    build: (q: Kysely<Tables>, ...args: Args) => { compile(): CompiledQuery<Row> },
  ): (tx: Tx | undefined, ...args: Args) => Promise<Row[]> {
    let template: { sql: string; slots: Array<number | { value: unknown }> } | null = null;
    return async (tx, ...args) => {
      if (!template) {
        const marks = args.map((_, i) => `\u0000bp_arg_${i}\u0000`) as Args;
        const compiled = build(this.q(), ...marks).compile();
        const slots = compiled.parameters.map((p) => {
          const i = marks.indexOf(p as string);
          return i >= 0 ? i : { value: p };
        });
        const used = new Set(slots.filter((s) => typeof s === "number"));
        if (used.size !== args.length) throw new Error("compiled: every argument must appear as a plain value");
        template = { sql: compiled.sql, slots };
      }
      const { sql: text, slots } = template;
      const parameters = slots.map((s) => (typeof s === "number" ? args[s] : s.value));
      const executor = (tx ?? this.db.kysely) as AnyKysely;
      const result = await executor.executeQuery<Row>(CompiledQuery.raw(text, parameters));
      return result.rows;
    };
  }
}

/** Lockable is a query that can lock the rows it reads (a Kysely `SELECT`). */
export interface Lockable<QB> {
  forUpdate(): QB;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** WriteClaim is the part of an idempotency claim that a write completes. */
export interface WriteClaim {
  completed: unknown;
  completeInTx(tx: Tx, result: unknown): Promise<void>;
}

/** workerScope marks code running for a background job (see `Db.asWorker`). */
const workerScope = new AsyncLocalStorage<boolean>();

const afterCommitCallbacks = new WeakMap<object, Array<() => void | Promise<void>>>();
const beforeCommitCallbacks = new WeakMap<object, Array<() => Promise<void>>>();

/** hooksOf starts the before- and after-commit callback lists of a new transaction handle. */
function hooksOf(tx: Tx): CommitHooks {
  const hooks: CommitHooks = { before: [], after: [] };
  afterCommitCallbacks.set(tx, hooks.after);
  beforeCommitCallbacks.set(tx, hooks.before);
  return hooks;
}

/**
 * Db is the plane's one database handle: a Kysely instance over SQLite or PostgreSQL plus the
 * few things that differ by engine. Engine differences live in `platform/db/` only (here,
 * `connect.ts`, `columns.ts`, `batch-insert.ts`); modules use these helpers instead of branching.
 */
export class Db {
  /** groupCommit batches transactions into shared commits on SQLite (null on PostgreSQL). */
  readonly groupCommit: GroupCommit | null;

  constructor(
    readonly engine: Engine,
    private readonly requestKysely: AnyKysely,
    private readonly driver: {
      close(): Promise<void>;
      poolStats(): PoolStats | null;
      workerPoolStats?(): PoolStats | null;
    },
    /** workerKysely: the background jobs' own pool (PostgreSQL); absent: jobs share the one handle. */
    private readonly workerKysely: AnyKysely = requestKysely,
  ) {
    this.groupCommit = engine === "sqlite" ? new GroupCommit(requestKysely, hooksOf) : null;
  }

  /**
   * kysely is the root query handle: the requests' pool, or the jobs' pool inside `asWorker` (so
   * services called by a job handler use the worker pool without knowing it).
   */
  get kysely(): AnyKysely {
    if (this.workerKysely === this.requestKysely) return this.requestKysely;
    return workerScope.getStore() === true ? this.workerKysely : this.requestKysely;
  }

  /**
   * asWorker runs `fn` (a job handler) with its queries on the jobs' pool. With one handle (SQLite)
   * it just runs `fn`: the async context it needs costs every promise of the process a little.
   */
  asWorker<T>(fn: () => Promise<T>): Promise<T> {
    if (this.workerKysely === this.requestKysely) return fn();
    return workerScope.run(true, fn);
  }

  /** tables returns a module's handle on the database, typed with its own tables (see `TypedDb`). */
  tables<Tables>(): TypedDb<Tables> {
    return new TypedDb<Tables>(this);
  }

  /** typed returns the root Kysely instance typed with the given tables (platform code; modules use `tables`). */
  typed<Tables>(): Kysely<Tables> {
    return this.tables<Tables>().q();
  }

  /**
   * bool is the value to write into a boolean column (`columnTypes().boolean`): a boolean on
   * PostgreSQL, 0 or 1 on SQLite. Read such a column with `Boolean(x)`; compare with `bool(x)`.
   */
  bool(value: boolean): boolean | number {
    return this.engine === "postgres" ? value : Number(value);
  }

  /**
   * forUpdate makes a `SELECT` run in a transaction lock the rows it returns until that
   * transaction ends, so a check made on them still holds when the write commits (DESIGN.md §2).
   * On SQLite the query is returned unchanged: the plane has one connection there, so no other
   * transaction runs until this one ends. Use it as `.$call((qb) => db.forUpdate(qb))`.
   */
  forUpdate<QB extends Lockable<QB>>(qb: QB): QB {
    return this.engine === "postgres" ? qb.forUpdate() : qb;
  }

  /**
   * lockTable keeps other transactions from writing `table` until `tx` ends (PostgreSQL
   * `SHARE ROW EXCLUSIVE`: readers go on, writers and other lockers wait), for checks that span
   * rows not yet written (e.g. "the last admin"). On SQLite it does nothing, for the same reason as
   * `forUpdate`. `table` must be a plain table name of the caller's own module.
   */
  async lockTable(tx: Tx, table: string): Promise<void> {
    if (this.engine === "postgres") await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(tx);
  }

  /**
   * transaction runs `fn` in one database transaction: it commits when `fn` resolves and rolls
   * back when it throws (re-throwing the error). Callbacks registered with `beforeCommit` run in
   * the transaction after `fn` resolves; those registered with `afterCommit` run once
   * the commit succeeded, never after a rollback; their failures are reported, not thrown.
   * On SQLite, transactions that start in the same turn of the event loop share one commit (see
   * `GroupCommit`): each runs alone in its own savepoint, and resolves only after that commit. On
   * PostgreSQL, a transaction aborted as a deadlock or serialization failure runs again (up to
   * four times): `fn` must do nothing outside the database that cannot be done twice.
   * NOTE: do not open a transaction inside another one; pass `tx` down instead.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.groupCommit) return this.groupCommit.run(fn);
    // PostgreSQL aborts one of two transactions that wait on each other's locks (a deadlock) and
    // may refuse a serializable one: both are lost races, not errors. The loser rolled back
    // entirely, so running it again is safe; after a few tries the error goes to the caller.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(fn);
      } catch (err) {
        const code = (err as { code?: string } | null)?.code;
        if ((code !== "40P01" && code !== "40001") || attempt >= 4) throw err;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20 * attempt));
      }
    }
  }

  async #once<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    let callbacks: Array<() => void | Promise<void>> = [];
    const result = await this.kysely.transaction().execute(async (tx) => {
      const hooks = hooksOf(tx);
      callbacks = hooks.after;
      const value = await fn(tx);
      // A callback may register another (a flush that appends more): run until none is left.
      while (hooks.before.length > 0) await (hooks.before.shift() as () => Promise<void>)();
      return value;
    });
    for (const callback of callbacks) {
      try {
        await callback();
      } catch (err) {
        process.emitWarning(`afterCommit callback failed: ${String(err)}`);
      }
    }
    return result;
  }

  /**
   * small runs a few statements that need no transaction of their own (a job's bookkeeping, a
   * counter): on SQLite they join the next group commit instead of paying a commit each; on
   * PostgreSQL each statement commits on its own, as outside a transaction.
   */
  async small<T>(fn: (db: AnyKysely) => Promise<T>): Promise<T> {
    if (this.groupCommit) return this.groupCommit.run(fn);
    return fn(this.kysely);
  }

  /**
   * write is the write path's transaction (DESIGN.md §2): it runs `fn` in one transaction and, when
   * the request carries an Idempotency-Key, stores the response (`fn`'s result as JSON) in the same
   * transaction, so the change, its facts, its jobs and the stored response commit together.
   */
  async write<T>(ctx: { idempotency?: WriteClaim | undefined }, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      const result = await fn(tx);
      if (ctx.idempotency && !ctx.idempotency.completed) await ctx.idempotency.completeInTx(tx, result);
      return result;
    });
  }

  /** ping proves the database answers (used by `/readyz`). Throws when it does not. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.kysely);
  }

  poolStats(): PoolStats | null {
    return this.driver.poolStats();
  }

  workerPoolStats(): PoolStats | null {
    return this.driver.workerPoolStats?.() ?? null;
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}

/**
 * afterCommit schedules `callback` to run after `tx` commits (e.g. waking a worker or
 * invalidating a cache). Durable work belongs in a job enqueued inside `tx` instead: an
 * after-commit callback is lost if the process dies right after the commit.
 */
export function afterCommit(tx: Tx, callback: () => void | Promise<void>): void {
  const list = afterCommitCallbacks.get(tx);
  if (!list) throw new Error("afterCommit called outside Db.transaction");
  list.push(callback);
}

/**
 * beforeCommit schedules `callback` to run inside `tx` once the transaction's work is done, just
 * before it commits (e.g. flushing rows buffered during the transaction in one statement). A
 * callback that throws rolls the transaction back, like any failure inside it.
 */
export function beforeCommit(tx: Tx, callback: () => Promise<void>): void {
  const list = beforeCommitCallbacks.get(tx);
  if (!list) throw new Error("beforeCommit called outside Db.transaction");
  list.push(callback);
}

/** json encodes a value for a JSON column (text on SQLite, jsonb on PostgreSQL). */
export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

/** fromJson decodes a JSON column read from either engine. */
export function fromJson<T>(raw: unknown): T {
  return (typeof raw === "string" ? JSON.parse(raw) : raw) as T;
}

/**
 * isUniqueViolation reports whether a database error is a unique-constraint violation, on either
 * engine (SQLite `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`, PostgreSQL `23505`). `constraint`, when
 * given, must appear in the error (PostgreSQL names the constraint; SQLite names the columns).
 */
export function isUniqueViolation(err: unknown, hint?: string): boolean {
  const e = err as { code?: string; constraint?: string; message?: string } | null;
  const unique =
    e?.code === "23505" || e?.code === "SQLITE_CONSTRAINT_UNIQUE" || e?.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
  if (!unique || hint === undefined) return unique;
  return (e?.constraint ?? "").includes(hint) || (e?.message ?? "").includes(hint);
}

/**
 * containsPattern turns search text into a case-insensitive LIKE pattern (compare against a
 * lower-cased column). LIKE wildcards in the text are dropped rather than escaped, because the
 * escape syntax differs between engines.
 */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, "")}%`;
}
