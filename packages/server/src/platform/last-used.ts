/** LastUsedWriter writes one table's batch of credential uses (`last_used_at = at` for each `id`). */
export type LastUsedWriter = (table: string, rows: Array<{ id: string; at: number }>) => Promise<void>;

/**
 * LastUsedTracker records when credentials were last used without a database write per request:
 * uses are kept in memory and handed to `write` in one batch per table by `flush`, every
 * `intervalMs` between `start` and `stop`, and once more at `stop`. A use whose write fails is kept
 * for the next flush (unless a newer use replaced it); only the newest use of a credential is kept.
 */
export class LastUsedTracker {
  readonly #pending = new Map<string, { table: string; at: number }>();
  #timer: NodeJS.Timeout | null = null;

  /** `onError` receives the failures of periodic flushes and of the flush at `stop`, which never throw. */
  constructor(
    private readonly write: LastUsedWriter,
    private readonly onError: (err: unknown) => void,
  ) {}

  touch(table: string, id: string, at: number): void {
    const current = this.#pending.get(id);
    if (!current || current.at < at) this.#pending.set(id, { table, at });
  }

  /** latest returns the newest unflushed use of a credential (or null). */
  latest(id: string): number | null {
    return this.#pending.get(id)?.at ?? null;
  }

  /** flush writes the pending uses now and forgets them; throws the write's error (the uses are kept). */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = new Map(this.#pending);
    this.#pending.clear();
    const byTable = new Map<string, Array<{ id: string; at: number }>>();
    for (const [id, { table, at }] of batch) byTable.set(table, [...(byTable.get(table) ?? []), { id, at }]);
    try {
      for (const [table, rows] of byTable) await this.write(table, rows);
    } catch (err) {
      for (const [id, v] of batch) if (!this.#pending.has(id)) this.#pending.set(id, v);
      throw err;
    }
  }

  /** start flushes every `intervalMs` until `stop`. The timer does not keep the process alive. */
  start(intervalMs = 5000): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = setInterval(() => {
      this.flush().catch(this.onError);
    }, intervalMs);
    this.#timer.unref();
  }

  /** stop ends the periodic flush and flushes once more. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.flush().catch(this.onError);
  }
}
