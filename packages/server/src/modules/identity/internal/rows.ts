import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Operator, OperatorToken, SecretKey, Session, User } from "../schemas.js";
import type { OperatorTable, OperatorTokenTable, SecretKeyTable, SessionTable, UserTable } from "../tables.js";

/** toOperator maps an operator row; `mfa`: whether its second factor is on (another table). */
export function toOperator(r: Selectable<OperatorTable>, mfa = false): Operator {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    role: r.role,
    disabled: r.disabled_at !== null,
    mfa,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toOperatorToken(r: Selectable<OperatorTokenTable>): OperatorToken {
  return {
    id: r.id,
    operatorId: r.operator_id,
    kind: r.kind,
    name: r.name,
    createdAt: iso(r.created_at),
    lastUsedAt: iso(r.last_used_at),
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
  };
}

export function toUser(r: Selectable<UserTable>): User {
  return {
    id: r.id,
    environmentId: r.environment_id,
    email: r.email,
    name: r.name,
    profile: fromJson<Record<string, unknown>>(r.profile),
    hasPassword: r.password_hash !== null,
    emailVerified: r.email_verified_at !== null,
    emailVerifiedAt: isoOrNull(r.email_verified_at),
    disabled: r.disabled_at !== null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toSession(r: Selectable<SessionTable>, currentSessionId?: string): Session {
  return {
    id: r.id,
    userId: r.user_id,
    surfaceId: r.surface_id,
    createdAt: iso(r.created_at),
    lastUsedAt: iso(r.last_used_at),
    expiresAt: iso(r.expires_at),
    authMethod: r.auth_method,
    aal: Number(r.aal),
    secondFactorAt: isoOrNull(r.second_factor_at),
    ip: r.ip,
    userAgent: r.user_agent,
    current: r.id === currentSessionId,
  };
}

export function toSecretKey(r: Selectable<SecretKeyTable>): SecretKey {
  return {
    id: r.id,
    environmentId: r.environment_id,
    surfaceId: r.surface_id,
    name: r.name,
    display: r.display,
    scopes: fromJson<string[]>(r.scopes),
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    expiresAt: isoOrNull(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
    lastUsedAt: isoOrNull(r.last_used_at),
    replacedBy: r.replaced_by,
  };
}
