import { defineErrors } from "../../platform/errors.js";

export const AccessErrors = defineErrors({
  role_not_found: { status: 404, title: "Role not found" },
  role_key_taken: { status: 409, title: "A role with this key exists in the environment" },
  role_built_in: { status: 409, title: "Built-in roles cannot be changed or deleted" },
  role_in_use: { status: 409, title: "The role is held by members or pending invitations" },
  unknown_role: { status: 400, title: "A named role does not exist" },
  membership_not_found: { status: 404, title: "Membership not found" },
  already_member: { status: 409, title: "The user is already a member of the tenant" },
  last_owner: { status: 409, title: "A tenant must keep at least one owner" },
  grant_exceeds_own: { status: 403, title: "Cannot grant more than the caller holds" },
  invitation_not_found: { status: 404, title: "Invitation not found" },
  invitation_invalid: { status: 410, title: "The invitation is expired, revoked or already used" },
  tenant_key_not_found: { status: 404, title: "Tenant key not found" },
  agent_key_not_found: { status: 404, title: "Agent key not found" },
  key_inactive: { status: 409, title: "The key is revoked or expired" },
  access_changed: { status: 409, title: "The caller's access changed while the request ran" },
  key_cannot_issue: { status: 403, title: "A key cannot issue tenant keys; a user or a secret key must" },
});
