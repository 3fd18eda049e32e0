import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { StorageErrors } from "./errors.js";
import {
  Bucket,
  CreateBucketInput,
  DownloadQuery,
  ListBucketsQuery,
  ListFilesQuery,
  QuotaInput,
  SignedQuery,
  SignedUrl,
  SignedUrlInput,
  StoredFile,
  UpdateBucketInput,
  UpdateFileInput,
  UploadQuery,
  Usage,
} from "./schemas.js";
import type { StorageService } from "./service.js";

const DOWNLOAD_TYPES = ["application/octet-stream", "*/*"] as const;
const DOWNLOAD_DESCRIPTION =
  "The bytes (200), one range of them (206, `Range: bytes=…`), or 304 when `If-None-Match` names the ETag (the SHA-256). Always `X-Content-Type-Options: nosniff`, a sandboxing CSP and an RFC 6266 `Content-Disposition`.";

export function storageRoutes(s: StorageService): RouteDefinition[] {
  const bucketParams = z.strictObject({ bucketId: Id });
  const fileParams = z.strictObject({ fileId: Id });
  const tenantParams = z.strictObject({ tenantId: Id });
  const buckets = ["Storage buckets"];
  const files = ["Files"];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/storage/buckets",
      operationId: "createStorageBucket",
      summary: "Create a storage bucket",
      description:
        "A bucket carries the policy of its files: the media types their bytes may be (sniffed, never the declared type), the largest file, public or private, and retention.",
      tags: buckets,
      auth: AUTH.environment,
      body: CreateBucketInput,
      response: { status: 201, schema: Bucket, description: "The bucket." },
      errors: [StorageErrors.bucket_name_taken],
      handler: ({ ctx, body }) => s.buckets.createBucket(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/storage/buckets",
      operationId: "listStorageBuckets",
      summary: "List storage buckets",
      tags: buckets,
      auth: AUTH.environment,
      query: ListBucketsQuery,
      response: { status: 200, schema: pageSchema(Bucket), description: "A page of buckets." },
      handler: ({ ctx, query }) => s.buckets.listBuckets(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/storage/buckets/:bucketId",
      operationId: "getStorageBucket",
      summary: "Get a storage bucket",
      tags: buckets,
      auth: AUTH.environment,
      params: bucketParams,
      response: { status: 200, schema: Bucket, description: "The bucket." },
      errors: [StorageErrors.bucket_not_found],
      handler: ({ ctx, params }) => s.buckets.getBucket(ctx, params.bucketId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/storage/buckets/:bucketId",
      operationId: "updateStorageBucket",
      summary: "Change a bucket's policy",
      description: "Applies to later uploads; stored files stay.",
      tags: buckets,
      auth: AUTH.environment,
      params: bucketParams,
      body: UpdateBucketInput,
      response: { status: 200, schema: Bucket, description: "The bucket." },
      errors: [StorageErrors.bucket_not_found],
      handler: ({ ctx, params, body }) => s.buckets.updateBucket(ctx, params.bucketId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/storage/buckets/:bucketId",
      operationId: "deleteStorageBucket",
      summary: "Delete an empty bucket",
      tags: buckets,
      auth: AUTH.environment,
      params: bucketParams,
      response: {
        status: 200,
        schema: z.object({ id: z.string(), deleted: z.literal(true) }),
        description: "The bucket was deleted.",
      },
      errors: [StorageErrors.bucket_not_found, StorageErrors.bucket_not_empty],
      handler: ({ ctx, params }) => s.buckets.deleteBucket(ctx, params.bucketId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/storage/buckets/:bucketId/files",
      operationId: "uploadFile",
      summary: "Upload a file",
      description:
        "Streams the body (raw bytes, or the first file part of `multipart/form-data`) into the store. The size limit is enforced while streaming (413 as soon as it is passed), the SHA-256 is computed on the way, and the type is sniffed from the first bytes and checked against the bucket's allow-list (415) before anything is kept. The storage key is generated: the name is for display only.",
      tags: files,
      auth: AUTH.tenant,
      params: bucketParams,
      query: UploadQuery,
      requestStream: {
        contentTypes: ["application/octet-stream", "multipart/form-data", "*/*"],
        description:
          "The file's bytes (any content type: the stored type is sniffed), or a multipart form with one file part.",
      },
      response: { status: 201, schema: StoredFile, description: "The stored file." },
      errors: [
        StorageErrors.bucket_not_found,
        StorageErrors.file_too_large,
        StorageErrors.file_type_refused,
        StorageErrors.storage_quota_exceeded,
        StorageErrors.upload_incomplete,
      ],
      handler: ({ ctx, params, query, stream, headers }) =>
        s.files.upload(ctx, params.bucketId, query, stream as NonNullable<typeof stream>, headers),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/files",
      operationId: "listFiles",
      summary: "List files",
      description: "Newest first; `ref` lists the files attached to one record, `status=deleted` the trash.",
      tags: files,
      auth: AUTH.tenant,
      query: ListFilesQuery,
      response: { status: 200, schema: pageSchema(StoredFile), description: "A page of files." },
      handler: ({ ctx, query }) => s.files.listFiles(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/files/:fileId",
      operationId: "getFile",
      summary: "Get a file's metadata",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      response: { status: 200, schema: StoredFile, description: "The file." },
      errors: [StorageErrors.file_not_found],
      handler: ({ ctx, params }) => s.files.getFile(ctx, params.fileId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/files/:fileId",
      operationId: "updateFile",
      summary: "Change a file's name, ref or metadata",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      body: UpdateFileInput,
      response: { status: 200, schema: StoredFile, description: "The file." },
      errors: [StorageErrors.file_not_found],
      handler: ({ ctx, params, body }) => s.files.updateFile(ctx, params.fileId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/files/:fileId",
      operationId: "deleteFile",
      summary: "Move a file to the trash",
      description: "The file disappears from reads and downloads; its bytes are purged after the trash period.",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      response: { status: 200, schema: StoredFile, description: "The trashed file." },
      errors: [StorageErrors.file_not_found],
      handler: ({ ctx, params }) => s.files.deleteFile(ctx, params.fileId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/files/:fileId/restore",
      operationId: "restoreFile",
      summary: "Take a file out of the trash",
      description: "Idempotent: an active file is answered as it is. A purged file is gone (404).",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      response: { status: 200, schema: StoredFile, description: "The restored file." },
      errors: [StorageErrors.file_not_found],
      handler: ({ ctx, params }) => s.files.restoreFile(ctx, params.fileId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/files/:fileId/content",
      operationId: "downloadFile",
      summary: "Download a file",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      query: DownloadQuery,
      response: { status: 200, schema: z.string(), description: DOWNLOAD_DESCRIPTION, contentTypes: DOWNLOAD_TYPES },
      errors: [StorageErrors.file_not_found, StorageErrors.range_not_satisfiable],
      handler: async ({ ctx, params, query, headers, hijack }) => {
        await s.files.download(ctx, params.fileId, query, headers, hijack);
        return "";
      },
    }),
    defineRoute({
      method: "POST",
      url: "/v1/files/:fileId/signed-url",
      operationId: "createFileSignedUrl",
      summary: "Issue a signed download URL",
      description:
        "A URL that downloads this version of the file without a credential until it expires (HMAC over file, version, expiry and disposition). For browsers and third parties.",
      tags: files,
      auth: AUTH.tenant,
      params: fileParams,
      body: SignedUrlInput,
      response: { status: 201, schema: SignedUrl, description: "The signed URL." },
      errors: [StorageErrors.file_not_found],
      handler: ({ ctx, params, body }) => s.files.signedUrl(ctx, params.fileId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/storage/signed/:fileId",
      operationId: "downloadSignedFile",
      summary: "Download a file through a signed URL",
      tags: files,
      auth: "none",
      params: fileParams,
      query: SignedQuery,
      response: { status: 200, schema: z.string(), description: DOWNLOAD_DESCRIPTION, contentTypes: DOWNLOAD_TYPES },
      errors: [StorageErrors.signature_invalid, StorageErrors.signature_expired, StorageErrors.range_not_satisfiable],
      handler: async ({ params, query, headers, hijack }) => {
        await s.files.downloadSigned(params.fileId, query, headers, hijack);
        return "";
      },
    }),
    defineRoute({
      method: "GET",
      url: "/v1/storage/public/:fileId",
      operationId: "downloadPublicFile",
      summary: "Download a file of a public bucket",
      tags: files,
      auth: "none",
      params: fileParams,
      response: { status: 200, schema: z.string(), description: DOWNLOAD_DESCRIPTION, contentTypes: DOWNLOAD_TYPES },
      errors: [StorageErrors.file_not_found, StorageErrors.range_not_satisfiable],
      handler: async ({ params, headers, hijack }) => {
        await s.files.downloadPublic(params.fileId, headers, hijack);
        return "";
      },
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/storage",
      operationId: "getTenantStorageUsage",
      summary: "Get a tenant's storage usage and quota",
      tags: files,
      auth: AUTH.tenant,
      params: tenantParams,
      response: { status: 200, schema: Usage, description: "Bytes and files stored, and the quota." },
      handler: ({ ctx, params }) => s.usage.getUsage(ctx, params.tenantId),
    }),
    defineRoute({
      method: "PUT",
      url: "/v1/tenants/:tenantId/storage/quota",
      operationId: "setTenantStorageQuota",
      summary: "Set a tenant's storage quota",
      description:
        "`null` lifts a limit. Uploads reserve against it in their commit, so racing uploads never pass it; files already above it stay.",
      tags: files,
      auth: AUTH.environment,
      params: tenantParams,
      body: QuotaInput,
      response: { status: 200, schema: Usage, description: "The usage and the new quota." },
      handler: ({ ctx, params, body }) => s.usage.setQuota(ctx, params.tenantId, body),
    }),
  ];
}
