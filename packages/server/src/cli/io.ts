/** CliIo is everything a command touches outside itself: output, environment, signals, input. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** onSignal registers a shutdown signal handler (process.once in production). */
  onSignal(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  /** interactive: a person is at the terminal (prompts allowed). */
  interactive?: boolean;
  stdin?: NodeJS.ReadableStream;
  /**
   * progress rewrites one status line on stderr (a progress bar); absent when stderr is not a
   * terminal, and then commands print no progress at all. `progress(null)` ends the line.
   */
  progress?(line: string | null): void;
}

/** Column of a table: its heading and how a row shows in it. */
export interface Column<T> {
  heading: string;
  value(row: T): unknown;
}

/**
 * table renders rows as aligned text columns (two spaces apart) with a heading line, the way
 * people read lists in a terminal. An empty list prints `empty` instead.
 */
export function table<T>(
  io: CliIo,
  rows: readonly T[],
  columns: readonly Column<T>[],
  empty = "Nothing to show.",
): void {
  if (rows.length === 0) {
    io.out(empty);
    return;
  }
  const cells = rows.map((r) => columns.map((c) => show(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.heading.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  io.out(line(columns.map((c) => c.heading.toUpperCase())));
  for (const row of cells) io.out(line(row));
}

/** details prints one object as aligned `Label  value` lines. */
export function details(io: CliIo, pairs: ReadonlyArray<[string, unknown]>): void {
  const width = Math.max(...pairs.map(([k]) => k.length));
  for (const [k, v] of pairs) io.out(`${k.padEnd(width)}  ${show(v)}`);
}

/** printJson prints a value as indented JSON on stdout: the `--json` output of every command. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  if (Array.isArray(v)) return v.length === 0 ? "-" : v.map(show).join(",");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
