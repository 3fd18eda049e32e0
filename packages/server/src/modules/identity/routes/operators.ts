import { z } from "zod";
import { pageSchema } from "../../../platform/http/pagination.js";
import { defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { IdentityErrors } from "../errors.js";
import {
  CreateOperatorInput,
  CreateOperatorTokenInput,
  IssuedOperatorToken,
  ListQuery,
  Operator,
  OperatorLoginInput,
  OperatorToken,
  UpdateOperatorInput,
} from "../schemas.js";
import type { IdentityService } from "../service.js";

const operator = { actorTypes: ["operator"] } as const;
const Id = z.string().min(1).max(64);

export function operatorRoutes(s: IdentityService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/operator/login",
      operationId: "loginOperator",
      summary: "Log in as a plane operator",
      description:
        "Opens an operator session (idle and absolute expiry). Throttled; wrong email and wrong password answer alike.",
      tags: ["Operators"],
      auth: "none",
      body: OperatorLoginInput,
      response: { status: 201, schema: IssuedOperatorToken, description: "The session token, shown once." },
      errors: [IdentityErrors.invalid_login, IdentityErrors.too_many_attempts, IdentityErrors.hashing_busy],
      handler: ({ ctx, body }) => s.operators.loginOperator(ctx, body.email, body.password),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operator/me",
      operationId: "getCurrentOperator",
      summary: "The operator making the request",
      tags: ["Operators"],
      auth: operator,
      response: { status: 200, schema: Operator, description: "The operator." },
      handler: ({ ctx }) => s.operators.findOperatorById({ ...ctx }, ctx.principal?.actorId ?? ""),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/operator/tokens",
      operationId: "createOperatorToken",
      summary: "Create an API token for the calling operator (for scripts and the CLI)",
      tags: ["Operators"],
      auth: operator,
      body: CreateOperatorTokenInput,
      response: { status: 201, schema: IssuedOperatorToken, description: "The token, shown once." },
      handler: ({ ctx, body }) => s.operators.createOperatorToken(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operator/tokens",
      operationId: "listOperatorTokens",
      summary: "List the calling operator's live tokens and sessions",
      tags: ["Operators"],
      auth: operator,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(OperatorToken), description: "A page of tokens." },
      handler: ({ ctx, query }) => s.operators.listOperatorTokens(ctx, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/operator/tokens/:tokenId/revoke",
      operationId: "revokeOperatorToken",
      summary: "Revoke one of the calling operator's tokens (`current` logs out)",
      tags: ["Operators"],
      auth: operator,
      params: z.strictObject({ tokenId: Id }),
      response: { status: 200, schema: OperatorToken, description: "The revoked token." },
      errors: [IdentityErrors.operator_token_not_found],
      handler: ({ ctx, params }) => s.operators.revokeOperatorToken(ctx, params.tokenId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/operators",
      operationId: "createOperator",
      summary: "Create an operator (admin only)",
      tags: ["Operators"],
      auth: operator,
      body: CreateOperatorInput,
      response: { status: 201, schema: Operator, description: "The operator." },
      errors: [IdentityErrors.email_taken, IdentityErrors.weak_password],
      handler: ({ ctx, body }) => s.operators.createOperator(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operators",
      operationId: "listOperators",
      summary: "List operators",
      tags: ["Operators"],
      auth: operator,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(Operator), description: "A page of operators." },
      handler: ({ ctx, query }) => s.operators.listOperators(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operators/:operatorId",
      operationId: "getOperator",
      summary: "Get an operator",
      tags: ["Operators"],
      auth: operator,
      params: z.strictObject({ operatorId: Id }),
      response: { status: 200, schema: Operator, description: "The operator." },
      errors: [IdentityErrors.operator_not_found],
      handler: ({ ctx, params }) => s.operators.findOperatorById(ctx, params.operatorId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/operators/:operatorId",
      operationId: "updateOperator",
      summary: "Change an operator's name, role or disabled flag (admin only)",
      tags: ["Operators"],
      auth: operator,
      params: z.strictObject({ operatorId: Id }),
      body: UpdateOperatorInput,
      response: { status: 200, schema: Operator, description: "The operator." },
      errors: [IdentityErrors.operator_not_found, IdentityErrors.last_admin],
      handler: ({ ctx, params, body }) => s.operators.updateOperator(ctx, params.operatorId, body),
    }),
  ];
}
