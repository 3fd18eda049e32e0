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

export interface StorageTables {
  storage_bucket: StorageBucketTable;
  storage_file: StorageFileTable;
  storage_usage: StorageUsageTable;
  storage_signing_key: StorageSigningKeyTable;
}
