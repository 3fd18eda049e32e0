import { describe, expect, it } from "vitest";
import { MODULES } from "../../app.js";
import { collectPermissions, defineModule } from "../../platform/module.js";
import { buildPlanePermissions } from "./statements.js";

/** The built-in roles and statements as access declared them alone, before modules declared their own. */
const BEFORE = {
  owner: ["*"],
  admin: [
    "agents:*",
    "audit:*",
    "billing:read",
    "entitlements:read",
    "events:*",
    "files:*",
    "keys:*",
    "members:*",
    "review:read",
    "roles:read",
    "sso:manage",
    "sso:read",
    "support_access:read",
    "tenants:read",
    "tenants:update",
    "usage:read",
    "usage:report",
    "webhooks:*",
  ],
  member: [
    "agents:create",
    "agents:read",
    "agents:revoke",
    "entitlements:read",
    "events:read",
    "files:read",
    "files:write",
    "members:read",
    "roles:read",
    "tenants:read",
    "usage:read",
    "usage:report",
  ],
};
const BEFORE_STATEMENTS = {
  tenants: ["read", "update"],
  members: ["read", "invite", "update", "remove"],
  roles: ["read"],
  keys: ["read", "create", "revoke"],
  agents: ["read", "create", "revoke"],
  webhooks: ["read", "write"],
  events: ["read", "publish"],
  audit: ["read", "export", "write", "manage"],
  files: ["read", "write", "delete"],
  usage: ["read", "report", "manage"],
  entitlements: ["read", "write"],
  billing: ["read", "manage"],
  // Declared by the ratelimits module (it grants nothing to built-in roles).
  rate_limits: ["read", "write"],
  // Declared by the portal module (secret keys mint links and set themes; no role is granted them).
  portal_links: ["create"],
  portal_themes: ["read", "write"],
  // Declared by the support module (admins see who had support access; owners approve it).
  support_access: ["read", "approve", "write"],
  // Declared by the sso module (tenant admins manage their tenant's domains and IdP).
  sso: ["read", "manage"],
  // Declared by the manifest module (secret keys and operators plan and apply; no role is granted them).
  manifest: ["read", "apply"],
  // Declared by the review module (tenant admins may read their tenant's review report).
  review: ["read"],
};

const mod = (name: string, extra: object) =>
  defineModule({ name, migrations: [], createService: () => ({}), ...extra });

describe("built-in roles built from the modules' statements", () => {
  const plane = buildPlanePermissions(collectPermissions(MODULES));

  it("are exactly the roles access declared alone before", () => {
    expect(Object.fromEntries(plane.builtInRoles.map((r) => [r.key, r.permissions]))).toEqual(BEFORE);
  });

  it("list exactly the statements access declared alone before", () => {
    expect(plane.statements).toEqual(BEFORE_STATEMENTS);
  });

  it("take a new module's resources and grants without touching access", () => {
    const invoices = mod("invoicing", {
      permissions: { invoices: ["read", "create", "void"] },
      roleGrants: { admin: { invoices: "*" }, member: { invoices: ["read"] } },
    });
    const built = buildPlanePermissions(collectPermissions([...MODULES, invoices]));
    expect(built.statements.invoices).toEqual(["read", "create", "void"]);
    const roles = Object.fromEntries(built.builtInRoles.map((r) => [r.key, r.permissions]));
    expect(roles.admin).toEqual([...BEFORE.admin, "invoices:*"].sort());
    expect(roles.member).toEqual([...BEFORE.member, "invoices:read"].sort());
    expect(roles.owner).toEqual(["*"]);
  });

  it("let a landed module replace a reserved resource (storage declaring files)", () => {
    const storage = mod("storage", {
      permissions: { files: ["read", "write", "delete", "share"] },
      roleGrants: { admin: { files: ["read"] } },
    });
    const built = buildPlanePermissions(collectPermissions([...MODULES.filter((m) => m.name !== "storage"), storage]));
    expect(built.statements.files).toEqual(["read", "write", "delete", "share"]);
    const roles = Object.fromEntries(built.builtInRoles.map((r) => [r.key, r.permissions]));
    expect(roles.admin).toContain("files:read");
    expect(roles.admin).not.toContain("files:*");
    expect(roles.member?.filter((p) => p.startsWith("files:"))).toEqual([]);
  });

  it("refuse a grant to a role that is not built in, or to owner", () => {
    for (const role of ["guest", "owner"]) {
      const bad = mod("bad", { permissions: { things: ["read"] }, roleGrants: { [role]: { things: "*" } } });
      expect(() => buildPlanePermissions(collectPermissions([bad]))).toThrow(
        `Module "bad" grants role "${role}", which is not a built-in role it may extend`,
      );
    }
  });
});

describe("collectPermissions", () => {
  it("refuses two modules declaring one resource, naming both", () => {
    const a = mod("shop", { permissions: { orders: ["read"] } });
    const b = mod("orders", { permissions: { orders: ["read", "write"] } });
    expect(() => collectPermissions([a, b])).toThrow(
      'Permission resource "orders" is declared by both "shop" and "orders"',
    );
  });

  it("refuses a grant of a resource or action the module does not declare", () => {
    const other = mod("shop", { permissions: { orders: ["read"] }, roleGrants: { admin: { tenant: "*" } } });
    expect(() => collectPermissions([other])).toThrow('Module "shop" grants role "admin" the resource "tenant"');
    const action = mod("shop", { permissions: { orders: ["read"] }, roleGrants: { admin: { orders: ["void"] } } });
    expect(() => collectPermissions([action])).toThrow('Module "shop" grants role "admin" "orders:void"');
  });

  it("refuses malformed resources and actions", () => {
    expect(() => collectPermissions([mod("shop", { permissions: { Orders: ["read"] } })])).toThrow(/snake_case/);
    expect(() => collectPermissions([mod("shop", { permissions: { orders: ["re:ad"] } })])).toThrow(/snake_case/);
  });
});
