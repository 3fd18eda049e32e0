import pg from "pg";
import type { TestProject } from "vitest/node";

export const DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string | null;
  }
}

/**
 * Decides once per run whether the PostgreSQL half of the suite runs. The URL comes from
 * BASEPLATE_TEST_DATABASE_URL (default: the local server's `test` database). When CI=true an
 * unreachable PostgreSQL fails the run instead of skipping it.
 */
export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.BASEPLATE_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query("select 1");
    project.provide("postgresUrl", url);
  } catch (err) {
    if (process.env.CI === "true" || process.env.BASEPLATE_TEST_REQUIRE_POSTGRES === "true") {
      throw new Error(`PostgreSQL at ${redact(url)} is unreachable and CI=true: ${(err as Error).message}`);
    }
    process.stderr.write(
      `\n[baseplate] PostgreSQL at ${redact(url)} is unreachable (${(err as Error).message}); ` +
        "running the SQLite half only. Set BASEPLATE_TEST_DATABASE_URL to run both engines.\n\n",
    );
    project.provide("postgresUrl", null);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}
