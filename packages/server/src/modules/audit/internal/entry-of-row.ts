import type { AuditEntryRecord } from "../format.js";
import type { AuditEntryTable } from "../tables.js";

/** json decodes a JSON column as either engine returns it (text on SQLite, parsed on PostgreSQL). */
function json<T>(raw: unknown): T {
  return (typeof raw === "string" ? JSON.parse(raw) : raw) as T;
}

/**
 * entryOfRow is a stored `audit_entry` row as an entry record. It imports nothing of the server
 * (only types), so verification workers use it without loading the database layer.
 */
export function entryOfRow(row: AuditEntryTable): AuditEntryRecord {
  return {
    v: 1,
    id: row.id,
    chain: row.chain_id,
    seq: Number(row.seq),
    environmentId: row.environment_id,
    tenantId: row.tenant_id,
    action: row.action,
    occurredAt: Number(row.occurred_at),
    actor: json(row.actor),
    targets: json(row.targets),
    context: json(row.context),
    metadata: json(row.metadata),
    changes: row.changes === null ? null : json(row.changes),
    source: row.source,
    factId: row.fact_id,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
