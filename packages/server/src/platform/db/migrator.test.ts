import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type App, createApp } from "../../app.js";
import { loadConfig } from "../../config.js";
import { createTestDatabase, describeEachEngine, type TestDatabase } from "../../testing/harness.js";
import { probeModule } from "../../testing/probe-module.js";
import { spawnPlane } from "../../testing/spawn.js";
import { type AnyModule, defineModule } from "../module.js";
import type { ModuleMigration } from "./migrator.js";

describeEachEngine("migrations", (engine) => {
  let database: TestDatabase;
  const apps: App[] = [];
  beforeEach(async () => {
    database = await createTestDatabase(engine);
  });
  afterEach(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    apps.length = 0;
    await database.drop();
  });

  const build = async (modules: AnyModule[] = [probeModule]) => {
    const app = await createApp({
      config: loadConfig({ ...database.env, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" }),
      modules,
    });
    apps.push(app);
    return app;
  };
  // Only this test's schema (a catalog scan of the whole test database would race other tests).
  const tables = async (app: App) => {
    const query =
      engine === "sqlite"
        ? sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`
        : sql<{
            name: string;
          }>`select table_name as name from information_schema.tables where table_schema = current_schema()`;
    const { rows } = await query.execute(app.db.kysely);
    return rows.map((r) => r.name).filter((n) => !n.startsWith("baseplate_migration"));
  };

  it("applies every module's migrations in order, reverts them all, and applies them again", async () => {
    const app = await build();
    expect(await app.migrator.pending()).toEqual([
      "202611260000_platform_idempotency",
      "202611260001_platform_jobs",
      "202611260002_platform_master_key",
      "202611260100_probe_tables",
      "202612061900_platform_rate_limit_buckets",
    ]);
    expect(await app.migrate()).toHaveLength(5);
    expect((await tables(app)).sort()).toEqual(
      [
        "idempotency_record",
        "job",
        "job_schedule",
        "master_key_check",
        "probe_fact",
        "probe_item",
        "probe_job_run",
        "rate_limit_bucket",
      ].sort(),
    );
    expect(await app.migrate()).toEqual([]);

    expect(await app.migrator.down()).toEqual(["202612061900_platform_rate_limit_buckets"]);
    expect(await tables(app)).not.toContain("rate_limit_bucket");
    expect(await app.migrator.pending()).toEqual(["202612061900_platform_rate_limit_buckets"]);

    expect(await app.migrator.reset()).toEqual([
      "202611260100_probe_tables",
      "202611260002_platform_master_key",
      "202611260001_platform_jobs",
      "202611260000_platform_idempotency",
    ]);
    expect(await tables(app)).toEqual([]);
    expect(await app.migrate()).toHaveLength(5);
    expect((await app.migrator.status()).every((m) => m.executedAt instanceof Date)).toBe(true);
  });

  it("several processes starting at once apply each migration exactly once", async () => {
    const racers = await Promise.all(
      [1, 2, 3].map(() => spawnPlane("work", { ...database.env, BASEPLATE_WORKERS: "false" })),
    );
    for (const r of racers) r.child.kill("SIGTERM");
    expect(await Promise.all(racers.map((r) => r.exited))).toEqual([0, 0, 0]);
    const app = await build();
    expect(await app.migrator.pending()).toEqual([]);
    expect((await app.migrator.status()).map((m) => m.name)).toEqual([
      "202611260000_platform_idempotency",
      "202611260001_platform_jobs",
      "202611260002_platform_master_key",
      "202611260100_probe_tables",
      "202612061900_platform_rate_limit_buckets",
    ]);
  });

  it("a failing migration names itself and leaves the earlier ones applied", async () => {
    const broken: ModuleMigration = {
      name: "202611260200_broken_oops",
      up: async (db) => {
        await db.schema.createTable("broken_thing").addColumn("id", "text").execute();
        throw new Error("boom");
      },
      down: async () => undefined,
    };
    const app = await build([defineModule({ name: "broken", migrations: [broken], createService: () => ({}) })]);
    await expect(app.migrate()).rejects.toThrow("Migration 202611260200_broken_oops failed: boom");
    const status = await app.migrator.status();
    expect(status.find((m) => m.name === "202611260200_broken_oops")?.executedAt).toBeNull();
    // Transactional DDL on both engines: the whole run rolled back.
    expect(await tables(app)).toEqual([]);
  });

  it("an upgrade applies a new module's migration named before ones already applied", async () => {
    const table = (name: string, tableName: string): ModuleMigration => ({
      name,
      up: async (db) => {
        await db.schema.createTable(tableName).addColumn("id", "text").execute();
      },
      down: async (db) => {
        await db.schema.dropTable(tableName).execute();
      },
    });
    const later = defineModule({
      name: "later",
      migrations: [table("202611270900_later_things", "later_thing")],
      createService: () => ({}),
    });
    const first = await build([later]);
    expect(await first.migrate()).toHaveLength(5);
    await first.stop();
    apps.length = 0;
    // The next release adds a module whose migration sorts before the applied one.
    const added = defineModule({
      name: "added",
      migrations: [table("202611261000_added_things", "added_thing")],
      createService: () => ({}),
    });
    const upgraded = await build([later, added]);
    expect(await upgraded.migrator.pending()).toEqual(["202611261000_added_things"]);
    expect(await upgraded.migrate()).toEqual(["202611261000_added_things"]);
    expect(await tables(upgraded)).toEqual(expect.arrayContaining(["later_thing", "added_thing"]));
    expect(await upgraded.migrator.pending()).toEqual([]);
  });

  it("refuses migrations not named after their module", async () => {
    const misnamed: ModuleMigration = { name: "202611260300_other_thing", up: async () => {}, down: async () => {} };
    await expect(
      build([defineModule({ name: "mine", migrations: [misnamed], createService: () => ({}) })]),
    ).rejects.toThrow(/not named after its module "mine"/);
  });

  it("refuses two migrations sharing a timestamp, across modules, naming both", async () => {
    const noop = { up: async () => {}, down: async () => {} };
    const first = defineModule({
      name: "first",
      migrations: [{ name: "202611260400_first_thing", ...noop }],
      createService: () => ({}),
    });
    const second = defineModule({
      name: "second",
      migrations: [{ name: "202611260400_second_thing", ...noop }],
      createService: () => ({}),
    });
    await expect(build([first, second])).rejects.toThrow(
      'Migrations "202611260400_first_thing" and "202611260400_second_thing" share the timestamp 202611260400',
    );
  });

  it("start refuses pending migrations when migrate-on-start is off", async () => {
    const app = await createApp({
      config: loadConfig({
        ...database.env,
        BASEPLATE_LOG_LEVEL: "silent",
        BASEPLATE_WORKERS: "false",
        BASEPLATE_MIGRATE_ON_START: "false",
      }),
      modules: [probeModule],
    });
    apps.push(app);
    await expect(app.start({ listen: false })).rejects.toThrow(/5 migration\(s\) pending.*baseplate migrate up/);
  });
});
