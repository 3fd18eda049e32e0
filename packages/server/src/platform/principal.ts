/**
 * Principal is the resolved caller of one request (DESIGN.md §1). `portal` is a tenant portal
 * session (bound to one tenant, on behalf of the credential that minted its link). Credential resolvers build it;
 * guards and services read it; facts record it. It never carries the credential itself.
 */
export type ActorType = "user" | "service" | "tenant_key" | "agent" | "portal" | "operator" | "system";

export interface Principal {
  actorType: ActorType;
  actorId: string;
  /** credentialId identifies the credential used (key, session); it scopes idempotency keys. */
  credentialId: string;
  /** environmentId is absent only for plane-level actors (operators, system). */
  environmentId?: string;
  surfaceId?: string;
  tenantId?: string;
  permissions: readonly string[];
  /** ceiling caps `permissions` (e.g. the surface's scope ceiling): both must allow an action. */
  ceiling?: readonly string[];
  displayName?: string;
  /** expiresAt: the credential's own expiry (epoch ms; a session's absolute one), null when it has none. */
  expiresAt?: number | null;
  /** model is an agent's declared model (e.g. the LLM behind it), recorded with what it does. */
  model?: string;
  /**
   * auth describes how an end-user session was established: its method, its authentication level
   * (1: one factor; 2: a second factor shown), when it began and when a second factor was last
   * shown (step-up checks compare it with the clock).
   */
  auth?: { method: string; aal: number; authenticatedAt: number; secondFactorAt: number | null };
  /**
   * onBehalfOf is the delegation chain: the user an agent acts for, or the support access under
   * which an operator acts inside a tenant (`support_access`, the grant's id and reason).
   */
  onBehalfOf?: { actorType: ActorType | "support_access"; actorId: string; reason?: string };
}

/** RequestInfo is where a request came from, recorded with every fact. */
export interface RequestInfo {
  requestId: string;
  ip?: string;
  userAgent?: string;
}

/**
 * ActionContext is what a service needs to act on someone's behalf: who (principal, null when
 * anonymous), from where (request), and the write hooks of the request (idempotency).
 */
export interface ActionContext {
  principal: Principal | null;
  request: RequestInfo;
  /** @internal set by the HTTP layer for idempotent POSTs; completed by `Db` writes. */
  idempotency?: import("./idempotency/ledger.js").IdempotencyClaim;
}

/** systemContext is the context of work the plane does by itself (jobs, CLI maintenance). */
export function systemContext(requestId: string, actorId = "baseplate"): ActionContext {
  return {
    principal: { actorType: "system", actorId, credentialId: "system", permissions: ["*"] },
    request: { requestId },
  };
}
