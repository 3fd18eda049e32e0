/**
 * Helpers for the benchmark's child scripts (`bench/processes/*`), the child side of `child.ts`.
 */

/** answer prints the child's one JSON answer line on stdout (the parent waits for it). */
export function answer(value: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(`${JSON.stringify(value)}\n`, (err) => (err ? reject(err) : resolve())),
  );
}

/**
 * stopOnSignal runs `stop` then exits 0 on SIGTERM or SIGINT, and also when the parent process
 * dies (polled every second), so an interrupted benchmark never leaves a child behind. A second
 * signal, a failing `stop` or one slower than 10 s exits 1 at once.
 */
export function stopOnSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => process.exit(1), 10_000).unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) shutdown();
  }, 1000).unref();
}
