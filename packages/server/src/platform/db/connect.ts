import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import {
  type DialectAdapter,
  Kysely,
  type MigrationLockOptions,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  sql,
} from "kysely";
import pg from "pg";
import type { Config } from "../../config.js";
import type { Logger } from "../logger.js";
import { Db } from "./db.js";

/**
 * connectDatabase opens the configured engine and returns the plane's `Db`.
 *
 * SQLite: WAL journal, foreign keys on, a busy timeout so a second connection waits instead of
 * failing, and the configured `synchronous` level. PostgreSQL: a `pg` pool whose connections use
 * the configured schema and parse `int8` (our epoch-ms timestamps and minor-unit amounts) as
 * numbers; values beyond 2^53 are refused rather than silently rounded.
 */
export async function connectDatabase(database: Config["database"], logger: Logger): Promise<Db> {
  if (database.engine === "sqlite") {
    mkdirSync(dirname(database.file), { recursive: true });
    const sqlite = new BetterSqlite3(database.file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma(`busy_timeout = ${database.busyTimeoutMs}`);
    sqlite.pragma(`synchronous = ${database.synchronous}`);
    const kysely = new Kysely<unknown>({ dialect: new MigratingSqliteDialect({ database: sqlite }) });
    return new Db("sqlite", kysely, { close: async () => kysely.destroy(), poolStats: () => null });
  }

  const pool = new pg.Pool({
    connectionString: database.url,
    max: database.poolMax,
    options: `-c search_path=${database.schema}`,
    types: { getTypeParser: pgTypeParser },
    connectionTimeoutMillis: 10_000,
  });
  pool.on("error", (err) => logger.error({ err }, "idle PostgreSQL connection failed"));
  const kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  if (database.schema !== "public") {
    await sql`create schema if not exists ${sql.id(database.schema)}`.execute(kysely);
  }
  return new Db("postgres", kysely, {
    close: async () => kysely.destroy(),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  });
}

const INT8_OID = 20;

function pgTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown {
  if (oid === INT8_OID) {
    return (value: string) => {
      const n = Number(value);
      if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds 2^53`);
      return n;
    };
  }
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads do not accept a union format.
  return pg.types.getTypeParser(oid, (format ?? "text") as any);
}

const MIGRATION_LOCK_LEASE_MS = 5 * 60_000;

/**
 * MigratingSqliteAdapter makes SQLite migrations safe when several processes start on one file
 * (the server and a `baseplate migrate` run, say). Kysely's stock adapter assumes one process. Here:
 * - each run is one transaction (SQLite has transactional DDL), so a failed run changes nothing;
 * - a run holds a lease in the lock row (`is_locked` = lease expiry, epoch ms), taken with an
 *   atomic compare-and-set and polled without blocking the event loop; a lease left by a killed
 *   process expires after five minutes.
 */
class MigratingSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }

  override async acquireMigrationLock(db: Kysely<unknown>, options: MigrationLockOptions): Promise<void> {
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const now = Date.now();
      try {
        const result = await sql`update ${sql.table(options.lockTable)} set is_locked = ${now + MIGRATION_LOCK_LEASE_MS}
          where id = ${options.lockRowId} and is_locked < ${now}`.execute(db);
        if (Number(result.numAffectedRows ?? 0n) === 1) return;
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
      }
      if (now > deadline) throw new Error("Timed out waiting for another process's migrations to finish");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  override async releaseMigrationLock(db: Kysely<unknown>, options: MigrationLockOptions): Promise<void> {
    await sql`update ${sql.table(options.lockTable)} set is_locked = 0 where id = ${options.lockRowId}`.execute(db);
  }
}

class MigratingSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new MigratingSqliteAdapter();
  }
}
