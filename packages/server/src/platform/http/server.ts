import type { Socket } from "node:net";
import { Readable } from "node:stream";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { ZodType } from "zod";
import type { Config } from "../../config.js";
import { type Authorizer, ENVIRONMENT_HEADER, markRefused, refusalOf } from "../access.js";
import { AppError, type ErrorCode, PlatformErrors } from "../errors.js";
import { IdempotencyLedger, IdempotentReplay } from "../idempotency/ledger.js";
import { newId } from "../ids.js";
import type { Logger } from "../logger.js";
import type { ActionContext, ActorType, Principal, RequestInfo } from "../principal.js";
import type { RateLimitDecision, RateLimiter } from "../ratelimit/limiter.js";
import type { CredentialResolvers } from "./credentials.js";
import { findInvalidText, jsonDepthExceeds, MAX_JSON_DEPTH, tooDeep } from "./input.js";
import type { Metrics } from "./metrics.js";
import { fieldErrors, PROBLEM_CONTENT_TYPE, recordProblemCode, toProblem } from "./problem.js";
import { Replayed, type RouteDefinition, rateLimitSurface, StreamedBody } from "./route.js";

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal | null;
  }
  interface FastifyContextConfig {
    accessLog?: boolean;
  }
}

const CORS_METHODS = "GET, POST, PATCH, PUT, DELETE";
const CORS_HEADERS = "authorization, content-type, idempotency-key, x-request-id";
const CORS_EXPOSED = "x-request-id, idempotent-replayed, retry-after, ratelimit, ratelimit-policy";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_TYPE = "application/json; charset=utf-8";

export interface HttpDeps {
  config: Pick<Config, "bodyLimitBytes" | "corsOrigins" | "trustProxy">;
  logger: Logger;
  ledger: IdempotencyLedger;
  credentials: CredentialResolvers;
  metrics: Metrics;
  /**
   * refusals is the Authorizer: it records refused requests of agents and tenant keys, and binds an
   * operator to the environment its `Baseplate-Environment` header names (absent: neither).
   */
  refusals?: Pick<Authorizer, "recordDenial" | "bindEnvironment">;
  /** rateLimits spends each authenticated request from its buckets (absent: no limits). */
  rateLimits?: RateLimiter;
}

/**
 * HttpServer is the plane's Fastify instance and its route table. Every route goes through one
 * wrapper: resolve the principal → validate params, query and body (zod) → claim the
 * Idempotency-Key (POST) → handler → response; every error becomes an RFC 9457 problem.
 */
export class HttpServer {
  readonly fastify: FastifyInstance;
  readonly routes: RouteDefinition[] = [];
  readonly #originPolicies: Array<(origin: string) => Promise<boolean>> = [];
  /** The route table as path patterns, for answering 405 with `Allow` on a known path. */
  readonly #patterns: Array<{ method: string; pattern: RegExp }> = [];
  /** Responses taken over by their handler (streams): ended when the server closes. */
  readonly #hijacked = new Set<import("node:http").ServerResponse>();

  constructor(private readonly deps: HttpDeps) {
    this.fastify = Fastify({
      loggerInstance: deps.logger as FastifyBaseLogger,
      // No per-request child logger: the HTTP layer logs through the app logger with explicit
      // request fields (requestFields), and Fastify's factory probes would defeat a lazy child.
      childLoggerFactory: (logger) => logger,
      logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "requestId" }),
      genReqId: (req) => {
        const incoming = req.headers["x-request-id"];
        return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : newId("request");
      },
      bodyLimit: deps.config.bodyLimitBytes,
      trustProxy: deps.config.trustProxy,
      return503OnClosing: true,
      routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
      // Errors raised by the router before any hook (a malformed URL, an overlong path segment)
      // are problems too, with the same headers as every other response.
      frameworkErrors: (err, req, reply) => sendFrameworkError(err, req as FastifyRequest, reply as FastifyReply),
      // Errors of the HTTP parser itself (headers or query string too large, a malformed request
      // line) never reach Fastify: answer them as problems too, then close the connection.
      clientErrorHandler: (err, socket) => sendClientError(err, socket),
    });
    const app = this.fastify;
    app.removeContentTypeParser("text/plain");
    // JSON bodies: Fastify's parser (prototype poisoning refused), after a bracket scan that refuses
    // documents nested past MAX_JSON_DEPTH before anything recursive (zod, JSON.stringify) sees them.
    const parseJson = app.getDefaultJsonParser("error", "error");
    app.removeContentTypeParser("application/json");
    app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
      const text = typeof body === "string" ? body : body.toString("utf8");
      if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
        done(tooDeep(), undefined);
        return;
      }
      parseJson(req, text, done);
    });

    // CORS: the configured origins plus whatever origin policies modules add (a surface's allowed
    // origins). Requests without an Origin header (servers, curl, probes) pay nothing.
    const configured = new Set(deps.config.corsOrigins);
    app.addHook("onRequest", (req, reply, done) => {
      const origin = req.headers.origin;
      if (origin === undefined) {
        done();
        return;
      }
      const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
      (configured.has(origin) ? Promise.resolve(true) : this.#allowsOrigin(origin)).then(
        (allowed) => {
          reply.header("vary", "Origin");
          if (allowed) {
            reply.header("access-control-allow-origin", origin);
            reply.header("access-control-expose-headers", CORS_EXPOSED);
          }
          if (!preflight) {
            done();
            return;
          }
          if (allowed) {
            reply.header("access-control-allow-methods", CORS_METHODS);
            reply.header("access-control-allow-headers", CORS_HEADERS);
            reply.header("access-control-max-age", "600");
          }
          reply.code(204).send();
        },
        (err: unknown) => done(err as Error),
      );
    });

    // While closing, answers carry `Connection: close` so keep-alive clients let go and the
    // server can finish draining instead of waiting out the keep-alive timeout.
    let closing = false;
    app.addHook("preClose", (done) => {
      closing = true;
      for (const res of this.#hijacked) res.end();
      done();
    });
    app.addHook("onSend", (req, reply, payload, done) => {
      if (closing) reply.header("connection", "close");
      reply.header("x-request-id", req.id);
      reply.header("x-content-type-options", "nosniff");
      if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
      done(null, payload);
    });

    app.addHook("onResponse", (req, reply, done) => {
      done();
      const route = req.routeOptions.url ?? "unmatched";
      deps.metrics.httpDuration.observe(
        { method: req.method, route, status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      );
      const problemCode = problemCodes.get(req);
      if (problemCode !== undefined && req.routeOptions.url !== undefined) {
        recordProblemCode(req.method, req.routeOptions.url, reply.statusCode, problemCode);
      }
      if (req.routeOptions.config?.accessLog === false && reply.statusCode < 500) return;
      if (!deps.logger.isLevelEnabled("info")) return;
      deps.logger.info(
        {
          ...requestFields(req),
          method: req.method,
          route,
          url: req.url,
          statusCode: reply.statusCode,
          ...(problemCode !== undefined ? { problemCode } : {}),
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
        },
        "request completed",
      );
    });

    app.setErrorHandler((err, req, reply) => {
      const { problem, headers, unexpected } = toProblem(err, req.id);
      problemCodes.set(req, problem.code);
      if (unexpected) deps.logger.error({ ...requestFields(req), err }, "unexpected error");
      else if (problem.status >= 500) deps.logger.warn({ ...requestFields(req), err }, problem.code);
      if (headers) reply.headers(headers);
      return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
    });

    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split("?")[0] ?? req.url;
      const allowed = this.#methodsFor(path);
      const error =
        allowed.length > 0
          ? new AppError(
              PlatformErrors.method_not_allowed,
              `${path} answers ${allowed.join(", ")}, not ${req.method}.`,
              {
                headers: { allow: allowed.join(", ") },
              },
            )
          : new AppError(PlatformErrors.route_not_found, `No route ${req.method} ${path}.`);
      const { problem, headers } = toProblem(error, req.id);
      problemCodes.set(req, problem.code);
      if (headers) reply.headers(headers);
      return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
    });
  }

  /**
   * #recordDenial hands a refused request to the refusal recorder once the request has failed (no
   * transaction of the request is open any more). A recorder failure is logged: the caller still
   * gets its refusal, never a 5xx.
   */
  async #recordDenial(ctx: ActionContext, route: RouteDefinition, req: FastifyRequest, err: unknown): Promise<void> {
    if (!this.deps.refusals || !refusalOf(err)) return;
    const failure = await this.deps.refusals.recordDenial(ctx, err, `${route.method} ${route.url}`);
    if (failure) this.deps.logger.error({ ...requestFields(req), err: failure }, "could not record a refused request");
  }

  /** #methodsFor lists the methods the route table answers on `path` (for 405 and `Allow`). */
  #methodsFor(path: string): string[] {
    const methods = new Set<string>();
    for (const { method, pattern } of this.#patterns) if (pattern.test(path)) methods.add(method);
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  }

  /** addOriginPolicy lets a module allow more browser origins (checked when not configured). */
  addOriginPolicy(policy: (origin: string) => Promise<boolean>): void {
    this.#originPolicies.push(policy);
  }

  async #allowsOrigin(origin: string): Promise<boolean> {
    for (const policy of this.#originPolicies) if (await policy(origin)) return true;
    return false;
  }

  /** register adds a route to the table and to Fastify. Throws on a duplicate operationId. */
  register(route: RouteDefinition): void {
    if (this.routes.some((r) => r.operationId === route.operationId)) {
      throw new Error(`Duplicate operationId "${route.operationId}"`);
    }
    if (route.requestStream && route.body) throw new Error(`Route ${route.operationId}: requestStream excludes body`);
    this.routes.push(route);
    this.#patterns.push({ method: route.method, pattern: routePattern(route.url) });
    if (route.requestStream) {
      // A streamed body: in its own context every content type reaches the handler unread.
      this.fastify.register(async (child) => {
        child.removeAllContentTypeParsers();
        child.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
        child.route({
          method: route.method,
          url: route.url,
          config: { accessLog: route.accessLog ?? true },
          handler: (req, reply) => this.#handle(route, req, reply),
        });
      });
      return;
    }
    this.fastify.route({
      method: route.method,
      url: route.url,
      config: { accessLog: route.accessLog ?? true },
      handler: (req, reply) => this.#handle(route, req, reply),
    });
  }

  async #handle(route: RouteDefinition, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const { credentials, ledger } = this.deps;
    const request: RequestInfo = { requestId: req.id, ip: req.ip };
    const userAgent = req.headers["user-agent"];
    if (userAgent) request.userAgent = userAgent.slice(0, 512);

    let principal: Principal | null = null;
    if (route.auth !== "none") {
      principal = await credentials.resolve(req.headers.authorization, request);
      req.principal = principal;
      if (this.deps.refusals && req.headers[ENVIRONMENT_HEADER] !== undefined) {
        principal = await this.deps.refusals.bindEnvironment(principal, req.headers[ENVIRONMENT_HEADER]);
        req.principal = principal;
      }
      if (typeof route.auth === "object") {
        if (!principal) {
          throw new AppError(PlatformErrors.unauthenticated, "Send a credential as `Authorization: Bearer <token>`.", {
            headers: { "www-authenticate": "Bearer" },
          });
        }
        if (route.auth.actorTypes !== "any" && !route.auth.actorTypes.includes(principal.actorType)) {
          const err = markRefused(
            new AppError(
              PlatformErrors.forbidden,
              `This route is not available to ${CREDENTIAL_NAMES[principal.actorType]}; it accepts ${listOf(route.auth.actorTypes.map((t) => CREDENTIAL_NAMES[t]))}.`,
            ),
            { permission: null, reason: "credential_not_accepted", requestedTenantId: null },
          );
          await this.#recordDenial({ principal, request }, route, req, err);
          throw err;
        }
      }
      if (principal && this.deps.rateLimits) {
        const checked = this.deps.rateLimits.check(principal, rateLimitSurface(route));
        const decision = checked instanceof Promise ? await checked : checked;
        if (decision) {
          if (!decision.allowed && decision.refusedBy) {
            this.deps.metrics.rateLimited.inc({ scope: decision.refusedBy.scope, surface: decision.refusedBy.surface });
          }
          applyRateLimit(reply, decision);
        }
      }
    }

    const params = parse(route.params, req.params, "params");
    const query = parse(route.query, req.query, "query");
    const stream = route.requestStream ? ((req.body as Readable | undefined) ?? Readable.from([])) : null;
    const body = route.requestStream
      ? undefined
      : route.body
        ? parse(route.body, bodyOrEmpty(route.body, req.body), "body")
        : noBody(req.body);
    const ctx: ActionContext = { principal, request };

    if (route.method === "POST" && principal) {
      const key = IdempotencyLedger.parseKey(req.headers["idempotency-key"]);
      if (key !== null) {
        const begun = await ledger.begin(
          {
            environmentId: principal.environmentId ?? null,
            credentialId: principal.credentialId,
            method: route.method,
            path: req.url.split("?")[0] ?? req.url,
          },
          key,
          IdempotencyLedger.fingerprint(
            stream
              ? {
                  contentType: req.headers["content-type"] ?? null,
                  contentLength: req.headers["content-length"] ?? null,
                }
              : body,
            query,
          ),
          route.response.status,
          route.secretFields,
        );
        if (begun.kind === "replay") {
          const { status, body: stored } = begun.response;
          if (status >= 400) problemCodes.set(req, storedProblemCode(stored));
          reply.header("idempotent-replayed", "true");
          return reply
            .code(status)
            .type(status >= 400 ? PROBLEM_CONTENT_TYPE : JSON_TYPE)
            .send(stored);
        }
        ctx.idempotency = begun.claim;
      }
    }

    const claim = ctx.idempotency;
    let status = route.response.status;
    const setStatus = (code: number) => {
      if (route.method !== "GET") throw new Error("setStatus is only for GET routes");
      status = code;
    };
    const hijack = () => {
      if (route.method !== "GET") throw new Error("hijack is only for GET routes");
      reply.hijack();
      const res = reply.raw;
      this.#hijacked.add(res);
      res.once("close", () => this.#hijacked.delete(res));
      return { req: req.raw, res, requestId: req.id };
    };
    try {
      const result = await route.handler({
        body,
        query,
        params,
        ctx,
        principal,
        headers: req.headers,
        stream,
        setStatus,
        hijack,
      });
      if (reply.sent) return reply;
      if (result instanceof Replayed) {
        if (route.method !== "POST") throw new Error("Replayed is only for POST routes");
        reply.header("idempotent-replayed", "true");
        if (claim && !claim.completed) {
          const stored = IdempotencyLedger.withholdSecrets(result.value, route.secretFields ?? []);
          await ledger.completeOutside(claim, { status: 200, body: stored });
        }
        return reply
          .code(200)
          .type(JSON_TYPE)
          .send(JSON.stringify(result.value ?? null));
      }
      if (claim) {
        const live = claim.liveBody ?? JSON.stringify(result ?? null);
        if (!claim.completed) {
          const stored = IdempotencyLedger.withholdSecrets(result, route.secretFields ?? []);
          await ledger.completeOutside(claim, { status: route.response.status, body: stored });
        }
        return reply
          .code(claim.completed?.status ?? route.response.status)
          .type(JSON_TYPE)
          .send(live);
      }
      if (result instanceof StreamedBody) {
        return reply.code(status).headers(result.headers).type(result.contentType).send(Readable.from(result.chunks));
      }
      if (status === 204) return reply.code(204).send();
      return reply.code(status).type(JSON_TYPE).send(JSON.stringify(result));
    } catch (err) {
      if (err instanceof IdempotentReplay) {
        // Another request with this key committed first (another process); this one's write rolled back.
        if (err.response.status >= 400) problemCodes.set(req, storedProblemCode(err.response.body));
        reply.header("idempotent-replayed", "true");
        return reply
          .code(err.response.status)
          .type(err.response.status >= 400 ? PROBLEM_CONTENT_TYPE : JSON_TYPE)
          .send(err.response.body);
      }
      // Execution began: like Stripe, the key now answers with this outcome, 5xx included, unless
      // the failure was the idempotency layer's own conflict.
      await this.#recordDenial(ctx, route, req, err);
      if (claim && !claim.completed && !(err instanceof AppError && err.code.startsWith("idempotency_"))) {
        const { problem } = toProblem(err, req.id);
        await ledger
          .completeOutside(claim, { status: problem.status, body: JSON.stringify(problem) })
          .catch((storeErr) =>
            this.deps.logger.error(
              { ...requestFields(req), err: storeErr },
              "could not store idempotent error response",
            ),
          );
      }
      throw err;
    } finally {
      claim?.release();
    }
  }
}

/**
 * applyRateLimit sets the `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers)
 * on the response, and refuses the request with 429 `rate_limited` and `Retry-After` when a bucket is empty.
 */
function applyRateLimit(reply: FastifyReply, decision: RateLimitDecision): void {
  reply.header("ratelimit-policy", decision.policy);
  reply.header("ratelimit", decision.state);
  if (decision.allowed) return;
  const by = decision.refusedBy;
  const which = by
    ? `${by.limit} ${by.surface} requests per ${by.windowSeconds} s for this ${by.scope === "tenant" ? "tenant" : "credential"}`
    : "the rate limit";
  throw new AppError(
    PlatformErrors.rate_limited,
    `Over ${which}; retry in ${decision.retryAfterSeconds} s (see the RateLimit and RateLimit-Policy headers).`,
    { headers: { "retry-after": String(decision.retryAfterSeconds) } },
  );
}

function sendFrameworkError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const { problem } = toProblem(err, req.id);
  problemCodes.set(req, problem.code);
  void reply
    .code(problem.status)
    .headers({ "x-request-id": req.id, "x-content-type-options": "nosniff", "cache-control": "no-store" })
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem));
}

/**
 * routePattern compiles a route URL (`/v1/tenants/:tenantId`) into a pattern matching the paths it
 * serves (one non-empty segment per parameter, an optional trailing slash).
 */
function routePattern(url: string): RegExp {
  const source = url
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}

const CLIENT_ERRORS: Record<string, { error: ErrorCode; detail: string; reason: string }> = {
  HPE_HEADER_OVERFLOW: {
    error: PlatformErrors.headers_too_large,
    detail: "The request line and headers (the URL's query string included) exceed the server's limit.",
    reason: "Request Header Fields Too Large",
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    error: PlatformErrors.request_timeout,
    detail: "The request was not received in time.",
    reason: "Request Timeout",
  },
};

/**
 * sendClientError answers an error of Node's HTTP parser (before any route runs) with a problem
 * document and closes the connection. Nothing is written to a socket that is already gone.
 */
function sendClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const known = CLIENT_ERRORS[err.code ?? ""];
  const requestId = newId("request");
  const { problem } = toProblem(
    new AppError(known?.error ?? PlatformErrors.bad_request, known?.detail ?? "The HTTP request could not be parsed."),
    requestId,
  );
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${known?.reason ?? "Bad Request"}\r\n` +
      `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function parse(schema: ZodType | undefined, value: unknown, location: string): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value ?? (location === "body" ? undefined : {}));
  if (result.success) {
    const invalid = findInvalidText(result.data, location);
    if (invalid !== null) {
      throw new AppError(PlatformErrors.validation_failed, `${invalid.path}: ${invalid.message}`, {
        errors: [{ path: invalid.path, message: invalid.message, code: "invalid_format" }],
      });
    }
    return result.data;
  }
  const errors = fieldErrors(result.error, location);
  const first = errors[0];
  throw new AppError(PlatformErrors.validation_failed, first ? `${first.path}: ${first.message}` : undefined, {
    errors,
  });
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

function listOf(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/**
 * bodyOrEmpty lets an action route whose body is entirely optional (`/reactivate`, `/logout`) be
 * called without one: an absent body reads as `{}` when the schema accepts `{}`.
 */
function bodyOrEmpty(schema: ZodType, body: unknown): unknown {
  if (body !== undefined && body !== null) return body;
  return schema.safeParse({}).success ? {} : body;
}

function noBody(body: unknown): undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "object" && Object.keys(body).length === 0) return undefined;
  throw new AppError(PlatformErrors.validation_failed, "body: this route takes no request body", {
    errors: [{ path: "body", message: "this route takes no request body", code: "unrecognized_keys" }],
  });
}

/**
 * storedProblemCode reads the code of a stored problem document (an idempotent replay of a failure),
 * or `unknown` when the stored body is not one.
 */
function storedProblemCode(body: string): string {
  try {
    const code = (JSON.parse(body) as { code?: unknown } | null)?.code;
    return typeof code === "string" ? code : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * problemCodes: the problem code a request was answered with, for its access log line and the
 * record of answered codes (`recordProblemCode`).
 */
const problemCodes = new WeakMap<FastifyRequest, string>();

/**
 * requestFields are the fields every log line about a request carries: its id and, once
 * authenticated, who acted where. (Logged through the app logger: no per-request child logger.)
 */
function requestFields(req: FastifyRequest): Record<string, string> {
  const p = req.principal;
  if (!p) return { requestId: req.id };
  return {
    requestId: req.id,
    actor: `${p.actorType}:${p.actorId}`,
    ...(p.environmentId ? { environmentId: p.environmentId } : {}),
    ...(p.tenantId ? { tenantId: p.tenantId } : {}),
  };
}
