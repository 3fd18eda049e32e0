import type { z } from "zod";
import type { TenantAccess } from "../../../platform/access.js";
import { fromJson, isUniqueViolation, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors, type MembershipSummary } from "../../identity/index.js";
import { AccessErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { voidInvitationsIssuedBy } from "../internal/issued.js";
import { toMembership } from "../internal/rows.js";
import type { AddMemberInput, ListQuery, Membership, UpdateMemberInput } from "../schemas.js";
import type { GrantsService } from "./grants.js";

/**
 * MembershipsService: users join tenants with roles. Callers act through the access check
 * (`members:*` in the tenant); they can only grant roles whose permissions they hold themselves,
 * and a tenant always keeps an owner.
 */
export class MembershipsService {
  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
  ) {}

  async listMembers(ctx: ActionContext, tenantId: string, query: z.infer<typeof ListQuery>) {
    const { environmentId } = await this.c.m.access.require(ctx, "members:read", { tenantId });
    return pageById(
      this.c.tables
        .q()
        .selectFrom("membership")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId),
      query,
      toMembership,
    );
  }

  /** listMyMemberships lists the calling user's own memberships, across tenants. */
  async listMyMemberships(ctx: ActionContext, query: z.infer<typeof ListQuery>) {
    const p = ctx.principal;
    if (p?.actorType !== "user" || !p.environmentId) {
      throw new AppError(IdentityErrors.user_not_found, "Only a signed-in user has memberships.");
    }
    return pageById(
      this.c.tables
        .q()
        .selectFrom("membership")
        .selectAll()
        .where("environment_id", "=", p.environmentId)
        .where("user_id", "=", p.actorId),
      query,
      toMembership,
    );
  }

  async findMembershipById(ctx: ActionContext, tenantId: string, id: string): Promise<Membership> {
    const { environmentId } = await this.c.m.access.require(ctx, "members:read", { tenantId });
    return toMembership(await this.#row(environmentId, tenantId, id));
  }

  async addMember(ctx: ActionContext, tenantId: string, input: z.infer<typeof AddMemberInput>): Promise<Membership> {
    const access = await this.c.m.access.require(ctx, "members:invite", { tenantId });
    const roles = [...new Set(input.roles)];
    await this.grants.requireRolesWithin(access, roles);
    return this.c.m.db.write(ctx, async (tx) => {
      const { limits } = await this.grants.lockForWrite(tx, access, "members:invite");
      await this.grants.requireRolesWithin(access, roles, tx, limits);
      const user = await this.c.identity.users.lookupUser(access.environmentId, { id: input.userId }, tx);
      if (!user) throw new AppError(IdentityErrors.user_not_found, `No user ${input.userId} in this environment.`);
      if (user.disabled) throw new AppError(IdentityErrors.user_disabled, "A disabled user cannot join a tenant.");
      return this.insertMembership(tx, ctx, access, user.id, roles);
    });
  }

  /** insertMembership adds `userId` to the tenant in `tx` (also used by invitation acceptance). */
  async insertMembership(
    tx: Tx,
    ctx: ActionContext,
    scope: { environmentId: string; tenantId: string | null },
    userId: string,
    roles: string[],
  ): Promise<Membership> {
    const tenantId = scope.tenantId as string;
    const now = this.c.m.clock.now();
    const row = {
      id: newId("membership", now),
      environment_id: scope.environmentId,
      tenant_id: tenantId,
      user_id: userId,
      roles: toJson(roles),
      created_by: ctx.principal?.actorId ?? null,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.c.tables.q(tx).insertInto("membership").values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(AccessErrors.already_member, "The user is already a member.");
      throw err;
    }
    await this.#indexRoles(tx, row.id, scope.environmentId, tenantId, roles);
    await this.c.changed(tx, userId);
    await this.c.m.facts.record(tx, ctx, {
      type: "membership.created",
      environmentId: scope.environmentId,
      tenantId,
      targets: [
        { type: "membership", id: row.id },
        { type: "user", id: userId },
      ],
      data: { userId, roles },
    });
    return toMembership(row);
  }

  /**
   * updateMember replaces a member's roles (records before/after). The last owner cannot be demoted.
   * The membership and the caller's own are locked first: a concurrent removal or update either
   * commits before (this answers 404 or sees its roles) or waits for this one.
   */
  async updateMember(
    ctx: ActionContext,
    tenantId: string,
    id: string,
    input: z.infer<typeof UpdateMemberInput>,
  ): Promise<Membership> {
    const access = await this.c.m.access.require(ctx, "members:update", { tenantId });
    await this.c.m.access.stepUp(ctx);
    const roles = [...new Set(input.roles)];
    return this.c.m.db.write(ctx, async (tx) => {
      const locked = await this.grants.lockForWrite(tx, access, "members:update", { membershipIds: [id] });
      const before = toMembership(this.#locked(locked.memberships, id));
      const added = roles.filter((r) => !before.roles.includes(r));
      const removed = before.roles.filter((r) => !roles.includes(r));
      if (added.length === 0 && removed.length === 0) return before;
      // Both the roles given and the roles taken away must be within the caller's own grants:
      // an admin can neither make someone an owner nor demote an owner.
      await this.grants.requireRolesWithin(access, added, tx, locked.limits);
      if (removed.length > 0) await this.grants.requireRolesWithin(access, removed, tx, locked.limits);
      if (removed.includes("owner")) await this.#requireAnotherOwner(tx, access, id);
      const now = this.c.m.clock.now();
      await this.c.tables
        .q(tx)
        .updateTable("membership")
        .set({ roles: toJson(roles), updated_at: now })
        .where("id", "=", id)
        .execute();
      if (removed.length > 0) {
        await this.c.tables
          .q(tx)
          .deleteFrom("membership_role")
          .where("membership_id", "=", id)
          .where("role_key", "in", removed)
          .execute();
      }
      await this.#indexRoles(tx, id, access.environmentId, tenantId, added);
      await this.c.changed(tx, before.userId);
      await this.c.m.facts.record(tx, ctx, {
        type: "membership.updated",
        tenantId,
        targets: [
          { type: "membership", id },
          { type: "user", id: before.userId },
        ],
        changes: { before: { roles: before.roles }, after: { roles } },
      });
      return { ...before, roles, updatedAt: iso(now) };
    });
  }

  /**
   * removeMember ends a membership: the user loses the tenant's permissions at once, in every
   * process, and the agent keys they delegated in it are revoked in the same transaction (the
   * membership row is locked, so an agent key being issued for the user either committed before
   * and is revoked here, or waits and finds no membership). A user may always leave; the last
   * owner cannot.
   */
  async removeMember(ctx: ActionContext, tenantId: string, id: string): Promise<Membership> {
    const self = ctx.principal?.actorType === "user";
    const probe = await this.c.m.access.require(ctx, self ? "tenants:read" : "members:remove", { tenantId });
    return this.c.m.db.write(ctx, async (tx) => {
      const permission = self ? "tenants:read" : "members:remove";
      const locked = await this.grants.lockForWrite(tx, probe, permission, { membershipIds: [id] });
      const m = toMembership(this.#locked(locked.memberships, id));
      const leaving = self && m.userId === ctx.principal?.actorId;
      // A user removing someone else needs `members:remove` too (the probe only checked `tenants:read`).
      let access = probe;
      let limits = locked.limits;
      if (!leaving && self) {
        access = await this.c.m.access.require(ctx, "members:remove", { tenantId });
        limits = (await this.grants.lockForWrite(tx, access, "members:remove")).limits;
      }
      if (!leaving) await this.grants.requireRolesWithin(access, m.roles, tx, limits);
      if (m.roles.includes("owner")) await this.#requireAnotherOwner(tx, access, id);
      await this.c.tables.q(tx).deleteFrom("membership_role").where("membership_id", "=", id).execute();
      await this.c.tables.q(tx).deleteFrom("membership").where("id", "=", id).execute();
      const now = this.c.m.clock.now();
      const agents = await this.c.tables
        .q(tx)
        .updateTable("agent_key")
        .set({ revoked_at: now })
        .where("environment_id", "=", access.environmentId)
        .where("tenant_id", "=", tenantId)
        .where("user_id", "=", m.userId)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      const agentKeysRevoked = agents.map((a) => a.id);
      voidInvitationsIssuedBy(this.c, tx, ctx, access.environmentId, agentKeysRevoked, now);
      await this.c.changed(tx, m.userId);
      await this.c.m.facts.record(tx, ctx, {
        type: "membership.deleted",
        tenantId,
        targets: [
          { type: "membership", id },
          { type: "user", id: m.userId },
        ],
        data: { userId: m.userId, roles: m.roles, left: leaving, agentKeysRevoked },
      });
      return m;
    });
  }

  /**
   * #requireAnotherOwner throws 409 `last_owner` unless another membership of the tenant holds
   * `owner`. On PostgreSQL the owners' rows are locked (in id order), so two concurrent demotions
   * or removals cannot both pass; SQLite has one writer.
   */
  /**
   * summaryOf lists up to `limit` of a user's memberships (tenant id and role keys, by tenant id)
   * inside `tx`: what an access token carries (identity reads it through `useMemberships`).
   */
  async summaryOf(tx: Tx, environmentId: string, userId: string, limit: number): Promise<MembershipSummary[]> {
    const rows = await this.c.tables
      .q(tx)
      .selectFrom("membership")
      .select(["tenant_id", "roles"])
      .where("environment_id", "=", environmentId)
      .where("user_id", "=", userId)
      .orderBy("tenant_id")
      .limit(limit)
      .execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, roles: fromJson<string[]>(r.roles) }));
  }

  async #requireAnotherOwner(tx: Tx, access: TenantAccess, membershipId: string): Promise<void> {
    const owners = await this.c.tables
      .q(tx)
      .selectFrom("membership_role")
      .select("membership_id")
      .where("environment_id", "=", access.environmentId)
      .where("tenant_id", "=", access.tenantId as string)
      .where("role_key", "=", "owner")
      .orderBy("membership_id")
      .$call((qb) => this.c.m.db.forUpdate(qb))
      .execute();
    if (!owners.some((o) => o.membership_id !== membershipId)) {
      throw new AppError(AccessErrors.last_owner, "This is the tenant's last owner: make another member owner first.");
    }
  }

  async #indexRoles(tx: Tx, membershipId: string, environmentId: string, tenantId: string, roles: string[]) {
    if (roles.length === 0) return;
    await this.c.tables
      .q(tx)
      .insertInto("membership_role")
      .values(
        roles.map((role_key) => ({
          membership_id: membershipId,
          environment_id: environmentId,
          tenant_id: tenantId,
          role_key,
        })),
      )
      .execute();
  }

  /** #locked is the membership `id` among the rows `lockForWrite` locked, or 404 `membership_not_found`. */
  #locked<R extends { id: string }>(rows: readonly R[], id: string): R {
    const row = rows.find((r) => r.id === id);
    if (!row) throw new AppError(AccessErrors.membership_not_found, `No membership ${id} in this tenant.`);
    return row;
  }

  async #row(environmentId: string, tenantId: string, id: string, tx?: Tx) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("membership")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(AccessErrors.membership_not_found, `No membership ${id} in this tenant.`);
    return row;
  }
}
