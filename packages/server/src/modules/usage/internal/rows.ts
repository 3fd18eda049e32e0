import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Entitlement, Hold, Meter } from "../schemas.js";
import type { UsageEntitlementTable, UsageHoldTable, UsageMeterTable } from "../tables.js";

export function toMeter(row: Selectable<UsageMeterTable>): Meter {
  return {
    id: row.id,
    key: row.key,
    eventType: row.event_type,
    aggregation: row.aggregation,
    valuePath: row.value_path,
    groupBy: fromJson<Record<string, string>>(row.group_by),
    description: row.description,
    archivedAt: isoOrNull(row.archived_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toEntitlement(row: Selectable<UsageEntitlementTable>): Entitlement {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    feature: row.feature,
    kind: row.kind,
    enabled: Boolean(row.enabled),
    meterId: row.meter_id,
    limit: row.limit_value === null ? null : Number(row.limit_value),
    period: row.period,
    rollingDays: row.rolling_seconds === null ? null : Number(row.rolling_seconds) / 86_400,
    timeZone: row.zone_from_tenant ? null : row.time_zone,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toHold(row: Selectable<UsageHoldTable>): Hold {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    feature: row.feature,
    amount: Number(row.amount),
    status: row.status,
    expiresAt: iso(row.expires_at),
    committedAmount: row.committed_amount === null ? null : Number(row.committed_amount),
    eventId: row.event_id,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** at reads a dotted path in `data` (undefined when any step is missing). */
export function at(data: Record<string, unknown>, path: string): unknown {
  let cur: unknown = data;
  for (const step of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    if (!Object.hasOwn(cur, step)) return undefined;
    cur = (cur as Record<string, unknown>)[step];
  }
  return cur;
}

/** depthOf measures how deeply `value` nests, without recursion. */
export function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const top = stack.pop() as { value: unknown; depth: number };
    if (top.value === null || typeof top.value !== "object") continue;
    const depth = top.depth + 1;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const inner of Object.values(top.value)) stack.push({ value: inner, depth });
  }
  return deepest;
}
