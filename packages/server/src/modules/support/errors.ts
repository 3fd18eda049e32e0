import { defineErrors } from "../../platform/errors.js";

export const SupportErrors = defineErrors({
  support_access_not_found: { status: 404, title: "Support access not found" },
  support_access_not_pending: { status: 409, title: "The support access request was already decided" },
  support_access_not_active: { status: 409, title: "The support access is not active" },
  support_access_decided_by_members: {
    status: 403,
    title: "Only the tenant's members decide on support access",
  },
});
