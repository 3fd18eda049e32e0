import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { AccessErrors } from "../errors.js";
import { CreateRoleInput, Role, RoleKey, Statement, UpdateRoleInput } from "../schemas.js";
import type { AccessService } from "../service.js";

/** roleRoutes: the environment's roles and the plane's permission statements (secret-key API; statements public). */
export function roleRoutes(s: AccessService): RouteDefinition[] {
  const roleParams = z.strictObject({ roleKey: RoleKey });
  return [
    defineRoute({
      method: "GET",
      url: "/v1/access/statements",
      operationId: "listStatements",
      summary: "List the plane's permission statements",
      description: "The plane's own resources and their actions; products add their own resources in custom roles.",
      tags: ["Access"],
      auth: "none",
      response: { status: 200, schema: z.object({ data: z.array(Statement) }), description: "The statements." },
      handler: async () => ({ data: s.roles.statements() }),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/roles",
      operationId: "listRoles",
      summary: "List roles (built-in and custom)",
      tags: ["Roles"],
      auth: AUTH.environment,
      response: { status: 200, schema: z.object({ data: z.array(Role) }), description: "Every role." },
      handler: ({ ctx }) => s.roles.listRoles(ctx),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/roles",
      operationId: "createRole",
      summary: "Create a custom role",
      tags: ["Roles"],
      auth: AUTH.environment,
      body: CreateRoleInput,
      response: { status: 201, schema: Role, description: "The role." },
      errors: [AccessErrors.role_key_taken],
      handler: ({ ctx, body }) => s.roles.createRole(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/roles/:roleKey",
      operationId: "getRole",
      summary: "Get a role",
      tags: ["Roles"],
      auth: AUTH.environment,
      params: roleParams,
      response: { status: 200, schema: Role, description: "The role." },
      errors: [AccessErrors.role_not_found],
      handler: ({ ctx, params }) => s.roles.findRoleByKey(ctx, params.roleKey),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/roles/:roleKey",
      operationId: "updateRole",
      summary: "Update a custom role",
      description: "Members holding the role gain or lose the permissions at once, in every process.",
      tags: ["Roles"],
      auth: AUTH.environment,
      params: roleParams,
      body: UpdateRoleInput,
      response: { status: 200, schema: Role, description: "The role." },
      errors: [AccessErrors.role_not_found, AccessErrors.role_built_in],
      handler: ({ ctx, params, body }) => s.roles.updateRole(ctx, params.roleKey, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/roles/:roleKey",
      operationId: "deleteRole",
      summary: "Delete a custom role",
      description: "Refused with `role_in_use` while a membership or a pending invitation holds it.",
      tags: ["Roles"],
      auth: AUTH.environment,
      params: roleParams,
      response: { status: 200, schema: Role, description: "The deleted role." },
      errors: [AccessErrors.role_not_found, AccessErrors.role_built_in, AccessErrors.role_in_use],
      handler: ({ ctx, params }) => s.roles.deleteRole(ctx, params.roleKey),
    }),
  ];
}
