import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Mail: the outbox (`mail_outbox`, one row per mail, its sending a job queued in the same
 * transaction), per-surface template overrides (`mail_template`), the single-use tokens of the
 * mailed flows (`email_token`: verification, magic link, change of address; only their SHA-256),
 * and the surface a mailed password reset was issued for (`password_reset.surface_id`).
 */
export const migration: ModuleMigration = {
  name: "202612131100_identity_mail",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("mail_outbox")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id)
      .addColumn("to_address", t.text, (c) => c.notNull())
      .addColumn("subject", t.text, (c) => c.notNull())
      .addColumn("text", t.text)
      .addColumn("html", t.text)
      .addColumn("template", t.text, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull())
      .addColumn("attempts", t.integer, (c) => c.notNull())
      .addColumn("last_error", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("sent_at", t.timestamp)
      .execute();
    await db.schema.createIndex("mail_outbox_env_idx").on("mail_outbox").columns(["environment_id", "id"]).execute();
    await db.schema.createIndex("mail_outbox_created_idx").on("mail_outbox").column("created_at").execute();
    await db.schema
      .createTable("mail_template")
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("template", t.text, (c) => c.notNull())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("subject", t.text, (c) => c.notNull())
      .addColumn("text", t.text, (c) => c.notNull())
      .addColumn("html", t.text, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("mail_template_pk", ["surface_id", "template"])
      .execute();
    await db.schema
      .createTable("email_token")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("purpose", t.text, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("new_email", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("email_token_user_idx")
      .on("email_token")
      .columns(["environment_id", "user_id", "purpose"])
      .execute();
    await db.schema.alterTable("password_reset").addColumn("surface_id", t.id).execute();
  },
  async down(db) {
    await db.schema.alterTable("password_reset").dropColumn("surface_id").execute();
    await db.schema.dropTable("email_token").execute();
    await db.schema.dropTable("mail_template").execute();
    await db.schema.dropTable("mail_outbox").execute();
  },
};
