import { sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Client-chosen event ids are unique within the publisher's scope (`client_scope`: `environment`
 * for secret keys, `tenant:<id>` for tenant-bound publishers), no longer across the environment;
 * the event's own `id` is the plane's. Rows published before keep their `id` and get it as
 * `client_id` too, in the scope of their tenant (or the environment), so a retry still replays.
 * NOTE: the plane's own facts (source `baseplate`) have no client id.
 */
export const migration: ModuleMigration = {
  name: "202612101517_events_client_ids",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema.alterTable("event").addColumn("client_id", t.text).execute();
    await db.schema.alterTable("event").addColumn("client_scope", t.text).execute();
    await sql`update event set client_id = id,
      client_scope = case when tenant_id is null then 'environment' else 'tenant:' || tenant_id end
      where source <> 'baseplate'`.execute(db);
    await db.schema
      .createIndex("event_client_id_uq")
      .on("event")
      .columns(["environment_id", "client_scope", "client_id"])
      .unique()
      .execute();
  },
  async down(db) {
    await db.schema.dropIndex("event_client_id_uq").execute();
    await db.schema.alterTable("event").dropColumn("client_scope").execute();
    await db.schema.alterTable("event").dropColumn("client_id").execute();
  },
};
