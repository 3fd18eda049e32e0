import { type Migration, type MigrationResultSet, Migrator } from "kysely";
import type { AnyKysely, Db, Engine } from "./db.js";

/**
 * ModuleMigration is one schema change owned by a module. Names are
 * `YYYYMMDDHHMM_<module>_<what>`; a landed migration is immutable (write a new one instead).
 * `down` must undo `up` exactly, so `baseplate migrate down` is always safe to run.
 */
export interface ModuleMigration {
  name: string;
  up(db: AnyKysely, engine: Engine): Promise<void>;
  down(db: AnyKysely, engine: Engine): Promise<void>;
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

/** PostgreSQL errors of a catalog scan racing a concurrent DROP SCHEMA / DROP TABLE. */
const INTROSPECTION_RACE = new Set(["3F000", "XX000", "42P01"]);

const NAME = /^(\d{12})_([a-z][a-z0-9]*)_([a-z0-9_]+)$/;

/**
 * PlaneMigrator collects every module's migrations in one ordered list and runs them with
 * Kysely's migrator. The constructor throws on a misnamed migration, a name declared twice, or two
 * migrations sharing a timestamp (`YYYYMMDDHHMM`), naming both: the timestamp alone orders the
 * plane's migrations, so two modules must never claim the same minute. An upgrade applies every
 * pending migration, including one named before migrations already applied (a module new in the
 * release). On PostgreSQL the run holds an advisory lock inside one transaction, so
 * several processes starting together apply each migration exactly once.
 */
export class PlaneMigrator {
  readonly #migrator: Migrator;
  readonly #names: string[];

  constructor(
    db: Db,
    owned: Array<{ module: string; migrations: ModuleMigration[] }>,
    options: { schema?: string } = {},
  ) {
    const all: Record<string, Migration> = {};
    const stamps = new Map<string, string>();
    for (const { module, migrations } of owned) {
      for (const m of migrations) {
        const match = NAME.exec(m.name);
        if (!match) throw new Error(`Migration "${m.name}" must be named YYYYMMDDHHMM_<module>_<what>`);
        if (match[2] !== module) throw new Error(`Migration "${m.name}" is not named after its module "${module}"`);
        if (all[m.name]) throw new Error(`Migration "${m.name}" is declared twice`);
        const stamp = match[1] as string;
        const taken = stamps.get(stamp);
        if (taken) {
          throw new Error(
            `Migrations "${taken}" and "${m.name}" share the timestamp ${stamp}: give one a later minute`,
          );
        }
        stamps.set(stamp, m.name);
        all[m.name] = { up: (k) => m.up(k, db.engine), down: (k) => m.down(k, db.engine) };
      }
    }
    this.#names = Object.keys(all).sort();
    this.#migrator = new Migrator({
      db: db.kysely,
      provider: { getMigrations: async () => all },
      migrationTableName: "baseplate_migration",
      migrationLockTableName: "baseplate_migration_lock",
      // A module added in a later release may carry a timestamp older than migrations a running
      // plane has already applied (modules are written in parallel): an upgrade applies it too,
      // instead of refusing the whole run. Each module's migrations touch only its own tables, so
      // their order across modules does not matter; within a module the timestamps still order.
      allowUnorderedMigrations: true,
      ...(db.engine === "postgres" && options.schema ? { migrationTableSchema: options.schema } : {}),
    });
  }

  /** names lists every known migration, oldest first. */
  get names(): readonly string[] {
    return this.#names;
  }

  async status(): Promise<MigrationStatus[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const list = await this.#migrator.getMigrations();
        return list.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
      } catch (err) {
        if (!INTROSPECTION_RACE.has((err as { code?: string }).code ?? "") || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  /** pending lists migrations not yet applied. */
  async pending(): Promise<string[]> {
    return (await this.status()).filter((m) => m.executedAt === null).map((m) => m.name);
  }

  /** up applies every pending migration. Throws `MigrationError` naming the failed migration. */
  async up(): Promise<string[]> {
    return applied(await this.#run(() => this.#migrator.migrateToLatest()));
  }

  /**
   * #run retries a run that failed before applying anything because Kysely's table introspection
   * (which scans every schema of the database) raced with another schema being dropped
   * (kysely-org/kysely#1419). Such a run changed nothing, so running it again is safe.
   */
  async #run(once: () => Promise<MigrationResultSet>): Promise<MigrationResultSet> {
    for (let attempt = 1; ; attempt++) {
      const result = await once();
      const code = (result.error as { code?: string } | undefined)?.code;
      const nothingRan = (result.results ?? []).length === 0;
      if (!result.error || !nothingRan || !INTROSPECTION_RACE.has(code ?? "") || attempt >= 5) return result;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }

  /** down reverts the newest applied migration (or `steps` of them). */
  async down(steps = 1): Promise<string[]> {
    const reverted: string[] = [];
    for (let i = 0; i < steps; i++) {
      const names = applied(await this.#run(() => this.#migrator.migrateDown()));
      if (names.length === 0) break;
      reverted.push(...names);
    }
    return reverted;
  }

  /** reset reverts every applied migration (tests and `migrate down --all`). */
  async reset(): Promise<string[]> {
    return this.down(Number.MAX_SAFE_INTEGER);
  }
}

export class MigrationError extends Error {
  constructor(
    readonly migration: string | undefined,
    cause: unknown,
  ) {
    super(`Migration ${migration ?? "(unknown)"} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "MigrationError";
  }
}

function applied(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName;
    throw new MigrationError(failed, result.error);
  }
  return (result.results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
