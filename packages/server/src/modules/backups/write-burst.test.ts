import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../../app.js";
import { loadConfig } from "../../config.js";
import { newId } from "../../platform/ids.js";
import { systemContext } from "../../platform/principal.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { probeModule } from "../../testing/probe-module.js";
import { auditModule } from "../audit/index.js";
import { backupsModule, findTool, restoreBackup } from "./index.js";

// A backup taken while the plane is busy writing (200 tenant creations at once, each with its
// audit entry and event) holds every write acknowledged before its snapshot began, and the
// restored plane's audit chains still verify: the snapshot is one consistent read.

const PG_TOOLS = (await findTool("pg_dump")) !== null && (await findTool("pg_restore")) !== null;
const WRITES = 200;

describeEachEngine("a backup during a write burst", (engine) => {
  if (engine === "postgres" && !PG_TOOLS) {
    it.skip("SKIPPED on PostgreSQL: pg_dump/pg_restore are not installed here (apt-get install postgresql-client)", () => {});
    return;
  }
  let t: TestApp;
  let p: SeededPlane;
  let root: string;
  let database: string | null = null;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "baseplate-burst-"));
    t = await createTestApp(engine, { plane: true, env: { BASEPLATE_BACKUP_TARGET: join(root, "backups") } });
    p = await seedPlane(t);
  });
  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
    if (database) {
      const client = new pg.Client({ connectionString: t.database.env.BASEPLATE_DATABASE_URL as string });
      await client.connect();
      await client.query(`drop database if exists ${database} with (force)`);
      await client.end();
    }
  });

  it("restores every write acknowledged before the snapshot, with verifying audit chains", async () => {
    const acknowledged: Array<{ id: string; at: number }> = [];
    let started = 0;
    const write = async (i: number) => {
      started++;
      const res = await t.inject({
        method: "POST",
        url: "/v1/tenants",
        headers: { authorization: `Bearer ${p.a.secretKey}` },
        payload: { name: `Burst ${i}` },
      });
      expect(res.statusCode, res.body).toBe(201);
      acknowledged.push({ id: (res.json() as { id: string }).id, at: Date.now() });
    };
    const burst = Promise.all(Array.from({ length: WRITES }, (_, i) => write(i)));
    // The backup starts once the burst is under way and some writes are acknowledged.
    while (acknowledged.length < 20) await new Promise((r) => setImmediate(r));
    const taken = await t.app.service(backupsModule).takeBackup(systemContext(newId("request"), "test"), {});
    await burst;
    expect(started).toBe(WRITES);
    const snapshotAt = Date.parse(taken.manifest.snapshotAt);
    const before = acknowledged.filter((a) => a.at < snapshotAt).map((a) => a.id);
    expect(before.length).toBeGreaterThanOrEqual(20);

    let postgres: { url: string; schema: string } | undefined;
    if (engine === "postgres" && t.config.database.engine === "postgres") {
      const url = t.database.env.BASEPLATE_DATABASE_URL as string;
      database = `bk_${randomBytes(5).toString("hex")}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`create database ${database}`);
      await client.end();
      const u = new URL(url);
      u.pathname = `/${database}`;
      postgres = { url: u.toString(), schema: t.config.database.schema };
    }
    const into = join(root, "restored");
    await restoreBackup({
      target: t.app.service(backupsModule).target(),
      id: taken.manifest.id,
      dataDir: into,
      ...(postgres ? { postgres } : {}),
      knownMigrations: t.app.migrator.names,
    });
    const restored: App = await createApp({
      config: loadConfig({
        BASEPLATE_DATA_DIR: into,
        BASEPLATE_LOG_LEVEL: "silent",
        BASEPLATE_WORKERS: "false",
        ...(postgres ? { BASEPLATE_DATABASE_URL: postgres.url, BASEPLATE_DATABASE_SCHEMA: postgres.schema } : {}),
      }),
      modules: [...MODULES, probeModule],
    });
    try {
      const ids = new Set(
        (await restored.db.kysely.selectFrom("tenant").select("id").execute()).map((r) => r.id as string),
      );
      expect(before.filter((id) => !ids.has(id))).toEqual([]);
      // Audit entries of those writes are there too, and every chain verifies.
      const chains = await restored.service(auditModule).verifyAllChains();
      expect(chains.length).toBeGreaterThanOrEqual(3);
      expect(chains.filter((c) => !c.ok)).toEqual([]);
      const audited = await restored.db.kysely
        .selectFrom("audit_entry")
        .select("action")
        .where("action", "=", "tenant.created")
        .execute();
      expect(audited.length).toBe(ids.size);
    } finally {
      await restored.db.close();
    }
  });
});
