import { z } from "zod";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import {
  CreateUserInput,
  ListQuery,
  ListUsersQuery,
  PasswordResetToken,
  PasswordResetTokenInput,
  Revoked,
  Session,
  UpdateUserInput,
  User,
  UserErasure,
  UserExport,
} from "../schemas.js";
import type { IdentityService } from "../service.js";

export function userRoutes(s: IdentityService): RouteDefinition[] {
  const userParams = z.strictObject({ userId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/users",
      operationId: "createUser",
      summary: "Create an end user in the environment",
      description:
        "Creates an end user with a unique email in the environment, optionally with a password (checked against the environment's password policy). A user belongs to no tenant until a membership adds it. The password is never returned.",
      tags: ["Users"],
      auth: AUTH.environment,
      body: CreateUserInput,
      response: { status: 201, schema: User, description: "The user." },
      errors: [
        IdentityErrors.email_taken,
        IdentityErrors.weak_password,
        IdentityErrors.too_many_logins,
        IdentityErrors.hashing_busy,
      ],
      handler: ({ ctx, body }) => s.users.createUser(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/users",
      operationId: "listUsers",
      summary: "List and search users",
      description: "Lists the environment's users a page at a time; search email and name with `q`.",
      tags: ["Users"],
      auth: AUTH.environment,
      query: ListUsersQuery,
      response: { status: 200, schema: pageSchema(User), description: "A page of users." },
      handler: ({ ctx, query }) => s.users.listUsers(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/users/:userId",
      operationId: "getUser",
      summary: "Get a user",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      response: { status: 200, schema: User, description: "The user." },
      errors: [IdentityErrors.user_not_found],
      handler: ({ ctx, params }) => s.users.findUserById(ctx, params.userId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/users/:userId",
      operationId: "updateUser",
      summary: "Update a user; `disabled: true` ends every session at once",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      body: UpdateUserInput,
      response: { status: 200, schema: User, description: "The user." },
      errors: [IdentityErrors.user_not_found, IdentityErrors.email_taken],
      handler: ({ ctx, params, body }) => s.users.updateUser(ctx, params.userId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/users/:userId",
      operationId: "eraseUser",
      summary: "Erase a user and their personal data everywhere (right to erasure)",
      description:
        "One transaction: the user, their sessions and memberships are deleted, keys acting for them revoked, invitations anonymised, stored events about them redacted, and their audit key destroyed so the personal fields of their audit entries can no longer be read while the audit chain still verifies. See docs/privacy.md.",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      response: { status: 200, schema: UserErasure, description: "What was erased." },
      errors: [IdentityErrors.user_not_found],
      handler: ({ ctx, params }) => s.privacy.eraseUser(ctx, params.userId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/users/:userId/export",
      operationId: "exportUser",
      summary: "Everything the plane holds about a user, as JSON (access request)",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      response: { status: 200, schema: UserExport, description: "The user's data, by module." },
      errors: [IdentityErrors.user_not_found],
      handler: ({ ctx, params }) => s.privacy.exportUser(ctx, params.userId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/users/:userId/password-reset-tokens",
      operationId: "createPasswordResetToken",
      summary: "Issue a single-use password reset token for the product to deliver, or mail its link",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      body: PasswordResetTokenInput,
      response: {
        status: 201,
        schema: PasswordResetToken,
        description: "The token, shown once; it expires in an hour.",
      },
      secretFields: ["token"],
      errors: [
        IdentityErrors.user_not_found,
        IdentityErrors.user_disabled,
        IdentityErrors.email_not_configured,
        TenancyErrors.surface_not_found,
      ],
      handler: ({ ctx, params, body }) =>
        body.send
          ? s.emailFlows.sendPasswordReset(ctx, params.userId)
          : s.users.createPasswordResetToken(ctx, params.userId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/users/:userId/sessions",
      operationId: "listUserSessions",
      summary: "List a user's live sessions",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(Session), description: "A page of sessions." },
      errors: [IdentityErrors.user_not_found],
      handler: ({ ctx, params, query }) => s.users.listUserSessions(ctx, params.userId, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/users/:userId/sessions/revoke",
      operationId: "revokeUserSessions",
      summary: "End every session of a user",
      tags: ["Users"],
      auth: AUTH.environment,
      params: userParams,
      response: { status: 200, schema: Revoked, description: "How many sessions ended." },
      errors: [IdentityErrors.user_not_found],
      handler: ({ ctx, params }) => s.sessions.revokeUserSessions(ctx, params.userId),
    }),
  ];
}
