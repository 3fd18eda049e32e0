import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Audit chains, entries (+ their target index), signed checkpoints, signing keys, per-action
 * schemas and retention settings. Entries and checkpoints are append-only (checklist AUD-07): a
 * trigger refuses every UPDATE, and every DELETE but retention's, which may only remove entries
 * before the chain's anchor (a signed checkpoint the pruning moved the anchor to first).
 */
export const migration: ModuleMigration = {
  name: "202611261420_audit_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("audit_chain")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id)
      .addColumn("tenant_id", t.id)
      .addColumn("anchor_size", t.integer, (c) => c.notNull())
      .addColumn("anchor_hash", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex("audit_chain_environment_idx").on("audit_chain").columns(["environment_id"]).execute();

    await db.schema
      .createTable("audit_entry")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("chain_id", t.id, (c) => c.notNull())
      .addColumn("seq", t.integer, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("tenant_id", t.id)
      .addColumn("action", t.text, (c) => c.notNull())
      .addColumn("occurred_at", t.timestamp, (c) => c.notNull())
      .addColumn("actor_type", t.text, (c) => c.notNull())
      .addColumn("actor_id", t.text)
      .addColumn("actor", t.json, (c) => c.notNull())
      .addColumn("targets", t.json, (c) => c.notNull())
      .addColumn("context", t.json, (c) => c.notNull())
      .addColumn("metadata", t.json, (c) => c.notNull())
      .addColumn("changes", t.json)
      .addColumn("source", t.text, (c) => c.notNull().check(checkIn("source", ["fact", "product"])))
      .addColumn("fact_id", t.id)
      .addColumn("prev_hash", t.text, (c) => c.notNull())
      .addColumn("hash", t.text, (c) => c.notNull())
      .addUniqueConstraint("audit_entry_chain_seq_uq", ["chain_id", "seq"])
      .execute();
    await db.schema
      .createIndex("audit_entry_environment_idx")
      .on("audit_entry")
      .columns(["environment_id", "id"])
      .execute();
    await db.schema
      .createIndex("audit_entry_tenant_idx")
      .on("audit_entry")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();
    await db.schema
      .createIndex("audit_entry_action_idx")
      .on("audit_entry")
      .columns(["environment_id", "action", "id"])
      .execute();

    await db.schema
      .createTable("audit_entry_target")
      .addColumn("entry_id", t.id, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("target_type", t.text, (c) => c.notNull())
      .addColumn("target_id", t.text, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("audit_entry_target_idx")
      .on("audit_entry_target")
      .columns(["environment_id", "target_type", "target_id", "entry_id"])
      .execute();
    await db.schema
      .createIndex("audit_entry_target_entry_idx")
      .on("audit_entry_target")
      .columns(["entry_id"])
      .execute();

    await db.schema
      .createTable("audit_checkpoint")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("chain_id", t.id, (c) => c.notNull())
      .addColumn("position", t.integer, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("tenant_id", t.id)
      .addColumn("size", t.integer, (c) => c.notNull())
      .addColumn("head_hash", t.text, (c) => c.notNull())
      .addColumn("time", t.timestamp, (c) => c.notNull())
      .addColumn("previous_checkpoint_hash", t.text)
      .addColumn("key_id", t.text, (c) => c.notNull())
      .addColumn("signature", t.text, (c) => c.notNull())
      .addColumn("checkpoint_hash", t.text, (c) => c.notNull())
      .addUniqueConstraint("audit_checkpoint_chain_position_uq", ["chain_id", "position"])
      .execute();

    await db.schema
      .createTable("audit_signing_key")
      .addColumn("id", t.text, (c) => c.primaryKey())
      .addColumn("public_key", t.text, (c) => c.notNull())
      .addColumn("private_key", t.text)
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["active", "retired"])))
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("retired_at", t.timestamp)
      .execute();

    await db.schema
      .createTable("audit_schema")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("action", t.text, (c) => c.notNull())
      .addColumn("schema", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("audit_schema_environment_action_uq", ["environment_id", "action"])
      .execute();

    await db.schema
      .createTable("audit_settings")
      .addColumn("environment_id", t.id, (c) => c.primaryKey())
      .addColumn("retention_days", t.integer)
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();

    if (engine === "postgres") {
      await sql`
        create function audit_append_only() returns trigger language plpgsql as $$
        begin
          if tg_op = 'DELETE' and tg_table_name = 'audit_entry' then
            if exists (select 1 from audit_chain c where c.id = old.chain_id and old.seq <= c.anchor_size) then
              return old;
            end if;
          end if;
          raise exception 'audit rows are append-only (% on %)', tg_op, tg_table_name;
        end $$`.execute(db);
      for (const table of ["audit_entry", "audit_checkpoint"]) {
        await sql`create trigger ${sql.raw(`${table}_append_only`)} before update or delete on ${sql.table(table)}
          for each row execute function audit_append_only()`.execute(db);
      }
    } else {
      await sql`create trigger audit_entry_no_update before update on audit_entry
        begin select raise(abort, 'audit rows are append-only'); end`.execute(db);
      await sql`create trigger audit_entry_no_delete before delete on audit_entry
        when not exists (select 1 from audit_chain c where c.id = old.chain_id and old.seq <= c.anchor_size)
        begin select raise(abort, 'audit rows are append-only'); end`.execute(db);
      await sql`create trigger audit_checkpoint_no_update before update on audit_checkpoint
        begin select raise(abort, 'audit rows are append-only'); end`.execute(db);
      await sql`create trigger audit_checkpoint_no_delete before delete on audit_checkpoint
        begin select raise(abort, 'audit rows are append-only'); end`.execute(db);
    }
  },
  async down(db, engine) {
    for (const table of [
      "audit_settings",
      "audit_schema",
      "audit_signing_key",
      "audit_checkpoint",
      "audit_entry_target",
      "audit_entry",
      "audit_chain",
    ]) {
      await db.schema.dropTable(table).execute();
    }
    if (engine === "postgres") await sql`drop function audit_append_only()`.execute(db);
  },
};
