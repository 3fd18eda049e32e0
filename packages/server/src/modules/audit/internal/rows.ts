import type { Fact } from "../../../platform/facts/index.js";
import { iso } from "../../../platform/http/schemas.js";
import type { Principal, RequestInfo } from "../../../platform/principal.js";
import type { AuditActor, AuditContext, AuditEntryRecord } from "../format.js";
import type { AuditEntry, Checkpoint } from "../schemas.js";
import type { AuditCheckpointTable, AuditEntryTable } from "../tables.js";
import { entryOfRow } from "./entry-of-row.js";

/** PLANE_CHAIN is the chain of plane-level entries (operators, projects): no environment, no tenant. */
export const PLANE_CHAIN = "plane";

/** chainOf names the chain an entry belongs to: its tenant's, else its environment's, else the plane's. */
export function chainOf(environmentId: string | null, tenantId: string | null): string {
  return tenantId ?? environmentId ?? PLANE_CHAIN;
}

/** actorOf is the audit actor of a principal: type, id, display name and delegation chain, never its credential. */
export function actorOf(p: Principal | null): AuditActor {
  if (!p) return { type: "anonymous", id: null, displayName: null, model: null, onBehalfOf: null };
  return {
    type: p.actorType,
    id: p.actorId,
    displayName: p.displayName ?? null,
    model: p.model ?? null,
    onBehalfOf: p.onBehalfOf
      ? { type: p.onBehalfOf.actorType, id: p.onBehalfOf.actorId, reason: p.onBehalfOf.reason ?? null }
      : null,
  };
}

export function contextOf(request: RequestInfo, principal: Principal | null): AuditContext {
  return {
    ip: request.ip ?? null,
    userAgent: request.userAgent ?? null,
    surfaceId: principal?.surfaceId ?? null,
    requestId: request.requestId ?? null,
  };
}

/** EntryDraft is an entry before the chain gives it a place (id, seq, hashes). */
export type EntryDraft = Omit<AuditEntryRecord, "v" | "id" | "chain" | "seq" | "prevHash" | "hash">;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * wellFormed returns `value` with lone UTF-16 surrogates replaced by U+FFFD, copying only what
 * changes. An entry is hashed as written, and PostgreSQL's jsonb refuses lone surrogates (SQLite
 * would keep them): without this, one engine would fail the write and a stored value could differ
 * from the hashed one.
 */
export function wellFormed<T>(value: T): T {
  if (typeof value === "string") {
    return (LONE_SURROGATE.test(value) ? value.replace(LONE_SURROGATES, "\ufffd") : value) as T;
  }
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item, i) => {
      const clean = wellFormed(item);
      if (clean !== item) {
        copy ??= [...value];
        copy[i] = clean;
      }
    });
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | null = null;
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const cleanKey = wellFormed(key);
    const clean = wellFormed(inner);
    if (clean !== inner || cleanKey !== key) {
      copy ??= { ...(value as Record<string, unknown>) };
      if (cleanKey !== key) delete copy[key];
      copy[cleanKey] = clean;
    }
  }
  return (copy ?? value) as T;
}

/** draftOfFact is a fact's entry (lone surrogates are replaced when the ledger encodes it). */
export function draftOfFact(fact: Fact): EntryDraft {
  return {
    environmentId: fact.environmentId,
    tenantId: fact.tenantId,
    action: fact.type,
    occurredAt: fact.occurredAt,
    actor: actorOf(fact.actor),
    targets: fact.targets.map((t) => ({ type: t.type, id: t.id })),
    context: contextOf(fact.request, fact.actor),
    metadata: fact.data ?? {},
    changes: fact.changes ?? null,
    source: "fact",
    factId: fact.id,
  };
}

/** toEntry is a stored row as an entry record (see `entryOfRow`). */
export const toEntry: (row: AuditEntryTable) => AuditEntryRecord = entryOfRow;

/**
 * toAuditEntry is an entry record as the API answers it: the record with `occurredAt` as an ISO
 * 8601 date-time. Exports keep the record itself (epoch ms), which its hash covers; to check a
 * hash from an API answer, hash the entry with `occurredAt` as `Date.parse(occurredAt)`.
 */
export function toAuditEntry(record: AuditEntryRecord): AuditEntry {
  return { ...record, occurredAt: iso(record.occurredAt) };
}

/** toApiEntry is `toAuditEntry` of a stored row. */
export function toApiEntry(row: AuditEntryTable): AuditEntry {
  return toAuditEntry(entryOfRow(row));
}

export function toCheckpoint(row: AuditCheckpointTable): Checkpoint {
  return {
    id: row.id,
    v: 1,
    chain: row.chain_id,
    environmentId: row.environment_id,
    tenantId: row.tenant_id,
    size: Number(row.size),
    headHash: row.head_hash,
    time: iso(row.time),
    previousCheckpointHash: row.previous_checkpoint_hash,
    keyId: row.key_id,
    signature: row.signature,
    checkpointHash: row.checkpoint_hash,
  };
}
