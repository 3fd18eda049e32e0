import type { FactDeclaration } from "../../platform/module.js";

const Changes = "`changes` holds the before/after values of the fields that changed.";

/** ACCESS_FACTS: the fact types the access module records (listed in every environment's event catalog). */
export const ACCESS_FACTS: Record<string, FactDeclaration> = {
  "role.created": { description: "A custom role was created in the environment." },
  "role.updated": { description: `A custom role's name or permissions changed. ${Changes}` },
  "role.deleted": { description: "A custom role was deleted." },
  "membership.created": { description: "A user became a member of a tenant." },
  "membership.updated": { description: `A member's roles changed. ${Changes}` },
  "membership.deleted": { description: "A member left or was removed from a tenant." },
  "invitation.created": { description: "Someone was invited to join a tenant." },
  "invitation.accepted": { description: "An invitation was accepted." },
  "invitation.revoked": { description: "An invitation was revoked." },
  "tenant_key.created": { description: "A tenant issued a key for its own integrations." },
  "tenant_key.rotated": { description: "A tenant key was rotated." },
  "tenant_key.revoked": { description: "A tenant key was revoked." },
  "agent_key.created": { description: "A user delegated an agent key." },
  "agent_key.revoked": { description: "An agent key was revoked." },
};
