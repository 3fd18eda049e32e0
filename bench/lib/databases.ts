import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Resources } from "./resources.js";

/** tempDir creates a fresh directory under the OS temp dir, removed when `resources` close. */
export function tempDir(resources: Resources, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `baseplate-bench-${label}-`));
  resources.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** postgresProblem returns why PostgreSQL at `url` cannot be used, or null when it answers. */
export async function postgresProblem(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** createSchema creates a fresh schema `bench_<random>`, dropped (cascade) when `resources` close. */
export async function createSchema(resources: Resources, url: string): Promise<string> {
  const schema = `bench_${randomBytes(5).toString("hex")}`;
  await withClient(url, (client) => client.query(`create schema ${schema}`));
  resources.defer(`drop schema ${schema}`, async () => {
    await withClient(url, (client) => client.query(`drop schema if exists ${schema} cascade`));
  });
  return schema;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** redactUrl hides the password of a connection URL for printing. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}
