import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { newId } from "../../platform/ids.js";
import { systemContext } from "../../platform/principal.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { S3_TEST_CREDENTIALS, type S3TestServer, startS3Server } from "../../testing/s3-server.js";
import { backupsModule, findTool, openTarget, restoreBackup, SCHEDULED_JOB } from "./index.js";

// The operator API of backups (admins take them, support reads them, nobody else sees them), the
// scheduled backup through the job queue (one per slot, however many processes), and the S3 target.

const PG_TOOLS = (await findTool("pg_dump")) !== null && (await findTool("pg_restore")) !== null;

describeEachEngine("backups module", (engine) => {
  if (engine === "postgres" && !PG_TOOLS) {
    it.skip("SKIPPED on PostgreSQL: pg_dump/pg_restore are not installed here (apt-get install postgresql-client)", () => {});
    return;
  }
  let t: TestApp;
  let p: SeededPlane;
  let s3: S3TestServer;
  let root: string;
  const clock = new TestClock(Date.UTC(2026, 11, 7, 3, 0, 30));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "baseplate-backups-"));
    s3 = await startS3Server("plane-backups");
    t = await createTestApp(engine, {
      plane: true,
      clock,
      env: {
        BASEPLATE_BACKUP_TARGET: join(root, "backups"),
        BASEPLATE_BACKUP_SCHEDULE: "0 * * * *",
        BASEPLATE_BACKUP_KEEP: "2",
        BASEPLATE_BACKUP_ENDPOINT: s3.endpoint,
        BASEPLATE_BACKUP_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
        BASEPLATE_BACKUP_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
        BASEPLATE_BACKUP_FORCE_PATH_STYLE: "true",
      },
    });
    p = await seedPlane(t);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const call = async (token: string, method: string, url: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it("lets an admin operator take a backup, support read and verify it, and nobody else", async () => {
    const created = await call(p.operatorToken, "POST", "/v1/operator/backups", {});
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ engine, storageDriver: "local", location: join(root, "backups", id) });
    expect(created.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // backup.created on the plane's chain, as the operator.
    const entry = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["chain_id", "actor_type", "actor_id", "environment_id"])
      .where("action", "=", "backup.created")
      .executeTakeFirstOrThrow();
    expect(entry).toEqual({
      chain_id: "plane",
      actor_type: "operator",
      actor_id: p.operatorCtx.principal?.actorId,
      environment_id: null,
    });

    const list = await call(p.supportToken, "GET", "/v1/operator/backups");
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ hasMore: false, nextCursor: null, data: [{ id }] });
    expect((await call(p.supportToken, "GET", `/v1/operator/backups/${id}`)).body).toMatchObject({ id });
    const verified = await call(p.supportToken, "GET", `/v1/operator/backups/${id}/verification`);
    expect(verified.body).toMatchObject({ id, ok: true, problems: [] });

    expect((await call(p.supportToken, "POST", "/v1/operator/backups", {})).status).toBe(403);
    expect((await call(p.a.secretKey, "GET", "/v1/operator/backups")).status).toBe(403);
    expect((await call(p.a.secretKey, "POST", "/v1/operator/backups", {})).status).toBe(403);
    expect((await call(p.a.secretKey, "GET", `/v1/operator/backups/${id}`)).status).toBe(403);
    const missing = await call(p.supportToken, "GET", "/v1/operator/backups/backup-20260101T000000000Z-000000");
    expect(missing).toMatchObject({ status: 404, body: { code: "backup_not_found" } });
    expect((await call(p.supportToken, "GET", "/v1/operator/backups/..%2F..%2Fetc")).status).toBe(404);
  });

  it("pages the list newest first", async () => {
    clock.advance(1000); // backup ids sort by time
    const second = await call(p.operatorToken, "POST", "/v1/operator/backups", { keep: 5 });
    expect(second.status).toBe(201);
    const page1 = await call(p.supportToken, "GET", "/v1/operator/backups?limit=1");
    expect(page1.body).toMatchObject({ hasMore: true, data: [{ id: second.body.id }] });
    const page2 = await call(p.supportToken, "GET", `/v1/operator/backups?limit=1&cursor=${page1.body.nextCursor}`);
    expect(page2.body).toMatchObject({ hasMore: false, nextCursor: null });
    expect((page2.body.data as unknown[]).length).toBe(1);
  });

  it("takes scheduled backups through the job queue, one per slot, and applies retention", async () => {
    expect(t.app.jobs.schedules.get(SCHEDULED_JOB)).toBe("0 * * * *");
    await t.app.jobs.enqueueDueSchedules(); // registers the schedule: the next slot is 04:00
    clock.advance(60 * 60_000);
    // Two processes reaching the slot: the backup is enqueued once.
    await t.app.jobs.enqueueDueSchedules();
    await t.app.jobs.enqueueDueSchedules();
    const jobs = await t.app.db.kysely
      .selectFrom("job")
      .select(["dedupe_key"])
      .where("name", "=", SCHEDULED_JOB)
      .execute();
    expect(jobs).toEqual([{ dedupe_key: `schedule:${SCHEDULED_JOB}:${Date.UTC(2026, 11, 7, 4)}` }]);
    const before = await openTarget(join(root, "backups"), t.config.backups.s3).ids();
    t.app.worker.start();
    const deadline = Date.now() + 15_000;
    let facts: Array<{ actor_id: string | null }> = [];
    while (Date.now() < deadline) {
      facts = await t.app.db.kysely
        .selectFrom("audit_entry")
        .select(["actor_id"])
        .where("action", "=", "backup.created")
        .where("actor_type", "=", "system")
        .execute();
      if (facts.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await t.app.worker.stop(5000);
    expect(facts).toEqual([{ actor_id: "backup-schedule" }]);
    const after = await openTarget(join(root, "backups"), t.config.backups.s3).ids();
    // BASEPLATE_BACKUP_KEEP=2: the oldest went.
    expect(before.length).toBe(2);
    expect(after.length).toBe(2);
    expect(after).not.toContain(before[0]);
  });

  it("round-trips a backup through an S3-compatible bucket", async () => {
    const service = t.app.service(backupsModule);
    const location = `s3://${s3.bucket}/plane-a`;
    const taken = await service.takeBackup(systemContext(newId("request"), "test"), { target: location, keep: 0 });
    expect(taken.backup.location).toBe(`${location}/${taken.backup.id}`);
    const target = service.target(location);
    expect(await target.ids()).toEqual([taken.backup.id]);
    const manifest = await target.manifest(taken.backup.id);
    expect(manifest?.files.map((f) => f.path)).toContain(engine === "sqlite" ? "database.sqlite" : "database.pgdump");

    if (engine === "sqlite") {
      const into = join(root, "from-s3");
      const restored = await restoreBackup({
        target,
        id: taken.backup.id,
        dataDir: into,
        knownMigrations: t.app.migrator.names,
      });
      expect(restored.check).toMatchObject({ ok: true, files: manifest?.files.length });
      expect(restored.pendingMigrations).toEqual([]);
    }
    await target.remove(taken.backup.id);
    expect(await target.ids()).toEqual([]);
  });
});
