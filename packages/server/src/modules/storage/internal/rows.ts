import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Bucket, StoredFile } from "../schemas.js";
import type { StorageBucketTable, StorageFileTable } from "../tables.js";

export function toBucket(row: Selectable<StorageBucketTable>): Bucket {
  return {
    id: row.id,
    environmentId: row.environment_id,
    name: row.name,
    allowedTypes: fromJson<string[]>(row.allowed_types),
    maxFileBytes: Number(row.max_file_bytes),
    public: Boolean(row.public),
    retentionDays: row.retention_days === null ? null : Number(row.retention_days),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toFile(row: Selectable<StorageFileTable>): StoredFile {
  return {
    id: row.id,
    environmentId: row.environment_id,
    tenantId: row.tenant_id,
    bucketId: row.bucket_id,
    status: row.status === "deleted" ? "deleted" : "active",
    name: row.name,
    contentType: row.content_type ?? "application/octet-stream",
    declaredType: row.declared_type,
    size: Number(row.size),
    sha256: row.sha256 ?? "",
    metadata: fromJson<Record<string, string>>(row.metadata),
    ref: row.ref,
    createdBy: { type: row.created_by_type, id: row.created_by_id },
    deletedAt: isoOrNull(row.deleted_at),
    purgeAt: isoOrNull(row.purge_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
