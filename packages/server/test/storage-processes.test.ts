import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { storageModule } from "../src/modules/storage/index.js";
import { TestClock } from "../src/platform/clock.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Storage across processes: 50 uploads racing a tenant's byte quota (on PostgreSQL, round-robin
// over TWO plane processes on one database, so no in-process lock can hide a race), and a plane
// SIGKILLed mid-upload, which leaves no visible file and an orphan the purge job collects.

type Json = Record<string, unknown>;

describeEachEngine("storage across processes", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock();
  const planes: PlaneProcess[] = [];
  let next = 0;
  let bucketId: string;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const count = engine === "postgres" ? 2 : 1;
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    planes.push(
      ...(await Promise.all(ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })))),
    );
    bucketId = (await send("POST", "/v1/storage/buckets", JSON.stringify({ name: "race" }), "application/json")).body
      .id as string;
  }, 60_000);

  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  async function send(method: string, url: string, body?: Buffer | string, type = "application/octet-stream") {
    const base = planes[next++ % planes.length]?.ready.url as string;
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${p.a.secretKey}`, ...(body === undefined ? {} : { "content-type": type }) },
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  }

  it("50 racing uploads never pass the tenant's byte quota (exactly 10 of 100 bytes fit in 1000)", async () => {
    const tenant = (await send("POST", "/v1/tenants", JSON.stringify({ name: "Racer" }), "application/json")).body
      .id as string;
    const quota = await send(
      "PUT",
      `/v1/tenants/${tenant}/storage/quota`,
      JSON.stringify({ maxBytes: 1000, maxFiles: null }),
      "application/json",
    );
    expect(quota.status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        send("POST", `/v1/storage/buckets/${bucketId}/files?tenantId=${tenant}`, randomBytes(100)),
      ),
    );
    const tally: Record<string, number> = {};
    for (const r of results) {
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(500);
      const k = r.status < 300 ? String(r.status) : `${r.status} ${String(r.body.code)}`;
      tally[k] = (tally[k] ?? 0) + 1;
    }
    expect(tally).toEqual({ "201": 10, "409 storage_quota_exceeded": 40 });
    const usage = await t.app.service(storageModule).usage.storedBytes(p.a.id, tenant);
    expect(usage).toMatchObject({ bytes: 1000, files: 10 });
    const rows = await t.app.db.kysely
      .selectFrom("storage_file")
      .select(["id", "status"])
      .where("tenant_id", "=", tenant)
      .execute();
    expect(rows).toHaveLength(10);
    expect(rows.every((r) => r.status === "active")).toBe(true);
    // The losers' bytes are gone: the folder holds exactly the ten files.
    const dir = join(t.config.storage.dir, p.a.id);
    const ids = new Set(rows.map((r) => r.id));
    const kept = readdirSync(dir).filter((name) => name.startsWith("fil_"));
    expect(kept.filter((name) => ids.has(name))).toHaveLength(10);
  }, 60_000);

  it("a plane SIGKILLed mid-upload leaves no visible file, and its orphan is collected", async () => {
    const plane = planes[0] as PlaneProcess;
    const before = (await send("GET", "/v1/files?limit=100")).body.data as Json[];
    let sent = 0;
    await new Promise<void>((resolve) => {
      const r = httpRequest(`${plane.ready.url}/v1/storage/buckets/${bucketId}/files?name=big.bin`, {
        method: "POST",
        headers: { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/octet-stream" },
      });
      r.on("error", () => resolve());
      const chunk = randomBytes(64 * 1024);
      // Stream until the plane has committed the upload's hidden row (and keep streaming while it
      // is looked for), then kill it mid-body: bytes sent are no proof the server has read them.
      let killed = false;
      const uploading = async () =>
        (await t.app.db.kysely.selectFrom("storage_file").select("id").where("status", "=", "uploading").execute())
          .length > 0;
      const pump = () => {
        if (killed) return;
        sent += chunk.length;
        if (r.write(chunk)) setTimeout(pump, sent >= 4 * 1024 * 1024 ? 5 : 0);
        else r.once("drain", pump);
      };
      pump();
      void (async () => {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !(sent >= 4 * 1024 * 1024 && (await uploading()))) {
          await new Promise((res) => setTimeout(res, 20));
        }
        killed = true;
        plane.child.kill("SIGKILL");
      })();
    });
    expect(await plane.exited).toBe("SIGKILL");
    planes.splice(0, 1);

    const orphans = await t.app.db.kysely
      .selectFrom("storage_file")
      .select(["id", "blob_key"])
      .where("status", "=", "uploading")
      .execute();
    expect(orphans).toHaveLength(1);
    // Nothing visible: the list and the file itself.
    const storage = t.app.service(storageModule);
    expect(((await storage.files.listFiles(ctx(p.a.id), { limit: 100, status: "active" })).data as Json[]).length).toBe(
      before.length,
    );
    // What the killed process wrote so far sits in a temp file (unless the kill came before the first write).
    const tmp = join(t.config.storage.dir, ".tmp");
    const leftovers = () => (existsSync(tmp) ? readdirSync(tmp) : []);
    const written = leftovers().length;

    // Before the upload timeout it is left alone; after it, the purge job collects it.
    expect((await storage.lifecycle.purge()).orphans).toBe(0);
    clock.advance(61 * 60_000);
    const report = await storage.lifecycle.purge();
    expect(report.orphans).toBe(1);
    expect(report.swept).toBe(written);
    expect(leftovers()).toEqual([]);
    expect(existsSync(join(t.config.storage.dir, orphans[0]?.blob_key as string))).toBe(false);
    const left = await t.app.db.kysely
      .selectFrom("storage_file")
      .select("id")
      .where("status", "=", "uploading")
      .execute();
    expect(left).toEqual([]);
    const audit = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("action", "=", "file.upload_abandoned")
      .execute();
    expect(audit).toHaveLength(1);
  }, 60_000);
});

function ctx(environmentId: string) {
  return {
    principal: {
      actorType: "service" as const,
      actorId: "svc_test",
      credentialId: "cred_test",
      environmentId,
      permissions: ["*"],
    },
    request: { requestId: "req_test", ip: "127.0.0.1" },
  };
}
