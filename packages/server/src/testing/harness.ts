import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { describe, inject } from "vitest";
import { type App, createApp, MODULES } from "../app.js";
import { type Config, loadConfig } from "../config.js";
import type { Clock } from "../platform/clock.js";
import { createLogger, type Logger } from "../platform/logger.js";
import type { AnyModule } from "../platform/module.js";
import type { Principal } from "../platform/principal.js";
import { type ProbeService, probeModule } from "./probe-module.js";

export type EngineName = "sqlite" | "postgres";

/** ENGINES lists the engines this run tests: SQLite always, PostgreSQL when reachable. */
export function engines(): EngineName[] {
  return inject("postgresUrl") ? ["sqlite", "postgres"] : ["sqlite"];
}

/**
 * describeEachEngine declares the same suite once per engine (Kysely's `for (const dialect of
 * DIALECTS)` habit). In CI the PostgreSQL half always runs: global setup fails the run otherwise.
 */
export function describeEachEngine(name: string, suite: (engine: EngineName) => void): void {
  for (const engine of engines()) describe(`${name} [${engine}]`, () => suite(engine));
}

/** TestDatabase is a fresh, empty database: a temp SQLite file or a new PostgreSQL schema. */
export interface TestDatabase {
  engine: EngineName;
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function createTestDatabase(engine: EngineName): Promise<TestDatabase> {
  if (engine === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "baseplate-test-"));
    return {
      engine,
      env: { BASEPLATE_DATA_DIR: dir, BASEPLATE_SQLITE_SYNCHRONOUS: "NORMAL" },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const url = inject("postgresUrl");
  if (!url) throw new Error("PostgreSQL is not available in this run");
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "baseplate-test-"));
  return {
    engine,
    env: {
      BASEPLATE_DATABASE_URL: url,
      BASEPLATE_DATABASE_SCHEMA: schema,
      BASEPLATE_DATABASE_POOL_MAX: "5",
      // Each database has its own data dir: its master key file belongs to it.
      BASEPLATE_DATA_DIR: dir,
    },
    drop: async () => {
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Migrated templates. Most tests want a plane whose migrations are applied; running the whole
 * migration chain for each of them (seconds on PostgreSQL) dominated the suite. Instead each module
 * set is migrated once into a template and every test gets a copy. SQLite: a copy of the database
 * file. PostgreSQL: a schema recreated from the template's catalog in one round trip, and — since
 * DDL costs about as much as migrating — an emptied used copy when the process has one (its shape
 * checked against the template's first). A template holds the migrated schema only (no master key
 * check, no data: `App.migrate`, not `start`), so each copy starts like a new plane. PostgreSQL
 * templates are named after the run (`inject("runId")`), shared by its worker processes (migrated
 * under an advisory lock) and dropped with their copies by the global teardown. Tests that need an
 * empty database or their own migration set-up (`migrate: false`, database env) get a new one.
 */
const templates = new Map<string, Promise<string | PostgresTemplate>>();

function templateFor(engine: EngineName, modules: readonly AnyModule[]): Promise<string | PostgresTemplate> {
  const names = modules.map((m) => m.name).join(",");
  const key = `${engine}:${names}`;
  let template = templates.get(key);
  if (!template) {
    template = engine === "sqlite" ? sqliteTemplate(modules) : postgresTemplate(modules, names);
    templates.set(key, template);
    // A failure is not remembered: the next test tries again (and reports its own error).
    template.catch(() => templates.delete(key));
  }
  return template;
}

async function migrateInto(env: Record<string, string>, modules: readonly AnyModule[]): Promise<void> {
  const config = loadConfig({ BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false", NODE_ENV: "test", ...env });
  const app = await createApp({ config, modules: [...modules] });
  try {
    await app.migrate();
  } finally {
    await app.stop();
  }
}

async function sqliteTemplate(modules: readonly AnyModule[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "baseplate-template-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  await migrateInto({ BASEPLATE_DATA_DIR: dir }, modules);
  return join(dir, "baseplate.sqlite");
}

/**
 * postgresTemplate migrates a template schema (once per run and module set, shared by the run's
 * worker processes: created under an advisory lock) and returns the script that copies it into
 * a new schema (`cloneScript`).
 */
async function postgresTemplate(modules: readonly AnyModule[], names: string): Promise<PostgresTemplate> {
  const url = inject("postgresUrl");
  if (!url) throw new Error("PostgreSQL is not available in this run");
  const digest = createHash("sha256").update(names).digest("hex").slice(0, 10);
  const schema = `${TEMPLATE_PREFIX}${inject("runId")}_${digest}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One process migrates it; the others wait on the lock, then find it.
    await client.query("select pg_advisory_lock(hashtext($1))", [schema]);
    const found = await client.query("select 1 from pg_namespace where nspname = $1", [schema]);
    if (found.rowCount === 0) {
      try {
        await migrateInto(
          {
            BASEPLATE_DATABASE_URL: url,
            BASEPLATE_DATABASE_SCHEMA: schema,
            BASEPLATE_DATA_DIR: mkdtempSync(join(tmpdir(), "baseplate-template-")),
          },
          modules,
        );
      } catch (err) {
        await client.query(`drop schema if exists ${schema} cascade`);
        throw err;
      }
    }
    return { key: names, schema, ...(await cloneScript(client, schema)) };
  } finally {
    await client.query("select pg_advisory_unlock(hashtext($1))", [schema]).catch(() => undefined);
    await client.end();
  }
}

/**
 * cloneScript reads a migrated schema from the catalog and writes the script that recreates it
 * in the schema named `__target__`: tables (columns with types, defaults and NOT NULL), their
 * constraints under their own names (the plane maps some violations by name), indexes, functions
 * and triggers, then the rows the migrations left (the migrator's own bookkeeping). One simple
 * query runs it: one round trip instead of the migration chain.
 */
async function cloneScript(client: pg.Client, schema: string): Promise<Omit<PostgresTemplate, "key" | "schema">> {
  const q = async <R extends pg.QueryResultRow>(text: string) => (await client.query<R>(text, [schema])).rows;
  const tables = await q<{ oid: number; name: string }>(
    "select c.oid, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r' order by c.relname",
  );
  const columns = await q<{ table: string; name: string; type: string; notnull: boolean; def: string | null }>(
    `select c.relname as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
            pg_get_expr(d.adbin, d.adrelid) as def
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where n.nspname = $1 and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
      order by c.relname, a.attnum`,
  );
  const constraints = await q<{ table: string; name: string; type: string; def: string }>(
    `select c.relname as table, k.conname as name, k.contype as type, pg_get_constraintdef(k.oid) as def
       from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 order by k.contype = 'f', c.relname, k.conname`,
  );
  const indexes = await q<{ def: string }>(
    `select pg_get_indexdef(i.indexrelid) as def
       from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)`,
  );
  const functions = await q<{ def: string }>(
    "select pg_get_functiondef(p.oid) as def from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1",
  );
  const triggers = await q<{ def: string }>(
    `select pg_get_triggerdef(t.oid) as def from pg_trigger t join pg_class c on c.oid = t.tgrelid
       join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and not t.tgisinternal`,
  );
  const id = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const target = (text: string) => text.replaceAll(`${schema}.`, "__target__.");
  const out: string[] = ["create schema __target__", "set local search_path to __target__"];
  for (const t of tables) {
    const cols = columns
      .filter((c) => c.table === t.name)
      .map(
        (c) =>
          `${id(c.name)} ${c.type}${c.def !== null ? ` default ${target(c.def)}` : ""}${c.notnull ? " not null" : ""}`,
      );
    out.push(`create table ${id(t.name)} (${cols.join(", ")})`);
  }
  for (const k of constraints) {
    out.push(`alter table ${id(k.table)} add constraint ${id(k.name)} ${target(k.def)}`);
  }
  for (const i of indexes) out.push(target(i.def));
  for (const f of functions) out.push(target(f.def));
  for (const t of triggers) out.push(target(t.def));
  const seeded: string[] = [];
  for (const t of tables) {
    const count = await client.query(`select 1 from ${id(schema)}.${id(t.name)} limit 1`);
    if (count.rowCount) seeded.push(t.name);
  }
  for (const t of seeded) out.push(`insert into ${id(t)} select * from ${id(schema)}.${id(t)}`);
  // Emptying a used copy: every table, triggers and foreign keys off (`replica`), seeded rows back.
  const reset = [
    "begin",
    "set local session_replication_role = replica",
    "set local search_path to __target__",
    ...tables.map((t) => `delete from ${id(t.name)}`),
    ...seeded.map((t) => `insert into ${id(t)} select * from ${id(schema)}.${id(t)}`),
    "commit",
  ];
  return {
    script: `begin;\n${out.join(";\n")};\ncommit;`,
    reset: `${reset.join(";\n")};`,
    fingerprint: await fingerprintOf(client, schema),
  };
}

/**
 * PostgresTemplate is a migrated template schema: the script that copies it into a new schema,
 * the one that empties a used copy, and the shape a copy must still have to be reused.
 */
interface PostgresTemplate {
  key: string;
  schema: string;
  script: string;
  reset: string;
  fingerprint: string;
}

/** fingerprintOf summarises a schema's shape: a copy a test altered (dropped a trigger, say) is not reused. */
async function fingerprintOf(client: pg.Client, schema: string): Promise<string> {
  const { rows } = await client.query<{ f: string }>(
    `select concat_ws(',',
       (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1),
       (select count(*) from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and a.attnum > 0 and not a.attisdropped),
       (select count(*) from pg_constraint k join pg_namespace n on n.oid = k.connamespace where n.nspname = $1),
       (select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and t.tgenabled <> 'D'),
       (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1)) as f`,
    [schema],
  );
  return rows[0]?.f ?? "";
}

/**
 * spareSchemas are emptied copies this process may reuse, per template: creating a copy is DDL
 * (hundreds of tables and indexes, about as slow as migrating), emptying one is a round trip.
 */
const spareSchemas = new Map<string, string[]>();

/** TEMPLATE_PREFIX starts the name of every PostgreSQL template schema (dropped by the global teardown). */
export const TEMPLATE_PREFIX = "bp_tpl_";

/** createMigratedDatabase is `createTestDatabase` with the migrations of `modules` already applied. */
async function createMigratedDatabase(engine: EngineName, modules: readonly AnyModule[]): Promise<TestDatabase> {
  const template = await templateFor(engine, modules);
  if (engine === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "baseplate-test-"));
    copyFileSync(template as string, join(dir, "baseplate.sqlite"));
    return {
      engine,
      env: { BASEPLATE_DATA_DIR: dir, BASEPLATE_SQLITE_SYNCHRONOUS: "NORMAL" },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const pgTemplate = template as PostgresTemplate;
  const url = inject("postgresUrl") as string;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  const spares = spareSchemas.get(pgTemplate.key) ?? [];
  spareSchemas.set(pgTemplate.key, spares);
  let schema = spares.pop();
  if (!schema) {
    schema = `${pgTemplate.schema}_${randomBytes(4).toString("hex")}`;
    await admin(pgTemplate.script.replaceAll("__target__", schema));
  }
  const dir = mkdtempSync(join(tmpdir(), "baseplate-test-"));
  const name = schema;
  return {
    engine,
    env: {
      BASEPLATE_DATABASE_URL: url,
      BASEPLATE_DATABASE_SCHEMA: name,
      BASEPLATE_DATABASE_POOL_MAX: "5",
      BASEPLATE_DATA_DIR: dir,
    },
    drop: async () => {
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        if ((await fingerprintOf(client, name)) === pgTemplate.fingerprint) {
          await client.query(pgTemplate.reset.replaceAll("__target__", name));
          spares.push(name);
        } else {
          await client.query(`drop schema if exists ${name} cascade`);
        }
      } finally {
        await client.end();
      }
    },
  };
}

/** usesTemplate: a test app may start from a template unless it sets up the database or migrations itself. */
function usesTemplate(options: TestAppOptions): boolean {
  if (options.migrate === false) return false;
  return !Object.keys(options.env ?? {}).some((k) => /^BASEPLATE_(DATABASE_|DATA_DIR|MIGRATE)/.test(k));
}

export interface TestAppOptions {
  clock?: Clock;
  /** plane: register the shipped modules (MODULES) besides the probe module. */
  plane?: boolean;
  modules?: readonly AnyModule[];
  env?: Record<string, string>;
  /** migrate: apply migrations before returning (default true). */
  migrate?: boolean;
  /** logger replaces the plane's logger (a test that reads log lines: `captureLogs`). */
  logger?: Logger;
}

export interface TestApp {
  app: App;
  engine: EngineName;
  database: TestDatabase;
  probe: ProbeService;
  config: Config;
  inject: App["http"]["fastify"]["inject"];
  /** principal returns an environment principal for the probe credential resolver. */
  token(principal?: Partial<Principal>): string;
  close(): Promise<void>;
}

/**
 * createTestApp gives a test its own plane on a fresh database, with the probe module (a minimal
 * module exercising the whole write path) registered. Workers are off unless a test starts them.
 */
export async function createTestApp(engine: EngineName, options: TestAppOptions = {}): Promise<TestApp> {
  const modules = options.modules ?? [...(options.plane ? MODULES : []), probeModule];
  const database = usesTemplate(options)
    ? await createMigratedDatabase(engine, modules)
    : await createTestDatabase(engine);
  const config = loadConfig({
    BASEPLATE_LOG_LEVEL: "silent",
    BASEPLATE_WORKERS: "false",
    BASEPLATE_WORKER_POLL_MS: "20",
    BASEPLATE_PASSWORD_PROFILE: "test",
    // Rate limits are off unless a test turns them on (`env: { BASEPLATE_RATE_LIMITS: "true" }`).
    BASEPLATE_RATE_LIMITS: "false",
    NODE_ENV: "test",
    ...database.env,
    ...options.env,
  });
  let app: App;
  try {
    app = await createApp({
      config,
      modules,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  } catch (err) {
    await database.drop();
    throw err;
  }
  if (options.migrate ?? true) {
    try {
      await app.start({ listen: false, workers: false });
    } catch (err) {
      await app.stop().catch(() => undefined);
      await database.drop();
      throw err;
    }
  }
  // The probe is looked up when used: an app built without it fails only the test that needs it.
  const probe = () => app.service(probeModule);
  return {
    app,
    engine,
    database,
    get probe() {
      return probe();
    },
    config,
    inject: app.http.fastify.inject.bind(app.http.fastify) as TestApp["inject"],
    token: (principal = {}) =>
      probe().issueToken({
        actorType: "service",
        actorId: "svc_test",
        credentialId: `cred_${randomBytes(4).toString("hex")}`,
        environmentId: "env_test",
        permissions: ["*"],
        ...principal,
      }),
    close: async () => {
      await app.stop().catch(() => undefined);
      await database.drop();
    },
  };
}

/**
 * captureLogs returns a logger at `level` whose JSON lines are parsed into `lines` as they are
 * written (for tests that assert what the plane logs).
 */
export function captureLogs(level = "info"): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, {
    write(line: string) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines };
}
