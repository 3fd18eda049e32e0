import type { Selectable } from "kysely";
import type { TenantAccess } from "../../../platform/access.js";
import { OwnedCache } from "../../../platform/cache.js";
import { fromJson, type Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { exceeding, intersectPermissions, PermissionSet, permits } from "../../../platform/permissions.js";
import { AccessErrors } from "../errors.js";
import { ACCESS_TOPIC, type Core, rolesOwner } from "../internal/core.js";
import { isActive } from "../internal/rows.js";
import type { AccessTables, MembershipTable } from "../tables.js";
import type { RolesService } from "./roles.js";

/** Held is a user's standing in a tenant: what the membership grants, and since when it exists. */
export interface Held {
  permissions: PermissionSet;
  /** since: the membership's `created_at`; a credential issued before it belongs to an earlier membership. */
  since: number;
}

/** LockedWrite is what `lockForWrite` found, with its rows locked until the write's transaction ends. */
export interface LockedWrite {
  /** limits: what a grant by the caller must stay within (see `requireWithin`), as the caller stands now. */
  limits: Array<readonly string[]>;
  /** memberships: the tenant's memberships the write named (by id or user), in id order. */
  memberships: Array<Selectable<MembershipTable>>;
}

/** LockTargets names the rows of the tenant a write reads to decide; they are locked with the caller's. */
export interface LockTargets {
  membershipIds?: readonly string[];
  userIds?: readonly string[];
  agentKeyIds?: readonly string[];
  tenantKeyIds?: readonly string[];
}

/** ADMIN_ROLE_KEYS: the built-in roles that make a user an admin for the `required_for_admins` MFA policy. */
export const ADMIN_ROLE_KEYS = ["owner", "admin"] as const;

/**
 * GrantsService answers what a user holds in a tenant through their membership (the access
 * seam's `memberPermissions`, on the hot path: cached, evicted in every process when the
 * membership, a custom role or the user changes), and keeps every grant a caller makes within
 * what the caller holds (no privilege escalation through roles, tenant keys or agent keys).
 */
export class GrantsService {
  readonly #members: OwnedCache<Held | null>;

  constructor(
    private readonly c: Core,
    private readonly roles: RolesService,
  ) {
    this.#members = new OwnedCache(c.m.bus, [ACCESS_TOPIC, "credentials"]);
  }

  /**
   * holdsAdminRole answers whether the user holds an admin-like built-in role (`ADMIN_ROLE_KEYS`)
   * in any tenant of the environment: identity's `required_for_admins` MFA policy asks it.
   */
  async holdsAdminRole(environmentId: string, userId: string, tx?: Tx): Promise<boolean> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("membership_role")
      .innerJoin("membership", "membership.id", "membership_role.membership_id")
      .select("membership_role.membership_id")
      .where("membership.environment_id", "=", environmentId)
      .where("membership.user_id", "=", userId)
      .where("membership_role.role_key", "in", [...ADMIN_ROLE_KEYS])
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** memberPermissions returns the user's permissions in the tenant, or null when not a member. */
  async memberPermissions(environmentId: string, userId: string, tenantId: string): Promise<PermissionSet | null> {
    return (await this.held(environmentId, userId, tenantId))?.permissions ?? null;
  }

  /** held returns the user's standing in the tenant (cached like `memberPermissions`), or null when not a member. */
  async held(environmentId: string, userId: string, tenantId: string): Promise<Held | null> {
    const key = `${environmentId}:${tenantId}:${userId}`;
    const now = this.c.m.clock.now();
    const hit = this.#members.get(key, now);
    if (hit) return hit.value;
    const generation = this.#members.generation;
    const row = await this.membershipOf(environmentId, tenantId, userId);
    const value = row
      ? {
          permissions: new PermissionSet(await this.roles.permissionsOf(environmentId, fromJson<string[]>(row.roles))),
          since: row.created_at,
        }
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

  /**
   * lockForWrite is the guard of a write, made inside the write's transaction `tx` (DESIGN.md §2):
   * it locks the caller's standing in the tenant together with the rows the write names, then
   * re-checks `permission` on what it read. Locked: the memberships of the caller's user (a user,
   * or the user an agent acts for) and of `targets.userIds`/`membershipIds`, then the agent and
   * tenant keys (the caller's and `targets`'), each kind in one statement in id order, so two
   * writes never wait on each other in a cycle. A revocation, removal or demotion that commits
   * first is seen here; one that comes later waits for this write and then sees what it wrote.
   * Throws 409 `access_changed` when the caller's credential, membership or permission is gone.
   * Secret keys (service callers) belong to identity and are not re-read.
   */
  async lockForWrite(
    tx: Tx,
    access: TenantAccess,
    permission: string,
    targets: LockTargets = {},
  ): Promise<LockedWrite> {
    const p = access.principal;
    const environmentId = access.environmentId;
    const tenantId = access.tenantId;
    const changed = (why: string) =>
      new AppError(AccessErrors.access_changed, `${why} while the request ran; nothing was changed.`);
    const caller =
      p.actorType === "user" && !p.tenantId ? p.actorId : p.actorType === "agent" ? p.onBehalfOf?.actorId : undefined;
    const userIds = [...(caller ? [caller] : []), ...(targets.userIds ?? [])];
    const membershipIds = targets.membershipIds ?? [];
    const memberships =
      tenantId === null || (userIds.length === 0 && membershipIds.length === 0)
        ? []
        : await this.c.tables
            .q(tx)
            .selectFrom("membership")
            .selectAll()
            .where("environment_id", "=", environmentId)
            .where("tenant_id", "=", tenantId)
            .where((eb) =>
              eb.or([
                ...(userIds.length > 0 ? [eb("user_id", "in", userIds)] : []),
                ...(membershipIds.length > 0 ? [eb("id", "in", membershipIds)] : []),
              ]),
            )
            .orderBy("id")
            .$call((qb) => this.c.m.db.forUpdate(qb))
            .execute();
    const agentIds = [...(p.actorType === "agent" ? [p.actorId] : []), ...(targets.agentKeyIds ?? [])];
    const agents = await this.#lockKeys(tx, "agent_key", environmentId, agentIds);
    const tenantKeyIds = [...(p.actorType === "tenant_key" ? [p.actorId] : []), ...(targets.tenantKeyIds ?? [])];
    const tenantKeys = await this.#lockKeys(tx, "tenant_key", environmentId, tenantKeyIds);

    let held: readonly string[] = p.permissions;
    if (caller) {
      const own = memberships.find((m) => m.user_id === caller);
      if (!own) throw changed("The caller's membership was removed");
      held = await this.roles.permissionsOf(environmentId, fromJson<string[]>(own.roles), tx);
      if (p.actorType === "agent") {
        const key = agents.find((a) => a.id === p.actorId);
        if (!key || !isActive(key, this.c.m.clock.now()) || key.created_at < own.created_at) {
          throw changed("The agent key was revoked");
        }
        held = intersectPermissions(fromJson<string[]>(key.scopes), held);
      }
    }
    if (p.actorType === "tenant_key") {
      const row = tenantKeys.find((k) => k.id === p.actorId);
      if (!row || !isActive(row, this.c.m.clock.now())) throw changed("The tenant key was revoked");
    }
    if (!permits(held, permission) || (p.ceiling !== undefined && !permits(p.ceiling, permission))) {
      throw changed(`The caller lost ${permission}`);
    }
    return { limits: [held, ...(p.ceiling ? [p.ceiling] : [])], memberships };
  }

  /** #lockKeys locks keys of one kind by id, in id order (see `lockForWrite`), and returns them. */
  async #lockKeys<T extends "agent_key" | "tenant_key">(
    tx: Tx,
    table: T,
    environmentId: string,
    ids: readonly string[],
  ) {
    if (ids.length === 0) return [];
    return this.c.tables
      .q(tx)
      .selectFrom(table as "agent_key")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "in", [...new Set(ids)])
      .orderBy("id")
      .$call((qb) => this.c.m.db.forUpdate(qb))
      .execute() as Promise<Array<Selectable<AccessTables[T]>>>;
  }

  /**
   * requireWithin throws 403 `grant_exceeds_own` naming what `requested` adds to the caller's own
   * grants: `limits` as `lockForWrite` read them in the write's transaction, else the cached ones.
   */
  async requireWithin(
    access: TenantAccess,
    requested: readonly string[],
    what: string,
    limits?: Array<readonly string[]>,
  ): Promise<void> {
    const over = new Set<string>();
    for (const limit of limits ?? (await this.limitsOf(access)))
      for (const p of exceeding(requested, limit)) over.add(p);
    if (over.size > 0) {
      throw new AppError(
        AccessErrors.grant_exceeds_own,
        `${what} would grant more than the caller holds: ${[...over].sort().join(", ")}.`,
      );
    }
  }

  /** requireRolesWithin checks that the caller holds every permission of the roles it grants. */
  async requireRolesWithin(
    access: TenantAccess,
    roleKeys: readonly string[],
    tx?: Tx,
    limits?: Array<readonly string[]>,
  ): Promise<void> {
    await this.roles.requireRoles(access.environmentId, roleKeys, tx);
    const granted = await this.roles.permissionsOf(access.environmentId, roleKeys, tx);
    await this.requireWithin(access, granted, `Roles ${roleKeys.join(", ")}`, limits);
  }
}
