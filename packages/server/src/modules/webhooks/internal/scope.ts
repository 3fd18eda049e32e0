import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { ActionContext } from "../../../platform/principal.js";

/** environmentOf returns the caller's environment (403 without an environment credential). */
export function environmentOf(ctx: ActionContext): string {
  const environmentId = ctx.principal?.environmentId;
  if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
  return environmentId;
}
