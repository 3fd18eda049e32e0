/** Kysely table types of the storage module. */
export interface StorageBucketTable {
  id: string;
  environment_id: string;
  name: string;
  /** allowed_types: JSON list of media types or `type/*` patterns (`*`: any). */
  allowed_types: unknown;
  max_file_bytes: number;
  public: number | boolean;
  /** retention_days: files are moved to the trash this long after upload (null: kept). */
  retention_days: number | null;
  created_at: number;
  updated_at: number;
}

/** FileStatus: `uploading` rows are invisible (bytes in flight, or an orphan to collect). */
export type FileStatus = "uploading" | "active" | "deleted";

export interface StorageFileTable {
  id: string;
  environment_id: string;
  tenant_id: string | null;
  bucket_id: string;
  /** blob_key: the server-generated key in the blob store (`<environment>/<file id>`). */
  blob_key: string;
  status: FileStatus;
  /** name: the display name, sanitised; never part of a key or path. */
  name: string;
  /** content_type: sniffed from the bytes (null while uploading). */
  content_type: string | null;
  declared_type: string | null;
  size: number;
  sha256: string | null;
  metadata: unknown;
  ref: string | null;
  created_by_type: string;
  created_by_id: string;
  deleted_at: number | null;
  /** deleted_reason: why it is in the trash (`request`, `retention`, `tenant_deactivated`). */
  deleted_reason: string | null;
  /** purge_at: when the purge job deletes a trashed file's bytes and row. */
  purge_at: number | null;
  created_at: number;
  updated_at: number;
}

/** StorageUsageTable: one row per environment × tenant (`tenant_key` '' for environment-owned files). */
export interface StorageUsageTable {
  environment_id: string;
  tenant_key: string;
  bytes: number;
  files: number;
  max_bytes: number | null;
  max_files: number | null;
  updated_at: number;
}

/** StorageSigningKeyTable: the HMAC key of an environment's signed URLs (sealed under the master key). */
export interface StorageSigningKeyTable {
  /** id: the environment's id (the sealed secret's associated data). */
  id: string;
  secret: string;
  created_at: number;
}

/** UploadKind: `resumable` (chunks through the plane) or `direct` (a presigned PUT straight to S3). */
export type UploadKind = "resumable" | "direct";

/**
 * StorageUploadTable: an upload session. Its bytes go to the store under the server-generated key of
 * the file it will become (`blob_key`); completion inserts that file. Open sessions expire
 * (`expires_at`) and the purge job deletes them with their bytes.
 */
export interface StorageUploadTable {
  id: string;
  environment_id: string;
  tenant_id: string | null;
  bucket_id: string;
  kind: UploadKind;
  status: "open" | "completed";
  /** file_id: the id the file gets at completion (its key is `<environment>/<file_id>`). */
  file_id: string;
  blob_key: string;
  /** handle: the store's session (the S3 multipart upload id; the local temp file's name). */
  handle: string | null;
  /** size: declared up front; no chunk may pass it and completion needs exactly it. */
  size: number;
  /** received: bytes durably written (the offset the next chunk must start at). */
  received: number;
  /** last_chunk_start: where the last accepted chunk began (a retry of it is answered, not rewritten). */
  last_chunk_start: number | null;
  /** parts: JSON list of S3 parts `[{ n, etag }]` (empty on the local driver). */
  parts: unknown;
  /** sha256: declared by the client (required for direct uploads), checked at completion. */
  sha256: string | null;
  declared_type: string | null;
  /** content_type: sniffed from the first chunk. */
  content_type: string | null;
  name: string;
  ref: string | null;
  /** lock_until: a chunk or a completion in flight holds the session until then. */
  lock_until: number | null;
  created_by_type: string;
  created_by_id: string;
  expires_at: number;
  created_at: number;
  updated_at: number;
}

export interface StorageTables {
  storage_bucket: StorageBucketTable;
  storage_file: StorageFileTable;
  storage_usage: StorageUsageTable;
  storage_signing_key: StorageSigningKeyTable;
  storage_upload: StorageUploadTable;
}
