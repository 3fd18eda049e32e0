import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Upload sessions: resumable (chunks through the plane) and direct (a presigned PUT to S3). */
export const migration: ModuleMigration = {
  name: "202612121430_storage_uploads",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("storage_upload")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id)
      .addColumn("bucket_id", t.id, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["resumable", "direct"])))
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["open", "completed"])))
      .addColumn("file_id", t.id, (c) => c.notNull().unique())
      .addColumn("blob_key", t.text, (c) => c.notNull().unique())
      .addColumn("handle", t.text)
      .addColumn("size", t.integer, (c) => c.notNull())
      .addColumn("received", t.integer, (c) => c.notNull())
      .addColumn("last_chunk_start", t.integer)
      .addColumn("parts", t.json, (c) => c.notNull())
      .addColumn("sha256", t.text)
      .addColumn("declared_type", t.text)
      .addColumn("content_type", t.text)
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("ref", t.text)
      .addColumn("lock_until", t.timestamp)
      .addColumn("created_by_type", t.text, (c) => c.notNull())
      .addColumn("created_by_id", t.text, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("storage_upload_expiry_idx")
      .on("storage_upload")
      .columns(["status", "expires_at"])
      .execute();
    await db.schema
      .createIndex("storage_upload_scope_idx")
      .on("storage_upload")
      .columns(["environment_id", "tenant_id", "status"])
      .execute();
    await db.schema.createIndex("storage_upload_handle_idx").on("storage_upload").columns(["handle"]).execute();
  },
  async down(db) {
    await db.schema.dropTable("storage_upload").ifExists().execute();
  },
};
