/**
 * @baseplate/sdk/next — request authentication for Next.js route handlers (App Router), or any
 * handler from a web `Request` to a `Response`.
 */
import {
  type AuthOptions,
  type BaseplateAuth,
  createAuthenticator,
  PROBLEM_CONTENT_TYPE,
  wwwAuthenticate,
} from "./auth.js";

export { type AuthOptions, type BaseplateAuth, can, type Principal } from "./auth.js";

/** NextAuthOptions: AuthOptions plus where a request names its tenant. */
export interface NextAuthOptions<C> extends AuthOptions {
  /** tenantId: the tenant whose permissions a user's credential is checked in (e.g. from `await context.params`). */
  tenantId?: (request: Request, context: C) => string | undefined | Promise<string | undefined>;
}

/**
 * withBaseplate wraps a route handler: the bearer credential is verified through the plane and the
 * handler is called with the caller's auth ({ principal, tenant, permissions, can }); otherwise
 * the wrapper answers the 401/403/503 problem itself.
 *
 * ```ts
 * export const GET = withBaseplate({ permission: "invoices:read" }, async (request, auth) => Response.json(auth.tenant));
 * ```
 */
export function withBaseplate<C = unknown>(
  options: NextAuthOptions<C>,
  handler: (request: Request, auth: BaseplateAuth, context: C) => Response | Promise<Response>,
): (request: Request, context: C) => Promise<Response> {
  const authenticator = createAuthenticator(options);
  return async (request, context) => {
    const outcome = await authenticator.authenticate(request.headers.get("authorization"), {
      tenantId: await options.tenantId?.(request, context),
    });
    if (outcome.ok) return handler(request, outcome.auth, context);
    const headers = new Headers({ "content-type": PROBLEM_CONTENT_TYPE });
    const challenge = wwwAuthenticate(outcome.problem);
    if (challenge) headers.set("www-authenticate", challenge);
    return new Response(JSON.stringify(outcome.problem), { status: outcome.problem.status, headers });
  };
}
