import { type ZodType, z } from "zod";
import { SupportAccessErrors, SuspensionErrors, TENANT_SUSPENDED_BILLING } from "../access.js";
import { type ErrorCode, errorCodes, PlatformErrors } from "../errors.js";
import type { ActorType } from "../principal.js";
import { API_TAGS, GETTING_STARTED } from "./openapi-guide.js";
import type { RouteDefinition } from "./route.js";

type JsonSchema = Record<string, unknown>;

/** OpenApiOptions: what the document says besides the routes. */
export interface OpenApiOptions {
  version: string;
  /** serverUrl is the plane's public address (`BASEPLATE_PUBLIC_URL`); absent: relative (`/`). */
  serverUrl?: string;
}

/**
 * buildOpenApiDocument renders the OpenAPI 3.1 document from the route table: the same zod schemas
 * that validate requests describe them, so the document cannot drift from the behaviour. Schemas
 * named with `nameSchemas` are rendered once under `components.schemas` and referenced; every
 * response lists the problem codes it can answer (`declaredProblemCodes`).
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], options: OpenApiOptions): JsonSchema {
  const schemas = new SchemaCatalogue();
  const paths: Record<string, Record<string, unknown>> = {};
  const sorted = [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  for (const route of sorted) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    paths[path] ??= {};
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      description: operationDescription(route),
      tags: route.tags,
    };
    const parameters = [
      ...objectParameters(schemas, route.params, "path"),
      ...objectParameters(schemas, route.query, "query"),
      ...(route.method === "POST" ? [{ $ref: "#/components/parameters/IdempotencyKey" }] : []),
      ...(operatorActsInEnvironment(route) ? [{ $ref: "#/components/parameters/BaseplateEnvironment" }] : []),
    ];
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: schemas.render(route.body, "input") } },
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
    operation.security =
      route.auth === "none" ? [] : route.auth === "optional" ? [{}, { bearerAuth: [] }] : [{ bearerAuth: [] }];
    operation.responses = responses(schemas, route);
    paths[path][route.method.toLowerCase()] = operation;
  }
  const used = new Set(routes.flatMap((r) => r.tags));
  const known = API_TAGS.filter((t) => used.has(t.name));
  const other = [...used].filter((name) => !API_TAGS.some((t) => t.name === name)).sort();
  const groups = [...new Set(known.map((t) => t.group)), ...(other.length > 0 ? ["Other"] : [])];
  return {
    openapi: "3.1.0",
    info: {
      title: "Baseplate API",
      version: options.version,
      description: GETTING_STARTED,
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [
      options.serverUrl
        ? { url: options.serverUrl, description: "This plane." }
        : { url: "/", description: "The plane serving this document." },
    ],
    security: [{ bearerAuth: [] }],
    tags: [...known.map(({ name, description }) => ({ name, description })), ...other.map((name) => ({ name }))],
    "x-tagGroups": groups.map((group) => ({
      name: group,
      tags: group === "Other" ? other : known.filter((t) => t.group === group).map((t) => t.name),
    })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description:
            "A Baseplate credential (`bp_ot_…` operator, `bp_sk_…` secret key, `bp_st_…` session, `bp_tk_…` tenant key, `bp_ak_…` agent key).",
        },
      },
      parameters: {
        BaseplateEnvironment: {
          name: "Baseplate-Environment",
          in: "header",
          required: false,
          description:
            "The environment an operator credential acts in (`env_…`): required for operators on this route, who then act with their role's permissions (admin: all; support: reading) and are recorded as themselves in the audit log. An environment credential may only repeat its own environment.",
          schema: { type: "string", pattern: "^env_[0-9A-Za-z]{1,64}$" },
        },
        IdempotencyKey: {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description:
            "Makes the POST safe to retry: the first response is stored for 24 h (configurable) and replayed. Same key with a different body → 422; while the first request runs → 409. 1–255 visible ASCII characters.",
          schema: { type: "string", minLength: 1, maxLength: 255 },
        },
      },
      schemas: { Problem: PROBLEM_SCHEMA, ...schemas.components() },
      headers: RATE_LIMIT_HEADERS,
    },
  };
}

/** CREDENTIAL_NAMES names each actor type as the credential a client presents. */
const CREDENTIAL_NAMES: Record<ActorType, string> = {
  service: "secret keys",
  user: "user sessions",
  tenant_key: "tenant keys",
  agent: "agent keys",
  portal: "tenant portal sessions",
  operator: "operator credentials",
  system: "the plane itself",
};

/**
 * operatorActsInEnvironment: the route accepts operators acting in an environment they name with
 * the `Baseplate-Environment` header (not an operator route, nor one naming the environment in its path).
 */
function operatorActsInEnvironment(route: RouteDefinition): boolean {
  if (typeof route.auth !== "object" || route.auth.actorTypes === "any" || route.auth.operatorsPlaneWide) return false;
  const types = route.auth.actorTypes;
  return types.includes("operator") && types.length > 1 && !route.url.includes(":environmentId");
}

/**
 * operationDescription is the route's own description (or its summary), followed by who may call
 * it and, on a POST, that it is safe to retry.
 */
function operationDescription(route: RouteDefinition): string {
  const own = route.description ?? `${route.summary}.`;
  let who: string;
  if (route.auth === "none") who = "anyone: no credential is read.";
  else if (route.auth === "optional") who = "anyone; a credential, when sent, is resolved and must be valid.";
  else if (route.auth.actorTypes === "any") who = "any credential.";
  else {
    const names = route.auth.actorTypes.map((t) => CREDENTIAL_NAMES[t]);
    who = `${names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`}; any other credential answers \`403 forbidden\`.`;
  }
  const parts = [own, `**Who may call:** ${who}`];
  if (route.method === "POST" && route.auth !== "none") {
    parts.push("Safe to retry with an `Idempotency-Key`.");
  }
  return parts.join("\n\n");
}

/**
 * declaredProblemCodes lists every problem code a route can answer: its own `errors` plus the ones
 * the HTTP layer and the access guard answer by the route's shape (input, auth preset, method).
 */
export function declaredProblemCodes(route: RouteDefinition): ErrorCode[] {
  // Any route refuses a body it does not take, and invalid parameters.
  const codes: ErrorCode[] = [...(route.errors ?? []), PlatformErrors.validation_failed];
  if (route.requestStream) codes.push(PlatformErrors.payload_too_large);
  else if (route.method !== "GET") {
    // The body parser runs before the route: a body of another type, too large, not JSON, or
    // malformed (a Content-Length that does not match, a forbidden property such as `__proto__`).
    codes.push(
      PlatformErrors.invalid_json,
      PlatformErrors.bad_request,
      PlatformErrors.payload_too_large,
      PlatformErrors.unsupported_media_type,
    );
  }
  const queryFields = (route.query ? toJson(route.query, "input").properties : undefined) as JsonSchema | undefined;
  if (queryFields && "cursor" in queryFields) codes.push(PlatformErrors.invalid_cursor);
  // The access guard answers 404 `not_found` for a named tenant outside the caller's environment.
  const namesTenant = [route.params, route.query, route.body].some((schema) => {
    if (!schema) return false;
    const json = toJson(schema, "input");
    // A named schema renders as a reference to its definition.
    const ref = typeof json.$ref === "string" ? json.$ref.replace("#/$defs/", "") : null;
    const target = (ref ? (json.$defs as Record<string, JsonSchema> | undefined)?.[ref] : json) ?? {};
    const fields = target.properties;
    return typeof fields === "object" && fields !== null && "tenantId" in fields;
  });
  if (namesTenant && route.auth !== "none") codes.push(PlatformErrors.not_found);
  // Any credential sent is resolved first: an unknown one, or a user session past its timeout.
  if (route.auth !== "none") {
    codes.push(PlatformErrors.invalid_credentials, ...credentialCodes(), PlatformErrors.rate_limited);
  }
  if (typeof route.auth === "object") {
    codes.push(PlatformErrors.unauthenticated, PlatformErrors.forbidden);
    const types = route.auth.actorTypes;
    // Tenant-bound callers (tenant and agent keys, and users on these routes) are confined to their
    // tenant: another tenant answers 404 `not_found`, a suspended one `tenant_suspended` on writes.
    if (types !== "any" && types.some((t) => t === "tenant_key" || t === "agent")) {
      codes.push(PlatformErrors.not_found);
      if (route.method !== "GET" && !route.readOnly) {
        codes.push(SuspensionErrors.tenant_suspended, TENANT_SUSPENDED_BILLING);
      }
    }
    // Operators act inside a tenant (a named one, or a tenant's object) only under support access.
    const reachesTenant = namesTenant || (types !== "any" && types.some((t) => t === "tenant_key" || t === "agent"));
    if (types !== "any" && types.includes("operator") && reachesTenant) {
      codes.push(SupportAccessErrors.support_access_required);
    }
  }
  if (route.method === "POST" && route.auth !== "none") {
    codes.push(
      PlatformErrors.idempotency_key_invalid,
      PlatformErrors.idempotency_request_in_progress,
      PlatformErrors.idempotency_key_reused,
    );
  }
  const seen = new Set<string>();
  return codes.filter((c) => {
    const key = `${c.status} ${c.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * credentialCodes are the codes a credential resolver answers besides `invalid_credentials`:
 * `session_expired`, declared by the module that resolves sessions (found by code, since the
 * platform never imports a module; absent when no such module is composed).
 */
function credentialCodes(): ErrorCode[] {
  return errorCodes().filter((c) => c.code === "session_expired");
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

const PROBLEM_SCHEMA: JsonSchema = {
  type: "object",
  description: "An RFC 9457 problem: every error the plane answers.",
  properties: {
    type: { type: "string", description: "`urn:baseplate:problem:<code>`." },
    title: { type: "string", description: "The code's fixed title." },
    status: { type: "integer", description: "The HTTP status." },
    detail: { type: "string", description: "What went wrong in this request, for people." },
    code: { type: "string", description: "Stable machine-readable error code: branch on it." },
    requestId: { type: "string", description: "The request's id (`x-request-id`): quote it when reporting." },
    errors: {
      type: "array",
      description: "On `validation_failed`: one entry per invalid field.",
      items: {
        type: "object",
        properties: {
          path: { type: "string", description: "The field, e.g. `body.name`." },
          message: { type: "string" },
          code: { type: "string" },
        },
        required: ["path", "message"],
      },
    },
  },
  required: ["type", "title", "status", "detail", "code", "requestId"],
  examples: [
    {
      type: "urn:baseplate:problem:tenant_not_found",
      title: "Tenant not found",
      status: 404,
      detail: "No tenant ten_01JEXAMPLE00000000000000.",
      code: "tenant_not_found",
      requestId: "req_01JEXAMPLE0000000000000000",
    },
  ],
};

function responses(schemas: SchemaCatalogue, route: RouteDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const contentTypes = route.response.contentTypes ?? ["application/json"];
  out[String(route.response.status)] = {
    description: route.response.description,
    ...(route.auth !== "none" ? { headers: RATE_LIMITED } : {}),
    ...(route.response.status === 204
      ? {}
      : {
          content: Object.fromEntries(
            contentTypes.map((type) => [
              type,
              {
                schema: type === "application/json" ? schemas.render(route.response.schema, "output") : streamed(type),
              },
            ]),
          ),
        }),
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
      content: { "application/json": { schema: schemas.render(route.response.schema, "output") } },
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of declaredProblemCodes(route)) byStatus.set(c.status, [...(byStatus.get(c.status) ?? []), c]);
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const names = codes.map((c) => c.code);
    out[String(status)] = {
      // NOTE: exactly "Problem: a, b, c": @baseplate/sdk's generator reads the codes from it.
      description: `Problem: ${names.join(", ")}`,
      "x-problem-codes": names,
      ...(status === 429
        ? { headers: { ...RATE_LIMITED, "Retry-After": { $ref: "#/components/headers/Retry-After" } } }
        : {}),
      content: {
        "application/problem+json": {
          schema: {
            allOf: [{ $ref: "#/components/schemas/Problem" }],
            properties: { status: { const: status }, code: { enum: names } },
          },
        },
      },
    };
  }
  return out;
}

/** streamed is the schema of a streamed (non-JSON) body: text, or bytes. */
function streamed(type: string): JsonSchema {
  const text = type.startsWith("text/") || type === "application/x-ndjson";
  return text ? { type: "string" } : { type: "string", format: "binary" };
}

function objectParameters(
  schemas: SchemaCatalogue,
  schema: ZodType | undefined,
  location: "path" | "query",
): JsonSchema[] {
  if (!schema) return [];
  const json = schemas.resolve(schemas.render(schema, "input"));
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

/**
 * SchemaCatalogue renders zod schemas as JSON Schema, collecting named schemas (`nameSchemas`) as
 * components. A named schema whose input shape differs from its output shape (defaults, transforms)
 * is catalogued by its use: `<Name>` as answered and `<Name>Input` as sent (`CreateXInput` keeps its
 * name as sent, and would be `CreateXOutput` as answered).
 */
class SchemaCatalogue {
  readonly #components = new Map<string, { json: JsonSchema; text: string }>();

  render(schema: ZodType, io: "input" | "output"): JsonSchema {
    const json = toJson(schema, io);
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    if (Object.keys(defs).length === 0) return json;
    // A named schema that reads differently as input is catalogued as `<Name>Input` too: compare
    // each def with its other reading, and with the defs it references (to a fixpoint).
    const others = (toJson(schema, io === "input" ? "output" : "input").$defs ?? {}) as Record<string, JsonSchema>;
    const differs = new Set(
      Object.keys(defs).filter((id) => JSON.stringify(defs[id]) !== JSON.stringify(others[id] ?? defs[id])),
    );
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, def] of Object.entries(defs)) {
        if (differs.has(id)) continue;
        const refs = [...JSON.stringify(def).matchAll(/"#\/\$defs\/([^"]+)"/g)].map((m) => m[1] as string);
        if (refs.some((r) => differs.has(r))) {
          differs.add(id);
          changed = true;
        }
      }
    }
    const nameOf = (id: string): string => {
      if (id.startsWith("__")) throw new Error(`A recursive schema needs a name (nameSchemas): ${id}`);
      if (!differs.has(id)) return id;
      // An input schema keeps its name as sent; any other keeps it as answered.
      if (id.endsWith("Input")) return io === "input" ? id : `${id.slice(0, -"Input".length)}Output`;
      return io === "input" ? `${id}Input` : id;
    };
    const rename = (value: JsonSchema): JsonSchema =>
      JSON.parse(
        JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, (_m, id: string) =>
          JSON.stringify(`#/components/schemas/${nameOf(id)}`),
        ),
      ) as JsonSchema;
    for (const [id, def] of Object.entries(defs)) {
      const name = nameOf(id);
      const renamed = rename(def);
      const text = JSON.stringify(renamed);
      const existing = this.#components.get(name);
      if (existing && existing.text !== text) throw new Error(`Schema ${name} renders two ways in the API document`);
      this.#components.set(name, { json: renamed, text });
    }
    return rename(json);
  }

  /** resolve follows a top-level `$ref` to a component. */
  resolve(json: JsonSchema): JsonSchema {
    const ref = typeof json.$ref === "string" ? /^#\/components\/schemas\/(.+)$/.exec(json.$ref)?.[1] : undefined;
    return ref ? (this.#components.get(ref)?.json ?? json) : json;
  }

  components(): Record<string, JsonSchema> {
    return Object.fromEntries(
      [...this.#components].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.json]),
    );
  }
}

/** toJson converts a zod schema, dropping the safe-integer bounds zod adds to every integer. */
function toJson(schema: ZodType, io: "input" | "output"): JsonSchema {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  delete json.$schema;
  return stripSafeBounds(json) as JsonSchema;
}

function stripSafeBounds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSafeBounds);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === "minimum" && inner === Number.MIN_SAFE_INTEGER) continue;
    if (key === "maximum" && inner === Number.MAX_SAFE_INTEGER) continue;
    out[key] = stripSafeBounds(inner);
  }
  return out;
}
