import type { z } from "zod";
import { parseToken } from "../../../platform/crypto.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { isoOrNull } from "../../../platform/http/schemas.js";
import { intersectPermissions } from "../../../platform/permissions.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { IDENTITY_TOKEN_PREFIX, IdentityErrors } from "../../identity/index.js";
import type { Core } from "../internal/core.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { VerifyCredentialInput, VerifyCredentialResult } from "../schemas.js";
import type { GrantsService } from "./grants.js";
import type { KeyResolution } from "./resolve.js";

type Result = z.infer<typeof VerifyCredentialResult>;
type Refusal = Extract<Result, { valid: false }>["reason"];

/**
 * CACHE_BOUND_SECONDS: the longest a cached answer can lag a revocation made in another process
 * when the change bus fails to deliver it (the credential caches' TTL, see `OwnedCache`). The bus
 * normally evicts at once: in the revoking process before and after its commit, in others on
 * PostgreSQL's NOTIFY at commit, and on SQLite within `SQLITE_WATCH_MS` (250 ms).
 */
export const CACHE_BOUND_SECONDS = 30;

const JWT = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

/**
 * CredentialVerification answers "is this credential good, and what may it do?" for a product's
 * backend (`POST /v1/credentials/verify`, the environment's secret keys): session tokens, tenant
 * keys, agent keys, and JWT access tokens of the environment. It goes through the same resolvers
 * and caches as the plane's own requests, so a revoked key is refused at once in this process and
 * as soon as the change bus tells the others. A credential of another environment is refused as
 * `invalid`, exactly like an unknown one. `permissions` are effective: a key's ∩ its surface's
 * ceiling; an agent's scope ∩ its user's current permissions ∩ the ceiling; a user's roles in
 * `tenantId` (when named) ∩ the ceiling.
 */
export class CredentialVerification {
  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
    private readonly keys: KeyResolution,
  ) {}

  async verifyCredential(ctx: ActionContext, input: z.infer<typeof VerifyCredentialInput>): Promise<Result> {
    const { environmentId } = this.c.m.access.environment(ctx, "access:check");
    const refuse = (reason: Refusal): Result => ({ valid: false, reason });
    const { token } = input;
    if (JWT.test(token)) return this.#accessToken(environmentId, token, input.tenantId ?? null);
    const parsed = parseToken(token, [
      TOKEN_PREFIX.tenantKey,
      TOKEN_PREFIX.agentKey,
      IDENTITY_TOKEN_PREFIX.session,
      IDENTITY_TOKEN_PREFIX.secretKey,
      IDENTITY_TOKEN_PREFIX.operator,
    ]);
    if (!parsed) return refuse("malformed");
    switch (parsed.prefix) {
      case TOKEN_PREFIX.tenantKey:
        return this.#key(environmentId, "tenant_key", await this.keys.resolveTenantKey(token));
      case TOKEN_PREFIX.agentKey:
        return this.#key(environmentId, "agent_key", await this.keys.resolveAgentKey(token));
      case IDENTITY_TOKEN_PREFIX.session: {
        let principal: Principal | null;
        try {
          principal = await this.c.identity.resolution.resolveSession(token);
        } catch (err) {
          if (!isExpired(err)) throw err;
          // Told only for this environment's sessions: another's is as unknown as a made-up token.
          const owner = await this.c.identity.resolution.sessionEnvironment(token);
          return refuse(owner === environmentId ? "expired" : "invalid");
        }
        if (!principal || principal.environmentId !== environmentId) return refuse("invalid");
        return this.#user(environmentId, "session", principal, input.tenantId ?? null, null);
      }
      default:
        // Secret keys and operator tokens are the plane's own credentials, not a product's users'.
        return refuse("unsupported_kind");
    }
  }

  /**
   * describeSelf answers `GET /v1/credentials/self`: the calling credential (a session, access
   * token, tenant key or agent key) described as `verifyCredential` would describe it to the
   * product's backend, so a key can learn its own tenant, delegation and effective permissions
   * without a secret key. It needs no permission (what a credential may do is no secret to it) and
   * writes nothing. A user, who always acts within a tenant, names it (`tenantId`, 400 otherwise,
   * as on every route a session calls within a tenant) and learns their permissions there.
   */
  async describeSelf(ctx: ActionContext, bearer: string, tenantId: string | null): Promise<Result> {
    const p = ctx.principal;
    if (!p?.environmentId) throw new Error("describeSelf needs an environment credential");
    switch (p.actorType) {
      case "tenant_key":
        return this.#key(p.environmentId, "tenant_key", p);
      case "agent":
        return this.#key(p.environmentId, "agent_key", p);
      case "user":
        if (tenantId === null) {
          const message = "is required for a user session: a user acts within a tenant";
          throw new AppError(PlatformErrors.validation_failed, `query.tenantId: ${message}`, {
            errors: [{ path: "query.tenantId", message, code: "invalid_type" }],
          });
        }
        return this.#user(p.environmentId, JWT.test(bearer) ? "access_token" : "session", p, tenantId, null);
      default:
        return { valid: false, reason: "unsupported_kind" };
    }
  }

  async #accessToken(environmentId: string, token: string, tenantId: string | null): Promise<Result> {
    const verified = await this.c.identity.accessTokens.verifyAccessToken(environmentId, token);
    if (!verified.valid) return { valid: false, reason: verified.reason };
    const { claims } = verified;
    // A valid signature is not enough: the session behind the token must still be live.
    let session: Principal | null;
    try {
      session = await this.c.identity.resolution.resolveSessionById(claims.sessionId);
    } catch (err) {
      if (!isExpired(err)) throw err;
      return { valid: false, reason: "expired" };
    }
    if (!session || session.environmentId !== environmentId || session.actorId !== claims.userId) {
      return { valid: false, reason: "revoked" };
    }
    return this.#user(environmentId, "access_token", session, tenantId, claims.expiresAt);
  }

  async #user(
    environmentId: string,
    kind: "session" | "access_token",
    p: Principal,
    tenantId: string | null,
    expiresAt: number | null,
  ): Promise<Result> {
    let permissions: string[] = [];
    if (tenantId !== null) {
      const held = await this.grants.held(environmentId, p.actorId, tenantId);
      permissions = held ? ceilinged(held.permissions.patterns, p.ceiling) : [];
    }
    return {
      valid: true,
      kind,
      actor: { type: "user", id: p.actorId, displayName: p.displayName ?? null },
      environmentId,
      surfaceId: p.surfaceId ?? null,
      tenantId,
      permissions,
      expiresAt: isoOrNull(expiresAt ?? p.expiresAt),
      sessionId: p.credentialId,
      authLevel: p.auth?.aal ?? 1,
      authMethod: p.auth?.method ?? null,
      onBehalfOf: null,
      cachedFor: CACHE_BOUND_SECONDS,
    };
  }

  #key(environmentId: string, kind: "tenant_key" | "agent_key", p: Principal | null): Result {
    if (!p || p.environmentId !== environmentId) return { valid: false, reason: "invalid" };
    return {
      valid: true,
      kind,
      actor: { type: p.actorType, id: p.actorId, displayName: p.displayName ?? null },
      environmentId,
      surfaceId: p.surfaceId ?? null,
      tenantId: p.tenantId ?? null,
      permissions: ceilinged(p.permissions, p.ceiling),
      expiresAt: isoOrNull(p.expiresAt),
      sessionId: null,
      authLevel: null,
      authMethod: null,
      onBehalfOf: p.onBehalfOf ? { type: p.onBehalfOf.actorType, id: p.onBehalfOf.actorId } : null,
      cachedFor: CACHE_BOUND_SECONDS,
    };
  }
}

function ceilinged(permissions: readonly string[], ceiling: readonly string[] | undefined): string[] {
  return (ceiling === undefined ? [...permissions] : intersectPermissions(permissions, ceiling)).sort();
}

function isExpired(err: unknown): boolean {
  return err instanceof AppError && err.code === IdentityErrors.session_expired.code;
}
