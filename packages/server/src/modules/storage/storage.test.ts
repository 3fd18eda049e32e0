import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
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
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(64)]);

// The storage module end to end, on both engines and both blob drivers (the local folder and an
// S3-compatible server over real HTTP, started here): upload, download, signed URLs, quotas,
// the trash and the purge job, and the checklist's FILE-01..07.
describeEachEngine("storage", (engine) => {
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
      let anyBucket: string;
      let images: string;

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

      async function upload(token: string, query: Record<string, string>, bytes: Buffer, headers = {}) {
        const { bucketId, ...rest } = query;
        const qs = new URLSearchParams(rest).toString();
        return call(token, "POST", `/v1/storage/buckets/${bucketId}/files?${qs}`, bytes, {
          "content-type": "application/octet-stream",
          ...headers,
        });
      }

      beforeAll(async () => {
        const env: Record<string, string> = { BASEPLATE_STORAGE_TRASH_HOURS: "24" };
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
        key = p.a.secretKey;
        tenantA = (await call(key, "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
        tenantB = (await call(key, "POST", "/v1/tenants", { name: "Globex" })).body.id as string;
        const tk = async (tenantId: string) =>
          (await call(key, "POST", `/v1/tenants/${tenantId}/keys`, { name: "files", permissions: ["files:*"] })).body
            .token as string;
        keyA = await tk(tenantA);
        keyB = await tk(tenantB);
        anyBucket = (await call(key, "POST", "/v1/storage/buckets", { name: "any" })).body.id as string;
        images = (
          await call(key, "POST", "/v1/storage/buckets", {
            name: "images",
            allowedTypes: ["image/png", "image/jpeg"],
            maxFileBytes: 1024 * 1024,
          })
        ).body.id as string;
      });
      afterAll(async () => {
        await t?.close();
        await s3?.stop();
      });

      it("uploads a stream and downloads the same bytes (FILE-07: SHA-256 in = out), with safe headers (FILE-04)", async () => {
        const bytes = Buffer.concat([PNG, randomBytes(300_000)]);
        const up = await upload(keyA, { bucketId: images, name: "Résumé «final».png", ref: "order_1" }, bytes);
        expect(up.status, JSON.stringify(up.body)).toBe(201);
        expect(up.body).toMatchObject({
          tenantId: tenantA,
          contentType: "image/png",
          declaredType: "application/octet-stream",
          size: bytes.length,
          sha256: sha(bytes),
          ref: "order_1",
          name: "Résumé «final».png",
          status: "active",
          createdBy: { type: "tenant_key" },
        });
        const id = up.body.id as string;
        const down = await call(keyA, "GET", `/v1/files/${id}/content`);
        expect(down.status).toBe(200);
        expect(sha(down.raw)).toBe(sha(bytes));
        expect(down.headers["content-type"]).toBe("image/png");
        expect(down.headers["x-content-type-options"]).toBe("nosniff");
        expect(down.headers["content-security-policy"]).toContain("sandbox");
        expect(down.headers["content-disposition"]).toBe(
          `attachment; filename="R_sum_ _final_.png"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%C2%ABfinal%C2%BB.png`,
        );
        expect(down.headers.etag).toBe(`"${sha(bytes)}"`);
        expect(down.headers["accept-ranges"]).toBe("bytes");
        // Inline is allowed for a safe type, with the restrictive CSP.
        const inline = await call(keyA, "GET", `/v1/files/${id}/content?disposition=inline`);
        expect(inline.headers["content-disposition"]).toMatch(/^inline; /);
        expect(inline.headers["content-security-policy"]).toContain("default-src 'none'");
        // The storage key is generated: the environment and the id, nothing of the name.
        const row = await storage.files.authorized(
          { principal: { ...principalOf(p.a.id) }, request: req() },
          "files:read",
          id,
        );
        expect(row.blob_key).toBe(`${p.a.id}/${id}`);
        // Metadata read and listed by ref.
        expect((await call(keyA, "GET", `/v1/files/${id}`)).body.sha256).toBe(sha(bytes));
        const listed = await call(keyA, "GET", "/v1/files?ref=order_1");
        expect((listed.body.data as Json[]).map((f) => f.id)).toEqual([id]);
      });

      it("reports stored bytes to the usage module in the upload's transaction (a meter on storage.stored)", async () => {
        const meter = {
          key: `stored_${driver}`,
          eventType: "storage.stored",
          aggregation: "latest",
          valuePath: "bytes",
        };
        expect((await call(key, "POST", "/v1/usage/meters", meter)).status).toBe(201);
        const bytes = randomBytes(3000);
        expect((await upload(keyA, { bucketId: anyBucket, name: "metered.bin" }, bytes)).status).toBe(201);
        const stored = await storage.usage.storedBytes(p.a.id, tenantA);
        const q = new URLSearchParams({
          tenantId: tenantA,
          from: new Date(clock.now() - 3_600_000).toISOString(),
          to: new Date(clock.now() + 60_000).toISOString(),
        });
        const usage = await call(key, "GET", `/v1/usage/meters/${meter.key}/usage?${q}`);
        expect(usage.status, JSON.stringify(usage.body)).toBe(200);
        expect((usage.body.totals as Json[])[0]?.value).toBe(stored.bytes);
        expect(stored.bytes).toBeGreaterThanOrEqual(3000);
      });

      it("takes multipart uploads (the part's filename is the default name)", async () => {
        const boundary = "----bp123";
        const payload = Buffer.concat([
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="../../notes.txt"\r\nContent-Type: text/plain\r\n\r\n`,
          ),
          Buffer.from("hello multipart"),
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        const up = await upload(keyA, { bucketId: anyBucket }, payload, {
          "content-type": `multipart/form-data; boundary=${boundary}`,
        });
        expect(up.status, JSON.stringify(up.body)).toBe(201);
        expect(up.body).toMatchObject({
          name: "notes.txt",
          contentType: "text/plain",
          size: 15,
          declaredType: "text/plain",
        });
        const down = await call(keyA, "GET", `/v1/files/${up.body.id}/content`);
        expect(down.raw.toString()).toBe("hello multipart");
      });

      it("never lets a name reach the store (FILE-03): traversal, backslashes, encodings, long names, trailing dots", async () => {
        const names: Array<[string, string]> = [
          ["../../etc/passwd", "passwd"],
          ["..\\..\\x", "x"],
          ["%2e%2e%2f", "%2e%2e%2f"],
          ["a".repeat(1000), "a".repeat(255)],
          ["report.", "report"],
          ["..", "file"],
          ["/", "file"],
        ];
        for (const [name, shown] of names) {
          const up = await upload(keyA, { bucketId: anyBucket, name }, Buffer.from("x"));
          expect(up.status, name).toBe(201);
          expect(up.body.name).toBe(shown);
          const row = await storage.files.authorized(
            { principal: principalOf(p.a.id), request: req() },
            "files:read",
            up.body.id as string,
          );
          expect(row.blob_key).toBe(`${p.a.id}/${up.body.id}`);
        }
        // A NUL byte in a name is refused as input (nothing stored).
        const nul = await upload(keyA, { bucketId: anyBucket, name: "a\u0000b" }, Buffer.from("x"));
        expect(nul.status).toBe(400);
        if (driver === "local") {
          // Nothing was written outside the environment's folder.
          const root = t.config.storage.dir;
          expect(readdirSync(root).sort()).toEqual([".tmp", p.a.id].sort());
          expect(existsSync(join(root, "..", "etc"))).toBe(false);
        }
      });

      it("sniffs the type from the bytes (FILE-02): HTML as .png, SVG with script, ELF as image/png are refused by an image bucket", async () => {
        const html = await upload(
          keyA,
          { bucketId: images, name: "x.png" },
          Buffer.from("<html><script>alert(1)</script>"),
          {
            "content-type": "image/png",
          },
        );
        expect(html.status).toBe(415);
        expect(html.body.code).toBe("file_type_refused");
        const svg = await upload(
          keyA,
          { bucketId: images, name: "x.png" },
          Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
          { "content-type": "image/png" },
        );
        expect(svg.status).toBe(415);
        const elf = await upload(keyA, { bucketId: images, name: "x.png" }, ELF, { "content-type": "image/png" });
        expect(elf.status).toBe(415);
        expect((await call(keyA, "GET", `/v1/files?bucketId=${images}&limit=100`)).body.data).toHaveLength(1);

        // Where markup is allowed, it is stored as what it is and never rendered: an attachment of opaque bytes.
        const stored = await upload(
          keyA,
          { bucketId: anyBucket, name: "x.svg" },
          Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
          {
            "content-type": "image/png",
          },
        );
        expect(stored.body.contentType).toBe("image/svg+xml");
        const down = await call(keyA, "GET", `/v1/files/${stored.body.id}/content?disposition=inline`);
        expect(down.headers["content-type"]).toBe("application/octet-stream");
        expect(down.headers["content-disposition"]).toMatch(/^attachment; /);
        expect(down.headers["content-security-policy"]).toBe("default-src 'none'; sandbox");
      });

      it("stores archives as they are, never expanding them (FILE-06: a gzip bomb stays 10 KB)", async () => {
        const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
        expect(bomb.length).toBeLessThan(50_000);
        const up = await upload(keyA, { bucketId: anyBucket, name: "bomb.gz" }, bomb);
        expect(up.status).toBe(201);
        expect(up.body).toMatchObject({ contentType: "application/gzip", size: bomb.length, sha256: sha(bomb) });
        expect(sha((await call(keyA, "GET", `/v1/files/${up.body.id}/content`)).raw)).toBe(sha(bomb));
      });

      it("refuses an oversize body mid-stream over real HTTP (FILE-01): 413 before the client finished, nothing kept", async () => {
        const address = await t.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
        const before = await countRows();
        const chunk = randomBytes(256 * 1024);
        const total = 64 * 1024 * 1024;
        const result = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
          let sent = 0;
          const r = httpRequest(`${address}/v1/storage/buckets/${images}/files?name=big.png`, {
            method: "POST",
            headers: { authorization: `Bearer ${keyA}`, "content-type": "application/octet-stream" },
          });
          r.on("response", (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, sent });
          });
          r.on("error", (err) => (sent > 0 ? resolve({ status: -1, sent }) : reject(err)));
          const pump = () => {
            while (sent < total) {
              const first = sent === 0 ? Buffer.concat([PNG, chunk.subarray(PNG.length)]) : chunk;
              sent += first.length;
              if (!r.write(first)) {
                r.once("drain", pump);
                return;
              }
            }
            r.end();
          };
          pump();
        });
        expect(result.status).toBe(413);
        expect(result.sent).toBeLessThan(total);
        expect(await countRows()).toBe(before);
        if (driver === "local") expect(readdirSync(join(t.config.storage.dir, ".tmp"))).toEqual([]);
        // A declared Content-Length over the limit is refused before a byte is read.
        const declared = await upload(keyA, { bucketId: images }, Buffer.alloc(1024 * 1024 + 1));
        expect(declared.status).toBe(413);
        expect(declared.body.code).toBe("file_too_large");
      });

      it("answers ranges and conditional requests (edge cases)", async () => {
        const bytes = Buffer.from("0123456789");
        const id = (await upload(keyA, { bucketId: anyBucket }, bytes)).body.id as string;
        const get = (headers: Record<string, string>) =>
          call(keyA, "GET", `/v1/files/${id}/content`, undefined, headers);
        const cases: Array<[string, number, string | null, string | null]> = [
          ["bytes=0-0", 206, "0", "bytes 0-0/10"],
          ["bytes=2-4", 206, "234", "bytes 2-4/10"],
          ["bytes=7-", 206, "789", "bytes 7-9/10"],
          ["bytes=-3", 206, "789", "bytes 7-9/10"],
          ["bytes=5-100", 206, "56789", "bytes 5-9/10"],
          ["bytes=-100", 206, "0123456789", "bytes 0-9/10"],
          ["bytes=10-", 416, null, "bytes */10"],
          ["bytes=5-2", 416, null, "bytes */10"],
          ["bytes=-0", 416, null, "bytes */10"],
          ["bytes=0-1,3-4", 200, "0123456789", null],
          ["items=0-1", 200, "0123456789", null],
        ];
        for (const [range, status, body, contentRange] of cases) {
          const res = await get({ range });
          expect(res.status, range).toBe(status);
          if (body !== null) expect(res.raw.toString(), range).toBe(body);
          expect(res.headers["content-range"] ?? null, range).toBe(contentRange);
        }
        const etag = `"${sha(bytes)}"`;
        expect((await get({ "if-none-match": etag })).status).toBe(304);
        expect((await get({ "if-none-match": '"other"' })).status).toBe(200);
        expect((await get({ range: "bytes=0-1", "if-range": '"stale"' })).status).toBe(200);
        expect((await get({ range: "bytes=0-1", "if-range": etag })).status).toBe(206);
        // An empty file: any range is unsatisfiable, the whole is empty.
        const empty = (await upload(keyA, { bucketId: anyBucket }, Buffer.alloc(0))).body.id as string;
        expect((await call(keyA, "GET", `/v1/files/${empty}/content`)).raw.length).toBe(0);
        expect((await call(keyA, "GET", `/v1/files/${empty}/content`, undefined, { range: "bytes=0-0" })).status).toBe(
          416,
        );
      });

      it("answers 404 for another tenant's file on every route, and the owner still reaches it", async () => {
        const id = (await upload(keyA, { bucketId: anyBucket }, Buffer.from("mine"))).body.id as string;
        for (const [method, url, body] of [
          ["GET", `/v1/files/${id}`],
          ["GET", `/v1/files/${id}/content`],
          ["PATCH", `/v1/files/${id}`, { name: "stolen" }],
          ["DELETE", `/v1/files/${id}`],
          ["POST", `/v1/files/${id}/signed-url`, {}],
        ] as Array<[string, string, unknown?]>) {
          const res = await call(keyB, method, url, body);
          expect(res.status, `${method} ${url}`).toBe(404);
        }
        expect((await call(keyB, "GET", `/v1/files?tenantId=${tenantA}`)).status).toBe(404);
        // Another environment's key does not find it either.
        expect((await call(p.b.secretKey, "GET", `/v1/files/${id}`)).status).toBe(404);
        expect((await call(keyA, "GET", `/v1/files/${id}`)).body.name).toBe("file");
      });

      it("signs download URLs: they work without a credential, and tampering, replay to another file and expiry fail", async () => {
        const one = (await upload(keyA, { bucketId: anyBucket }, Buffer.from("one"))).body.id as string;
        const two = (await upload(keyA, { bucketId: anyBucket }, Buffer.from("two"))).body.id as string;
        const signed = await call(keyA, "POST", `/v1/files/${one}/signed-url`, { expiresInSeconds: 60 });
        expect(signed.status).toBe(201);
        const url = signed.body.url as string;
        const ok = await call(null, "GET", url);
        expect(ok.status).toBe(200);
        expect(ok.raw.toString()).toBe("one");
        expect(ok.headers["x-content-type-options"]).toBe("nosniff");
        const u = new URL(url, "http://x");
        const variant = (f: (q: URLSearchParams) => void, path = u.pathname) => {
          const q = new URLSearchParams(u.search);
          f(q);
          return `${path}?${q}`;
        };
        const sig = u.searchParams.get("sig") as string;
        expect(
          (
            await call(
              null,
              "GET",
              // The first character: every bit of it counts (the last one carries padding bits).
              variant((q) => q.set("sig", `${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`)),
            )
          ).status,
        ).toBe(403);
        expect(
          (
            await call(
              null,
              "GET",
              variant((q) => q.set("exp", String(Number(q.get("exp")) + 3600))),
            )
          ).status,
        ).toBe(403);
        expect(
          (
            await call(
              null,
              "GET",
              variant((q) => q.set("d", "i")),
            )
          ).status,
        ).toBe(403);
        expect(
          (
            await call(
              null,
              "GET",
              variant(() => {}, `/v1/storage/signed/${two}`),
            )
          ).status,
        ).toBe(403);
        clock.advance(61_000);
        const expired = await call(null, "GET", url);
        expect(expired.status).toBe(410);
        expect(expired.body.code).toBe("signature_expired");
        // Deleting the file ends its URLs.
        const fresh = (await call(keyA, "POST", `/v1/files/${one}/signed-url`, {})).body.url as string;
        expect((await call(keyA, "DELETE", `/v1/files/${one}`)).status).toBe(200);
        expect((await call(null, "GET", fresh)).status).toBe(403);
      });

      it("serves files of public buckets without a credential, and only those", async () => {
        const pub = (await call(key, "POST", "/v1/storage/buckets", { name: "public-assets", public: true })).body
          .id as string;
        const shown = (await upload(keyA, { bucketId: pub }, Buffer.from("logo"))).body.id as string;
        const hidden = (await upload(keyA, { bucketId: anyBucket }, Buffer.from("secret"))).body.id as string;
        expect((await call(null, "GET", `/v1/storage/public/${shown}`)).raw.toString()).toBe("logo");
        expect((await call(null, "GET", `/v1/storage/public/${hidden}`)).status).toBe(404);
      });

      it("keeps deleted files in the trash until the purge job deletes their bytes; restore brings them back", async () => {
        const bytes = randomBytes(1000);
        const id = (await upload(keyB, { bucketId: anyBucket }, bytes)).body.id as string;
        const usageBefore = (await call(keyB, "GET", `/v1/tenants/${tenantB}/storage`)).body;
        expect((await call(keyB, "DELETE", `/v1/files/${id}`)).body.status).toBe("deleted");
        expect((await call(keyB, "GET", `/v1/files/${id}`)).status).toBe(404);
        expect((await call(keyB, "GET", `/v1/files/${id}/content`)).status).toBe(404);
        expect(((await call(keyB, "GET", "/v1/files?status=deleted")).body.data as Json[]).map((f) => f.id)).toContain(
          id,
        );
        expect((await call(keyB, "POST", `/v1/files/${id}/restore`)).status).toBe(200);
        const again = await call(keyB, "POST", `/v1/files/${id}/restore`);
        expect([again.status, again.body.status]).toEqual([200, "active"]);
        expect((await call(keyB, "DELETE", `/v1/files/${id}`)).status).toBe(200);
        const blob = `${p.a.id}/${id}`;
        expect(await storage.store.exists(blob)).toBe(true);
        clock.advance(23 * 3_600_000);
        await storage.lifecycle.purge();
        expect(await storage.store.exists(blob)).toBe(true);
        clock.advance(2 * 3_600_000);
        expect((await storage.lifecycle.purge()).purged).toBeGreaterThanOrEqual(1);
        expect(await storage.store.exists(blob)).toBe(false);
        const usageAfter = (await call(keyB, "GET", `/v1/tenants/${tenantB}/storage`)).body;
        expect(usageAfter.bytes).toBe((usageBefore.bytes as number) - 1000);
        expect(usageAfter.files).toBe((usageBefore.files as number) - 1);
        expect((await call(keyB, "POST", `/v1/files/${id}/restore`)).status).toBe(404);
      });

      it("collects orphans: an upload whose metadata never committed loses its bytes and hidden row", async () => {
        const id = `fil_orphan${driver}${engine}`;
        const blob = `${p.a.id}/${id}`;
        const { Readable } = await import("node:stream");
        await storage.store.put(blob, Readable.from([Buffer.from("half")]));
        await t.app.db.kysely
          .insertInto("storage_file")
          .values({
            id,
            environment_id: p.a.id,
            tenant_id: tenantA,
            bucket_id: anyBucket,
            blob_key: blob,
            status: "uploading",
            name: "x",
            content_type: null,
            declared_type: null,
            size: 0,
            sha256: null,
            metadata: "{}",
            ref: null,
            created_by_type: "tenant_key",
            created_by_id: "x",
            deleted_at: null,
            deleted_reason: null,
            purge_at: null,
            created_at: clock.now(),
            updated_at: clock.now(),
          })
          .execute();
        // Invisible to reads while it is in flight.
        expect((await call(keyA, "GET", `/v1/files/${id}`)).status).toBe(404);
        expect((await storage.lifecycle.purge()).orphans).toBe(0);
        clock.advance(61 * 60_000);
        expect((await storage.lifecycle.purge()).orphans).toBe(1);
        expect(await storage.store.exists(blob)).toBe(false);
        const left = await t.app.db.kysely.selectFrom("storage_file").select("id").where("id", "=", id).execute();
        expect(left).toEqual([]);
      });

      it("enforces per-tenant quotas atomically: 50 racing uploads never pass the byte quota (FILE-05)", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: `Quota ${driver}` })).body.id as string;
        const set = await call(key, "PUT", `/v1/tenants/${tenant}/storage/quota`, { maxBytes: 1000, maxFiles: null });
        expect(set.status, JSON.stringify(set.body)).toBe(200);
        const results = await Promise.all(
          Array.from({ length: 50 }, () => upload(key, { bucketId: anyBucket, tenantId: tenant }, randomBytes(100))),
        );
        const statuses = results.map((r) => r.status);
        expect(statuses.filter((s) => s === 201)).toHaveLength(10);
        expect(statuses.filter((s) => s !== 201).every((s) => s === 409)).toBe(true);
        const usage = (await call(key, "GET", `/v1/tenants/${tenant}/storage`)).body;
        expect(usage).toMatchObject({ bytes: 1000, files: 10, maxBytes: 1000 });
        const listed = await call(key, "GET", `/v1/files?tenantId=${tenant}&limit=100`);
        expect(listed.body.data).toHaveLength(10);
        // A file quota too.
        await call(key, "PUT", `/v1/tenants/${tenant}/storage/quota`, { maxBytes: null, maxFiles: 11 });
        const more = await Promise.all(
          Array.from({ length: 5 }, () => upload(key, { bucketId: anyBucket, tenantId: tenant }, Buffer.from("x"))),
        );
        expect(more.filter((r) => r.status === 201)).toHaveLength(1);
      });

      it("trashes a deactivated tenant's files, restores them on reactivation, purges them after the trash period", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: `Leaving ${driver}` })).body.id as string;
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push((await upload(key, { bucketId: anyBucket, tenantId: tenant }, randomBytes(10))).body.id as string);
        }
        const binned = (await upload(key, { bucketId: anyBucket, tenantId: tenant }, randomBytes(10))).body
          .id as string;
        expect((await call(key, "DELETE", `/v1/files/${binned}`)).status).toBe(200);
        const statuses = async () => {
          const rows = await t.app.db.kysely
            .selectFrom("storage_file")
            .select(["id", "status"])
            .where("tenant_id", "=", tenant)
            .orderBy("id")
            .execute();
          return Object.fromEntries(rows.map((r) => [r.id, r.status]));
        };
        const actions = async (action: string) =>
          (
            await t.app.db.kysely
              .selectFrom("audit_entry")
              .select("action")
              .where("tenant_id", "=", tenant)
              .where("action", "=", action)
              .execute()
          ).length;

        expect((await call(key, "POST", `/v1/tenants/${tenant}/deactivate`, { reason: "left" })).status).toBe(200);
        while ((await runDueJobs(t)) > 0) {}
        expect(Object.values(await statuses())).toEqual(["deleted", "deleted", "deleted", "deleted"]);
        for (const id of ids) expect(await storage.store.exists(`${p.a.id}/${id}`)).toBe(true);
        expect(await actions("file.deleted")).toBe(4);

        // Reactivated within the trash period: the deactivation's files come back, the binned one does not.
        expect((await call(key, "POST", `/v1/tenants/${tenant}/reactivate`, { reason: "back" })).status).toBe(200);
        while ((await runDueJobs(t)) > 0) {}
        const back = await statuses();
        for (const id of ids) expect(back[id]).toBe("active");
        expect(back[binned]).toBe("deleted");
        expect(await actions("file.restored")).toBe(3);
        expect((await call(key, "GET", `/v1/files/${ids[0]}/content`)).status).toBe(200);

        // Deactivated for good: after the trash period the purge job deletes bytes, rows and usage.
        await call(key, "POST", `/v1/tenants/${tenant}/deactivate`, { reason: "left for good" });
        while ((await runDueJobs(t)) > 0) {}
        clock.advance(t.config.storage.trashMs + 60_000);
        await storage.lifecycle.purge();
        for (const id of [...ids, binned]) expect(await storage.store.exists(`${p.a.id}/${id}`)).toBe(false);
        expect(await statuses()).toEqual({});
        expect(await actions("file.purged")).toBe(4);
        expect((await call(key, "GET", `/v1/tenants/${tenant}/storage`)).body).toMatchObject({ bytes: 0, files: 0 });
        // A reactivation after the purge has nothing to restore.
        await call(key, "POST", `/v1/tenants/${tenant}/reactivate`, { reason: "too late" });
        while ((await runDueJobs(t)) > 0) {}
        expect(await statuses()).toEqual({});
      });

      it("offboarding purges a tenant's files at once, bytes included, with a fact for each", async () => {
        const tenant = (await call(key, "POST", "/v1/tenants", { name: `Erased ${driver}` })).body.id as string;
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) {
          ids.push((await upload(key, { bucketId: anyBucket, tenantId: tenant }, randomBytes(10))).body.id as string);
        }
        expect(await storage.lifecycle.purgeTenant({ environmentId: p.a.id, tenantId: tenant })).toBe(2);
        for (const id of ids) expect(await storage.store.exists(`${p.a.id}/${id}`)).toBe(false);
        const audit = await t.app.db.kysely
          .selectFrom("audit_entry")
          .select("action")
          .where("tenant_id", "=", tenant)
          .where("action", "in", ["file.deleted", "file.purged"])
          .execute();
        expect(audit).toHaveLength(4);
        expect((await call(key, "GET", `/v1/tenants/${tenant}/storage`)).body).toMatchObject({ bytes: 0, files: 0 });
      });

      async function countRows(): Promise<number> {
        const rows = await t.app.db.kysely.selectFrom("storage_file").select("id").execute();
        return rows.length;
      }
    });
  }
});

function principalOf(environmentId: string) {
  return {
    actorType: "service" as const,
    actorId: "svc_test",
    credentialId: "cred_test",
    environmentId,
    permissions: ["*"],
  };
}

function req() {
  return { requestId: "req_test", ip: "127.0.0.1" };
}
