import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp } from "../../platform/http/schemas.js";

const MediaTypePattern = z
  .string()
  .max(100)
  .regex(
    /^(\*|[a-z0-9][a-z0-9.+-]*\/(\*|[a-z0-9][a-z0-9.+-]*))$/,
    "must be a media type such as image/png, image/* or *",
  );
const BucketName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, "must be lowercase letters, digits and hyphens");
const GiB = 1024 ** 3;

export const Bucket = z.object({
  id: z.string(),
  environmentId: z.string(),
  name: z.string(),
  allowedTypes: z.array(z.string()).describe("Media types the bytes may be (sniffed, not declared); `*`: any."),
  maxFileBytes: z.number().int(),
  public: z
    .boolean()
    .describe("Files of a public bucket are readable by anyone with their URL (`/v1/storage/public/…`)."),
  retentionDays: z.number().int().nullable().describe("Files move to the trash this many days after upload."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Bucket = z.infer<typeof Bucket>;

export const CreateBucketInput = z.strictObject({
  name: BucketName,
  allowedTypes: z.array(MediaTypePattern).min(1).max(50).default(["*"]),
  maxFileBytes: z
    .number()
    .int()
    .min(1)
    .max(1024 * GiB)
    .default(100 * 1024 ** 2),
  public: z.boolean().default(false),
  retentionDays: z.number().int().min(1).max(36_500).nullable().default(null),
});

export const UpdateBucketInput = z.strictObject({
  allowedTypes: z.array(MediaTypePattern).min(1).max(50).optional(),
  maxFileBytes: z
    .number()
    .int()
    .min(1)
    .max(1024 * GiB)
    .optional(),
  public: z.boolean().optional(),
  retentionDays: z.number().int().min(1).max(36_500).nullable().optional(),
});

export const ListBucketsQuery = paginationQuery;

export const FileStatus = z.enum(["active", "deleted"]);

export const StoredFile = z.object({
  id: z.string(),
  environmentId: z.string(),
  tenantId: z.string().nullable().describe("The owner tenant (null: owned by the environment)."),
  bucketId: z.string(),
  status: FileStatus,
  name: z.string().describe("Display name, sanitised (never part of a storage key)."),
  contentType: z.string().describe("Sniffed from the bytes."),
  declaredType: z.string().nullable().describe("What the uploader's Content-Type said (informative only)."),
  size: z.number().int(),
  sha256: z.string(),
  metadata: z.record(z.string(), z.string()),
  ref: z.string().nullable().describe("The record the file is attached to (a string the product chooses)."),
  createdBy: z.object({ type: z.string(), id: z.string() }),
  deletedAt: Timestamp.nullable(),
  purgeAt: Timestamp.nullable().describe("When a trashed file's bytes are deleted for good."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type StoredFile = z.infer<typeof StoredFile>;

/**
 * utf8: text that decoded cleanly. A query value whose percent-encoding is not UTF-8 (`%ED%A0%80`,
 * a lone surrogate) reaches the route undecoded; it is refused, not stored as a name.
 */
const utf8 = (s: z.ZodString) =>
  s.refine(
    (v) => !v.includes("\uFFFD") && (v.match(/(%[0-9A-Fa-f]{2})+/g) ?? []).every(decodes),
    "must be valid UTF-8 text",
  );

function decodes(run: string): boolean {
  try {
    decodeURIComponent(run);
    return true;
  } catch {
    return false;
  }
}
const Ref = utf8(z.string().min(1).max(255));
const Metadata = z
  .record(z.string().min(1).max(64), z.string().max(1024))
  .refine((m) => Object.keys(m).length <= 32, "at most 32 keys");

export const UploadQuery = z.strictObject({
  tenantId: z.string().max(64).optional().describe("The owner tenant (tenant credentials: their own)."),
  name: utf8(z.string().max(1000))
    .optional()
    .describe("Display name (default: the multipart part's filename, or `file`)."),
  ref: Ref.optional(),
});

export const UpdateFileInput = z.strictObject({
  name: utf8(z.string().min(1).max(1000)).optional(),
  ref: Ref.nullable().optional(),
  metadata: Metadata.optional(),
});

export const ListFilesQuery = paginationQuery.extend({
  tenantId: z.string().max(64).optional(),
  bucketId: z.string().max(64).optional(),
  ref: Ref.optional(),
  status: FileStatus.default("active"),
});

export const DownloadQuery = z.strictObject({
  disposition: z.enum(["attachment", "inline"]).default("attachment"),
});

export const SignedUrlInput = z.strictObject({
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(900),
  disposition: z.enum(["attachment", "inline"]).default("attachment"),
});

export const SignedUrl = z.object({
  url: z.string().describe("Path and query of the signed download (append to the plane's base URL)."),
  expiresAt: Timestamp,
});

export const SignedQuery = z.strictObject({
  v: z.string().max(64),
  exp: z.string().max(20),
  d: z.enum(["a", "i"]),
  sig: z.string().max(128),
});

export const Usage = z.object({
  tenantId: z.string().nullable(),
  bytes: z.number().int().describe("Bytes stored (trashed files count until they are purged)."),
  files: z.number().int(),
  maxBytes: z.number().int().nullable(),
  maxFiles: z.number().int().nullable(),
});
export type Usage = z.infer<typeof Usage>;

export const QuotaInput = z.strictObject({
  maxBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
  maxFiles: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
});

const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "a SHA-256 in lowercase hex")
  .describe("SHA-256 of the whole file, lowercase hex.");
const ContentType = z
  .string()
  .max(255)
  .regex(/^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/i, "a media type (type/subtype)");
const FileSize = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const CreateUploadInput = z.strictObject({
  tenantId: z.string().max(64).optional().describe("The owner tenant (tenant credentials: their own)."),
  size: FileSize.describe("The file's exact size in bytes, declared up front (at most the bucket's largest file)."),
  sha256: Sha256.optional().describe("When given, completion refuses bytes with another SHA-256."),
  contentType: ContentType.optional().describe("The declared type (informative: the stored type is sniffed)."),
  name: utf8(z.string().min(1).max(1000)).optional().describe("Display name (default `file`)."),
  ref: Ref.optional(),
});

export const CreateDirectUploadInput = z.strictObject({
  bucketId: z.string().max(64).describe("The bucket whose policy the file follows."),
  tenantId: z.string().max(64).optional().describe("The owner tenant (tenant credentials: their own)."),
  size: FileSize.describe("The file's exact size in bytes: the PUT must send exactly this many."),
  sha256: Sha256.describe("Finalize streams the object and refuses it unless its SHA-256 is this."),
  contentType: ContentType.describe(
    "The Content-Type the PUT sends (signed). It must be allowed by the bucket; finalize checks the sniffed type too.",
  ),
  name: utf8(z.string().min(1).max(1000)).optional().describe("Display name (default `file`)."),
  ref: Ref.optional(),
  expiresInSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(900)
    .describe("How long the presigned PUT URL works (the session itself lasts the upload session time)."),
});

export const UploadSession = z.object({
  id: z.string(),
  environmentId: z.string(),
  tenantId: z.string().nullable(),
  bucketId: z.string(),
  kind: z.enum(["resumable", "direct"]),
  status: z.enum(["open", "completed"]),
  size: z.number().int().describe("The declared size."),
  offset: z.number().int().describe("Bytes received so far: where the next chunk starts."),
  minChunkBytes: z
    .number()
    .int()
    .describe("The smallest chunk the store accepts, the last one excepted (S3: 5 MiB; local: 1)."),
  sha256: z.string().nullable().describe("The declared SHA-256, checked at completion."),
  contentType: z.string().nullable().describe("Sniffed from the first chunk."),
  name: z.string(),
  ref: z.string().nullable(),
  fileId: z.string().nullable().describe("The file the upload became (once completed)."),
  expiresAt: Timestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type UploadSession = z.infer<typeof UploadSession>;

export const DirectUpload = UploadSession.extend({
  upload: z.object({
    method: z.literal("PUT"),
    url: z.string().describe("The presigned URL: PUT the bytes there, with exactly these headers."),
    headers: z.record(z.string(), z.string()),
    expiresAt: Timestamp,
  }),
});

export const ChunkQuery = z.strictObject({
  offset: z
    .string()
    .regex(/^\d{1,15}$/, "a byte offset")
    .transform(Number)
    .optional()
    .describe(
      "Where this chunk starts (the session's `offset`). Required with bytes; a PUT without bytes or offset answers the session.",
    ),
});

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  Bucket,
  CreateBucketInput,
  CreateDirectUploadInput,
  CreateUploadInput,
  DirectUpload,
  QuotaInput,
  SignedUrl,
  SignedUrlInput,
  StoredFile,
  UpdateBucketInput,
  UpdateFileInput,
  UploadSession,
  StorageUsage: Usage,
});
