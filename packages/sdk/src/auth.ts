import { createHash, randomUUID } from "node:crypto";
import type { paths } from "./generated/openapi.js";
import type { ProblemDocument } from "./problem.js";
import { sleep } from "./transport.js";

type VerifyAnswer = paths["/v1/credentials/verify"]["post"]["responses"][200]["content"]["application/json"];
type ValidAnswer = Extract<VerifyAnswer, { valid: true }>;

/** Principal is the verified caller: who it is, through which credential, acting for whom. */
export interface Principal {
  /** type: `user`, `tenant_key` or `agent`. */
  type: string;
  id: string;
  displayName: string | null;
  /** kind: the credential presented (`session`, `access_token`, `tenant_key`, `agent_key`). */
  kind: ValidAnswer["kind"];
  environmentId: string;
  surfaceId: string | null;
  sessionId: string | null;
  authLevel: number | null;
  /** onBehalfOf: the delegating user of an agent key. */
  onBehalfOf: { type: string; id: string } | null;
  /** expiresAt: when the credential expires (null: it does not). */
  expiresAt: Date | null;
}

/** BaseplateAuth is what the middlewares put on a request: the caller, its tenant, its permissions. */
export interface BaseplateAuth {
  principal: Principal;
  /** tenant: the key's tenant, or the tenant the request named (see `tenantId`); null otherwise. */
  tenant: { id: string } | null;
  /** permissions: effective permissions (after the surface's ceiling, an agent's user, a user's roles in the tenant). */
  permissions: readonly string[];
  /** can tells whether the permissions allow `permission` (`resource:action`). */
  can(permission: string): boolean;
}

/** AuthOptions configure credential verification through the plane. */
export interface AuthOptions {
  /** baseUrl: the plane's address (default `BASEPLATE_URL`). */
  baseUrl?: string;
  /** secretKey: your product's `bp_sk_` key, which asks the plane (default `BASEPLATE_SECRET_KEY`). */
  secretKey?: string;
  /** cacheTtlMs: how long a positive answer is reused (default 10,000; 0 disables the cache). Bounds revocation latency. */
  cacheTtlMs?: number;
  /** cacheSize: the most answers kept (default 10,000; least recently used first out). */
  cacheSize?: number;
  /** timeoutMs: the limit of one verification call (default 5,000). */
  timeoutMs?: number;
  /** permission: a permission every request must have (403 otherwise). */
  permission?: string;
  fetch?: typeof fetch;
}

/** AuthOutcome: the caller's auth, or the problem to answer (401 missing/invalid, 403 refused, 503 plane unreachable). */
export type AuthOutcome = { ok: true; auth: BaseplateAuth } | { ok: false; problem: ProblemDocument };

/**
 * can reports whether granted permission patterns allow `permission`, with the plane's rules:
 * `*` (everything), `resource:*`, `*:action`, or the exact `resource:action`.
 */
export function can(granted: readonly string[], permission: string): boolean {
  const colon = permission.indexOf(":");
  if (colon <= 0) return false;
  const resource = permission.slice(0, colon);
  const action = permission.slice(colon + 1);
  return granted.some((g) => g === "*" || g === permission || g === `${resource}:*` || g === `*:${action}`);
}

/** Authenticator verifies bearer credentials through the plane, with a bounded cache of positive answers. */
export interface Authenticator {
  /**
   * authenticate checks an `Authorization` header value (`Bearer …`). `tenantId` asks for a user's
   * permissions in that tenant. `permission`, when given (or set in the options), must be allowed.
   */
  authenticate(
    authorization: string | null | undefined,
    request?: { tenantId?: string | undefined; permission?: string | undefined },
  ): Promise<AuthOutcome>;
  /** forget drops every cached answer (after you revoke something and cannot wait for the TTL). */
  forget(): void;
}

interface CacheEntry {
  auth: BaseplateAuth;
  until: number;
}

/**
 * createAuthenticator returns the verifier the framework middlewares share. It calls
 * `POST /v1/credentials/verify` with the secret key and caches positive answers for at most
 * `cacheTtlMs` and never past the credential's expiry, so a revocation takes effect here within
 * `cacheTtlMs` (plus the plane's `cachedFor` should its change bus fail). Refusals are not cached.
 * The verification call is retried once on a network error or 5xx (it changes nothing).
 */
export function createAuthenticator(options: AuthOptions = {}): Authenticator {
  const baseUrl = (options.baseUrl ?? process.env.BASEPLATE_URL ?? "").replace(/\/+$/, "");
  const secretKey = options.secretKey ?? process.env.BASEPLATE_SECRET_KEY ?? "";
  if (!baseUrl || !secretKey)
    throw new TypeError("Baseplate auth needs baseUrl and secretKey (or BASEPLATE_URL and BASEPLATE_SECRET_KEY).");
  const ttl = options.cacheTtlMs ?? 10_000;
  const size = options.cacheSize ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const doFetch = options.fetch ?? globalThis.fetch;
  const cache = new Map<string, CacheEntry>();

  async function verify(token: string, tenantId: string | undefined): Promise<VerifyAnswer | ProblemDocument> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await doFetch(`${baseUrl}/v1/credentials/verify`, {
          method: "POST",
          headers: { authorization: `Bearer ${secretKey}`, "content-type": "application/json" },
          body: JSON.stringify(tenantId ? { token, tenantId } : { token }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (response.ok) return (await response.json()) as VerifyAnswer;
        if (response.status < 500 || attempt >= 1) {
          const body = (await response.json().catch(() => null)) as ProblemDocument | null;
          return problem(
            503,
            "auth_unavailable",
            `The plane refused to verify the credential (${response.status} ${body?.code ?? ""}).`,
          );
        }
      } catch {
        if (attempt >= 1)
          return problem(503, "auth_unavailable", "The plane could not be reached to verify the credential.");
      }
      await sleep(100 + Math.random() * 200);
    }
  }

  return {
    forget: () => cache.clear(),
    async authenticate(authorization, request = {}) {
      const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization ?? "");
      if (!match?.[1])
        return { ok: false, problem: problem(401, "unauthenticated", "A bearer credential is required.") };
      const token = match[1];
      const tenantId = request.tenantId || undefined;
      const permission = request.permission ?? options.permission;
      const key = `${createHash("sha256").update(token).digest("base64url")}\0${tenantId ?? ""}`;
      const now = Date.now();
      let auth: BaseplateAuth | undefined;
      const hit = cache.get(key);
      if (hit && hit.until > now) {
        cache.delete(key);
        cache.set(key, hit);
        auth = hit.auth;
      } else {
        if (hit) cache.delete(key);
        const answer = await verify(token, tenantId);
        if (!("valid" in answer)) return { ok: false, problem: answer };
        if (!answer.valid) {
          return {
            ok: false,
            problem: problem(401, "invalid_credentials", `The credential is not valid (${answer.reason}).`),
          };
        }
        auth = toAuth(answer);
        const expires = auth.principal.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
        const until = Math.min(now + ttl, expires);
        if (ttl > 0 && until > now) {
          cache.set(key, { auth, until });
          while (cache.size > size) cache.delete(cache.keys().next().value as string);
        }
      }
      if (permission && !auth.can(permission)) {
        return { ok: false, problem: problem(403, "forbidden", `The credential does not grant ${permission}.`) };
      }
      return { ok: true, auth };
    },
  };
}

function toAuth(answer: ValidAnswer): BaseplateAuth {
  const permissions = Object.freeze([...answer.permissions]);
  const expiresAt = answer.expiresAt as number | string | null;
  return {
    principal: {
      type: answer.actor.type,
      id: answer.actor.id,
      displayName: answer.actor.displayName,
      kind: answer.kind,
      environmentId: answer.environmentId,
      surfaceId: answer.surfaceId,
      sessionId: answer.sessionId,
      authLevel: answer.authLevel,
      onBehalfOf: answer.onBehalfOf,
      expiresAt: expiresAt === null ? null : new Date(expiresAt),
    },
    tenant: answer.tenantId ? { id: answer.tenantId } : null,
    permissions,
    can: (permission) => can(permissions, permission),
  };
}

/** problem builds the problem document a middleware answers itself. */
export function problem(status: number, code: string, detail: string): ProblemDocument {
  const titles: Record<number, string> = {
    401: "Authentication is required",
    403: "The caller may not do this",
    503: "The service is unavailable",
  };
  return {
    type: `urn:baseplate:problem:${code}`,
    title: titles[status] ?? "Error",
    status,
    detail,
    code,
    requestId: `req_${randomUUID()}`,
  };
}

/** PROBLEM_CONTENT_TYPE is the media type of the problems the middlewares answer. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** wwwAuthenticate is the `WWW-Authenticate` header of a 401 problem. */
export function wwwAuthenticate(p: ProblemDocument): string | undefined {
  if (p.status !== 401) return undefined;
  return p.code === "invalid_credentials" ? 'Bearer error="invalid_token"' : "Bearer";
}
