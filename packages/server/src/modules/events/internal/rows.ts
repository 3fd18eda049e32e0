import type { ExpressionBuilder, Selectable } from "kysely";
import { sql } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Event, EventType } from "../schemas.js";
import type { EventsTables, EventTable, EventTypeTable } from "../tables.js";

export function toEvent(r: Selectable<EventTable>): Event {
  return {
    id: r.id,
    clientId: r.client_id,
    specversion: "1.0",
    type: r.type,
    source: r.source,
    subject: r.subject,
    time: iso(r.time),
    datacontenttype: "application/json",
    data: fromJson<Record<string, unknown>>(r.data),
    environmentId: r.environment_id,
    tenantId: r.tenant_id,
    sequence: Number(r.seq),
  };
}

export function toEventType(r: Selectable<EventTypeTable>): EventType {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    version: Number(r.version),
    schema: r.schema === null ? null : fromJson<Record<string, unknown>>(r.schema),
    origin: "environment",
    deprecatedAt: isoOrNull(r.deprecated_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** parsePatterns splits a comma-separated `types` filter into patterns (empty: all types). */
export function parsePatterns(types: string | undefined): string[] {
  if (!types) return [];
  const patterns = types
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  return patterns.includes("*") ? [] : patterns;
}

/** matchesType reports whether `type` matches one of `patterns` (`invoice.*` matches `invoice.paid`). */
export function matchesType(type: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => (p.endsWith(".*") ? type.startsWith(p.slice(0, -1)) : p === "*" || p === type));
}

/**
 * typeCondition filters the `type` column by patterns, portably: a prefix compares `substr`
 * (LIKE would treat `_` in type names as a wildcard).
 */
export function typeCondition(eb: ExpressionBuilder<EventsTables, "event">, patterns: readonly string[]) {
  return eb.or(
    patterns.map((p) => {
      if (!p.endsWith(".*")) return eb("type", "=", p);
      const prefix = p.slice(0, -1);
      return eb(sql<string>`substr(${sql.ref("type")}, 1, ${sql.lit(prefix.length)})`, "=", prefix);
    }),
  );
}
