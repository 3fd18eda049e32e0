/**
 * LastUsedTracker records when credentials were last used without a database write per request:
 * uses are kept in memory and written in one batch every `intervalMs` (and at shutdown) by `flush`.
 */
export class LastUsedTracker {
  readonly #pending = new Map<string, { table: string; at: number }>();

  touch(table: string, id: string, at: number): void {
    const current = this.#pending.get(id);
    if (!current || current.at < at) this.#pending.set(id, { table, at });
  }

  /** latest returns the newest unflushed use of a credential (or null). */
  latest(id: string): number | null {
    return this.#pending.get(id)?.at ?? null;
  }

  /** drain hands the pending uses to `write` and forgets them (they are re-queued if it throws). */
  async drain(write: (table: string, rows: Array<{ id: string; at: number }>) => Promise<void>): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = new Map(this.#pending);
    this.#pending.clear();
    const byTable = new Map<string, Array<{ id: string; at: number }>>();
    for (const [id, { table, at }] of batch) byTable.set(table, [...(byTable.get(table) ?? []), { id, at }]);
    try {
      for (const [table, rows] of byTable) await write(table, rows);
    } catch (err) {
      for (const [id, v] of batch) if (!this.#pending.has(id)) this.#pending.set(id, v);
      throw err;
    }
  }
}
