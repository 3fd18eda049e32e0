/**
 * The plane's permission statements and built-in roles (CONVENTIONS.md §10): permissions are
 * declared once as `resource → actions`, and roles are built from them. Products add their own
 * resources through custom roles (`invoices:read`, `reports:*`); the plane's resources are these.
 */

/** defineStatements declares resources and their actions; it returns them typed and frozen. */
export function defineStatements<const T extends Record<string, readonly string[]>>(statements: T): T {
  return Object.freeze(statements);
}

/** PLANE_STATEMENTS: what tenant members can be allowed to do with the plane's own resources. */
export const PLANE_STATEMENTS = defineStatements({
  tenants: ["read", "update"],
  members: ["read", "invite", "update", "remove"],
  roles: ["read"],
  keys: ["read", "create", "revoke"],
  agents: ["read", "create", "revoke"],
  webhooks: ["read", "write"],
  events: ["read", "publish"],
  audit: ["read", "export", "write", "manage"],
  files: ["read", "write", "delete"],
  usage: ["read"],
  billing: ["read", "manage"],
});

type Statements = typeof PLANE_STATEMENTS;
type Grant = { [R in keyof Statements]?: readonly Statements[R][number][] | "*" };

/** newRole builds a role's permission list from statements: `{ members: ["read"], files: "*" }`. */
export function newRole(grant: Grant): string[] {
  const out: string[] = [];
  for (const [resource, actions] of Object.entries(grant)) {
    if (actions === "*") out.push(`${resource}:*`);
    else for (const action of actions as readonly string[]) out.push(`${resource}:${action}`);
  }
  return out.sort();
}

export interface BuiltInRole {
  key: string;
  name: string;
  description: string;
  permissions: readonly string[];
}

/**
 * BUILT_IN_ROLES exist in every environment and cannot be changed or deleted. `owner` holds
 * everything, including the product's own resources; a tenant always keeps at least one owner.
 */
export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  {
    key: "owner",
    name: "Owner",
    description: "Everything in the tenant, including billing, ownership and the product's own resources.",
    permissions: ["*"],
  },
  {
    key: "admin",
    name: "Admin",
    description: "Manages members, keys, agents, webhooks and reads the audit log; no billing changes.",
    permissions: newRole({
      tenants: ["read", "update"],
      members: "*",
      roles: ["read"],
      keys: "*",
      agents: "*",
      webhooks: "*",
      events: "*",
      audit: "*",
      files: "*",
      usage: ["read"],
      billing: ["read"],
    }),
  },
  {
    key: "member",
    name: "Member",
    description: "Uses the product: reads the tenant and its members, works with files, delegates to agents.",
    permissions: newRole({
      tenants: ["read"],
      members: ["read"],
      roles: ["read"],
      agents: ["read", "create", "revoke"],
      events: ["read"],
      files: ["read", "write"],
      usage: ["read"],
    }),
  },
];

export const BUILT_IN_ROLE_KEYS: ReadonlySet<string> = new Set(BUILT_IN_ROLES.map((r) => r.key));
