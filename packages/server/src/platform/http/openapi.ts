import { type ZodType, z } from "zod";
import { type ErrorCode, PlatformErrors } from "../errors.js";
import type { RouteDefinition } from "./route.js";

type JsonSchema = Record<string, unknown>;

/**
 * buildOpenApiDocument renders the OpenAPI 3.1 document from the route table: the same zod schemas
 * that validate requests describe them, so the document cannot drift from the behaviour.
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  const sorted = [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  for (const route of sorted) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    paths[path] ??= {};
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
    };
    const parameters = [
      ...objectParameters(route.params, "path"),
      ...objectParameters(route.query, "query"),
      ...(route.method === "POST" ? [{ $ref: "#/components/parameters/IdempotencyKey" }] : []),
    ];
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: toSchema(route.body, "input") } },
      };
    }
    if (route.requestStream) {
      operation.requestBody = {
        required: true,
        description: route.requestStream.description,
        content: Object.fromEntries(
          route.requestStream.contentTypes.map((type) => [type, { schema: { type: "string", format: "binary" } }]),
        ),
      };
    }
    if (route.auth !== "none") {
      operation.security = route.auth === "optional" ? [{}, { bearerAuth: [] }] : [{ bearerAuth: [] }];
    }
    operation.responses = responses(route);
    paths[path][route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Baseplate API",
      version,
      description:
        "The Baseplate plane: identity & access, tenants & environments, audit, events & webhooks, storage, usage and billing foundations. Errors are RFC 9457 problems; every POST honours Idempotency-Key.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "A Baseplate credential (`bp_…`)." },
      },
      parameters: {
        IdempotencyKey: {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description:
            "Makes the POST safe to retry: the first response is stored for 24 h (configurable) and replayed. Same key with a different body → 422; while the first request runs → 409. 1–255 visible ASCII characters.",
          schema: { type: "string", minLength: 1, maxLength: 255 },
        },
      },
      schemas: { Problem: toSchema(problemSchema, "output") },
      headers: RATE_LIMIT_HEADERS,
    },
  };
}

/**
 * The rate-limit fields (draft-ietf-httpapi-ratelimit-headers) every authenticated route answers,
 * and `Retry-After` on a 429. See docs/rate-limits.md.
 */
const RATE_LIMIT_HEADERS = {
  RateLimit: {
    description:
      'Each bucket this request drew from: `"<name>";r=<requests left>;t=<seconds until full>`, comma-separated (e.g. `"credential.read";r=5999;t=1, "tenant.read";r=11999;t=1`).',
    schema: { type: "string" },
  },
  "RateLimit-Policy": {
    description:
      'The rule of each bucket: `"<name>";q=<quota>;w=<window seconds>`, comma-separated (per credential and per tenant).',
    schema: { type: "string" },
  },
  "Retry-After": {
    description: "Seconds until the request may succeed (on 429).",
    schema: { type: "integer", minimum: 1 },
  },
};

const RATE_LIMITED = {
  RateLimit: { $ref: "#/components/headers/RateLimit" },
  "RateLimit-Policy": { $ref: "#/components/headers/RateLimit-Policy" },
};

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string().describe("Stable machine-readable error code."),
  requestId: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
});

function responses(route: RouteDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {
    [String(route.response.status)]: {
      description: route.response.description,
      ...(route.auth !== "none" ? { headers: RATE_LIMITED } : {}),
      content: Object.fromEntries(
        (route.response.contentTypes ?? ["application/json"]).map((type) => [
          type,
          { schema: toSchema(route.response.schema, "output") },
        ]),
      ),
    },
  };
  if (route.response.replay) {
    out["200"] = {
      description: route.response.replay,
      headers: {
        "idempotent-replayed": {
          description: "`true`: the request repeated one already carried out.",
          schema: { type: "string", enum: ["true"] },
        },
      },
      content: { "application/json": { schema: toSchema(route.response.schema, "output") } },
    };
  }
  const codes: ErrorCode[] = [...(route.errors ?? [])];
  if (route.body || route.query || route.params) codes.push(PlatformErrors.validation_failed);
  if (route.auth !== "none") codes.push(PlatformErrors.invalid_credentials);
  if (typeof route.auth === "object") codes.push(PlatformErrors.unauthenticated);
  if (route.auth !== "none") codes.push(PlatformErrors.rate_limited);
  if (route.method === "POST") {
    codes.push(PlatformErrors.idempotency_request_in_progress, PlatformErrors.idempotency_key_reused);
  }
  const byStatus = new Map<number, string[]>();
  for (const c of codes) byStatus.set(c.status, [...new Set([...(byStatus.get(c.status) ?? []), c.code])]);
  for (const [status, names] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: `Problem: ${names.join(", ")}`,
      ...(status === 429
        ? { headers: { ...RATE_LIMITED, "Retry-After": { $ref: "#/components/headers/Retry-After" } } }
        : {}),
      content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
    };
  }
  return out;
}

function objectParameters(schema: ZodType | undefined, location: "path" | "query"): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, "input");
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === "path" || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function toSchema(schema: ZodType, io: "input" | "output"): JsonSchema {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  delete json.$schema;
  return json;
}
