import { z } from "zod";
import {
  type ManifestAssessment,
  type ManifestDiff,
  type ManifestSection,
  narrowed,
  plural,
  sortedSet,
} from "../../platform/manifest.js";
import { Permissions, RoleKey } from "./schemas.js";
import type { AccessService } from "./service.js";
import { BUILT_IN_ROLE_KEYS } from "./statements.js";

/** RoleItem is a custom role as the manifest declares it (built-in roles are not declared). */
export const RoleItem = z.strictObject({
  key: RoleKey.refine((k) => !BUILT_IN_ROLE_KEYS.has(k), "is a built-in role (owner, admin, member)"),
  name: z.string().trim().min(1).max(200),
  description: z.string().max(1000).nullable().default(null),
  permissions: Permissions.describe("What members holding the role may do (`resource:action` patterns)."),
});
export type RoleItem = z.infer<typeof RoleItem>;

/**
 * rolesSection: the environment's custom roles. Narrowing a role's permissions is destructive when
 * members hold it (they lose access at once); deleting a role still held is refused, as the API does.
 */
export function rolesSection(service: AccessService): ManifestSection<RoleItem> {
  const roles = service.roles;
  const m = service.core.m;
  return {
    name: "roles",
    description: "Custom roles and the permissions each grants (built-in owner, admin and member are not listed).",
    item: RoleItem,
    keyOf: (r) => r.key,
    normalize: (r) => ({ ...r, description: r.description ?? null, permissions: sortedSet(r.permissions) }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "roles:read" : "roles:write"),
    lock: (tx) => m.db.lockTable(tx, "role"),
    live: async (environmentId, tx) =>
      (await roles.customRoles(environmentId, tx)).map((r) => ({
        key: r.key,
        name: r.name,
        description: r.description,
        permissions: r.permissions,
      })),
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const after = diff.after as RoleItem;
        return {
          risk: "additive",
          summary: `Adds role ${key} (${plural(after.permissions.length, "permission")}).`,
          affected: [],
          blocked: null,
        };
      }
      const held = await roles.holders(environmentId, diff.key, tx);
      const affected = [
        ...(held.memberships > 0 ? [{ count: held.memberships, what: `memberships hold role ${key}` }] : []),
        ...(held.invitations > 0 ? [{ count: held.invitations, what: `pending invitations grant role ${key}` }] : []),
      ];
      const inUse = held.memberships + held.invitations > 0;
      if (diff.action === "delete") {
        return {
          risk: inUse ? "destructive" : "behaviour",
          summary: `Deletes role ${key}.`,
          affected,
          blocked: inUse
            ? `Role ${key} is held by ${plural(held.memberships, "membership")} and ${plural(held.invitations, "pending invitation")}: change their roles first.`
            : null,
        };
      }
      return assessUpdate(diff, key, inUse, affected);
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") await roles.insertRole(tx, ctx, environmentId, diff.after as RoleItem);
      else if (diff.action === "delete") await roles.removeRole(tx, ctx, environmentId, diff.key);
      else {
        const after = diff.after as RoleItem;
        await roles.changeRole(tx, ctx, environmentId, diff.key, {
          name: after.name,
          description: after.description,
          permissions: after.permissions,
        });
      }
    },
  };
}

function assessUpdate(
  diff: ManifestDiff<RoleItem>,
  key: string,
  inUse: boolean,
  affected: ManifestAssessment["affected"],
): ManifestAssessment {
  const before = diff.before as RoleItem;
  const after = diff.after as RoleItem;
  const removed = narrowed(before.permissions, after.permissions);
  const added = narrowed(after.permissions, before.permissions);
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`removes ${removed.map((p) => `\`${p}\``).join(", ")}`);
  if (added.length > 0) parts.push(`grants ${added.map((p) => `\`${p}\``).join(", ")}`);
  if (diff.fields.includes("name")) parts.push(`renames it "${after.name}"`);
  if (diff.fields.includes("description")) parts.push("changes its description");
  if (parts.length === 0) parts.push("rewrites its permissions without changing what they grant");
  const summary = `Role ${key}: ${parts.join("; ")}.`;
  if (removed.length > 0) return { risk: inUse ? "destructive" : "behaviour", summary, affected, blocked: null };
  if (added.length > 0) return { risk: "behaviour", summary, affected, blocked: null };
  return { risk: "additive", summary, affected: [], blocked: null };
}
