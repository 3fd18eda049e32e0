import type { z } from "zod";
import { allowedWhileSuspended } from "../../../platform/access.js";
import { fromJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { permits } from "../../../platform/permissions.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import type { Core } from "../internal/core.js";
import { isActive } from "../internal/rows.js";
import type { CheckInput, Explanation } from "../schemas.js";
import type { GrantsService } from "./grants.js";
import type { RolesService } from "./roles.js";

type Check = z.infer<typeof CheckInput>;
type Matched = Explanation["matched"];

/**
 * ChecksService is the public permission API for products: "may this user / tenant key / agent
 * key do `permission` in this tenant?", single, batched, or explained (which membership, role and
 * grant matched, or why not). It applies exactly the rules the plane applies to its own requests:
 * memberships and roles, key permissions, agent scope ∩ the user's current permissions, the
 * surface's ceiling, and the tenant's suspension.
 */
export class ChecksService {
  constructor(
    private readonly c: Core,
    private readonly roles: RolesService,
    private readonly grants: GrantsService,
  ) {}

  async check(ctx: ActionContext, input: Check) {
    const { environmentId } = this.c.m.access.environment(ctx, "access:check");
    const e = await this.#explain(environmentId, input);
    return { allowed: e.allowed, permission: e.permission, tenantId: e.tenantId };
  }

  async checkBatch(ctx: ActionContext, checks: Check[]) {
    const { environmentId } = this.c.m.access.environment(ctx, "access:check");
    const results = [];
    for (const input of checks) {
      const e = await this.#explain(environmentId, input);
      results.push({ allowed: e.allowed, permission: e.permission, tenantId: e.tenantId });
    }
    return { results };
  }

  async explain(ctx: ActionContext, input: Check): Promise<Explanation> {
    const { environmentId } = this.c.m.access.environment(ctx, "access:check");
    return this.#explain(environmentId, input);
  }

  /** explainIn explains a decision in an environment without a caller (operator tooling: the CLI). */
  explainIn(environmentId: string, input: Check): Promise<Explanation> {
    return this.#explain(environmentId, input);
  }

  async #explain(environmentId: string, input: Check): Promise<Explanation> {
    const { tenantId, permission } = input;
    const deny = (reason: Explanation["reason"], detail: string, matched: Matched = []): Explanation => ({
      allowed: false,
      permission,
      tenantId,
      reason,
      matched,
      detail,
    });
    const state = await this.c.tenancy.tenants.tenantState(environmentId, tenantId);
    if (!state) throw new AppError(TenancyErrors.tenant_not_found, "No such tenant in this environment.");
    const now = this.c.m.clock.now();
    let matched: Matched = [];
    let ceiling: readonly string[] | null = null;
    const subject = input.subject;
    if (subject.type === "user") {
      const user = await this.c.identity.users.lookupUser(environmentId, { id: subject.id });
      if (!user) return deny("subject_not_found", `No user ${subject.id} in this environment.`);
      if (user.disabled) return deny("user_disabled", "The user is disabled.");
      const found = await this.#membershipGrants(environmentId, tenantId, subject.id, permission);
      if (!found) return deny("not_a_member", "The user is not a member of the tenant.");
      if (found.length === 0) return deny("no_matching_grant", "None of the user's roles grants the permission.");
      matched = found;
    } else if (subject.type === "tenant_key") {
      const row = await this.c.tables
        .q()
        .selectFrom("tenant_key")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("id", "=", subject.id)
        .executeTakeFirst();
      if (!row) return deny("subject_not_found", `No tenant key ${subject.id} in this environment.`);
      if (row.tenant_id !== tenantId) return deny("outside_scope", "The key belongs to another tenant.");
      if (!isActive(row, now)) return deny("credential_inactive", "The key is revoked or expired.");
      const grants = fromJson<string[]>(row.permissions).filter((g) => permits([g], permission));
      if (grants.length === 0) return deny("no_matching_grant", "The key's permissions do not include it.");
      matched = grants.map((grant) => ({ via: "tenant_key", id: row.id, role: null, grant }));
      ceiling = (await this.c.tenancy.surfaces.findActiveSurface(row.surface_id))?.scopeCeiling ?? [];
    } else {
      const row = await this.c.tables
        .q()
        .selectFrom("agent_key")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("id", "=", subject.id)
        .executeTakeFirst();
      if (!row) return deny("subject_not_found", `No agent key ${subject.id} in this environment.`);
      if (row.tenant_id !== tenantId) return deny("outside_scope", "The key belongs to another tenant.");
      if (!isActive(row, now)) return deny("credential_inactive", "The key is revoked or expired.");
      const user = await this.c.identity.users.lookupUser(environmentId, { id: row.user_id });
      if (!user || user.disabled) return deny("user_disabled", "The delegating user is disabled.");
      const scope = fromJson<string[]>(row.scopes).filter((g) => permits([g], permission));
      if (scope.length === 0) return deny("outside_scope", "The agent's scope does not include it.");
      const found = await this.#membershipGrants(environmentId, tenantId, row.user_id, permission);
      if (!found) return deny("not_a_member", "The delegating user is no longer a member of the tenant.");
      if (found.length === 0) {
        return deny("outside_user_permissions", "The delegating user does not hold it (anymore).");
      }
      matched = [...scope.map((grant) => ({ via: "agent_scope", id: row.id, role: null, grant })), ...found];
      ceiling = (await this.c.tenancy.surfaces.findActiveSurface(row.surface_id))?.scopeCeiling ?? [];
    }
    if (ceiling !== null && !permits(ceiling, permission)) {
      return deny("outside_surface_ceiling", "The surface the key was issued to does not allow it.", matched);
    }
    if (state.suspendedFor && !allowedWhileSuspended(permission)) {
      return deny("tenant_suspended", "The tenant is suspended: only reading and export are allowed.", matched);
    }
    return { allowed: true, permission, tenantId, reason: "granted", matched, detail: "Allowed." };
  }

  /** #membershipGrants lists the role grants allowing `permission`, or null when not a member. */
  async #membershipGrants(environmentId: string, tenantId: string, userId: string, permission: string) {
    const m = await this.grants.membershipOf(environmentId, tenantId, userId);
    if (!m) return null;
    const out: Matched = [];
    for (const { role, grants } of await this.roles.grantsOf(environmentId, fromJson<string[]>(m.roles))) {
      for (const grant of grants)
        if (permits([grant], permission)) out.push({ via: "membership", id: m.id, role, grant });
    }
    return out;
  }
}
