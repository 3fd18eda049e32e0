import { OwnedCache } from "../../platform/cache.js";
import { fromJson, type Tx, type TypedDb, toJson } from "../../platform/db/index.js";
import { isoOrNull } from "../../platform/http/schemas.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import {
  RATE_LIMIT_SCOPES,
  RATE_LIMIT_SURFACES,
  type RateLimitOverrides,
  type TenantRateLimits as Rules,
} from "../../platform/ratelimit/index.js";
import type { SetTenantRateLimitsInput, TenantRateLimits } from "./schemas.js";
import type { RateLimitsTables } from "./tables.js";

/** RATE_LIMITS_TOPIC: the change-bus topic on which `<environmentId>:<tenantId>` is published when a tenant's limits change. */
export const RATE_LIMITS_TOPIC = "rate_limits";

/**
 * RateLimitsService keeps tenants' own rate limits (the environment's secret keys set them) and
 * answers the platform limiter's `forTenant` from a cache that every process evicts when they
 * change (the change bus): a new limit applies on the next request in the writing process and,
 * in the others, as soon as the bus delivers the change (PostgreSQL notifies at commit).
 */
export class RateLimitsService implements RateLimitOverrides {
  readonly #db: TypedDb<RateLimitsTables>;
  readonly #cache: OwnedCache<Rules | null>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<RateLimitsTables>();
    this.#cache = new OwnedCache(m.bus, [RATE_LIMITS_TOPIC], 60_000, 100_000);
  }

  /** forTenant: the tenant's own rules, or null (the defaults). Synchronous on a cache hit. */
  forTenant(environmentId: string, tenantId: string): Rules | null | Promise<Rules | null> {
    const key = `${environmentId}:${tenantId}`;
    const now = this.m.clock.now();
    const hit = this.#cache.get(key, now);
    if (hit) return hit.value;
    const generation = this.#cache.generation;
    return this.#read(environmentId, tenantId).then((row) => {
      const rules = row ? row.rules : null;
      this.#cache.set(
        key,
        { value: rules, validUntil: Number.MAX_SAFE_INTEGER, owners: [key], cachedAt: now },
        generation,
      );
      return rules;
    });
  }

  async get(ctx: ActionContext, tenantId: string): Promise<TenantRateLimits> {
    const { environmentId } = await this.m.access.require(ctx, "rate_limits:read", { tenantId });
    const row = await this.#read(environmentId, tenantId);
    return this.#effective(tenantId, row);
  }

  async set(ctx: ActionContext, tenantId: string, input: SetTenantRateLimitsInput): Promise<TenantRateLimits> {
    const { environmentId } = await this.m.access.require(ctx, "rate_limits:write", { tenantId });
    const rules = normalize(input);
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const before = await this.#read(environmentId, tenantId, tx);
      await this.#db
        .q(tx)
        .insertInto("tenant_rate_limit")
        .values({
          environment_id: environmentId,
          tenant_id: tenantId,
          rules: toJson(rules),
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(["environment_id", "tenant_id"]).doUpdateSet({ rules: toJson(rules), updated_at: now }),
        )
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "tenant_rate_limits.set",
        environmentId,
        tenantId,
        targets: [{ type: "tenant", id: tenantId }],
        data: { before: before?.rules ?? null, after: rules },
      });
      await this.m.bus.publish(tx, RATE_LIMITS_TOPIC, `${environmentId}:${tenantId}`);
      return this.#effective(tenantId, { rules, updatedAt: now });
    });
  }

  async clear(ctx: ActionContext, tenantId: string): Promise<TenantRateLimits> {
    const { environmentId } = await this.m.access.require(ctx, "rate_limits:write", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      const before = await this.#read(environmentId, tenantId, tx);
      if (!before) return this.#effective(tenantId, null);
      const deleted = await this.#db
        .q(tx)
        .deleteFrom("tenant_rate_limit")
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 1) {
        await this.m.facts.record(tx, ctx, {
          type: "tenant_rate_limits.cleared",
          environmentId,
          tenantId,
          targets: [{ type: "tenant", id: tenantId }],
          data: { before: before.rules },
        });
        await this.m.bus.publish(tx, RATE_LIMITS_TOPIC, `${environmentId}:${tenantId}`);
      }
      return this.#effective(tenantId, null);
    });
  }

  async #read(environmentId: string, tenantId: string, tx?: Tx): Promise<{ rules: Rules; updatedAt: number } | null> {
    const row = await this.#db
      .q(tx)
      .selectFrom("tenant_rate_limit")
      .select(["rules", "updated_at"])
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .$if(tx !== undefined, (qb) => qb.$call((q) => this.m.db.forUpdate(q)))
      .executeTakeFirst();
    return row ? { rules: fromJson<Rules>(row.rules), updatedAt: Number(row.updated_at) } : null;
  }

  #effective(tenantId: string, row: { rules: Rules; updatedAt: number } | null): TenantRateLimits {
    const defaults = this.m.config.rateLimits;
    const out = { tenantId, updatedAt: isoOrNull(row?.updatedAt) } as TenantRateLimits;
    for (const scope of RATE_LIMIT_SCOPES) {
      const surfaces = {} as TenantRateLimits["tenant"];
      for (const surface of RATE_LIMIT_SURFACES) {
        const own = row?.rules[scope]?.[surface];
        surfaces[surface] = own ? { ...own, source: "tenant" } : { ...defaults[scope][surface], source: "default" };
      }
      out[scope] = surfaces;
    }
    return out;
  }
}

/** normalize keeps only the rules given, in a stable shape (scopes and surfaces in order). */
function normalize(input: SetTenantRateLimitsInput): Rules {
  const rules: Rules = {};
  for (const scope of RATE_LIMIT_SCOPES) {
    for (const surface of RATE_LIMIT_SURFACES) {
      const rule = input[scope]?.[surface];
      if (rule) rules[scope] = { ...rules[scope], [surface]: { limit: rule.limit, windowSeconds: rule.windowSeconds } };
    }
  }
  return rules;
}
