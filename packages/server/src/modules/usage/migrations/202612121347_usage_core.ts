import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Meters, usage events (deduplicated by primary key), rollups, distinct values, entitlements and holds. */
export const migration: ModuleMigration = {
  name: "202612121347_usage_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    const real = "double precision";
    await db.schema
      .createTable("usage_meter")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("key", t.text, (c) => c.notNull())
      .addColumn("event_type", t.text, (c) => c.notNull())
      .addColumn("aggregation", t.text, (c) =>
        c.notNull().check(checkIn("aggregation", ["count", "sum", "max", "min", "unique_count", "latest"])),
      )
      .addColumn("value_path", t.text)
      .addColumn("group_by", t.json, (c) => c.notNull())
      .addColumn("description", t.text, (c) => c.notNull())
      .addColumn("archived_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("usage_meter_key_uq", ["environment_id", "key"])
      .execute();
    await db.schema
      .createIndex("usage_meter_type_idx")
      .on("usage_meter")
      .columns(["environment_id", "event_type"])
      .execute();

    await db.schema
      .createTable("usage_event")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("id", t.text, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("type", t.text, (c) => c.notNull())
      .addColumn("time", t.timestamp, (c) => c.notNull())
      .addColumn("source", t.text)
      .addColumn("data", t.json, (c) => c.notNull())
      .addColumn("credential_id", t.text, (c) => c.notNull())
      .addColumn("actor_type", t.text, (c) => c.notNull())
      .addColumn("received_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("usage_event_pk", ["environment_id", "id"])
      .execute();
    await db.schema
      .createIndex("usage_event_tenant_idx")
      .on("usage_event")
      .columns(["environment_id", "tenant_id", "time"])
      .execute();

    await db.schema
      .createTable("usage_rollup")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("meter_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("grain", "integer", (c) => c.notNull())
      .addColumn("bucket_start", t.timestamp, (c) => c.notNull())
      .addColumn("group_key", t.text, (c) => c.notNull())
      .addColumn("shard", "integer", (c) => c.notNull())
      .addColumn("n", t.integer, (c) => c.notNull())
      .addColumn("total", real, (c) => c.notNull())
      .addColumn("min_value", real)
      .addColumn("max_value", real)
      .addColumn("latest_time", t.timestamp)
      .addColumn("latest_id", t.text)
      .addColumn("latest_value", real)
      .addPrimaryKeyConstraint("usage_rollup_pk", [
        "environment_id",
        "meter_id",
        "tenant_id",
        "grain",
        "bucket_start",
        "group_key",
        "shard",
      ])
      // SQLite: rows stored in key order, so a range of buckets is read without a lookup per row.
      .$call((b) => (engine === "sqlite" ? b.modifyEnd(sql`without rowid`) : b))
      .execute();
    // Environment-wide queries (every tenant) read by meter, grain and time.
    await db.schema
      .createIndex("usage_rollup_meter_idx")
      .on("usage_rollup")
      .columns(["environment_id", "meter_id", "grain", "bucket_start"])
      .execute();

    await db.schema
      .createTable("usage_distinct")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("meter_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("bucket_start", t.timestamp, (c) => c.notNull())
      .addColumn("group_key", t.text, (c) => c.notNull())
      .addColumn("value", t.text, (c) => c.notNull())
      .addPrimaryKeyConstraint("usage_distinct_pk", [
        "environment_id",
        "meter_id",
        "tenant_id",
        "bucket_start",
        "group_key",
        "value",
      ])
      .$call((b) => (engine === "sqlite" ? b.modifyEnd(sql`without rowid`) : b))
      .execute();

    await db.schema
      .createTable("usage_entitlement")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("feature", t.text, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["boolean", "metered"])))
      .addColumn("enabled", t.boolean, (c) => c.notNull())
      .addColumn("meter_id", t.id)
      .addColumn("limit_value", real)
      .addColumn("period", t.text)
      .addColumn("rolling_seconds", t.integer)
      .addColumn("time_zone", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("usage_entitlement_feature_uq", ["environment_id", "tenant_id", "feature"])
      .execute();

    await db.schema
      .createTable("usage_hold")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("entitlement_id", t.id, (c) => c.notNull())
      .addColumn("feature", t.text, (c) => c.notNull())
      .addColumn("meter_id", t.id, (c) => c.notNull())
      .addColumn("amount", real, (c) => c.notNull())
      .addColumn("status", t.text, (c) =>
        c.notNull().check(checkIn("status", ["open", "committed", "released", "expired"])),
      )
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("committed_amount", real)
      .addColumn("event_id", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("usage_hold_open_idx")
      .on("usage_hold")
      .columns(["entitlement_id", "status", "expires_at"])
      .execute();
    await db.schema.createIndex("usage_hold_expiry_idx").on("usage_hold").columns(["status", "expires_at"]).execute();
  },
  async down(db) {
    for (const table of [
      "usage_hold",
      "usage_entitlement",
      "usage_distinct",
      "usage_rollup",
      "usage_event",
      "usage_meter",
    ]) {
      await db.schema.dropTable(table).execute();
    }
  },
};
