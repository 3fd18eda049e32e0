import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { defineIds } from "../../packages/server/src/platform/ids.js";

/**
 * The raw baselines (bare Fastify, raw inserts) write rows shaped like the probe module's
 * `probe_item` (prefixed ULID text id, environment id, name, epoch-ms bigint, plus the same
 * `(environment_id, id)` index), opened with the same settings as Baseplate's `connect.ts`.
 */
const { newId } = defineIds({ benchItem: "bnc" });

export type RawEngine = "sqlite" | "postgres";

export interface RawItem {
  id: string;
  environmentId: string;
  name: string;
  createdAt: number;
}

export function newRawItem(name: string): RawItem {
  const now = Date.now();
  return { id: newId("benchItem", now), environmentId: "env_bench", name, createdAt: now };
}

/** createItemTableSql returns the statements creating `table` and its index. */
export function createItemTableSql(table: string): string[] {
  return [
    `create table if not exists ${table} (id text primary key, environment_id text not null, name text not null, created_at bigint not null)`,
    `create index if not exists ${table}_env_idx on ${table} (environment_id, id)`,
  ];
}

export function insertItemSql(engine: RawEngine, table: string): string {
  const values = engine === "sqlite" ? "?, ?, ?, ?" : "$1, $2, $3, $4";
  return `insert into ${table} (id, environment_id, name, created_at) values (${values})`;
}

export function itemParams(item: RawItem): [string, string, string, number] {
  return [item.id, item.environmentId, item.name, item.createdAt];
}

/**
 * openSqlite opens `file` like Baseplate does: WAL journal, foreign keys on, a 5 s busy timeout,
 * and `synchronous` (Baseplate's default is FULL).
 */
export function openSqlite(file: string, synchronous = "FULL"): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  db.pragma(`synchronous = ${synchronous}`);
  return db;
}

/** openPgPool opens a pool whose connections use `schema`, like Baseplate's (default 10 connections). */
export function openPgPool(url: string, schema: string, max = 10): pg.Pool {
  return new pg.Pool({ connectionString: url, max, options: `-c search_path=${schema}` });
}

/** isRawEngine narrows a command-line value. */
export function isRawEngine(value: unknown): value is RawEngine {
  return value === "sqlite" || value === "postgres";
}
