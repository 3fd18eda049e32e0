import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { AgentKey, Invitation, Membership, TenantKey } from "../schemas.js";
import type { AgentKeyTable, InvitationTable, MembershipTable, TenantKeyTable } from "../tables.js";

export function toMembership(r: Selectable<MembershipTable>): Membership {
  return {
    id: r.id,
    environmentId: r.environment_id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    roles: fromJson<string[]>(r.roles),
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toInvitation(r: Selectable<InvitationTable>, now: number): Invitation {
  const status =
    r.accepted_at !== null
      ? "accepted"
      : r.revoked_at !== null
        ? "revoked"
        : r.expires_at <= now
          ? "expired"
          : "pending";
  return {
    id: r.id,
    tenantId: r.tenant_id,
    email: r.email,
    roles: fromJson<string[]>(r.roles),
    invitedBy: r.invited_by,
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    status,
    acceptedAt: isoOrNull(r.accepted_at),
    acceptedBy: r.accepted_by,
  };
}

export function toTenantKey(r: Selectable<TenantKeyTable>): TenantKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    surfaceId: r.surface_id,
    name: r.name,
    display: r.display,
    permissions: fromJson<string[]>(r.permissions),
    createdBy: r.created_by,
    createdByType: r.created_by_type,
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
    lastUsedAt: isoOrNull(r.last_used_at),
    replacedBy: r.replaced_by,
  };
}

export function toAgentKey(r: Selectable<AgentKeyTable>): AgentKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    surfaceId: r.surface_id,
    name: r.name,
    model: r.model,
    display: r.display,
    scopes: fromJson<string[]>(r.scopes),
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
    lastUsedAt: isoOrNull(r.last_used_at),
  };
}

/** isActive: a key that is neither revoked nor expired at `now`. */
export function isActive(r: { revoked_at: number | null; expires_at: number | null }, now: number): boolean {
  return r.revoked_at === null && (r.expires_at === null || r.expires_at > now);
}
