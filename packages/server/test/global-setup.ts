import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { PROBLEM_CODES_DIR_ENV } from "../src/platform/http/problem.js";

export const DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string | null;
    /** runId names this run's PostgreSQL template databases (see src/testing/harness.ts). */
    runId: string;
  }
}

/**
 * Decides once per run whether the PostgreSQL half of the suite runs, and turns on the record of
 * answered problem codes (`PROBLEM_CODES_DIR_ENV`): the returned teardown fails the run when any
 * route answered a problem code its OpenAPI operation does not declare (`undeclaredProblemCodes`). The URL comes from
 * BASEPLATE_TEST_DATABASE_URL (default: the local server's `test` database). When CI=true an
 * unreachable PostgreSQL fails the run instead of skipping it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A directory named by the caller is kept after the run (to study the record); ours is removed.
  const given = process.env[PROBLEM_CODES_DIR_ENV];
  const codesDir = given || mkdtempSync(join(tmpdir(), "baseplate-problem-codes-"));
  process.env[PROBLEM_CODES_DIR_ENV] = codesDir;
  const url = process.env.BASEPLATE_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
  const runId = randomBytes(5).toString("hex");
  project.provide("runId", runId);
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
  return async () => {
    try {
      await dropTemplates(url, runId);
    } catch (err) {
      process.stderr.write(`[baseplate] could not drop this run's template schemas: ${(err as Error).message}\n`);
    }
    try {
      const offenders = await undeclaredProblemCodes(codesDir);
      if (offenders.length > 0) {
        // A teardown error alone is reported but leaves the exit code at 0: fail the run explicitly.
        process.exitCode = 1;
        throw new Error(
          `Routes answered problem codes their OpenAPI operation does not declare (add them to the route's \`errors\`, or to the common codes in openapi.ts):\n${offenders.map((o) => `  ${o}`).join("\n")}`,
        );
      }
    } finally {
      if (!given) rmSync(codesDir, { recursive: true, force: true });
    }
  };
}

/**
 * dropTemplates drops the PostgreSQL template schemas of this run (`bp_tpl_<runId>_…`, created by
 * the test harness), once every test file has finished.
 */
async function dropTemplates(url: string, runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch {
    return; // PostgreSQL was not part of this run.
  }
  try {
    const { rows } = await client.query<{ datname: string }>(
      "select nspname as datname from pg_namespace where nspname like $1",
      [`bp\\_tpl\\_${runId}\\_%`],
    );
    for (const { datname } of rows) await client.query(`drop schema if exists ${datname} cascade`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

type Operation = { responses?: Record<string, { "x-problem-codes"?: string[] }> };

/**
 * undeclaredProblemCodes reads the answered problems recorded in `dir` and lists each
 * `METHOD /route status code` that the shipped plane's OpenAPI document does not declare on that
 * operation. Routes outside the document (test-only modules) and `internal_error` (an unexpected
 * failure, which the tests that meet it fail on) are not checked.
 */
export async function undeclaredProblemCodes(dir: string): Promise<string[]> {
  const lines = readdirSync(dir)
    .filter((f) => f.endsWith(".ndjson"))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean));
  if (lines.length === 0) return [];
  const { renderOpenApi } = await import("../../../scripts/write-openapi.js");
  const doc = JSON.parse(await renderOpenApi()) as { paths: Record<string, Record<string, Operation>> };
  const offenders = new Set<string>();
  for (const line of lines) {
    const { method, routeUrl, status, code } = JSON.parse(line) as {
      method: string;
      routeUrl: string;
      status: number;
      code: string;
    };
    if (code === "internal_error") continue;
    const operation = doc.paths[routeUrl.replace(/:([A-Za-z0-9_]+)/g, "{$1}")]?.[method.toLowerCase()];
    if (!operation) continue;
    const declared = operation.responses?.[String(status)]?.["x-problem-codes"] ?? [];
    if (!declared.includes(code)) offenders.add(`${method} ${routeUrl} ${status} ${code}`);
  }
  return [...offenders].sort();
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, "//$1:***@");
}
