import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
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
  const database = await createTestDatabase(engine);
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
      modules: options.modules ?? [...(options.plane ? MODULES : []), probeModule],
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
