import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";

/**
 * requireOn checks `permission` on an object owned by `tenantId` (null: environment-wide). Callers
 * confined to a tenant (tenant and agent keys, users) get `notFound` for environment-wide objects
 * and other tenants' objects: existence never leaks.
 */
export async function requireOn(
  m: ModuleContext,
  ctx: ActionContext,
  permission: string,
  tenantId: string | null,
  notFound: () => AppError,
) {
  const p = ctx.principal;
  if (!p?.environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
  if (tenantId === null && (p.tenantId || p.actorType === "user")) throw notFound();
  try {
    return await m.access.require(ctx, permission, { tenantId });
  } catch (err) {
    if (err instanceof AppError && err.status === 404) throw notFound();
    throw err;
  }
}

/** environmentOf returns the caller's environment (403 without an environment credential). */
export function environmentOf(ctx: ActionContext): string {
  const environmentId = ctx.principal?.environmentId;
  if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
  return environmentId;
}
