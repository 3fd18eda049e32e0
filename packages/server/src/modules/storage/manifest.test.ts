import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, manifestClient } from "../../testing/manifest.js";

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);
const MiB = 1024 ** 2;
const DAY = 86_400_000;

// The `buckets` manifest section: buckets made through the API are exported, round-trip to another
// environment, and each change is classified by what it does to stored files, as the API would.
describeEachEngine("storage manifest: buckets", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(Date.UTC(2026, 11, 1));
  let tenant: string;
  const files: Record<string, string[]> = { avatars: [], docs: [] };

  const m = manifestClient(() => ({ t, p }), { lenientJson: true });
  const { call, plan, apply, byKey: change, audit } = m;
  const exported = (env: string) => m.exported(env, "buckets");
  const bucketId = async (key: string, name: string) => {
    const list = await call(key, "GET", "/v1/storage/buckets?limit=100", undefined);
    expect(list.status).toBe(200);
    return ((list.body.data as Json[]).find((b) => b.name === name)?.id as string | undefined) ?? null;
  };

  async function upload(bucket: string, name: string, bytes: Buffer) {
    const id = await bucketId(p.a.secretKey, bucket);
    const res = await t.inject({
      method: "POST",
      url: `/v1/storage/buckets/${id}/files?tenantId=${tenant}&name=${name}`,
      headers: { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/octet-stream" },
      payload: bytes,
    });
    expect(res.statusCode, res.body).toBe(201);
    files[bucket]?.push(res.json().id as string);
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    const sk = p.a.secretKey;
    tenant = (await call(sk, "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
    for (const bucket of [
      { name: "avatars", allowedTypes: ["image/png", "image/jpeg", "image/png"], maxFileBytes: MiB, public: true },
      { name: "docs", retentionDays: 365 },
    ]) {
      const res = await call(sk, "POST", "/v1/storage/buckets", bucket);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    await upload("avatars", "a.png", PNG);
    await upload("avatars", "b.png", Buffer.concat([PNG, Buffer.alloc(2000)]));
    await upload("docs", "old.png", PNG);
    clock.advance(40 * DAY);
    await upload("docs", "new.png", PNG);
  });
  afterAll(async () => t?.close());

  it("exports the environment's buckets by name, types as a sorted set, to whoever may read files", async () => {
    const expected = [
      {
        name: "avatars",
        allowedTypes: ["image/jpeg", "image/png"],
        maxFileBytes: MiB,
        public: true,
        retentionDays: null,
      },
      { name: "docs", allowedTypes: ["*"], maxFileBytes: 100 * MiB, public: false, retentionDays: 365 },
    ];
    expect(await exported(p.a.id)).toEqual(expected);
    const bySecretKey = await call(p.a.secretKey, "GET", "/v1/manifest");
    expect((bySecretKey.body.manifest as Json).buckets).toEqual(expected);
    expect(await exported(p.b.id)).toEqual([]);
  });

  it("round trip: another environment gets the same buckets, once, with their facts", async () => {
    const source = await exported(p.a.id);
    const first = await plan(p.b.id, { buckets: source });
    expect(first.changes.map((c) => `${c.action} ${c.key} ${c.risk}`)).toEqual([
      "create avatars additive",
      "create docs additive",
    ]);
    expect(change(first, "avatars").summary).toBe(
      "Adds public bucket `avatars` (files up to 1 MiB of `image/jpeg`, `image/png`).",
    );
    const applied = await apply(p.b.id, { buckets: source }, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await plan(p.b.id, { buckets: source })).changes).toEqual([]);
    expect(await exported(p.b.id)).toEqual(source);
    const created = await audit(p.b.secretKey, "storage_bucket.created");
    expect(created.map((e) => (e.metadata as Json).name).sort()).toEqual(["avatars", "docs"]);
    expect(created.every((e) => (e.actor as Json).type === "operator")).toBe(true);
  });

  it("classifies policy changes: loosening is behaviour, losing stored files' access is destructive", async () => {
    const live = await exported(p.a.id);
    const avatars = live.find((b) => b.name === "avatars") as Json;
    const docs = live.find((b) => b.name === "docs") as Json;

    const loosened = await plan(p.a.id, {
      buckets: [
        { ...avatars, allowedTypes: ["image/*"], maxFileBytes: 2 * MiB },
        { ...docs, retentionDays: null },
      ],
    });
    expect(change(loosened, "avatars")).toMatchObject({ risk: "behaviour", affected: [], blocked: null });
    expect(change(loosened, "avatars").summary).toBe(
      "Bucket `avatars`: accepts `image/*`; raises its largest file to 2 MiB.",
    );
    expect(change(loosened, "docs")).toMatchObject({ risk: "behaviour", affected: [] });

    const tightened = await plan(p.a.id, {
      buckets: [{ ...avatars, allowedTypes: ["image/jpeg"], maxFileBytes: 100 }, docs],
    });
    // Stored files stay (as the API does): fewer types and a smaller limit only refuse later uploads.
    expect(change(tightened, "avatars")).toMatchObject({
      risk: "behaviour",
      affected: [
        { count: 2, what: "files of bucket `avatars` of a type no longer accepted (they stay)" },
        { count: 1, what: "files of bucket `avatars` larger than the new limit (they stay)" },
      ],
    });

    const manifest = {
      buckets: [
        { ...avatars, public: false },
        { ...docs, retentionDays: 30 },
        { name: "exports", allowedTypes: ["application/pdf"] },
      ],
    };
    const destructive = await plan(p.a.id, manifest);
    expect(destructive.changes.map((c) => `${c.action} ${c.key} ${c.risk}`)).toEqual([
      "create exports additive",
      "update avatars destructive",
      "update docs destructive",
    ]);
    expect(change(destructive, "avatars").affected).toEqual([
      { count: 2, what: "files of bucket `avatars` no longer served publicly" },
    ]);
    expect(change(destructive, "docs").affected).toEqual([
      { count: 1, what: "files of bucket `docs` past the new retention, trashed at the next purge" },
      { count: 1, what: "other files of bucket `docs`, trashed sooner than before" },
    ]);

    // Refused without allowDestructive: nothing applied, the files still public.
    const refused = await apply(p.a.id, manifest, destructive.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual([
      "manifest.buckets.avatars",
      "manifest.buckets.docs",
    ]);
    expect(await bucketId(p.a.secretKey, "exports")).toBeNull();
    const publicUrl = `/v1/storage/public/${files.avatars?.[0]}`;
    expect((await t.inject({ method: "GET", url: publicUrl })).statusCode).toBe(200);

    const done = await apply(p.a.id, manifest, destructive.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await plan(p.a.id, manifest)).changes).toEqual([]);
    expect((await t.inject({ method: "GET", url: publicUrl })).statusCode).toBe(404);
    const updated = await audit(p.a.secretKey, "storage_bucket.updated");
    expect(updated.map((e) => e.changes)).toEqual(
      expect.arrayContaining([
        {
          before: expect.objectContaining({ public: true }),
          after: expect.objectContaining({ public: false }),
        },
        {
          before: expect.objectContaining({ retentionDays: 365 }),
          after: expect.objectContaining({ retentionDays: 30 }),
        },
      ]),
    );
    expect((await audit(p.a.secretKey, "storage_bucket.created")).map((e) => (e.metadata as Json).name)).toContain(
      "exports",
    );

    // An empty bucket made private loses nothing: behaviour.
    const emptyPrivate = await plan(p.b.id, {
      buckets: (await exported(p.b.id)).map((b) => (b.name === "avatars" ? { ...b, public: false } : b)),
    });
    expect(change(emptyPrivate, "avatars")).toMatchObject({ risk: "behaviour", affected: [] });
  });

  it("blocks deleting a bucket that holds files (as the API refuses it); deletes an empty one", async () => {
    const live = await exported(p.a.id);
    const manifest = { buckets: live.filter((b) => b.name !== "avatars" && b.name !== "exports") };
    const planned = await plan(p.a.id, manifest);
    expect(change(planned, "avatars")).toMatchObject({
      action: "delete",
      risk: "destructive",
      affected: [
        { count: 2, what: "files stored in bucket `avatars` (0 in the trash or uploading)" },
        { count: PNG.length * 2 + 2000, what: "bytes stored in bucket `avatars`" },
      ],
    });
    expect(change(planned, "avatars").blocked).toContain("holds 2 files");
    expect(change(planned, "exports")).toMatchObject({ action: "delete", risk: "behaviour", blocked: null });
    const refused = await apply(p.a.id, manifest, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual(["manifest.buckets.avatars"]);
    expect(await bucketId(p.a.secretKey, "exports")).not.toBeNull();

    const onlyEmpty = { buckets: live.filter((b) => b.name !== "exports") };
    const fresh = await plan(p.a.id, onlyEmpty);
    expect(fresh.changes.map((c) => `${c.action} ${c.key}`)).toEqual(["delete exports"]);
    const done = await apply(p.a.id, onlyEmpty, fresh.liveHash);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(await bucketId(p.a.secretKey, "exports")).toBeNull();
    const deleted = await audit(p.a.secretKey, "storage_bucket.deleted");
    expect(deleted.map((e) => e.metadata)).toEqual([{ name: "exports" }]);
  });

  it("guards like the API: files:write to change buckets, files:delete to delete one", async () => {
    const limited = await p.identity.secretKeys.createSecretKey(p.operatorCtx, p.b.id, {
      surfaceId: p.b.surfaceId,
      name: "no-delete",
      scopes: ["files:read", "files:write", "manifest:read", "manifest:apply"],
    });
    const live = await exported(p.b.id);
    const created = { buckets: [...live, { name: "scratch" }] };
    const planned = await plan(p.b.id, created, limited.token);
    expect(planned.changes.map((c) => `${c.action} ${c.key}`)).toEqual(["create scratch"]);
    expect((await apply(p.b.id, created, planned.liveHash, false, limited.token)).status).toBe(200);

    const removed = { buckets: live };
    const again = await plan(p.b.id, removed, limited.token);
    const refused = await apply(p.b.id, removed, again.liveHash, false, limited.token);
    // The refusal comes from the write, as the API's would: reported as the change refused.
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect(refused.body.errors).toEqual([
      { path: "manifest.buckets.scratch", message: expect.stringContaining("files:delete"), code: "forbidden" },
    ]);
    expect(await bucketId(p.b.secretKey, "scratch")).not.toBeNull();

    const reader = await p.identity.secretKeys.createSecretKey(p.operatorCtx, p.b.id, {
      surfaceId: p.b.surfaceId,
      name: "reader",
      scopes: ["files:read", "manifest:read", "manifest:apply"],
    });
    const byReader = await plan(p.b.id, removed, reader.token);
    expect((await apply(p.b.id, removed, byReader.liveHash, false, reader.token)).status).toBe(403);
  });
});
