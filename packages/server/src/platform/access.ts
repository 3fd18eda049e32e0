import { AppError, defineErrors, type ErrorCode, PlatformErrors } from "./errors.js";
import { type PermissionSet, permits, principalPermits } from "./permissions.js";
import type { ActionContext, Principal } from "./principal.js";

/**
 * The access seam (DESIGN.md §1, CONVENTIONS.md §10: one check per request, in one place).
 *
 * Every module that acts on environment or tenant data asks `Authorizer.require(ctx, permission,
 * { tenantId })` and scopes its queries by the answer. The platform owns the rule; modules that
 * know tenants and memberships plug their lookups in (tenancy: tenant state; access: a user's
 * permissions in a tenant). Without those modules (unit tests of a single module), tenant-bound
 * principals are still confined to their tenant and environment principals use their own grants.
 */

/** TenantState is what the access check needs to know of a tenant. */
export interface TenantState {
  status: string;
  /** suspendedFor is set while the tenant is suspended: `billing` answers 402, anything else 403. */
  suspendedFor?: "billing" | "other";
}

export interface AccessHooks {
  /** tenantState returns the tenant of this environment, or null when there is none (→ 404). */
  tenantState(environmentId: string, tenantId: string): Promise<TenantState | null>;
  /**
   * memberPermissions returns what a user (or the user behind an agent key) holds in a tenant
   * through memberships, or null when the user is not a member (→ 404: existence never leaks).
   */
  memberPermissions(environmentId: string, userId: string, tenantId: string): Promise<PermissionSet | null>;
}

/** TenantAccess is the scope a caller was granted: queries filter by both fields. */
export interface TenantAccess {
  principal: Principal;
  environmentId: string;
  /** tenantId is the tenant the caller acts in, or null for environment-wide callers (secret keys). */
  tenantId: string | null;
}

/**
 * allowedWhileSuspended is the always-allowed set of a suspended tenant: reading and exporting its
 * own data and audit log, and billing recovery. Everything else answers `tenant_suspended`.
 */
export function allowedWhileSuspended(permission: string): boolean {
  const [resource, action] = permission.split(":") as [string, string | undefined];
  return action === "read" || action === "export" || resource === "billing";
}

export const SuspensionErrors = defineErrors({
  tenant_suspended: { status: 403, title: "The tenant is suspended" },
});

/** TENANT_SUSPENDED_BILLING is `tenant_suspended` answered with 402 when the reason is billing. */
export const TENANT_SUSPENDED_BILLING: ErrorCode = Object.freeze({
  code: "tenant_suspended",
  status: 402,
  title: "The tenant is suspended for billing",
});

/** TENANT_BOUND lists the actor types confined to one tenant by their credential. */
export const TENANT_BOUND: ReadonlySet<string> = new Set(["tenant_key", "agent"]);

/**
 * Authorizer answers "may this caller do `permission` here?" for every module. It never grants
 * more than the principal's own permissions and ceiling allow.
 */
export class Authorizer {
  #hooks: Partial<AccessHooks> = {};

  /** use plugs lookups in (tenancy: `tenantState`; access: `memberPermissions`). */
  use(hooks: Partial<AccessHooks>): void {
    this.#hooks = { ...this.#hooks, ...hooks };
  }

  /**
   * require checks that the caller may do `permission` in `target.tenantId` (or environment-wide
   * when omitted) and returns the scope to query in. Throws:
   * - 403 `forbidden` without an environment credential, or without the permission;
   * - 404 `not_found` when the tenant is not in the caller's environment, when a tenant-bound
   *   caller names another tenant, or when a user is not a member of it (existence never leaks);
   * - 403/402 `tenant_suspended` when the tenant is suspended and the permission is outside the
   *   always-allowed set (environment secret keys still manage suspended tenants).
   */
  async require(
    ctx: ActionContext,
    permission: string,
    target: { tenantId?: string | null } = {},
  ): Promise<TenantAccess> {
    const principal = ctx.principal;
    if (!principal?.environmentId) {
      throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    }
    const environmentId = principal.environmentId;
    const requested = target.tenantId ?? null;
    let tenantId: string | null;
    let granted: boolean;
    if (principal.tenantId) {
      if (requested !== null && requested !== principal.tenantId) throw noTenant();
      tenantId = principal.tenantId;
      granted = principalPermits(principal, permission);
    } else if (principal.actorType === "user") {
      if (requested === null) {
        throw new AppError(PlatformErrors.forbidden, "A user acts within a tenant: name the tenant (tenantId).");
      }
      tenantId = requested;
      const held = this.#hooks.memberPermissions
        ? await this.#hooks.memberPermissions(environmentId, principal.actorId, tenantId)
        : null;
      if (held === null) throw noTenant();
      granted = held.has(permission) && (principal.ceiling === undefined || permits(principal.ceiling, permission));
    } else {
      tenantId = requested;
      granted = principalPermits(principal, permission);
    }
    if (tenantId !== null && this.#hooks.tenantState) {
      const state = await this.#hooks.tenantState(environmentId, tenantId);
      if (!state) throw noTenant();
      if (!granted) throw missing(permission);
      if (state.suspendedFor && principal.actorType !== "service" && !allowedWhileSuspended(permission)) {
        throw new AppError(
          state.suspendedFor === "billing" ? TENANT_SUSPENDED_BILLING : SuspensionErrors.tenant_suspended,
          state.suspendedFor === "billing"
            ? "The tenant is suspended for billing: only reading, export and billing recovery are allowed."
            : "The tenant is suspended: only reading and export are allowed.",
        );
      }
    } else if (!granted) {
      throw missing(permission);
    }
    return { principal, environmentId, tenantId };
  }

  /** check is `require` as a boolean (for batch checks); it never throws for a refusal. */
  async check(ctx: ActionContext, permission: string, target: { tenantId?: string | null } = {}): Promise<boolean> {
    try {
      await this.require(ctx, permission, target);
      return true;
    } catch (err) {
      if (err instanceof AppError && err.status < 500) return false;
      throw err;
    }
  }
}

function noTenant(): AppError {
  return new AppError(PlatformErrors.not_found, "No such tenant in this environment.");
}

function missing(permission: string): AppError {
  return new AppError(PlatformErrors.forbidden, `This credential lacks the permission "${permission}".`);
}
