import { sql } from "kysely";
import type { TestApp } from "./harness.js";

/**
 * withoutAuditGuard runs `fn` with the audit tables' append-only triggers off: what someone with
 * write access to the database could do. Tests use it to prove that a rewritten entry is detected.
 */
export async function withoutAuditGuard(t: TestApp, fn: () => Promise<void>): Promise<void> {
  const db = t.app.db.kysely;
  if (t.engine === "postgres") {
    await sql`alter table audit_entry disable trigger audit_entry_append_only`.execute(db);
    try {
      await fn();
    } finally {
      await sql`alter table audit_entry enable trigger audit_entry_append_only`.execute(db);
    }
    return;
  }
  const { rows } = await sql<{ name: string; sql: string }>`
    select name, sql from sqlite_master where type = 'trigger' and tbl_name = 'audit_entry'`.execute(db);
  for (const r of rows) await sql`drop trigger ${sql.raw(r.name)}`.execute(db);
  try {
    await fn();
  } finally {
    for (const r of rows) await sql.raw(r.sql).execute(db);
  }
}
