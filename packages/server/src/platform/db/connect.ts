import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DatabaseMetadataOptions,
  type DialectAdapter,
  Kysely,
  type MigrationLockOptions,
  PostgresDialect,
  type PostgresDialectConfig,
  type SchemaMetadata,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
  sql,
  type TableMetadata,
} from "kysely";
import pg from "pg";
import type { Config } from "../../config.js";
import type { Logger } from "../logger.js";
import { Db } from "./db.js";
import { preparingStatements, StatementNames } from "./prepared.js";

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
    const kysely = new Kysely<unknown>({
      dialect: new MigratingSqliteDialect({ database: cachingStatements(sqlite) }),
    });
    return new Db("sqlite", kysely, { close: async () => kysely.destroy(), poolStats: () => null });
  }

  const openPool = (max: number, name: string) => {
    const pool = new pg.Pool({
      connectionString: database.url,
      max,
      options: `-c search_path=${database.schema}`,
      types: { getTypeParser: pgTypeParser },
      connectionTimeoutMillis: 10_000,
      application_name: name,
    });
    pool.on("error", (err) => logger.error({ err }, "idle PostgreSQL connection failed"));
    return preparingStatements(pool, names);
  };
  // One registry for both pools: a text is named the same on every connection.
  const names = new StatementNames();
  // Requests and background jobs use separate pools, so a backlog of jobs never takes the
  // connections requests need (and the other way round).
  const pool = openPool(database.poolMax, "baseplate");
  const workerPool = openPool(database.workerPoolMax, "baseplate-worker");
  const kysely = new Kysely<unknown>({ dialect: new SchemaPostgresDialect({ pool }, database.schema) });
  const workerKysely = new Kysely<unknown>({
    dialect: new SchemaPostgresDialect({ pool: workerPool }, database.schema),
  });
  if (database.schema !== "public") {
    try {
      await sql`create schema if not exists ${sql.id(database.schema)}`.execute(kysely);
    } catch (err) {
      // Two processes creating the schema at once: the loser sees a duplicate; the schema exists.
      const code = (err as { code?: string }).code;
      if (code !== "23505" && code !== "42P06") throw err;
    }
  }
  const stats = (p: pg.Pool) => ({ total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount });
  return new Db(
    "postgres",
    kysely,
    {
      close: async () => {
        await Promise.all([kysely.destroy(), workerKysely.destroy()]);
      },
      poolStats: () => stats(pool),
      workerPoolStats: () => stats(workerPool),
    },
    workerKysely,
  );
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

/**
 * SchemaIntrospector describes only the plane's own schema. Kysely's stock PostgreSQL introspector
 * scans every schema of the database, which fails when another schema is dropped meanwhile
 * (kysely-org/kysely#1419) — and the migrator runs it on every start.
 */
class SchemaIntrospector implements DatabaseIntrospector {
  constructor(
    private readonly db: Kysely<unknown>,
    private readonly schema: string,
  ) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select schema_name as name from information_schema.schemata
      where schema_name = ${this.schema}`.execute(this.db);
    return rows;
  }

  async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const { rows } = await sql<{
      table_name: string;
      table_type: string;
      column_name: string | null;
      data_type: string | null;
      udt_schema: string | null;
      is_nullable: string | null;
      column_default: string | null;
      is_identity: string | null;
    }>`select t.table_name, t.table_type, c.column_name, c.udt_name as data_type, c.udt_schema, c.is_nullable,
        c.column_default, c.is_identity
      from information_schema.tables t
      left join information_schema.columns c on c.table_schema = t.table_schema and c.table_name = t.table_name
      where t.table_schema = ${this.schema}
      order by t.table_name, c.ordinal_position`.execute(this.db);
    const tables = new Map<
      string,
      { name: string; isView: boolean; schema: string; columns: TableMetadata["columns"] }
    >();
    for (const r of rows) {
      if (!options.withInternalKyselyTables && r.table_name.startsWith("baseplate_migration")) continue;
      let table = tables.get(r.table_name);
      if (!table) {
        table = { name: r.table_name, isView: r.table_type === "VIEW", schema: this.schema, columns: [] };
        tables.set(r.table_name, table);
      }
      if (r.column_name === null) continue;
      table.columns.push({
        name: r.column_name,
        dataType: r.data_type ?? "unknown",
        ...(r.udt_schema ? { dataTypeSchema: r.udt_schema } : {}),
        isNullable: r.is_nullable === "YES",
        isAutoIncrementing: r.is_identity === "YES" || (r.column_default ?? "").startsWith("nextval("),
        hasDefaultValue: r.column_default !== null,
      });
    }
    return [...tables.values()];
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

class SchemaPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly schema: string,
  ) {
    super(config);
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.schema);
  }
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * cachingStatements wraps better-sqlite3 so each SQL text is prepared once: Kysely's driver calls
 * `prepare` for every query, and preparing costs more than running most of our statements.
 * The cache is bounded (least recently used out); schema changes are safe because better-sqlite3
 * re-prepares a statement whose schema changed underneath it.
 */
function cachingStatements(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement) {
        cache.delete(sql);
      } else {
        statement = sqlite.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
      }
      cache.set(sql, statement);
      return statement as unknown as SqliteStatement;
    },
  };
}
