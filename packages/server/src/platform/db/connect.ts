import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
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
    const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
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
