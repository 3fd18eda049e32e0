import type { Config, RateLimitRule, RateLimitSurfaceName } from "../../config.js";
import type { Clock } from "../clock.js";
import type { Principal } from "../principal.js";
import type { BucketAnswer, BucketRule } from "./gcra.js";
import type { BucketRequest, BucketStore } from "./stores.js";

/** RateLimitSurface is what a route spends from: `read`, `write` or `usage_ingest`. */
export type RateLimitSurface = RateLimitSurfaceName;
export const RATE_LIMIT_SURFACES: readonly RateLimitSurface[] = ["read", "write", "usage_ingest"];

/** RateLimitScope: a bucket per credential, or one per tenant shared by all the tenant's keys. */
export type RateLimitScope = "credential" | "tenant";
export const RATE_LIMIT_SCOPES: readonly RateLimitScope[] = ["credential", "tenant"];

/** TenantRateLimits are one tenant's own rules, replacing the defaults where given. */
export type TenantRateLimits = Partial<Record<RateLimitScope, Partial<Record<RateLimitSurface, RateLimitRule>>>>;

/**
 * RateLimitOverrides is the seam through which a module gives tenants their own limits. It is
 * asked on every request of a tenant-bound caller (tenant and agent keys), so it must answer from
 * memory nearly always (a cache that its writes evict in every process).
 */
export interface RateLimitOverrides {
  forTenant(environmentId: string, tenantId: string): TenantRateLimits | null | Promise<TenantRateLimits | null>;
}

/** RateLimitDecision is the answer for one request: whether it may run, and the header values. */
export interface RateLimitDecision {
  allowed: boolean;
  /** policy is the `RateLimit-Policy` field value (one item per bucket). */
  policy: string;
  /** state is the `RateLimit` field value (one item per bucket: remaining `r`, seconds to full `t`). */
  state: string;
  /** retryAfterSeconds: when refused, the seconds until a request would be allowed (≥ 1). */
  retryAfterSeconds: number;
  /** refusedBy describes the bucket that refused (for the problem's detail). */
  refusedBy: { scope: RateLimitScope; surface: RateLimitSurface; limit: number; windowSeconds: number } | null;
}

/** Policy is one (scope, surface, rule): built once, shared by every bucket under it. */
interface Policy {
  scope: RateLimitScope;
  surface: RateLimitSurface;
  limit: number;
  windowSeconds: number;
  rule: BucketRule;
  /** name: `credential.read`; item: its `RateLimit-Policy` item (`"credential.read";q=6000;w=60`). */
  name: string;
  item: string;
  /** suffix ends every bucket key under this policy: a changed rule is another (full) bucket. */
  suffix: string;
}

interface Bucket extends BucketRequest {
  policy: Policy;
}

/**
 * RateLimiter answers whether a request of `principal` on `surface` may run: token buckets per
 * (environment, credential) and per (environment, tenant) for tenant-bound callers, per surface,
 * with the configured rules or the tenant's own (`RateLimitOverrides`). The buckets live in a
 * `BucketStore`: this process's memory (the default: exact in one process, O(1), no I/O) or the
 * database (exact across processes). Anonymous requests are not limited here (the login throttle
 * of the identity module guards password guessing).
 */
export class RateLimiter {
  #overrides: RateLimitOverrides | null = null;
  readonly #policies = new Map<string, Policy>();

  constructor(
    private readonly config: Config["rateLimits"],
    private readonly store: BucketStore,
    private readonly clock: Clock,
  ) {}

  /** useOverrides plugs in the module that keeps tenants' own limits (one at most). */
  useOverrides(overrides: RateLimitOverrides): void {
    if (this.#overrides) throw new Error("Rate-limit overrides are already provided by another module");
    this.#overrides = overrides;
  }

  /**
   * check spends one request of `principal` on `surface`; null when no bucket applies (limits off,
   * or every applicable rule is `off`). Synchronous with the memory store and no tenant lookup.
   */
  check(principal: Principal, surface: RateLimitSurface): RateLimitDecision | null | Promise<RateLimitDecision | null> {
    if (!this.config.enabled) return null;
    const environmentId = principal.environmentId ?? "";
    const tenantId = principal.tenantId;
    if (tenantId === undefined || this.#overrides === null) {
      return this.#spend(this.#buckets(principal, environmentId, tenantId, surface, null));
    }
    const found = this.#overrides.forTenant(environmentId, tenantId);
    if (found instanceof Promise) {
      return found.then((own) => this.#spend(this.#buckets(principal, environmentId, tenantId, surface, own)));
    }
    return this.#spend(this.#buckets(principal, environmentId, tenantId, surface, found));
  }

  #buckets(
    principal: Principal,
    environmentId: string,
    tenantId: string | undefined,
    surface: RateLimitSurface,
    own: TenantRateLimits | null,
  ): Bucket[] {
    const buckets: Bucket[] = [];
    const credential = this.#policy("credential", surface, own?.credential?.[surface]);
    if (credential) {
      const key = `c|${environmentId}|${principal.credentialId}${credential.suffix}`;
      buckets.push({ key, rule: credential.rule, policy: credential });
    }
    if (tenantId !== undefined) {
      const tenant = this.#policy("tenant", surface, own?.tenant?.[surface]);
      if (tenant)
        buckets.push({ key: `t|${environmentId}|${tenantId}${tenant.suffix}`, rule: tenant.rule, policy: tenant });
    }
    return buckets;
  }

  /** #policy returns the policy of `scope` on `surface`: the tenant's own rule, else the default (null: no limit). */
  #policy(scope: RateLimitScope, surface: RateLimitSurface, own: RateLimitRule | undefined): Policy | null {
    const rule = own ?? this.config[scope][surface];
    if (rule.limit <= 0) return null;
    const id = `${scope}.${surface}.${rule.limit}/${rule.windowSeconds}`;
    let policy = this.#policies.get(id);
    if (policy === undefined) {
      const name = `${scope}.${surface}`;
      policy = {
        scope,
        surface,
        limit: rule.limit,
        windowSeconds: rule.windowSeconds,
        rule: { limit: rule.limit, windowMs: rule.windowSeconds * 1000 },
        name,
        item: `"${name}";q=${rule.limit};w=${rule.windowSeconds}`,
        // The rule is part of the bucket's key: a changed rule (a tenant's own limits set or
        // cleared) starts from a full bucket instead of reading the old rule's state with the new one.
        suffix: `|${surface}|${rule.limit}/${rule.windowSeconds}`,
      };
      if (this.#policies.size >= 10_000) this.#policies.clear();
      this.#policies.set(id, policy);
    }
    return policy;
  }

  #spend(buckets: Bucket[]): RateLimitDecision | null | Promise<RateLimitDecision | null> {
    if (buckets.length === 0) return null;
    const answers = this.store.take(buckets, this.clock.now());
    if (answers instanceof Promise) return answers.then((a) => decide(buckets, a));
    return decide(buckets, answers);
  }
}

function decide(buckets: Bucket[], answers: BucketAnswer[]): RateLimitDecision {
  let policy = "";
  let state = "";
  let allowed = true;
  let retryAfterMs = 0;
  let refusedBy: RateLimitDecision["refusedBy"] = null;
  for (let i = 0; i < buckets.length; i++) {
    const p = (buckets[i] as Bucket).policy;
    const a = answers[i] as BucketAnswer;
    const sep = i === 0 ? "" : ", ";
    policy += sep + p.item;
    state += `${sep}"${p.name}";r=${a.remaining};t=${Math.ceil(a.resetMs / 1000)}`;
    if (!a.allowed) allowed = false;
    if (a.retryAfterMs > retryAfterMs) {
      retryAfterMs = a.retryAfterMs;
      refusedBy = { scope: p.scope, surface: p.surface, limit: p.limit, windowSeconds: p.windowSeconds };
    }
  }
  return {
    allowed,
    policy,
    state,
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(retryAfterMs / 1000)),
    refusedBy: allowed ? null : refusedBy,
  };
}
