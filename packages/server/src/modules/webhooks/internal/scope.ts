import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { ActionContext } from "../../../platform/principal.js";

/** environmentOf returns the caller's environment (403 without an environment credential). */
export function environmentOf(ctx: ActionContext): string {
  const environmentId = ctx.principal?.environmentId;
  if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
  return environmentId;
}

/**
 * requireTenantNamed checks that a user session names the tenant it acts in: a user always acts
 * within a tenant, so a session without `tenantId` is a request missing a field, answered 400
 * `validation_failed` naming it at `path` (`body.tenantId`, `query.tenantId`), before any
 * permission is looked at. Other callers may leave it out (keys are environment-wide or bound to
 * their tenant).
 */
export function requireTenantNamed(ctx: ActionContext, tenantId: string | undefined, path: string): void {
  if (ctx.principal?.actorType !== "user" || tenantId !== undefined) return;
  const message = "is required for a user session: a user acts within a tenant";
  throw new AppError(PlatformErrors.validation_failed, `${path}: ${message}`, {
    errors: [{ path, message, code: "invalid_type" }],
  });
}
