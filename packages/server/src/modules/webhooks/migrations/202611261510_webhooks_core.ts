import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Webhook endpoints (environment- or tenant-owned), messages (one per event × endpoint) and attempts. */
export const migration: ModuleMigration = {
  name: "202611261510_webhooks_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("webhook_endpoint")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id)
      .addColumn("url", t.text, (c) => c.notNull())
      .addColumn("description", t.text, (c) => c.notNull())
      .addColumn("event_types", t.json, (c) => c.notNull())
      .addColumn("enabled", t.boolean, (c) => c.notNull())
      .addColumn("disabled_reason", t.text)
      .addColumn("disabled_at", t.timestamp)
      .addColumn("rate_limit_per_second", "integer")
      .addColumn("headers", t.json, (c) => c.notNull())
      .addColumn("secret", t.text, (c) => c.notNull())
      .addColumn("previous_secret", t.text)
      .addColumn("previous_secret_expires_at", t.timestamp)
      .addColumn("failing_since", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("webhook_endpoint_env_idx")
      .on("webhook_endpoint")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();

    await db.schema
      .createTable("webhook_message")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id)
      .addColumn("endpoint_id", t.id, (c) => c.notNull())
      .addColumn("event_id", t.text, (c) => c.notNull())
      .addColumn("event_type", t.text, (c) => c.notNull())
      .addColumn("status", t.text, (c) =>
        c.notNull().check(checkIn("status", ["pending", "paused", "succeeded", "failed"])),
      )
      .addColumn("attempts", "integer", (c) => c.notNull())
      .addColumn("job_id", t.id)
      .addColumn("next_attempt_at", t.timestamp)
      .addColumn("last_attempt_at", t.timestamp)
      .addColumn("last_status_code", "integer")
      .addColumn("delivered_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("webhook_message_endpoint_idx")
      .on("webhook_message")
      .columns(["endpoint_id", "status", "created_at"])
      .execute();
    await db.schema
      .createIndex("webhook_message_tenant_idx")
      .on("webhook_message")
      .columns(["environment_id", "tenant_id", "status"])
      .execute();

    await db.schema
      .createTable("webhook_attempt")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("message_id", t.id, (c) => c.notNull())
      .addColumn("endpoint_id", t.id, (c) => c.notNull())
      .addColumn("attempt", "integer", (c) => c.notNull())
      .addColumn("outcome", t.text, (c) => c.notNull().check(checkIn("outcome", ["succeeded", "failed"])))
      .addColumn("status_code", "integer")
      .addColumn("error", t.text)
      .addColumn("duration_ms", "integer", (c) => c.notNull())
      .addColumn("response_body", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("webhook_attempt_message_idx")
      .on("webhook_attempt")
      .columns(["message_id", "id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("webhook_attempt").execute();
    await db.schema.dropTable("webhook_message").execute();
    await db.schema.dropTable("webhook_endpoint").execute();
  },
};
