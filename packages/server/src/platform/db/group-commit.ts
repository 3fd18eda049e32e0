import type { AnyKysely, Tx } from "./db.js";

/** CommitHooks are the callbacks one transaction registered (see `beforeCommit`, `afterCommit`). */
export interface CommitHooks {
  before: Array<() => Promise<void>>;
  after: Array<() => void | Promise<void>>;
}

interface Item {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitStats {
  /** batches: commits made. */
  batches: number;
  /** transactions: callers' transactions committed or rolled back inside those batches. */
  transactions: number;
}

/**
 * GroupCommit turns many callers' transactions into one database commit on SQLite (group
 * commit). With `synchronous=FULL` every commit waits for an fsync, which costs far more than the
 * statements of a typical write; one fsync for many writes keeps that durability at a fraction of
 * the cost.
 *
 * How: a caller's transaction is queued; the queue is drained on the next turn of the event loop,
 * so every request that arrived in the same turn joins. A batch is one `BEGIN … COMMIT`; each
 * caller runs inside its own savepoint, one after another (SQLite has one writer; running them in
 * turn is what the single connection did anyway). A caller whose function throws is rolled back to
 * its savepoint and rejected alone: its neighbours go on. Every caller of a batch is answered
 * after the batch's commit returned, so no caller is told "done" before its write is durable; if
 * the commit itself fails, every caller of the batch is rejected and nothing of it was applied.
 *
 * Savepoints make each caller's `tx` a distinct object, so the before- and after-commit hooks of
 * one caller never run for another: `hooksOf` registers them per savepoint.
 */
export class GroupCommit {
  readonly #queue: Item[] = [];
  #scheduled = false;
  #draining = false;
  readonly stats: GroupCommitStats = { batches: 0, transactions: 0 };

  constructor(
    private readonly kysely: AnyKysely,
    private readonly hooksOf: (tx: Tx) => CommitHooks,
    /** maxBatch bounds how many callers share one commit (and how long reads wait for it). */
    private readonly maxBatch = 200,
  ) {}

  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining) return;
    this.#scheduled = true;
    // The next turn of the event loop, not a microtask: requests whose bytes arrived together are
    // all parsed and queued before the batch starts.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) await this.#batch();
    } finally {
      this.#draining = false;
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  async #batch(): Promise<void> {
    const done: Array<{ item: Item; value: unknown; hooks: CommitHooks }> = [];
    let trx: Awaited<ReturnType<ReturnType<AnyKysely["startTransaction"]>["execute"]>>;
    try {
      trx = await this.kysely.startTransaction().execute();
    } catch (err) {
      for (const item of this.#queue.splice(0, this.maxBatch)) item.reject(err);
      return;
    }
    let n = 0;
    try {
      // Callers queued while this batch runs (a caller awaiting other I/O) join it, up to maxBatch.
      while (this.#queue.length > 0 && n < this.maxBatch) {
        const item = this.#queue.shift() as Item;
        const name = `bp_${n++}`;
        const sp = await trx.savepoint(name).execute();
        const hooks = this.hooksOf(sp as unknown as Tx);
        try {
          const value = await item.fn(sp as unknown as Tx);
          // A callback may register another (a flush that appends more): run until none is left.
          while (hooks.before.length > 0) await (hooks.before.shift() as () => Promise<void>)();
          await trx.releaseSavepoint(name as never).execute();
          done.push({ item, value, hooks });
        } catch (err) {
          item.reject(err);
          // Undo this caller only. If even that fails, the transaction is unusable: the batch is
          // given up below and its other callers rejected.
          await trx.rollbackToSavepoint(name as never).execute();
          await trx.releaseSavepoint(name as never).execute();
        }
      }
      await trx.commit().execute();
    } catch (err) {
      await trx
        .rollback()
        .execute()
        .catch(() => undefined);
      for (const { item } of done) item.reject(err);
      this.stats.batches++;
      this.stats.transactions += n;
      return;
    }
    this.stats.batches++;
    this.stats.transactions += n;
    for (const { item, value, hooks } of done) {
      for (const callback of hooks.after) {
        try {
          await callback();
        } catch (err) {
          process.emitWarning(`afterCommit callback failed: ${String(err)}`);
        }
      }
      item.resolve(value);
    }
  }
}
