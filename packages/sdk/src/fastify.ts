/**
 * @baseplate/sdk/fastify — request authentication for Fastify 5, as a plugin. Only Fastify's types
 * are used; the plugin is registered on the scope you pass it (like fastify-plugin's skip-override).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type AuthOptions,
  type BaseplateAuth,
  createAuthenticator,
  PROBLEM_CONTENT_TYPE,
  problem,
  wwwAuthenticate,
} from "./auth.js";
import type { ProblemDocument } from "./problem.js";

export { type AuthOptions, type BaseplateAuth, can, type Principal } from "./auth.js";

declare module "fastify" {
  interface FastifyRequest {
    /** baseplate: the verified caller, set by the baseplateAuth plugin (null on routes it skipped). */
    baseplate: BaseplateAuth | null;
  }
}

/** FastifyAuthOptions: AuthOptions plus the tenant a request names and the routes left public. */
export interface FastifyAuthOptions extends AuthOptions {
  /** tenantId: the tenant whose permissions a user's credential is checked in. */
  tenantId?: (request: FastifyRequest) => string | undefined;
  /** skip: requests that need no credential (health checks, webhooks), e.g. `r => r.url === "/healthz"`. */
  skip?: (request: FastifyRequest) => boolean;
}

/**
 * baseplateAuth is a Fastify plugin: an `onRequest` hook that verifies the bearer credential
 * through the plane and sets `request.baseplate` ({ principal, tenant, permissions, can });
 * 401/403/503 are answered as problem documents. `await app.register(baseplateAuth, { secretKey })`.
 */
export async function baseplateAuth(fastify: FastifyInstance, options: FastifyAuthOptions): Promise<void> {
  const authenticator = createAuthenticator(options);
  fastify.decorateRequest("baseplate", null);
  fastify.addHook("onRequest", async (request, reply) => {
    if (options.skip?.(request)) return;
    const outcome = await authenticator.authenticate(request.headers.authorization, {
      tenantId: options.tenantId?.(request),
    });
    if (!outcome.ok) return send(reply, outcome.problem);
    request.baseplate = outcome.auth;
  });
}
// NOTE: what fastify-plugin does: the hook and decoration apply to the scope that registers the plugin.
Object.assign(baseplateAuth, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "baseplate-auth",
});

/** requirePermission is a `preHandler` answering 403 unless the caller has `permission`. */
export function requirePermission(permission: string): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    const auth = request.baseplate;
    if (!auth) return send(reply, problem(401, "unauthenticated", "A bearer credential is required."));
    if (!auth.can(permission))
      return send(reply, problem(403, "forbidden", `The credential does not grant ${permission}.`));
  };
}

async function send(reply: FastifyReply, p: ProblemDocument): Promise<void> {
  const challenge = wwwAuthenticate(p);
  if (challenge) reply.header("www-authenticate", challenge);
  await reply.code(p.status).header("content-type", PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}
