/**
 * Resources is a stack of cleanups (stop a child, drop a schema, remove a temp dir), run last in,
 * first out by `close`. Every cleanup runs even when an earlier one fails; failures are reported
 * on stderr, never thrown. The runner gives each scenario its own `Resources` and closes it when
 * the scenario ends, fails or the run is interrupted.
 */
export class Resources {
  readonly #cleanups: Array<{ label: string; fn: () => Promise<void> | void }> = [];
  #closing: Promise<void> | null = null;

  /** defer registers a cleanup and returns a function that unregisters it (after a manual cleanup). */
  defer(label: string, fn: () => Promise<void> | void): () => void {
    const entry = { label, fn };
    this.#cleanups.push(entry);
    return () => {
      const index = this.#cleanups.indexOf(entry);
      if (index >= 0) this.#cleanups.splice(index, 1);
    };
  }

  /** close runs every registered cleanup once; calling it again waits for the same run. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#cleanups.length > 0) {
        const entry = this.#cleanups.pop();
        if (!entry) break;
        try {
          await entry.fn();
        } catch (err) {
          process.stderr.write(`bench: cleanup "${entry.label}" failed: ${String(err)}\n`);
        }
      }
    })();
    return this.#closing;
  }
}
