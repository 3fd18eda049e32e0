import { AppError, defineErrors, type ErrorCode, PlatformErrors } from "./errors.js";
import { type PermissionSet, permits, principalPermits } from "./permissions.js";
import type { ActionContext, Principal } from "./principal.js";

/**
 * The access seam (DESIGN.md §1, CONVENTIONS.md §10: one check per request, in one place).
 *
 * Every service guards through the one `Authorizer` its ModuleContext carries (`m.access`), with
 * the method that names what it acts on:
 * - `operator(ctx, permission)`: the plane itself (projects, environments, operators): operators only;
 * - `environment(ctx, permission)`: environment-wide configuration (users, roles, tenants as a list):
 *   any caller bound to an environment, on its own grants;
 * - `require(ctx, permission, { tenantId })`: environment or tenant data, confined to the caller's
 *   tenant and checked against the tenant's state and the user's memberships.
 * Each answers the scope to query in. The `decide…` methods return the refusal as data; the
 * problem the client sees for each `Refusal` is built in one place (`refusal`, below).
 *
 * Refusals of agents and tenant keys are reviewable: every error a guard throws is marked with
 * what was refused (`refusalOf`), and the HTTP layer hands it, once the request has failed, to
 * `recordDenial`, which passes it to the `denied` hook (the audit module writes an
 * `access.denied` entry in the caller's tenant, rate-limited per key, action and reason).
 *
 * The platform owns the rule; modules that know tenants and memberships plug their lookups in
 * (tenancy: tenant state; access: a user's permissions in a tenant). Without those modules (unit
 * tests of a single module), tenant-bound principals are still confined to their tenant and
 * environment principals use their own grants.
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
  /**
   * denied records a refused request of an agent or tenant key (after the request failed, outside
   * any transaction of it). It must not throw for a refusal it chooses not to record.
   */
  denied(ctx: ActionContext, denial: Denial): Promise<void>;
  /**
   * stepUp answers whether an end user's session must show a second factor again before a
   * sensitive action (null: it need not, or its last one is recent enough). It reads the session's
   * current state, not the cached principal, so a step-up counts at once.
   */
  stepUp(principal: Principal): Promise<StepUpDemand | null>;
  /**
   * environmentActive tells whether an environment exists and neither it nor its project is
   * archived: the one an operator names to act in (`bindEnvironment`).
   */
  environmentActive(environmentId: string): Promise<boolean>;
  /**
   * supportGrant returns the operator's live support access to a tenant (approved, not expired,
   * not ended), or null. Operators act inside a tenant (any permission checked on a named tenant
   * but `tenants:read`) only under one; writes under it are checked again inside their transaction
   * by the module that keeps grants (a fact sink), so an ended grant never lets a write commit.
   */
  supportGrant(environmentId: string, operatorId: string, tenantId: string): Promise<SupportGrant | null>;
}

/** SupportGrant is an operator's time-boxed access to one tenant, granted under the tenant's policy. */
export interface SupportGrant {
  id: string;
  /** read: reading only; write: the operator's own role's permissions. */
  access: "read" | "write";
  reason: string;
  expiresAt: number;
}

/**
 * OPERATOR_TENANT_PERMISSIONS are what operators do on a named tenant without support access:
 * reading the tenant's record (its name, status and lifecycle). Everything else inside a tenant —
 * members, keys, audit, webhooks, usage, files, billing — needs a support grant.
 */
export const OPERATOR_TENANT_PERMISSIONS: ReadonlySet<string> = new Set(["tenants:read"]);

/** StepUpDemand is why a user session must show a second factor before a sensitive action. */
export interface StepUpDemand {
  /** maxAgeSeconds: how recent the second factor must be (the surface's `mfa.stepUpMaxAgeSeconds`). */
  maxAgeSeconds: number;
  /** enrolled: whether the user has a second factor to show (else they must enrol one first). */
  enrolled: boolean;
}

export const StepUpErrors = defineErrors({
  step_up_required: { status: 403, title: "A recent second factor is required" },
});

/** DeniedReason is why a request was refused, as the audit log records it. */
export type DeniedReason =
  /** the credential's own permissions (an agent: its scopes met with its user's roles) lack it */
  | "missing_permission"
  /** the credential holds it, but its surface's scope ceiling excludes it */
  | "outside_ceiling"
  /** the request named another tenant, or an object outside the caller's tenant */
  | "other_tenant"
  /** the caller's tenant is suspended and the action is not a read, an export or billing */
  | "tenant_suspended"
  /** the route or guard does not accept this kind of credential (e.g. secret keys only) */
  | "credential_not_accepted";

/** Refused is what a guard marks on the error it throws (see `refusalOf`). */
export interface Refused {
  permission: string | null;
  reason: DeniedReason;
  /** requestedTenantId is the tenant the caller named (never the owner of an object it probed). */
  requestedTenantId: string | null;
}

/** Denial is one refused request, as the `denied` hook receives it. */
export interface Denial extends Refused {
  /** action is what was refused: the permission when a guard refused, else the route (`POST /v1/tenants`). */
  action: string;
  /** route is the route template asked for (`POST /v1/events`). */
  route: string;
  /** status is the HTTP status the caller was answered. */
  status: number;
}

/**
 * ENVIRONMENT_WIDE are the actor types that act across an environment rather than within one
 * tenant: its secret keys, and operators acting in it (`bindEnvironment`). They manage suspended
 * tenants (reactivation, deactivation) and name the tenant of environment-wide objects.
 */
export const ENVIRONMENT_WIDE: ReadonlySet<string> = new Set(["service", "operator"]);

/**
 * ENVIRONMENT_HEADER is the request header in which an operator names the environment it acts in
 * (`Baseplate-Environment: env_…`). Environment credentials are bound to theirs and may only
 * repeat it.
 */
export const ENVIRONMENT_HEADER = "baseplate-environment";

/** DENIALS_RECORDED_FOR are the actor types whose refusals are recorded. */
export const DENIALS_RECORDED_FOR: ReadonlySet<string> = new Set(["agent", "tenant_key"]);

const refusals = new WeakMap<object, Refused>();

const ENVIRONMENT_ID = /^env_[0-9A-Za-z]{1,64}$/;

/** markRefused marks `err` as a refusal (for `recordDenial`) and returns it. */
export function markRefused<E extends Error>(err: E, refused: Refused): E {
  refusals.set(err, refused);
  return err;
}

/** refusalOf returns what a guard refused when it threw `err`, or undefined for any other error. */
export function refusalOf(err: unknown): Refused | undefined {
  return typeof err === "object" && err !== null ? refusals.get(err) : undefined;
}

/** EnvironmentAccess is the scope of an environment-wide caller: queries filter by `environmentId`. */
export interface EnvironmentAccess {
  principal: Principal;
  environmentId: string;
}

/** TenantAccess is the scope a caller was granted: queries filter by both fields. */
export interface TenantAccess {
  principal: Principal;
  environmentId: string;
  /** tenantId is the tenant the caller acts in, or null for environment-wide callers (secret keys). */
  tenantId: string | null;
  /**
   * environmentOnly is set for an operator acting environment-wide: tenants' own rows (their
   * events, audit entries, endpoints, files, billing) are outside what it reads without support
   * access, so a list keeps only the environment's own rows (`tenant_id is null`) and tenants'
   * lifecycle (`tenant.*` events and audit entries, the plane's to run).
   */
  environmentOnly?: boolean;
}

/**
 * allowedWhileSuspended is the always-allowed set of a suspended tenant: reading and exporting its
 * own data and audit log, and billing recovery. Everything else answers `tenant_suspended`.
 */
export function allowedWhileSuspended(permission: string): boolean {
  const [resource, action] = permission.split(":") as [string, string | undefined];
  return action === "read" || action === "export" || resource === "billing";
}

export const SupportAccessErrors = defineErrors({
  support_access_required: {
    status: 403,
    title: "Support access to this tenant is needed",
  },
});

export const SuspensionErrors = defineErrors({
  tenant_suspended: { status: 403, title: "The tenant is suspended" },
});

/** TENANT_SUSPENDED_BILLING is `tenant_suspended` answered with 402 when the reason is billing. */
export const TENANT_SUSPENDED_BILLING: ErrorCode = Object.freeze({
  code: "tenant_suspended",
  status: 402,
  title: "The tenant is suspended for billing",
});

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
   * operator returns the calling plane operator after checking `permission`. Throws 403
   * `forbidden` for any other caller, or without the permission.
   */
  operator(ctx: ActionContext, permission: string): Principal {
    const decision = this.decideOperator(ctx.principal, permission);
    if (typeof decision === "string") throw refused(ctx.principal, decision, permission, null);
    return decision;
  }

  /**
   * environment returns the environment the caller is bound to, after checking `permission` on the
   * caller's own grants. Every query of environment data is scoped by it, so another
   * environment's object is simply absent (404). Throws 403 `forbidden` without an environment
   * credential, or without the permission. NOTE: it does not confine tenant-bound callers to
   * their tenant; routes guarded by it admit secret keys only (`AUTH.environment`).
   */
  environment(ctx: ActionContext, permission: string): EnvironmentAccess {
    const decision = this.decideEnvironment(ctx.principal, permission);
    if (typeof decision === "string") throw refused(ctx.principal, decision, permission, null);
    return decision;
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
    target: { tenantId?: string | null; field?: string } = {},
  ): Promise<TenantAccess> {
    const requested = target.tenantId ?? null;
    const decision = await this.decide(ctx.principal, permission, requested);
    if (typeof decision === "string") throw refused(ctx.principal, decision, permission, requested, target.field);
    actUnder(ctx, decision);
    return decision;
  }

  /**
   * requireOn is `require` for one object owned by `owner` (a tenant id; null: environment-wide):
   * it returns the scope of the object's tenant. Callers confined to a tenant (tenant and agent
   * keys, users) get `notFound()` for environment-wide objects and for other tenants' objects, so
   * existence never leaks; every other refusal is `require`'s.
   */
  async requireOn(
    ctx: ActionContext,
    permission: string,
    owner: string | null,
    notFound: () => AppError,
  ): Promise<TenantAccess> {
    const p = ctx.principal;
    const decision =
      p?.environmentId && owner === null && (p.tenantId || p.actorType === "user")
        ? "no_tenant"
        : await this.decide(p, permission, owner);
    // NOTE: the owner is not recorded: the caller may read its own audit log, and must not learn it.
    if (decision === "no_tenant") {
      throw markRefused(notFound(), { permission, reason: "other_tenant", requestedTenantId: null });
    }
    if (typeof decision === "string") throw refused(p, decision, permission, null);
    actUnder(ctx, decision);
    return decision;
  }

  /**
   * recordDenial hands a refusal of an agent or tenant key to the `denied` hook: `err` is what the
   * request failed with, `route` the route template (`POST /v1/events`). Errors that are not
   * refusals, and other callers' refusals, are ignored. It never throws; the hook's failure is
   * returned for the caller to log.
   */
  async recordDenial(ctx: ActionContext, err: unknown, route: string): Promise<unknown> {
    const refused = refusalOf(err);
    const hook = this.#hooks.denied;
    if (!refused || !hook || !ctx.principal || !DENIALS_RECORDED_FOR.has(ctx.principal.actorType)) return null;
    const status = err instanceof AppError ? err.status : 403;
    try {
      await hook(ctx, { ...refused, action: refused.permission ?? route, route, status });
      return null;
    } catch (failure) {
      return failure;
    }
  }

  /**
   * stepUp guards a sensitive action (key creation, role changes, removing a second factor): an
   * end user's session must have shown a second factor recently when the user has one enrolled or
   * the surface's MFA policy covers them. Throws 403 `step_up_required` naming what to do. Other
   * callers (keys are not people) pass; so does everyone when no module plugged the check in.
   */
  async stepUp(ctx: ActionContext): Promise<void> {
    const p = ctx.principal;
    if (p?.actorType !== "user" || !this.#hooks.stepUp) return;
    const demand = await this.#hooks.stepUp(p);
    if (!demand) return;
    const minutes = Math.round(demand.maxAgeSeconds / 60);
    throw new AppError(
      StepUpErrors.step_up_required,
      demand.enrolled
        ? `This action needs a second factor shown in the last ${minutes} minute(s): call POST /v1/auth/mfa/step-up with a code, then retry.`
        : "This surface requires a second factor for this action: enrol one (POST /v1/auth/mfa/totp), step up (POST /v1/auth/mfa/step-up), then retry.",
    );
  }

  /**
   * bindEnvironment applies the `Baseplate-Environment` header to a resolved principal. An operator
   * naming an active environment acts in it, with its own role's permissions (admin: everything;
   * support: reading), as an environment-wide caller whose actions are audited as the operator; a
   * credential bound to an environment may repeat its own. Throws 400 `validation_failed` for a
   * malformed or repeated header, an unknown or archived environment, or another environment than
   * the credential's. Without the header the principal is returned as it is.
   */
  async bindEnvironment(principal: Principal | null, header: string | string[] | undefined): Promise<Principal | null> {
    if (header === undefined || principal === null) return principal;
    const invalid = (message: string) =>
      new AppError(PlatformErrors.validation_failed, `Baseplate-Environment: ${message}`, {
        errors: [{ path: "headers.baseplate-environment", message, code: "invalid_value" }],
      });
    if (typeof header !== "string" || !ENVIRONMENT_ID.test(header)) {
      throw invalid("must be one environment id (env_…)");
    }
    if (principal.actorType !== "operator") {
      if (principal.environmentId === header) return principal;
      throw invalid("names another environment than the credential's; environment credentials act in their own");
    }
    const active = this.#hooks.environmentActive ? await this.#hooks.environmentActive(header) : false;
    if (!active) throw invalid("no active environment of this plane has this id");
    return { ...principal, environmentId: header };
  }

  /** check is `require` as a boolean; it never throws for a refusal (and builds no error). */
  async check(ctx: ActionContext, permission: string, target: { tenantId?: string | null } = {}): Promise<boolean> {
    return typeof (await this.decide(ctx.principal, permission, target.tenantId ?? null)) !== "string";
  }

  /** decideOperator is `operator`'s decision: the operator, or the reason for refusing. It never throws. */
  decideOperator(principal: Principal | null, permission: string): Principal | Refusal {
    if (principal?.actorType !== "operator") return "not_operator";
    return principalPermits(principal, permission) ? principal : "missing_permission";
  }

  /** decideEnvironment is `environment`'s decision: the scope, or the reason for refusing. It never throws. */
  decideEnvironment(principal: Principal | null, permission: string): EnvironmentAccess | Refusal {
    if (!principal?.environmentId) return "no_environment_credential";
    if (!principalPermits(principal, permission)) return "missing_permission";
    return { principal, environmentId: principal.environmentId };
  }

  /**
   * decide is `require`'s decision procedure: the granted scope, or the reason for refusing. It never
   * throws (a lookup hook's failure aside) and allocates nothing on the cached, allowed path.
   */
  async decide(
    principal: Principal | null,
    permission: string,
    requested: string | null,
  ): Promise<TenantAccess | Refusal> {
    if (!principal?.environmentId) return "no_environment";
    const environmentId = principal.environmentId;
    let tenantId: string | null;
    let granted: boolean;
    if (principal.tenantId) {
      if (requested !== null && requested !== principal.tenantId) return "no_tenant";
      tenantId = principal.tenantId;
      granted = principalPermits(principal, permission);
    } else if (principal.actorType === "user") {
      if (requested === null) return "no_tenant_named";
      tenantId = requested;
      const held = this.#hooks.memberPermissions
        ? await this.#hooks.memberPermissions(environmentId, principal.actorId, tenantId)
        : null;
      if (held === null) return "no_tenant";
      granted = held.has(permission) && (principal.ceiling === undefined || permits(principal.ceiling, permission));
    } else {
      tenantId = requested;
      granted = principalPermits(principal, permission);
    }
    let acting = principal;
    if (tenantId !== null && this.#hooks.tenantState) {
      const state = await this.#hooks.tenantState(environmentId, tenantId);
      if (!state) return "no_tenant";
      if (!granted) return "missing_permission";
      if (principal.actorType === "operator" && !OPERATOR_TENANT_PERMISSIONS.has(permission)) {
        const grant = this.#hooks.supportGrant
          ? await this.#hooks.supportGrant(environmentId, principal.actorId, tenantId)
          : null;
        if (!grant) return "support_access_required";
        if (grant.access === "read" && !permits(READ_ONLY, permission)) return "support_access_read_only";
        acting = { ...principal, onBehalfOf: { actorType: "support_access", actorId: grant.id, reason: grant.reason } };
      }
      if (state.suspendedFor && !ENVIRONMENT_WIDE.has(principal.actorType) && !allowedWhileSuspended(permission)) {
        return state.suspendedFor === "billing" ? "suspended_billing" : "suspended";
      }
    } else if (!granted) {
      return "missing_permission";
    }
    if (tenantId === null && principal.actorType === "operator") {
      return { principal: acting, environmentId, tenantId, environmentOnly: true };
    }
    return { principal: acting, environmentId, tenantId };
  }
}

/** READ_ONLY: what a read-only support grant permits. */
const READ_ONLY = ["*:read"] as const;

/**
 * actUnder makes the request act as the decision's principal when the check bound it to a support
 * grant: the facts its writes record then name the operator and the grant (`onBehalfOf`).
 */
function actUnder(ctx: ActionContext, decision: TenantAccess): void {
  if (decision.principal !== ctx.principal) ctx.principal = decision.principal;
}

/** Refusal is why a `decide…` method refused; the guards turn it into the problem the client sees. */
export type Refusal =
  | "not_operator"
  | "no_environment_credential"
  | "no_environment"
  | "no_tenant_named"
  | "no_tenant"
  | "missing_permission"
  | "suspended"
  | "suspended_billing"
  | "support_access_required"
  | "support_access_read_only";

/** refused builds the problem for a refusal and marks it with what was refused (`refusalOf`). */
function refused(
  principal: Principal | null,
  reason: Refusal,
  permission: string,
  requested: string | null,
  field?: string,
): AppError {
  return markRefused(refusal(reason, permission, field), {
    permission,
    reason: deniedReason(principal, reason, permission),
    requestedTenantId: reason === "no_tenant" ? requested : null,
  });
}

/** deniedReason names a refusal for the audit log (`missing_permission` split from `outside_ceiling`). */
function deniedReason(principal: Principal | null, reason: Refusal, permission: string): DeniedReason {
  switch (reason) {
    case "no_tenant":
      return "other_tenant";
    case "suspended":
    case "suspended_billing":
      return "tenant_suspended";
    case "missing_permission":
      return principal && permits(principal.permissions, permission) && principal.ceiling !== undefined
        ? "outside_ceiling"
        : "missing_permission";
    default:
      return "credential_not_accepted";
  }
}

/**
 * refusal turns a refusal into the problem the client sees. `field` names where the request
 * carries the tenant (`body.tenantId`, `query.tenantId`): a user session that names none is a
 * request missing a field, answered 400 naming it.
 */
function refusal(reason: Refusal, permission: string, field = "tenantId"): AppError {
  switch (reason) {
    case "not_operator":
      return new AppError(PlatformErrors.forbidden, "Only plane operators may do this.");
    case "no_environment_credential":
      return new AppError(
        PlatformErrors.forbidden,
        "This route needs an environment credential (a secret key, or an operator naming the environment with the `Baseplate-Environment` header).",
      );
    case "no_environment":
      return new AppError(
        PlatformErrors.forbidden,
        "This route needs an environment credential (operators name the environment they act in with the `Baseplate-Environment` header).",
      );
    case "no_tenant_named": {
      const message = "is required for a user session: a user acts within a tenant";
      return new AppError(PlatformErrors.validation_failed, `${field}: ${message}`, {
        errors: [{ path: field, message, code: "invalid_type" }],
      });
    }
    case "no_tenant":
      return noTenant();
    case "missing_permission":
      return missing(permission);
    case "suspended":
      return new AppError(
        SuspensionErrors.tenant_suspended,
        "The tenant is suspended: only reading and export are allowed.",
      );
    case "support_access_required":
      return new AppError(
        SupportAccessErrors.support_access_required,
        "Operators act inside a tenant under support access: request it with POST /v1/support-access (a reason and a duration); the tenant's owners see it, and approve it when their policy says so.",
      );
    case "support_access_read_only":
      return new AppError(
        SupportAccessErrors.support_access_required,
        `Your support access to this tenant is read-only; "${permission}" needs support access with \`access: "write"\`.`,
      );
    case "suspended_billing":
      return new AppError(
        TENANT_SUSPENDED_BILLING,
        "The tenant is suspended for billing: only reading, export and billing recovery are allowed.",
      );
  }
}

function noTenant(): AppError {
  return new AppError(PlatformErrors.not_found, "No such tenant in this environment.");
}

function missing(permission: string): AppError {
  return new AppError(PlatformErrors.forbidden, `This credential lacks the permission "${permission}".`);
}
