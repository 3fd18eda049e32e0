import type { TenantAccess } from "../../../platform/access.js";
import { OwnedCache } from "../../../platform/cache.js";
import { fromJson, type Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { exceeding, PermissionSet } from "../../../platform/permissions.js";
import { AccessErrors } from "../errors.js";
import { ACCESS_TOPIC, type Core, rolesOwner } from "../internal/core.js";
import type { RolesService } from "./roles.js";

/**
 * GrantsService answers what a user holds in a tenant through their membership (the access
 * seam's `memberPermissions`, on the hot path: cached, evicted in every process when the
 * membership, a custom role or the user changes), and keeps every grant a caller makes within
 * what the caller holds (no privilege escalation through roles, tenant keys or agent keys).
 */
export class GrantsService {
  readonly #members: OwnedCache<PermissionSet | null>;

  constructor(
    private readonly c: Core,
    private readonly roles: RolesService,
  ) {
    this.#members = new OwnedCache(c.m.bus, [ACCESS_TOPIC, "credentials"]);
  }

  /** memberPermissions returns the user's permissions in the tenant, or null when not a member. */
  async memberPermissions(environmentId: string, userId: string, tenantId: string): Promise<PermissionSet | null> {
    const key = `${environmentId}:${tenantId}:${userId}`;
    const now = this.c.m.clock.now();
    const hit = this.#members.get(key, now);
    if (hit) return hit.value;
    const generation = this.#members.generation;
    const row = await this.membershipOf(environmentId, tenantId, userId);
    const value = row
      ? new PermissionSet(await this.roles.permissionsOf(environmentId, fromJson<string[]>(row.roles)))
      : null;
    this.#members.set(
      key,
      {
        value,
        validUntil: Number.MAX_SAFE_INTEGER,
        owners: [userId, tenantId, environmentId, rolesOwner(environmentId)],
        cachedAt: now,
      },
      generation,
    );
    return value;
  }

  async membershipOf(environmentId: string, tenantId: string, userId: string, tx?: Tx) {
    return (
      (await this.c.tables
        .q(tx)
        .selectFrom("membership")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .where("user_id", "=", userId)
        .executeTakeFirst()) ?? null
    );
  }

  /**
   * limitsOf returns the permission lists a grant by this caller must stay within, all at once:
   * a user's membership permissions, or a key's own permissions; plus the credential's ceiling.
   */
  async limitsOf(access: TenantAccess): Promise<Array<readonly string[]>> {
    const p = access.principal;
    const limits: Array<readonly string[]> = [];
    if (p.actorType === "user" && !p.tenantId) {
      const held = access.tenantId
        ? await this.memberPermissions(access.environmentId, p.actorId, access.tenantId)
        : null;
      limits.push(held?.patterns ?? []);
    } else {
      limits.push(p.permissions);
    }
    if (p.ceiling) limits.push(p.ceiling);
    return limits;
  }

  /** requireWithin throws 403 `grant_exceeds_own` naming what `requested` adds to the caller's own grants. */
  async requireWithin(access: TenantAccess, requested: readonly string[], what: string): Promise<void> {
    const over = new Set<string>();
    for (const limit of await this.limitsOf(access)) for (const p of exceeding(requested, limit)) over.add(p);
    if (over.size > 0) {
      throw new AppError(
        AccessErrors.grant_exceeds_own,
        `${what} would grant more than the caller holds: ${[...over].sort().join(", ")}.`,
      );
    }
  }

  /** requireRolesWithin checks that the caller holds every permission of the roles it grants. */
  async requireRolesWithin(access: TenantAccess, roleKeys: readonly string[], tx?: Tx): Promise<void> {
    await this.roles.requireRoles(access.environmentId, roleKeys, tx);
    const granted = await this.roles.permissionsOf(access.environmentId, roleKeys, tx);
    await this.requireWithin(access, granted, `Roles ${roleKeys.join(", ")}`);
  }
}
