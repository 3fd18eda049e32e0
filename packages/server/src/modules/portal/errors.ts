import { defineErrors } from "../../platform/errors.js";

/** PortalErrors: the portal module's stable error codes. */
export const PortalErrors = defineErrors({
  portal_link_invalid: { status: 401, title: "The portal link is invalid, already used or expired" },
  portal_surface_required: { status: 400, title: "Name the surface the portal belongs to (surfaceId)" },
  portal_session_not_found: { status: 404, title: "Portal session not found" },
});
