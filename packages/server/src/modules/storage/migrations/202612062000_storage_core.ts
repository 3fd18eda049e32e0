import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Buckets (policy), files (metadata; bytes live in the blob store), usage and quotas, signing keys. */
export const migration: ModuleMigration = {
  name: "202612062000_storage_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("storage_bucket")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("allowed_types", t.json, (c) => c.notNull())
      .addColumn("max_file_bytes", t.integer, (c) => c.notNull())
      .addColumn("public", t.boolean, (c) => c.notNull())
      .addColumn("retention_days", "integer")
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("storage_bucket_name_uq", ["environment_id", "name"])
      .execute();

    await db.schema
      .createTable("storage_file")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id)
      .addColumn("bucket_id", t.id, (c) => c.notNull())
      .addColumn("blob_key", t.text, (c) => c.notNull().unique())
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["uploading", "active", "deleted"])))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("content_type", t.text)
      .addColumn("declared_type", t.text)
      .addColumn("size", t.integer, (c) => c.notNull())
      .addColumn("sha256", t.text)
      .addColumn("metadata", t.json, (c) => c.notNull())
      .addColumn("ref", t.text)
      .addColumn("created_by_type", t.text, (c) => c.notNull())
      .addColumn("created_by_id", t.text, (c) => c.notNull())
      .addColumn("deleted_at", t.timestamp)
      .addColumn("purge_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("storage_file_scope_idx")
      .on("storage_file")
      .columns(["environment_id", "tenant_id", "status", "id"])
      .execute();
    await db.schema
      .createIndex("storage_file_bucket_idx")
      .on("storage_file")
      .columns(["bucket_id", "status"])
      .execute();
    await db.schema.createIndex("storage_file_purge_idx").on("storage_file").columns(["status", "purge_at"]).execute();
    await db.schema
      .createIndex("storage_file_created_idx")
      .on("storage_file")
      .columns(["status", "created_at"])
      .execute();

    await db.schema
      .createTable("storage_usage")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_key", t.text, (c) => c.notNull())
      .addColumn("bytes", t.integer, (c) => c.notNull())
      .addColumn("files", t.integer, (c) => c.notNull())
      .addColumn("max_bytes", t.integer)
      .addColumn("max_files", t.integer)
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("storage_usage_pk", ["environment_id", "tenant_key"])
      .execute();

    await db.schema
      .createTable("storage_signing_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("secret", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    for (const table of ["storage_signing_key", "storage_usage", "storage_file", "storage_bucket"]) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
