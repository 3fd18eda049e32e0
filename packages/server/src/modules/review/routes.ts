import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { ReviewQuery, SignedReview } from "./schemas.js";
import type { ReviewService } from "./service.js";

const CONTENT_TYPES = ["application/json", "text/markdown", "text/html", "application/pdf"] as const;

export function reviewRoutes(s: ReviewService): RouteDefinition[] {
  const tags = ["Review"];
  const description =
    "A document generated from the live plane at request time, answering a security reviewer's questions with evidence: access (surfaces, roles matrix, admins, keys, MFA), data scoping (with an isolation self-test run now), events and webhooks, usage and billing, audit (chain verification, signed checkpoint), operations. " +
    "Signed with the audit signing key (Ed25519 over the canonical JSON of `report`); Markdown and HTML carry the signed JSON, so `baseplate review verify` detects an edit.";
  return [
    defineRoute({
      method: "GET",
      url: "/v1/review",
      operationId: "getReview",
      summary: "The environment's review report",
      description,
      tags,
      auth: AUTH.environment,
      // A report verifies chains and runs the self-test: it spends from the smaller write budget.
      rateLimit: "write",
      query: ReviewQuery,
      response: {
        status: 200,
        schema: SignedReview,
        description: "The signed report (or its rendering).",
        contentTypes: CONTENT_TYPES,
      },
      handler: ({ ctx, query }) => s.document(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/review",
      operationId: "getTenantReview",
      summary: "A tenant's review report",
      description: `${description} This variant covers one tenant: what a customer's security reviewer is given (its owners and admins may read it).`,
      tags,
      auth: AUTH.tenant,
      rateLimit: "write",
      params: z.strictObject({ tenantId: Id }),
      query: ReviewQuery,
      response: {
        status: 200,
        schema: SignedReview,
        description: "The signed report (or its rendering).",
        contentTypes: CONTENT_TYPES,
      },
      handler: ({ ctx, params, query }) => s.document(ctx, query, params.tenantId),
    }),
  ];
}
