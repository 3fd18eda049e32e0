import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { S3_TEST_CREDENTIALS, type S3TestServer, startS3Server } from "../../testing/s3-server.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";
import { type StorageService, storageModule } from "./index.js";

type Json = Record<string, unknown>;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);
const png = (size: number) => Buffer.concat([PNG, randomBytes(size - PNG.length)]);

// Upload sessions end to end, on both engines and both blob drivers: resumable (chunked) uploads
// and direct (presigned PUT) uploads to S3 with their finalize step.
describeEachEngine("storage upload sessions", (engine) => {
  for (const driver of ["local", "s3"] as const) {
    describe(`on the ${driver} driver`, () => {
      let t: TestApp;
      let p: SeededPlane;
      let s3: S3TestServer | null = null;
      let storage: StorageService;
      const clock = new TestClock(Date.UTC(2026, 11, 1));
      let key: string;
      let tenantA: string;
      let tenantB: string;
      let keyA: string;
      let keyB: string;
      let media: string;
      let images: string;
      let chunk: number;

      async function call(token: string | null, method: string, url: string, body?: unknown, headers = {}) {
        const res = await t.inject({
          method: method as "GET",
          url,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
          ...(body !== undefined ? { payload: body as object } : {}),
        });
        let json: Json = {};
        try {
          json = res.json() as Json;
        } catch {}
        return { status: res.statusCode, headers: res.headers, raw: res.rawPayload, body: json };
      }

      const open = (token: string, bucketId: string, body: Json) =>
        call(token, "POST", `/v1/storage/buckets/${bucketId}/uploads`, body);
      const put = (token: string, id: string, offset: number, bytes: Buffer) =>
        call(token, "PUT", `/v1/storage/uploads/${id}/chunks?offset=${offset}`, bytes, {
          "content-type": "application/octet-stream",
        });
      const complete = (token: string, id: string) => call(token, "POST", `/v1/storage/uploads/${id}/complete`);

      /** sendAll opens a session for `bytes` and sends them in chunks of `chunk` bytes. */
      async function sendAll(token: string, bucketId: string, bytes: Buffer, extra: Json = {}) {
        const created = await open(token, bucketId, { size: bytes.length, ...extra });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const id = created.body.id as string;
        for (let offset = 0; offset < bytes.length; offset += chunk) {
          const res = await put(token, id, offset, bytes.subarray(offset, offset + chunk));
          expect(res.status, JSON.stringify(res.body)).toBe(200);
        }
        return id;
      }

      beforeAll(async () => {
        const env: Record<string, string> = { BASEPLATE_STORAGE_UPLOAD_SESSION_HOURS: "2" };
        if (driver === "s3") {
          s3 = await startS3Server();
          Object.assign(env, {
            BASEPLATE_STORAGE_DRIVER: "s3",
            BASEPLATE_STORAGE_ENDPOINT: s3.endpoint,
            BASEPLATE_STORAGE_BUCKET: s3.bucket,
            BASEPLATE_STORAGE_PREFIX: "plane/",
            BASEPLATE_STORAGE_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
            BASEPLATE_STORAGE_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
            BASEPLATE_STORAGE_FORCE_PATH_STYLE: "true",
          });
        }
        t = await createTestApp(engine, { plane: true, clock, env });
        p = await seedPlane(t);
        storage = t.app.service(storageModule);
        expect(storage.store.kind).toBe(driver);
        // S3 parts are at least 5 MiB (the last excepted); the local driver takes any chunk.
        chunk = driver === "s3" ? 5 * 1024 * 1024 : 64 * 1024;
        expect(storage.store.minChunkBytes).toBe(driver === "s3" ? chunk : 1);
        key = p.a.secretKey;
        tenantA = (await call(key, "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
        tenantB = (await call(key, "POST", "/v1/tenants", { name: "Globex" })).body.id as string;
        const tk = async (tenantId: string) =>
          (await call(key, "POST", `/v1/tenants/${tenantId}/keys`, { name: "files", permissions: ["files:*"] })).body
            .token as string;
        keyA = await tk(tenantA);
        keyB = await tk(tenantB);
        media = (
          await call(key, "POST", "/v1/storage/buckets", {
            name: "media",
            allowedTypes: ["image/*", "video/*"],
            maxFileBytes: 64 * 1024 * 1024,
          })
        ).body.id as string;
        images = (
          await call(key, "POST", "/v1/storage/buckets", {
            name: "images",
            allowedTypes: ["image/png"],
            maxFileBytes: 1024 * 1024,
          })
        ).body.id as string;
      });
      afterAll(async () => {
        await t?.close();
        await s3?.stop();
      });

      it("uploads in chunks and completes into a file like a normal upload (facts, usage, SHA-256 over the chunks)", async () => {
        const bytes = png(2 * chunk + 1000);
        const meter = { key: "stored", eventType: "storage.stored", aggregation: "latest", valuePath: "bytes" };
        expect((await call(key, "POST", "/v1/usage/meters", meter)).status).toBe(201);
        const before = await storage.usage.storedBytes(p.a.id, tenantA);
        const id = await sendAll(keyA, media, bytes, { name: "clip.png", ref: "post_1", sha256: sha(bytes) });
        const state = await call(keyA, "GET", `/v1/storage/uploads/${id}`);
        expect(state.body).toMatchObject({
          status: "open",
          offset: bytes.length,
          size: bytes.length,
          contentType: "image/png",
        });
        const done = await complete(keyA, id);
        expect(done.status, JSON.stringify(done.body)).toBe(201);
        expect(done.body).toMatchObject({
          tenantId: tenantA,
          bucketId: media,
          contentType: "image/png",
          size: bytes.length,
          sha256: sha(bytes),
          name: "clip.png",
          ref: "post_1",
          status: "active",
          createdBy: { type: "tenant_key" },
        });
        const fileId = done.body.id as string;
        const down = await call(keyA, "GET", `/v1/files/${fileId}/content`);
        expect(sha(down.raw)).toBe(sha(bytes));
        // The key is generated from the environment and the file id.
        expect(await storage.store.exists(`${p.a.id}/${fileId}`)).toBe(true);
        // Completing again answers the same file; the session names it.
        const again = await complete(keyA, id);
        expect([again.status, again.body.id]).toEqual([201, fileId]);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body).toMatchObject({
          status: "completed",
          fileId,
        });
        // Usage and facts as for a normal upload, in the completion's transaction.
        const after = await storage.usage.storedBytes(p.a.id, tenantA);
        expect(after.bytes - before.bytes).toBe(bytes.length);
        expect(after.files - before.files).toBe(1);
        const audit = await t.app.db.kysely
          .selectFrom("audit_entry")
          .select("action")
          .where("tenant_id", "=", tenantA)
          .where("action", "in", ["file.uploaded", "storage_upload.created"])
          .execute();
        expect(audit.map((a) => a.action).sort()).toEqual(["file.uploaded", "storage_upload.created"]);
        const facts = await t.app.db.kysely
          .selectFrom("audit_entry")
          .select("targets")
          .where("action", "=", "file.uploaded")
          .execute();
        expect(facts.filter((f) => JSON.stringify(f.targets).includes(fileId))).toHaveLength(1);
        // The usage module's meter on `storage.stored` reads the new total.
        const q = new URLSearchParams({
          tenantId: tenantA,
          from: new Date(clock.now() - 3_600_000).toISOString(),
          to: new Date(clock.now() + 60_000).toISOString(),
        });
        const metered = await call(key, "GET", `/v1/usage/meters/stored/usage?${q}`);
        expect(metered.status, JSON.stringify(metered.body)).toBe(200);
        expect((metered.body.totals as Json[])[0]?.value).toBe(after.bytes);
        // The session's store leftovers are gone (local: its append-only file moved into place).
        if (driver === "local") expect(readdirSync(join(t.config.storage.dir, ".uploads"))).toEqual([]);
      });

      it("resumes after a dropped connection: the offset is read back and the rest sent; a retried chunk is safe", async () => {
        const bytes = png(2 * chunk + 5000);
        const created = await open(keyA, media, { size: bytes.length });
        const id = created.body.id as string;
        expect((await put(keyA, id, 0, bytes.subarray(0, chunk))).status).toBe(200);
        // The response of the first chunk was lost: sending it again changes nothing.
        const replay = await put(keyA, id, 0, bytes.subarray(0, chunk));
        expect([replay.status, replay.body.offset]).toEqual([200, chunk]);
        // The second chunk is cut off halfway over real HTTP.
        const address = await t.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
        await new Promise<void>((resolve) => {
          const r = httpRequest(`${address}/v1/storage/uploads/${id}/chunks?offset=${chunk}`, {
            method: "PUT",
            headers: {
              authorization: `Bearer ${keyA}`,
              "content-type": "application/octet-stream",
              "content-length": String(chunk),
            },
          });
          r.on("error", () => resolve());
          r.on("response", (res) => {
            res.resume();
            resolve();
          });
          r.write(bytes.subarray(chunk, chunk + chunk / 2), () => setTimeout(() => r.destroy(), 200));
        });
        // HEAD-like: the session still stands at the first chunk's end.
        let state = await call(keyA, "GET", `/v1/storage/uploads/${id}`);
        expect(state.body.offset).toBe(chunk);
        // Continue from the offset (the interrupted attempt's hold is released as the server notices).
        let res = await put(keyA, id, chunk, bytes.subarray(chunk, 2 * chunk));
        for (let i = 0; i < 50 && res.body.code === "upload_busy"; i++) {
          await new Promise((r) => setTimeout(r, 100));
          res = await put(keyA, id, chunk, bytes.subarray(chunk, 2 * chunk));
        }
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect((await put(keyA, id, 2 * chunk, bytes.subarray(2 * chunk))).status).toBe(200);
        state = await call(keyA, "GET", `/v1/storage/uploads/${id}`);
        expect(state.body.offset).toBe(bytes.length);
        const done = await complete(keyA, id);
        expect(done.status, JSON.stringify(done.body)).toBe(201);
        expect(done.body.sha256).toBe(sha(bytes));
        expect(sha((await call(keyA, "GET", `/v1/files/${done.body.id}/content`)).raw)).toBe(sha(bytes));
      });

      it("takes 20 racing writes of the same chunk one at a time: the rest are refused (409) or answered as its retry, the bytes stay right", async () => {
        const bytes = png(chunk + 3000);
        const id = (await open(keyA, media, { size: bytes.length })).body.id as string;
        const first = bytes.subarray(0, chunk);
        const results = await Promise.all(Array.from({ length: 20 }, () => put(keyA, id, 0, first)));
        for (const r of results) {
          expect([200, 409], JSON.stringify(r.body)).toContain(r.status);
          if (r.status === 200) expect(r.body.offset).toBe(chunk);
          else expect(["upload_busy", "upload_offset_mismatch"]).toContain(r.body.code);
        }
        expect(results.some((r) => r.status === 200)).toBe(true);
        expect((await put(keyA, id, chunk, bytes.subarray(chunk))).status).toBe(200);
        const done = await complete(keyA, id);
        expect([done.status, done.body.sha256]).toEqual([201, sha(bytes)]);
      });

      it("refuses a chunk at a wrong offset (409 with Upload-Offset, nothing changed) and completion before the end", async () => {
        const bytes = png(2 * chunk);
        const id = (await open(keyA, media, { size: bytes.length })).body.id as string;
        const ahead = await put(keyA, id, chunk, bytes.subarray(chunk));
        expect([ahead.status, ahead.body.code]).toEqual([409, "upload_offset_mismatch"]);
        expect(ahead.headers["upload-offset"]).toBe("0");
        expect((await put(keyA, id, 0, bytes.subarray(0, chunk))).status).toBe(200);
        const behind = await put(keyA, id, 10, bytes.subarray(10, chunk + 10));
        expect([behind.status, behind.headers["upload-offset"]]).toEqual([409, String(chunk)]);
        const early = await complete(keyA, id);
        expect([early.status, early.body.code]).toEqual([409, "upload_unfinished"]);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body.offset).toBe(chunk);
        // A malformed or missing offset is input, refused; a PUT with neither bytes nor offset answers the session.
        expect((await call(keyA, "PUT", `/v1/storage/uploads/${id}/chunks?offset=-1`, Buffer.from("x"))).status).toBe(
          400,
        );
        const missing = await call(keyA, "PUT", `/v1/storage/uploads/${id}/chunks`, Buffer.from("x"), {
          "content-type": "application/octet-stream",
        });
        expect([missing.status, missing.body.code]).toEqual([400, "validation_failed"]);
        const probe = await call(keyA, "PUT", `/v1/storage/uploads/${id}/chunks`);
        expect([probe.status, probe.body.offset]).toEqual([200, chunk]);
      });

      it("enforces the declared size: over the bucket's limit at creation, a chunk past the size, 413", async () => {
        const tooBig = await open(keyA, images, { size: 1024 * 1024 + 1 });
        expect([tooBig.status, tooBig.body.code]).toEqual([413, "file_too_large"]);
        const id = (await open(keyA, images, { size: 5000 })).body.id as string;
        const over = await put(keyA, id, 0, png(5001));
        expect([over.status, over.body.code]).toEqual([413, "file_too_large"]);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body.offset).toBe(0);
        // The first chunk carries the sniffed head.
        const big = (await open(keyA, media, { size: 3 * chunk })).body.id as string;
        const tiny = await put(keyA, big, 0, png(100));
        expect([tiny.status, tiny.body.code]).toEqual([400, "chunk_too_small"]);
        if (driver === "s3") {
          const part = await put(keyA, big, 0, png(chunk - 1));
          expect([part.status, part.body.code]).toEqual([400, "chunk_too_small"]);
        }
      });

      it("sniffs the first chunk against the bucket (415) and checks the declared SHA-256 at completion", async () => {
        const html = Buffer.from(`<html><script>alert(1)</script>${"x".repeat(5000)}</html>`);
        const id = (await open(keyA, images, { size: html.length, contentType: "image/png" })).body.id as string;
        const refused = await put(keyA, id, 0, html);
        expect([refused.status, refused.body.code]).toEqual([415, "file_type_refused"]);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body.offset).toBe(0);

        const bytes = png(3000);
        const wrong = (await open(keyA, images, { size: bytes.length, sha256: sha(Buffer.from("other")) })).body
          .id as string;
        expect((await put(keyA, wrong, 0, bytes)).status).toBe(200);
        const row = await t.app.db.kysely
          .selectFrom("storage_upload")
          .select(["blob_key", "file_id"])
          .where("id", "=", wrong)
          .executeTakeFirstOrThrow();
        const mismatch = await complete(keyA, wrong);
        expect([mismatch.status, mismatch.body.code]).toEqual([400, "upload_checksum_mismatch"]);
        // The bytes and the session are gone; no file was made.
        expect(await storage.store.exists(row.blob_key)).toBe(false);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${wrong}`)).status).toBe(404);
        expect((await call(keyA, "GET", `/v1/files/${row.file_id}`)).status).toBe(404);
      });

      it("expires sessions: chunks are refused (410) and the purge job deletes the session and its bytes", async () => {
        const bytes = png(2 * chunk);
        const id = (await open(keyA, media, { size: bytes.length })).body.id as string;
        expect((await put(keyA, id, 0, bytes.subarray(0, chunk))).status).toBe(200);
        const row = await t.app.db.kysely
          .selectFrom("storage_upload")
          .selectAll()
          .where("id", "=", id)
          .executeTakeFirstOrThrow();
        if (driver === "local") expect(existsSync(join(t.config.storage.dir, ".uploads", id))).toBe(true);
        // Within the upload timeout the sweep keeps an open session's bytes.
        clock.advance(61 * 60_000);
        await storage.lifecycle.purge();
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body.offset).toBe(chunk);
        if (driver === "local") expect(existsSync(join(t.config.storage.dir, ".uploads", id))).toBe(true);
        clock.advance(60 * 60_000);
        const late = await put(keyA, id, chunk, bytes.subarray(chunk));
        expect([late.status, late.body.code]).toEqual([410, "upload_expired"]);
        expect((await storage.lifecycle.purge()).sessions).toBeGreaterThanOrEqual(1);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).status).toBe(404);
        if (driver === "local") expect(existsSync(join(t.config.storage.dir, ".uploads", id))).toBe(false);
        // The store's session is gone too (local: the session file; S3: the multipart upload is
        // aborted where the server implements it, which s3rver does not), and no object is at the key.
        if (driver === "local") {
          await expect(storage.store.finishSession(row.blob_key, row.handle as string, [])).rejects.toThrow();
        }
        expect(await storage.store.exists(row.blob_key)).toBe(false);
        const discarded = await t.app.db.kysely
          .selectFrom("audit_entry")
          .select(["action", "targets"])
          .where("action", "=", "storage_upload.discarded")
          .execute();
        expect(discarded.filter((e) => JSON.stringify(e.targets).includes(id))).toHaveLength(1);
      });

      it("answers 404 for another tenant's or environment's session, and lets its owner cancel it", async () => {
        const bytes = png(5000);
        const id = (await open(keyA, media, { size: bytes.length })).body.id as string;
        for (const [method, url, body] of [
          ["GET", `/v1/storage/uploads/${id}`],
          ["PUT", `/v1/storage/uploads/${id}/chunks?offset=0`, bytes],
          ["POST", `/v1/storage/uploads/${id}/complete`],
          ["DELETE", `/v1/storage/uploads/${id}`],
        ] as Array<[string, string, Buffer?]>) {
          for (const token of [keyB, p.b.secretKey]) {
            const res = await call(
              token,
              method,
              url,
              body,
              body ? { "content-type": "application/octet-stream" } : {},
            );
            expect([res.status, res.body.code], `${method} ${url}`).toEqual([404, "upload_not_found"]);
          }
        }
        // Opening in another tenant's name, or in another environment's bucket, is refused too.
        expect((await open(keyB, media, { size: 10, tenantId: tenantA })).status).toBe(404);
        expect((await open(p.b.secretKey, media, { size: 10 })).status).toBe(404);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).body.offset).toBe(0);
        expect((await put(keyA, id, 0, bytes)).status).toBe(200);
        const cancelled = await call(keyA, "DELETE", `/v1/storage/uploads/${id}`);
        expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${id}`)).status).toBe(404);
      });

      it("holds the quota atomically at completion: 50 racing sessions never pass it", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: `Quota ${driver}` })).body.id as string;
        await call(key, "PUT", `/v1/tenants/${tenant}/storage/quota`, { maxBytes: 10_000, maxFiles: null });
        // Every session passes the early check (nothing is stored yet)…
        const ids = await Promise.all(
          Array.from({ length: 50 }, async () => {
            const bytes = png(1000);
            const id = (await open(key, media, { size: bytes.length, tenantId: tenant })).body.id as string;
            expect((await put(key, id, 0, bytes)).status).toBe(200);
            return id;
          }),
        );
        // …and the completions race: exactly ten fit.
        const results = await Promise.all(ids.map((id) => complete(key, id)));
        const statuses = results.map((r) => r.status);
        expect(statuses.filter((s) => s === 201)).toHaveLength(10);
        expect(statuses.filter((s) => s !== 201).every((s) => s === 409)).toBe(true);
        expect((await call(key, "GET", `/v1/tenants/${tenant}/storage`)).body).toMatchObject({
          bytes: 10_000,
          files: 10,
        });
        // The losers' bytes and sessions are gone; a full quota refuses a new session up front.
        const open_ = await t.app.db.kysely
          .selectFrom("storage_upload")
          .select("id")
          .where("tenant_id", "=", tenant)
          .where("status", "=", "open")
          .execute();
        expect(open_).toEqual([]);
        const full = await open(key, media, { size: 1, tenantId: tenant });
        expect([full.status, full.body.code]).toEqual([409, "storage_quota_exceeded"]);
      });

      it("a deactivated tenant's open sessions are discarded with their bytes", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: `Leaving uploads ${driver}` })).body
          .id as string;
        const bytes = png(6000);
        const id = (await open(key, media, { size: bytes.length, tenantId: tenant })).body.id as string;
        expect((await put(key, id, 0, bytes)).status).toBe(200);
        expect((await call(key, "POST", `/v1/tenants/${tenant}/deactivate`, { reason: "left" })).status).toBe(200);
        while ((await runDueJobs(t)) > 0) {}
        const left = await t.app.db.kysely
          .selectFrom("storage_upload")
          .select("id")
          .where("tenant_id", "=", tenant)
          .where("status", "=", "open")
          .execute();
        expect(left).toEqual([]);
        expect([404, 410]).toContain((await call(key, "GET", `/v1/storage/uploads/${id}`)).status);
      });

      if (driver === "local") {
        it("answers a clear 409 for a direct upload on the local driver", async () => {
          const res = await call(keyA, "POST", "/v1/storage/direct-uploads", {
            bucketId: media,
            size: 10,
            sha256: sha(Buffer.alloc(10)),
            contentType: "image/png",
          });
          expect([res.status, res.body.code]).toEqual([409, "direct_upload_unsupported"]);
        });
        return;
      }

      const direct = (token: string, bucketId: string, bytes: Buffer, extra: Json = {}) =>
        call(token, "POST", "/v1/storage/direct-uploads", {
          bucketId,
          size: bytes.length,
          sha256: sha(bytes),
          contentType: "image/png",
          ...extra,
        });
      async function putDirect(upload: Json, bytes: Buffer): Promise<number> {
        const u = upload as { url: string; headers: Record<string, string> };
        const res = await fetch(u.url, { method: "PUT", headers: u.headers, body: bytes });
        await res.arrayBuffer();
        return res.status;
      }

      it("uploads directly to S3 with a presigned PUT, and finalize commits the file", async () => {
        const bytes = png(200_000);
        const created = await direct(keyA, media, bytes, { name: "direct.png", ref: "post_2" });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect(created.body).toMatchObject({ kind: "direct", status: "open", size: bytes.length });
        const upload = created.body.upload as Json;
        expect(upload.method).toBe("PUT");
        expect(String(upload.url)).toContain(s3?.endpoint);
        // Finalize before the PUT: nothing there yet, the session stays.
        const early = await complete(keyA, created.body.id as string);
        expect([early.status, early.body.code]).toEqual([409, "upload_unfinished"]);
        expect(await putDirect(upload, bytes)).toBe(200);
        const done = await complete(keyA, created.body.id as string);
        expect(done.status, JSON.stringify(done.body)).toBe(201);
        expect(done.body).toMatchObject({
          contentType: "image/png",
          size: bytes.length,
          sha256: sha(bytes),
          name: "direct.png",
          ref: "post_2",
        });
        expect(sha((await call(keyA, "GET", `/v1/files/${done.body.id}/content`)).raw)).toBe(sha(bytes));
        // The presigned URL is bound to its key: the key is the new file's, generated by the plane.
        expect(String(upload.url)).toContain(`plane/${p.a.id}/${done.body.id}`);
        // Its facts: the session's opening, then the file's upload.
        const audit = await t.app.db.kysely
          .selectFrom("audit_entry")
          .select(["action", "targets"])
          .where("action", "in", ["storage_upload.created", "file.uploaded"])
          .execute();
        const mine = audit.filter((e) => JSON.stringify(e.targets).includes(created.body.id as string));
        expect(mine.map((e) => e.action)).toEqual(["storage_upload.created", "file.uploaded"]);
      });

      it("finalize refuses a wrong checksum, size or type: the object is deleted and the problem says why", async () => {
        const bytes = png(50_000);
        // Checksum: the client declared other bytes' SHA-256.
        const a = await direct(keyA, media, bytes, { sha256: sha(Buffer.from("something else")) });
        expect(await putDirect(a.body.upload as Json, bytes)).toBe(200);
        const blobA = await blobOf(a.body.id as string);
        const badSum = await complete(keyA, a.body.id as string);
        expect([badSum.status, badSum.body.code]).toEqual([400, "upload_checksum_mismatch"]);
        expect(await storage.store.exists(blobA)).toBe(false);
        expect((await call(keyA, "GET", `/v1/storage/uploads/${a.body.id}`)).status).toBe(404);
        // Size: an object of another size reached the key.
        const b = await direct(keyA, media, bytes);
        const blobB = await blobOf(b.body.id as string);
        await storage.store.put(blobB, Readable.from([bytes.subarray(0, 40_000)]));
        const badSize = await complete(keyA, b.body.id as string);
        expect([badSize.status, badSize.body.code]).toEqual([400, "upload_size_mismatch"]);
        expect(await storage.store.exists(blobB)).toBe(false);
        // Type: HTML declared as PNG, sniffed at finalize.
        const html = Buffer.from(`<html><script>alert(1)</script>${"x".repeat(5000)}</html>`);
        const c = await direct(keyA, images, html);
        expect(c.status, JSON.stringify(c.body)).toBe(201);
        expect(await putDirect(c.body.upload as Json, html)).toBe(200);
        const blobC = await blobOf(c.body.id as string);
        const badType = await complete(keyA, c.body.id as string);
        expect([badType.status, badType.body.code]).toEqual([415, "file_type_refused"]);
        expect(await storage.store.exists(blobC)).toBe(false);
        // A declared type the bucket refuses is refused up front; so is a size over its limit.
        expect((await direct(keyA, images, bytes, { contentType: "text/html" })).status).toBe(415);
        expect((await direct(keyA, images, png(1024 * 1024 + 1))).status).toBe(413);
      });

      it("checks the quota atomically at finalize (racing direct uploads), and another tenant's session is 404", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: "Direct quota" })).body.id as string;
        await call(key, "PUT", `/v1/tenants/${tenant}/storage/quota`, { maxBytes: 50_000, maxFiles: null });
        const sessions = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const bytes = png(10_000);
            const created = await direct(key, media, bytes, { tenantId: tenant });
            expect(created.status).toBe(201);
            expect(await putDirect(created.body.upload as Json, bytes)).toBe(200);
            return created.body.id as string;
          }),
        );
        const results = await Promise.all(sessions.map((id) => complete(key, id)));
        expect(results.filter((r) => r.status === 201)).toHaveLength(5);
        expect(results.filter((r) => r.status !== 201).every((r) => r.body.code === "storage_quota_exceeded")).toBe(
          true,
        );
        expect((await call(key, "GET", `/v1/tenants/${tenant}/storage`)).body).toMatchObject({ bytes: 50_000 });
        const mine = await direct(keyA, media, png(1000));
        expect((await complete(keyB, mine.body.id as string)).status).toBe(404);
        expect((await call(p.b.secretKey, "GET", `/v1/storage/uploads/${mine.body.id}`)).status).toBe(404);
      });

      async function blobOf(uploadId: string): Promise<string> {
        const row = await t.app.db.kysely
          .selectFrom("storage_upload")
          .select("blob_key")
          .where("id", "=", uploadId)
          .executeTakeFirstOrThrow();
        return row.blob_key;
      }
    });
  }
});
