import { type CreateTableBuilder, sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { AnyKysely, Engine } from "../../../platform/db/db.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Drops the foreign keys identity's core migration declared into tenancy's tables
 * (`user.environment_id`, `secret_key.environment_id`, `secret_key.surface_id` → `environment`,
 * `surface`): no module holds a foreign key into another module's tables (DESIGN.md §2). None of
 * them cascaded, and nothing deletes environments or surfaces, so no behaviour relied on them;
 * identity's own keys (`session`, `password_reset` → `user`; `operator_token` → `operator`) stay.
 *
 * PostgreSQL drops the constraints by the names the catalog reports (down restores them under
 * PostgreSQL's default names, which the core migration got). SQLite cannot drop a constraint, so
 * the tables are rebuilt the documented way (new table, copy, drop, rename, recreate indexes).
 * NOTE: the migrator runs inside a transaction, where `PRAGMA foreign_keys = OFF` is a no-op, so
 * `user`'s children (`session`, `password_reset`) are rebuilt with it, pointing at the new table,
 * and no drop ever orphans a row; `PRAGMA foreign_key_check` then proves the result consistent.
 */
export const migration: ModuleMigration = {
  name: "202612011200_identity_drop_tenancy_fks",
  async up(db, engine) {
    if (engine === "postgres") {
      const { rows } = await sql<{ table_name: string; constraint_name: string }>`
        select tc.table_name, tc.constraint_name
        from information_schema.table_constraints tc
        join information_schema.constraint_column_usage ccu
          on ccu.constraint_schema = tc.constraint_schema and ccu.constraint_name = tc.constraint_name
        where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema()
          and tc.table_name in ('user', 'secret_key') and ccu.table_name in ('environment', 'surface')`.execute(db);
      for (const r of rows) await db.schema.alterTable(r.table_name).dropConstraint(r.constraint_name).execute();
      return;
    }
    await rebuildSqlite(db, engine, false);
  },
  async down(db, engine) {
    if (engine === "postgres") {
      for (const [table, column, target] of TENANCY_FKS) {
        await db.schema
          .alterTable(table)
          .addForeignKeyConstraint(`${table}_${column}_fkey`, [column], target, ["id"])
          .execute();
      }
      return;
    }
    await rebuildSqlite(db, engine, true);
  },
};

const TENANCY_FKS = [
  ["user", "environment_id", "environment"],
  ["secret_key", "environment_id", "environment"],
  ["secret_key", "surface_id", "surface"],
] as const;

/** rebuildSqlite recreates `user` (with its children) and `secret_key`, with or without the tenancy keys. */
async function rebuildSqlite(db: AnyKysely, engine: Engine, tenancyFks: boolean): Promise<void> {
  const t = columnTypes(engine);
  const fk = (target: string) => (tenancyFks ? target : null);

  await userTable(db.schema.createTable("user_next"), t, fk("environment.id")).execute();
  await copy(db, "user", "user_next");
  await sessionTable(db.schema.createTable("session_next"), t).execute();
  await copy(db, "session", "session_next");
  await passwordResetTable(db.schema.createTable("password_reset_next"), t).execute();
  await copy(db, "password_reset", "password_reset_next");
  await db.schema.dropTable("session").execute();
  await db.schema.dropTable("password_reset").execute();
  await db.schema.dropTable("user").execute();
  // Renaming `user_next` also rewrites the children's references to it (SQLite ≥ 3.26).
  await db.schema.alterTable("user_next").renameTo("user").execute();
  await db.schema.alterTable("session_next").renameTo("session").execute();
  await db.schema.alterTable("password_reset_next").renameTo("password_reset").execute();
  await db.schema.createIndex("user_environment_idx").on("user").columns(["environment_id", "id"]).execute();
  await db.schema.createIndex("session_user_idx").on("session").columns(["environment_id", "user_id"]).execute();

  await secretKeyTable(db.schema.createTable("secret_key_next"), t, fk("environment.id"), fk("surface.id")).execute();
  await copy(db, "secret_key", "secret_key_next");
  await db.schema.dropTable("secret_key").execute();
  await db.schema.alterTable("secret_key_next").renameTo("secret_key").execute();
  await db.schema
    .createIndex("secret_key_environment_idx")
    .on("secret_key")
    .columns(["environment_id", "id"])
    .execute();

  const { rows } = await sql<{ table: string }>`pragma foreign_key_check`.execute(db);
  if (rows.length > 0) throw new Error(`Foreign key check failed after rebuild: ${JSON.stringify(rows)}`);
}

async function copy(db: AnyKysely, from: string, to: string): Promise<void> {
  await sql`insert into ${sql.table(to)} select * from ${sql.table(from)}`.execute(db);
}

type Columns = ReturnType<typeof columnTypes>;
type Builder = CreateTableBuilder<string, string>;

// The column lists below repeat 202611261300_identity_core exactly (order included: `select *` copies by position).

function userTable(b: Builder, t: Columns, environmentFk: string | null): Builder {
  return b
    .addColumn("id", t.id, (c) => c.primaryKey())
    .addColumn("environment_id", t.id, (c) => (environmentFk ? c.notNull().references(environmentFk) : c.notNull()))
    .addColumn("email", t.text, (c) => c.notNull())
    .addColumn("email_normalized", t.text, (c) => c.notNull())
    .addColumn("name", t.text)
    .addColumn("profile", t.json, (c) => c.notNull())
    .addColumn("password_hash", t.text)
    .addColumn("disabled_at", t.timestamp)
    .addColumn("created_at", t.timestamp, (c) => c.notNull())
    .addColumn("updated_at", t.timestamp, (c) => c.notNull())
    .addUniqueConstraint("user_environment_email_uq", ["environment_id", "email_normalized"]);
}

function sessionTable(b: Builder, t: Columns): Builder {
  return b
    .addColumn("id", t.id, (c) => c.primaryKey())
    .addColumn("environment_id", t.id, (c) => c.notNull())
    .addColumn("user_id", t.id, (c) => c.notNull().references("user_next.id"))
    .addColumn("surface_id", t.id, (c) => c.notNull())
    .addColumn("token_hash", t.text, (c) => c.notNull().unique())
    .addColumn("created_at", t.timestamp, (c) => c.notNull())
    .addColumn("last_used_at", t.timestamp, (c) => c.notNull())
    .addColumn("expires_at", t.timestamp, (c) => c.notNull())
    .addColumn("revoked_at", t.timestamp)
    .addColumn("ip", t.text)
    .addColumn("user_agent", t.text);
}

function passwordResetTable(b: Builder, t: Columns): Builder {
  return b
    .addColumn("id", t.id, (c) => c.primaryKey())
    .addColumn("environment_id", t.id, (c) => c.notNull())
    .addColumn("user_id", t.id, (c) => c.notNull().references("user_next.id"))
    .addColumn("token_hash", t.text, (c) => c.notNull().unique())
    .addColumn("created_at", t.timestamp, (c) => c.notNull())
    .addColumn("expires_at", t.timestamp, (c) => c.notNull())
    .addColumn("used_at", t.timestamp);
}

function secretKeyTable(b: Builder, t: Columns, environmentFk: string | null, surfaceFk: string | null): Builder {
  return b
    .addColumn("id", t.id, (c) => c.primaryKey())
    .addColumn("environment_id", t.id, (c) => (environmentFk ? c.notNull().references(environmentFk) : c.notNull()))
    .addColumn("surface_id", t.id, (c) => (surfaceFk ? c.notNull().references(surfaceFk) : c.notNull()))
    .addColumn("name", t.text, (c) => c.notNull())
    .addColumn("token_hash", t.text, (c) => c.notNull().unique())
    .addColumn("display", t.text, (c) => c.notNull())
    .addColumn("scopes", t.json, (c) => c.notNull())
    .addColumn("created_by", t.text, (c) => c.notNull())
    .addColumn("created_at", t.timestamp, (c) => c.notNull())
    .addColumn("expires_at", t.timestamp)
    .addColumn("revoked_at", t.timestamp)
    .addColumn("last_used_at", t.timestamp)
    .addColumn("replaced_by", t.id);
}
