import type { IsolationWorld } from "../../testing/isolation/world.js";
import { created, defineModuleFixtures, expectJson, readBack } from "../../testing/isolation.js";

/**
 * The storage module's fixtures for the plane-wide suites: buckets (environment configuration) and
 * files (owned by the home tenant), and one successful call per mutating route with its fact. The
 * two credential-less download routes are checked by `storage.test.ts` (signed URLs: tampering,
 * replay to another file, expiry; public buckets: only their files).
 */
async function uploaded(w: IsolationWorld, env: IsolationWorld["a"], bucketId: string): Promise<string> {
  const res = await w.call(env.key, "POST", `/v1/storage/buckets/${bucketId}/files`, {
    query: { tenantId: env.tenantId, name: `file ${env.marker}` },
    headers: { "content-type": "text/plain" },
    body: `bytes of ${env.marker} ${w.unique()}`,
  });
  return (await created(res, "uploading a file")).id as string;
}

/** session opens a resumable session in `env` and sends all its bytes (so it can be completed). */
async function session(w: IsolationWorld, env: IsolationWorld["a"], bucketId: string): Promise<string> {
  const bytes = `session of ${env.marker} ${w.unique()}`;
  const res = await w.call(env.tenantKey, "POST", `/v1/storage/buckets/${bucketId}/uploads`, {
    body: { size: Buffer.byteLength(bytes), name: `upload ${env.marker}` },
  });
  const id = (await created(res, "opening an upload session")).id as string;
  await expectJson(
    await w.call(env.tenantKey, "PUT", `/v1/storage/uploads/${id}/chunks`, {
      query: { offset: "0" },
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    }),
    200,
    "sending the session's bytes",
  );
  return id;
}

export const fixtures = defineModuleFixtures({
  module: "storage",
  params: {
    bucketId: async (w, env) => {
      const body = await created(
        await w.call(env.key, "POST", "/v1/storage/buckets", { body: { name: `bucket-${w.unique()}` } }),
        "creating a bucket",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/storage/buckets/${id}`) };
    },
    uploadId: async (w, env) => {
      const bucket = await w.param("bucketId", env);
      const id = await session(w, env, bucket.id);
      return { id, owner: env.tenantKey, read: () => readBack(w, env.tenantKey, `/v1/storage/uploads/${id}`) };
    },
    fileId: async (w, env) => {
      const bucket = await w.param("bucketId", env);
      const id = await uploaded(w, env, bucket.id);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/files/${id}`) };
    },
  },
  bodies: {
    "POST /v1/storage/buckets/:bucketId/uploads": () => ({ size: 16, name: "isolation.bin" }),
    // The local driver of the plane-wide suites answers 409 direct_upload_unsupported (after the
    // bucket and scope checks); uploads.test.ts runs the route on S3.
    "POST /v1/storage/direct-uploads": (w) => ({
      bucketId: `bkt_${w.unique()}`,
      size: 16,
      sha256: "0".repeat(64),
      contentType: "image/png",
    }),
  },
  excluded: {
    "GET /v1/storage/signed/:fileId":
      "no credential: a signed URL's MAC binds it to its file (storage.test.ts: tampering, replay to another file, expiry)",
    "GET /v1/storage/public/:fileId": "no credential: serves only files of public buckets (storage.test.ts)",
  },
  facts: {
    "POST /v1/storage/buckets": async (w) => ({
      caller: w.a.key,
      body: { name: `facts-${w.unique()}`, allowedTypes: ["image/*"] },
      expect: () => ({ types: ["storage_bucket.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/storage/buckets/:bucketId": async (w) => ({
      caller: w.a.key,
      ids: { bucketId: (await w.param("bucketId", w.a)).id },
      body: { public: true },
      expect: () => ({ types: ["storage_bucket.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/storage/buckets/:bucketId": async (w) => ({
      caller: w.a.key,
      ids: { bucketId: (await w.param("bucketId", w.a)).id },
      expect: () => ({ types: ["storage_bucket.deleted"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/storage/buckets/:bucketId/files": async (w) => ({
      caller: w.a.tenantKey,
      ids: { bucketId: (await w.param("bucketId", w.a)).id },
      body: "hello facts",
      expect: () => ({ types: ["file.uploaded"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/files/:fileId": async (w) => ({
      caller: w.a.user,
      ids: { fileId: (await w.param("fileId", w.a)).id },
      body: { name: "renamed.txt", metadata: { k: "v" } },
      expect: () => ({ types: ["file.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/files/:fileId": async (w) => ({
      caller: w.a.agent,
      ids: { fileId: (await w.param("fileId", w.a)).id },
      expect: () => ({ types: ["file.deleted"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/files/:fileId/restore": async (w) => {
      const id = (await w.param("fileId", w.a)).id;
      await expectJson(await w.call(w.a.key, "DELETE", `/v1/files/${id}`), 200, "trashing the file");
      return {
        caller: w.a.user,
        ids: { fileId: id },
        expect: () => ({ types: ["file.restored"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/files/:fileId/signed-url": async (w) => ({
      caller: w.a.tenantKey,
      ids: { fileId: (await w.param("fileId", w.a)).id },
      body: { expiresInSeconds: 60 },
      expect: () => ({ types: ["file.shared"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/storage/buckets/:bucketId/uploads": async (w) => ({
      caller: w.a.tenantKey,
      ids: { bucketId: (await w.param("bucketId", w.a)).id },
      body: { size: 100 },
      expect: () => ({ types: ["storage_upload.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/storage/uploads/:uploadId/complete": async (w) => ({
      caller: w.a.tenantKey,
      ids: { uploadId: await session(w, w.a, (await w.param("bucketId", w.a)).id) },
      expect: () => ({ types: ["file.uploaded"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/storage/uploads/:uploadId": async (w) => ({
      caller: w.a.tenantKey,
      ids: { uploadId: await session(w, w.a, (await w.param("bucketId", w.a)).id) },
      expect: () => ({ types: ["storage_upload.discarded"], environmentId: w.a.environmentId }),
    }),
    "PUT /v1/tenants/:tenantId/storage/quota": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId },
      body: { maxBytes: 1_000_000, maxFiles: 100 },
      expect: () => ({ types: ["storage_quota.updated"], environmentId: w.a.environmentId }),
    }),
  },
  factExclusions: {
    "PUT /v1/storage/uploads/:uploadId/chunks":
      "a chunk moves its session's offset; the session's facts are its opening (storage_upload.created), its completion (file.uploaded) and its discarding (storage_upload.discarded)",
    "POST /v1/storage/direct-uploads":
      "answers 409 direct_upload_unsupported on the local driver the facts sweep runs; uploads.test.ts checks its storage_upload.created on S3",
  },
});
