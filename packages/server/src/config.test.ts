import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "./config.js";

// loadConfig reads only the env object it is given, so these tests never see the real environment.

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, "/srv/app");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("defaults: 127.0.0.1:8080, embedded SQLite in ./baseplate-data, safe settings", () => {
    const config = loadConfig({}, "/srv/app");
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDir: "/srv/app/baseplate-data",
      database: {
        engine: "sqlite",
        file: "/srv/app/baseplate-data/baseplate.sqlite",
        synchronous: "FULL",
      },
      logLevel: "info",
      bodyLimitBytes: 1_048_576,
      corsOrigins: [],
      trustProxy: false,
      idempotencyTtlMs: 24 * 3_600_000,
      workers: { enabled: true, concurrency: 32, pollIntervalMs: 500, leaseMs: 60_000 },
      migrateOnStart: true,
    });
  });

  it("an empty variable means its default", () => {
    expect(loadConfig({ BASEPLATE_PORT: "", BASEPLATE_HOST: "" }, "/srv/app")).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
    });
  });

  it("reads every documented variable (the help and README table are generated from one list)", () => {
    for (const [name, spec] of Object.entries(CONFIG_VARIABLES)) {
      expect(name).toMatch(/^BASEPLATE_[A-Z_]+$/);
      expect(spec.doc.length).toBeGreaterThan(10);
      // Every default is itself valid.
      expect(spec.schema.safeParse(spec.default).success, name).toBe(true);
    }
  });

  it("a relative data dir resolves against the working directory; an absolute one is kept", () => {
    expect(loadConfig({ BASEPLATE_DATA_DIR: "data" }, "/srv/app").dataDir).toBe("/srv/app/data");
    expect(loadConfig({ BASEPLATE_DATA_DIR: "/var/lib/bp" }, "/srv/app").database).toMatchObject({
      file: "/var/lib/bp/baseplate.sqlite",
    });
  });

  it.each(["postgres://u:p@db:5432/bp", "postgresql://db/bp"])("%s selects PostgreSQL", (url) => {
    const config = loadConfig(
      { BASEPLATE_DATABASE_URL: url, BASEPLATE_DATABASE_SCHEMA: "bp_prod", BASEPLATE_DATABASE_POOL_MAX: "20" },
      "/srv/app",
    );
    expect(config.database).toEqual({ engine: "postgres", url, schema: "bp_prod", poolMax: 20, workerPoolMax: 5 });
  });

  it("reads the other variables", () => {
    const config = loadConfig(
      {
        BASEPLATE_HOST: "0.0.0.0",
        BASEPLATE_PORT: "0",
        BASEPLATE_LOG_LEVEL: "debug",
        BASEPLATE_BODY_LIMIT: "2048",
        BASEPLATE_CORS_ORIGINS: " https://app.example.com , http://localhost:3000 ",
        BASEPLATE_TRUST_PROXY: "yes",
        BASEPLATE_IDEMPOTENCY_TTL_HOURS: "48",
        BASEPLATE_WORKERS: "0",
        BASEPLATE_MIGRATE_ON_START: "false",
      },
      "/srv/app",
    );
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: 0,
      logLevel: "debug",
      bodyLimitBytes: 2048,
      corsOrigins: ["https://app.example.com", "http://localhost:3000"],
      trustProxy: true,
      idempotencyTtlMs: 48 * 3_600_000,
      workers: { enabled: false },
      migrateOnStart: false,
    });
  });

  it.each([
    ["BASEPLATE_PORT", "abc"],
    ["BASEPLATE_PORT", "70000"],
    ["BASEPLATE_PORT", "-1"],
    ["BASEPLATE_PORT", "80.5"],
    ["BASEPLATE_PORT", "8080abc"],
    ["BASEPLATE_LOG_LEVEL", "verbose"],
    ["BASEPLATE_LOG_LEVEL", "INFO"],
    ["BASEPLATE_DATABASE_URL", "mysql://db/bp"],
    ["BASEPLATE_DATABASE_URL", "db.example.com"],
    ["BASEPLATE_DATABASE_SCHEMA", "Robert'); drop table x;--"],
    ["BASEPLATE_BODY_LIMIT", "10"],
    ["BASEPLATE_TRUST_PROXY", "maybe"],
    ["BASEPLATE_CORS_ORIGINS", "app.example.com"],
    ["BASEPLATE_CORS_ORIGINS", "*"],
    ["BASEPLATE_CORS_ORIGINS", "https://app.example.com/path"],
    ["BASEPLATE_CORS_ORIGINS", "https://ok.example.com,javascript:alert(1)"],
  ])("%s=%j → ConfigError naming the variable", (name, value) => {
    const err = configError({ [name]: value });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(name);
    expect(err.message).toContain(name);
    expect(err.message).toMatch(/^Invalid configuration:/);
  });

  it("lists every bad variable at once, not just the first", () => {
    const err = configError({
      BASEPLATE_PORT: "http",
      BASEPLATE_LOG_LEVEL: "loud",
      BASEPLATE_DATABASE_URL: "sqlite://x",
      BASEPLATE_CORS_ORIGINS: "*",
    });
    expect(err.problems).toHaveLength(4);
    for (const name of ["BASEPLATE_PORT", "BASEPLATE_LOG_LEVEL", "BASEPLATE_DATABASE_URL", "BASEPLATE_CORS_ORIGINS"]) {
      expect(err.message).toContain(name);
    }
  });

  it("does not echo the password of a mistyped database URL", () => {
    const err = configError({ BASEPLATE_DATABASE_URL: "postgress://admin:s3cr3t-pw@db:5432/bp" });
    expect(err.message).toContain("BASEPLATE_DATABASE_URL");
    expect(err.message).toContain("admin:***@db");
    expect(err.message).not.toContain("s3cr3t-pw");
  });

  it("ignores unrelated variables", () => {
    expect(() => loadConfig({ PORT: "nonsense", BASEPLATE_UNKNOWN: "x" }, "/srv/app")).not.toThrow();
  });
});
