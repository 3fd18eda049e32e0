import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Test clocks (non-production environments): a frozen time that the API moves forward, the tenants
 * living on it, and each subscription's clock (fixed for its life: taken from its tenant at start).
 * Each subscription's time zone, whose wall clock its periods follow (its tenant's at start).
 */
export const migration: ModuleMigration = {
  name: "202612121555_billing_test_clocks",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("billing_test_clock")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("frozen_time", t.timestamp, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["ready", "advancing"])))
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("billing_test_clock_env_idx")
      .on("billing_test_clock")
      .columns(["environment_id", "id"])
      .execute();
    await db.schema
      .createTable("billing_test_clock_tenant")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("test_clock_id", t.id, (c) => c.notNull())
      .addColumn("attached_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("billing_test_clock_tenant_pk", ["environment_id", "tenant_id"])
      .execute();
    await db.schema
      .createIndex("billing_test_clock_tenant_clock_idx")
      .on("billing_test_clock_tenant")
      .columns(["test_clock_id"])
      .execute();
    await db.schema.alterTable("billing_subscription").addColumn("test_clock_id", t.id).execute();
    await db.schema
      .alterTable("billing_subscription")
      .addColumn("time_zone", t.text, (c) => c.notNull().defaultTo(sql`'UTC'`))
      .execute();
    await db.schema
      .createIndex("billing_subscription_clock_idx")
      .on("billing_subscription")
      .columns(["test_clock_id", "current_period_end"])
      .execute();
  },
  async down(db) {
    await db.schema.dropIndex("billing_subscription_clock_idx").execute();
    await db.schema.alterTable("billing_subscription").dropColumn("time_zone").execute();
    await db.schema.alterTable("billing_subscription").dropColumn("test_clock_id").execute();
    await db.schema.dropTable("billing_test_clock_tenant").execute();
    await db.schema.dropTable("billing_test_clock").execute();
  },
};
