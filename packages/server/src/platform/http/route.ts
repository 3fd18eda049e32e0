import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { ZodType, z } from "zod";
import type { ErrorCode } from "../errors.js";
import type { ActionContext, ActorType, Principal } from "../principal.js";
import type { RateLimitSurface } from "../ratelimit/limiter.js";

export type HttpMethod = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

/**
 * Auth says who may call a route: `none` (public, no credential read), `optional` (a credential
 * is resolved when present), or `required` (401 without one), optionally limited to actor types.
 */
export type RouteAuth =
  | "none"
  | "optional"
  | {
      actorTypes: readonly ActorType[] | "any";
      /**
       * operatorsPlaneWide: operators call this route on any environment's object without naming an
       * environment (one that names one is confined to it); see `AUTH.operatorOrEnvironment`.
       */
      operatorsPlaneWide?: true;
    };

/**
 * AUTH are the route auth presets every routes file uses, named after who may call. The HTTP layer
 * refuses any other actor type (403) before the handler runs; the service's guard (`m.access`)
 * still checks permissions and confines each caller to its scope.
 */
export const AUTH = {
  /** operator: plane operators (the plane's own configuration). */
  operator: { actorTypes: ["operator"] },
  /**
   * environment: the environment's secret keys (its configuration; every tenant in it), and
   * operators acting in the environment (`Baseplate-Environment` header).
   */
  environment: { actorTypes: ["service", "operator"] },
  /** user: an end user's session (the user's own account). */
  user: { actorTypes: ["user"] },
  /**
   * tenant: every environment credential (secret keys, users through memberships, tenant and
   * agent keys, tenant portal sessions) and operators acting in the environment; the access check
   * confines each to its tenant.
   */
  tenant: { actorTypes: ["service", "user", "tenant_key", "agent", "portal", "operator"] },
  /**
   * keys: the environment's API keys (secret, tenant and agent keys), not user sessions: routes on
   * which a user, who always acts within a named tenant, has a tenant-path twin.
   */
  keys: { actorTypes: ["service", "tenant_key", "agent", "operator"] },
  /**
   * operatorOrEnvironment: an environment's configuration that operators manage plane-wide (a
   * surface's sign-in settings and mail templates, an environment's signing keys), and its secret
   * keys for their own environment.
   */
  operatorOrEnvironment: { actorTypes: ["operator", "service"], operatorsPlaneWide: true },
} as const satisfies Record<string, RouteAuth>;

export interface HandlerInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  ctx: ActionContext;
  principal: Principal | null;
  /** headers are the request's headers (read-only; credentials are resolved by the HTTP layer). */
  headers: IncomingHttpHeaders;
  /**
   * stream is the request body, unread, on a route that declares `requestStream` (null elsewhere):
   * the handler consumes it as it arrives (an upload never sits in memory whole).
   */
  stream: Readable | null;
  /** setStatus overrides the success status of a GET (e.g. 503 from a readiness probe). */
  setStatus(status: number): void;
  /**
   * hijack takes the raw response over (a stream such as server-sent events): the HTTP layer sends
   * nothing more, and the handler writes status, headers and body itself. GET routes only.
   */
  hijack(): { req: IncomingMessage; res: ServerResponse; requestId: string };
}

/**
 * RouteDefinition is a route as data: zod schemas (the single source of validation, types and the
 * OpenAPI document) plus a thin handler that calls a service. The handler returns the response
 * body; the HTTP layer validates input, resolves the principal, applies idempotency, and renders
 * errors. A POST's response is the value its service wrote (see `Db.write`).
 */
export interface RouteDefinition<
  B extends ZodType = ZodType,
  Q extends ZodType = ZodType,
  P extends ZodType = ZodType,
  R extends ZodType = ZodType,
> {
  method: HttpMethod;
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: RouteAuth;
  body?: B;
  /**
   * requestStream makes the request body a stream handed to the handler (`input.stream`) instead of
   * a parsed JSON document: any content type, no body limit applied by the HTTP layer (the handler
   * enforces its own while reading). Exclusive with `body`. An Idempotency-Key on such a POST is
   * fingerprinted over the query, Content-Type and Content-Length (the bytes are not read twice).
   */
  requestStream?: { contentTypes: readonly string[]; description: string };
  query?: Q;
  params?: P;
  response: {
    status: number;
    schema: R;
    description: string;
    /** contentTypes: a streamed route's media types (the handler returns a `StreamedBody`). */
    contentTypes?: readonly string[];
    /**
     * replay documents the 200 a POST answers when its handler returns a `Replayed` value (the
     * request repeated one already carried out, e.g. a publish of an event id that exists).
     */
    replay?: string;
  };
  /** errors documents the problem codes this route can answer, besides the common ones. */
  errors?: ErrorCode[];
  /**
   * secretFields names top-level response fields holding a credential shown once (`token`). The
   * idempotency ledger never stores them; an idempotent replay answers them as null.
   */
  secretFields?: readonly string[];
  /**
   * readOnly marks a POST that changes nothing (a permission check, a search with a body): it
   * records no fact, and the facts sweep does not expect one.
   */
  readOnly?: boolean;
  /** accessLog: false keeps probes (health, metrics) out of the access log. */
  accessLog?: boolean;
  /**
   * rateLimit names the rate-limit surface an authenticated request of this route spends from
   * (docs/rate-limits.md). Default: `read` for GET and read-only POST routes, `write` otherwise.
   */
  rateLimit?: RateLimitSurface;
  handler(
    input: HandlerInput<z.output<B>, z.output<Q>, z.output<P>>,
  ): Promise<z.input<R> | StreamedBody | Replayed<z.input<R>>>;
}

/**
 * StreamedBody is what a streaming route's handler returns instead of a JSON value: the body is
 * sent chunk by chunk as the iterable yields (an export paging the database never sits in memory).
 * NOTE: once the first chunk is sent the status is committed; a failure later ends the response early.
 */
export class StreamedBody {
  constructor(
    readonly contentType: string,
    readonly chunks: AsyncIterable<string | Uint8Array>,
    readonly headers: Record<string, string> = {},
  ) {}
}

/**
 * Replayed is what a POST's handler returns when the request repeats one the plane already carried
 * out (a natural key, not an `Idempotency-Key`): the HTTP layer answers the stored value with 200
 * and `idempotent-replayed: true`, the marker of an idempotent replay, instead of the route's
 * success status. An `Idempotency-Key` sent with it stores that 200.
 */
export class Replayed<T = unknown> {
  constructor(readonly value: T) {}
}

/** rateLimitSurface is the surface a route spends from: its own, or by method. */
export function rateLimitSurface(route: Pick<RouteDefinition, "method" | "readOnly" | "rateLimit">): RateLimitSurface {
  return route.rateLimit ?? (route.method === "GET" || route.readOnly ? "read" : "write");
}

/** defineRoute returns its argument, typed: handler inputs are inferred from the schemas. */
export function defineRoute<B extends ZodType, Q extends ZodType, P extends ZodType, R extends ZodType>(
  route: RouteDefinition<B, Q, P, R>,
): RouteDefinition {
  return route as unknown as RouteDefinition;
}
