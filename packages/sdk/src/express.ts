/**
 * @baseplate/sdk/express — request authentication for Express 5 (any Connect-style framework whose
 * request and response extend Node's). No dependency on express itself.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
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

declare global {
  namespace Express {
    interface Request {
      /** baseplate: the verified caller, set by `baseplateAuth()`. */
      baseplate?: BaseplateAuth;
    }
  }
}

type Next = (err?: unknown) => void;
type Req = IncomingMessage & { baseplate?: BaseplateAuth };

/** ExpressAuthOptions: AuthOptions plus where a request names its tenant (for users' sessions). */
export interface ExpressAuthOptions extends AuthOptions {
  /** tenantId: the tenant whose permissions a user's credential is checked in (e.g. `req => req.params.tenantId`). */
  tenantId?: (req: IncomingMessage & { params?: Record<string, string> }) => string | undefined;
}

/**
 * baseplateAuth returns middleware that verifies the request's bearer credential through the plane
 * and sets `req.baseplate` ({ principal, tenant, permissions, can }); missing or invalid
 * credentials are answered 401, a missing `options.permission` 403, an unreachable plane 503, each
 * as a problem document. See AuthOptions for the cache and how it bounds revocation latency.
 */
export function baseplateAuth(
  options: ExpressAuthOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const authenticator = createAuthenticator(options);
  return (req, res, next) => {
    const header = req.headers.authorization;
    authenticator
      .authenticate(header, { tenantId: options.tenantId?.(req) })
      .then((outcome) => {
        if (!outcome.ok) return send(res, outcome.problem);
        (req as Req).baseplate = outcome.auth;
        next();
      })
      .catch(next);
  };
}

/** requirePermission answers 403 unless `req.baseplate` (set by baseplateAuth) allows `permission`. */
export function requirePermission(permission: string): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, res, next) => {
    const auth = (req as Req).baseplate;
    if (!auth) return send(res, problem(401, "unauthenticated", "A bearer credential is required."));
    if (!auth.can(permission))
      return send(res, problem(403, "forbidden", `The credential does not grant ${permission}.`));
    next();
  };
}

/** auth returns the request's verified caller; it throws when baseplateAuth did not run first. */
export function auth(req: IncomingMessage): BaseplateAuth {
  const found = (req as Req).baseplate;
  if (!found) throw new Error("baseplateAuth() must run before this handler.");
  return found;
}

function send(res: ServerResponse, p: ProblemDocument): void {
  const challenge = wwwAuthenticate(p);
  if (challenge) res.setHeader("www-authenticate", challenge);
  res.statusCode = p.status;
  res.setHeader("content-type", PROBLEM_CONTENT_TYPE);
  res.end(JSON.stringify(p));
}
