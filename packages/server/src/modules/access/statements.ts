import type { DeclaredPermissions, PermissionStatements, RoleGrant } from "../../platform/module.js";

/**
 * The access module's permission statements and the building of built-in roles (CONVENTIONS.md
 * §10): every module declares its own resources (`permissions` in its definition) and the grants
 * it adds to the built-in roles (`roleGrants`); the composition root collects them and access builds
 * the roles here. Products add their own resources through custom roles (`invoices:read`).
 */

/** defineStatements declares resources and their actions; it returns them typed and frozen. */
export function defineStatements<const T extends Record<string, readonly string[]>>(statements: T): T {
  return Object.freeze(statements);
}

/** ACCESS_STATEMENTS: the resources the access module guards. */
export const ACCESS_STATEMENTS = defineStatements({
  members: ["read", "invite", "update", "remove"],
  roles: ["read"],
  keys: ["read", "create", "revoke"],
  agents: ["read", "create", "revoke"],
});

/** ACCESS_ROLE_GRANTS: what the built-in roles may do with access's resources. */
export const ACCESS_ROLE_GRANTS: Readonly<Record<string, RoleGrant>> = {
  admin: { members: "*", roles: ["read"], keys: "*", agents: "*" },
  member: { members: ["read"], roles: ["read"], agents: ["read", "create", "revoke"] },
};

/**
 * RESERVED_PERMISSIONS stand in for the modules that have not landed yet (storage,
 * billing), so the built-in roles keep their documented grants. A resource here yields to a
 * registered module declaring it: that module's statements and grants are used instead, and this
 * entry can then be deleted.
 */
const RESERVED_PERMISSIONS: DeclaredPermissions = {
  module: "access (reserved)",
  statements: {
    files: ["read", "write", "delete"],
    billing: ["read", "manage"],
  },
  roleGrants: {
    admin: { files: "*", billing: ["read"] },
    member: { files: ["read", "write"] },
  },
};

export interface BuiltInRole {
  key: string;
  name: string;
  description: string;
  permissions: readonly string[];
}

const ROLE_TEXT: ReadonlyArray<Omit<BuiltInRole, "permissions">> = [
  {
    key: "owner",
    name: "Owner",
    description: "Everything in the tenant, including billing, ownership and the product's own resources.",
  },
  {
    key: "admin",
    name: "Admin",
    description: "Manages members, keys, agents, webhooks and reads the audit log; no billing changes.",
  },
  {
    key: "member",
    name: "Member",
    description: "Uses the product: reads the tenant and its members, works with files, delegates to agents.",
  },
];

/** BUILT_IN_ROLE_KEYS are the roles that exist in every environment and cannot be changed or deleted. */
export const BUILT_IN_ROLE_KEYS: ReadonlySet<string> = new Set(ROLE_TEXT.map((r) => r.key));

/**
 * PlanePermissions is what access builds from the modules' declarations: the plane's statements
 * (module order, then the reserved ones no module declares) and the built-in roles. `owner` holds
 * everything (`*`), including the product's own resources; a tenant always keeps at least one owner.
 */
export interface PlanePermissions {
  statements: PermissionStatements;
  builtInRoles: readonly BuiltInRole[];
}

/**
 * buildPlanePermissions builds the statements and built-in roles from every module's declared
 * permissions. Throws when a module grants a role that is not built in (or `owner`, which already
 * holds everything), naming the module.
 */
export function buildPlanePermissions(declared: readonly DeclaredPermissions[]): PlanePermissions {
  const taken = new Set(declared.flatMap((d) => Object.keys(d.statements)));
  const reserved = Object.keys(RESERVED_PERMISSIONS.statements).filter((r) => !taken.has(r));
  const sources = [...declared, pick(RESERVED_PERMISSIONS, new Set(reserved))];
  const statements: Record<string, readonly string[]> = {};
  const grants = new Map<string, string[]>([["owner", ["*"]]]);
  for (const source of sources) {
    Object.assign(statements, source.statements);
    for (const [role, grant] of Object.entries(source.roleGrants)) {
      if (role === "owner" || !BUILT_IN_ROLE_KEYS.has(role)) {
        throw new Error(`Module "${source.module}" grants role "${role}", which is not a built-in role it may extend`);
      }
      grants.set(role, [...(grants.get(role) ?? []), ...newRole(grant)]);
    }
  }
  return {
    statements: Object.freeze(statements),
    builtInRoles: ROLE_TEXT.map((r) => ({ ...r, permissions: [...new Set(grants.get(r.key) ?? [])].sort() })),
  };
}

/** newRole builds a role's permission list from a grant: `{ members: ["read"], files: "*" }`. */
function newRole(grant: RoleGrant): string[] {
  const out: string[] = [];
  for (const [resource, actions] of Object.entries(grant)) {
    if (actions === "*") out.push(`${resource}:*`);
    else for (const action of actions) out.push(`${resource}:${action}`);
  }
  return out.sort();
}

/** pick keeps only the given resources of a declaration (statements and grants). */
function pick(d: DeclaredPermissions, resources: ReadonlySet<string>): DeclaredPermissions {
  const only = <V>(record: Readonly<Record<string, V>>) =>
    Object.fromEntries(Object.entries(record).filter(([resource]) => resources.has(resource)));
  return {
    module: d.module,
    statements: only(d.statements),
    roleGrants: Object.fromEntries(Object.entries(d.roleGrants).map(([role, grant]) => [role, only(grant)])),
  };
}
