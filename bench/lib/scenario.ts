import type { BenchOptions } from "./options.js";
import type { Resources } from "./resources.js";
import type { ScenarioResult } from "./results.js";

/** BenchContext is what a scenario gets from the runner. */
export interface BenchContext {
  options: BenchOptions;
  /** postgres is the reachable PostgreSQL URL, or null with `postgresSkipReason` saying why. */
  postgres: string | null;
  postgresSkipReason: string | null;
  /** resources hold this scenario's children, schemas and temp dirs; the runner closes them. */
  resources: Resources;
  /** progress prints a progress line on stderr (the tables go to stdout). */
  progress(message: string): void;
}

/**
 * Scenario is one benchmark table: it starts its servers as child processes, measures its
 * baselines and its subject in the same run, and returns the rows with their comparisons.
 * It need not stop what it started on error: the runner closes `ctx.resources`.
 */
export interface Scenario {
  id: string;
  title: string;
  /**
   * usesPostgres: the scenario measures PostgreSQL (besides other things) and needs
   * `ctx.postgres` checked even when its id does not contain "postgres".
   */
  usesPostgres?: boolean;
  run(ctx: BenchContext): Promise<Omit<ScenarioResult, "id" | "title">>;
}
