import { AppError, PlatformErrors } from "./errors.js";
import { requirePermission } from "./permissions.js";
import type { ActionContext, Principal } from "./principal.js";

/** asOperator returns the calling plane operator after checking `permission` (403 otherwise). */
export function asOperator(ctx: ActionContext, permission: string): Principal {
  const p = ctx.principal;
  if (p?.actorType !== "operator") throw new AppError(PlatformErrors.forbidden, "Only plane operators may do this.");
  requirePermission(p, permission);
  return p;
}

/**
 * inEnvironment returns the environment the caller is bound to, after checking `permission`.
 * Every query of environment data is scoped by it, so another environment's object is simply absent (404).
 */
export function inEnvironment(ctx: ActionContext, permission: string): { principal: Principal; environmentId: string } {
  const p = ctx.principal;
  if (!p?.environmentId) {
    throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential (a secret key).");
  }
  requirePermission(p, permission);
  return { principal: p, environmentId: p.environmentId };
}
