import type { z } from "zod";
import { ENVIRONMENT_WIDE, type TenantState } from "../../../platform/access.js";
import { OwnedCache } from "../../../platform/cache.js";
import { containsPattern, isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../errors.js";
import { newId } from "../ids.js";
import { changedFields, toTenant } from "../internal/rows.js";
import {
  type CreateTenantInput,
  type DeactivateTenantInput,
  type ListTenantsQuery,
  type ReactivateTenantInput,
  type SuspendTenantInput,
  slugify,
  type Tenant,
  type UpdateTenantInput,
} from "../schemas.js";
import type { TenancyTables } from "../tables.js";

/**
 * TENANT_TRANSITIONS is the tenant lifecycle state machine: from each state, the states it may
 * move to (billing will add `trial` and `past_due`). Every state change goes through
 * `transitionTenant`, which records the reason, the category and the actor.
 */
export const TENANT_TRANSITIONS: Readonly<Record<TenantStateName, readonly TenantStateName[]>> = {
  active: ["suspended", "deactivated"],
  suspended: ["active", "deactivated"],
  deactivated: ["active"],
};
export type TenantStateName = "active" | "suspended" | "deactivated";

/** TRANSITION_FACTS names the fact of a move into each state. */
const TRANSITION_FACTS: Readonly<Record<TenantStateName, string>> = {
  active: "tenant.reactivated",
  suspended: "tenant.suspended",
  deactivated: "tenant.deactivated",
};

/** TENANT_TOPIC is the change-bus topic on which a tenant's id is published when its state changes. */
export const TENANT_TOPIC = "tenants";

/** TenantsService: the customer organisations of an environment (environment API). */
export class TenantsService {
  readonly #states: OwnedCache<TenantState | null>;
  /** #zones: tenants' time zones (`<environment>:<tenant>`), evicted when the tenant changes. */
  readonly #zones: OwnedCache<string | null>;
  /** #subjects: usage subjects (`<environment>\n<id or externalId>`) resolved to their tenant. */
  readonly #subjects: OwnedCache<{ id: string; state: TenantStateName }>;

  readonly #db: TypedDb<TenancyTables>;
  /** #tenantQuery: the hottest read of the module (every tenant-path request), built once. */
  readonly #tenantQuery;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<TenancyTables>();
    this.#tenantQuery = this.#db.compiled((q, environmentId: string, id: string) =>
      q.selectFrom("tenant").selectAll().where("environment_id", "=", environmentId).where("id", "=", id),
    );
    this.#states = new OwnedCache(m.bus, [TENANT_TOPIC]);
    this.#subjects = new OwnedCache(m.bus, [TENANT_TOPIC]);
    this.#zones = new OwnedCache(m.bus, [TENANT_TOPIC]);
  }

  /**
   * timeZoneOf answers a tenant's IANA time zone (null for a tenant of another environment), from a
   * cache every process evicts when the tenant changes. Inside a transaction pass its `tx`: the
   * read then runs on the transaction's connection (never waiting for another).
   */
  async timeZoneOf(environmentId: string, tenantId: string, tx?: Tx): Promise<string | null> {
    const now = this.m.clock.now();
    const key = `${environmentId}:${tenantId}`;
    const hit = this.#zones.get(key, now);
    if (hit) return hit.value;
    const generation = this.#zones.generation;
    const row = await this.#db
      .q(tx)
      .selectFrom("tenant")
      .select("time_zone")
      .where("environment_id", "=", environmentId)
      .where("id", "=", tenantId)
      .executeTakeFirst();
    const zone = row?.time_zone ?? null;
    this.#zones.set(
      key,
      { value: zone, validUntil: Number.MAX_SAFE_INTEGER, owners: [tenantId, environmentId], cachedAt: now },
      generation,
    );
    return zone;
  }

  /**
   * sampleTenantIds returns up to `limit` active tenants of an environment (oldest first), or, with
   * `elsewhere`, of any other environment: the review's isolation self-test probes between them.
   */
  async sampleTenantIds(environmentId: string, limit: number, elsewhere = false): Promise<string[]> {
    const rows = await this.#db
      .q()
      .selectFrom("tenant")
      .select("id")
      .where("environment_id", elsewhere ? "!=" : "=", environmentId)
      .where("state", "=", "active")
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * tenantState answers the access check's question "is this tenant here, and may its members
   * act?" from a cache that every process evicts when the tenant's state changes (the change bus
   * publishes the tenant id inside the transition's transaction). Returns null for a tenant of
   * another environment.
   */
  async tenantState(environmentId: string, tenantId: string): Promise<TenantState | null> {
    const now = this.m.clock.now();
    const key = `${environmentId}:${tenantId}`;
    const hit = this.#states.get(key, now);
    if (hit) return hit.value;
    const generation = this.#states.generation;
    const row = await this.#db
      .q()
      .selectFrom("tenant")
      .select(["state", "state_category"])
      .where("environment_id", "=", environmentId)
      .where("id", "=", tenantId)
      .executeTakeFirst();
    const state: TenantState | null = row
      ? row.state === "active"
        ? { status: row.state }
        : { status: row.state, suspendedFor: row.state_category === "billing" ? "billing" : "other" }
      : null;
    this.#states.set(
      key,
      { value: state, validUntil: Number.MAX_SAFE_INTEGER, owners: [tenantId, environmentId], cachedAt: now },
      generation,
    );
    return state;
  }

  suspendTenant(ctx: ActionContext, id: string, input: z.infer<typeof SuspendTenantInput>): Promise<Tenant> {
    const { environmentId } = this.m.access.environment(ctx, "tenants:write");
    return this.transitionTenant(ctx, environmentId, id, "suspended", input.reason, input.category);
  }

  deactivateTenant(ctx: ActionContext, id: string, input: z.infer<typeof DeactivateTenantInput>): Promise<Tenant> {
    const { environmentId } = this.m.access.environment(ctx, "tenants:write");
    return this.transitionTenant(ctx, environmentId, id, "deactivated", input.reason, "other");
  }

  reactivateTenant(ctx: ActionContext, id: string, input: z.infer<typeof ReactivateTenantInput>): Promise<Tenant> {
    const { environmentId } = this.m.access.environment(ctx, "tenants:write");
    return this.transitionTenant(ctx, environmentId, id, "active", input.reason ?? null, null);
  }

  async createTenant(ctx: ActionContext, input: z.infer<typeof CreateTenantInput>): Promise<Tenant> {
    const { environmentId } = this.m.access.environment(ctx, "tenants:write");
    const slug = input.slug ?? slugify(input.name);
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const now = this.m.clock.now();
        const row = {
          id: newId("tenant", now),
          environment_id: environmentId,
          name: input.name,
          slug,
          external_id: input.externalId ?? null,
          metadata: toJson(input.metadata ?? {}),
          time_zone: input.timeZone ?? "UTC",
          state: "active",
          state_reason: null,
          state_category: null,
          state_changed_by: null,
          state_changed_at: now,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto("tenant").values(row).execute();
        await this.m.facts.record(tx, ctx, {
          type: "tenant.created",
          tenantId: row.id,
          targets: [{ type: "tenant", id: row.id }],
          data: { name: row.name, slug, externalId: row.external_id },
        });
        return toTenant(row);
      });
    } catch (err) {
      throw this.#conflict(err, slug, input.externalId);
    }
  }

  async listTenants(ctx: ActionContext, query: z.infer<typeof ListTenantsQuery>) {
    const { environmentId } = this.m.access.environment(ctx, "tenants:read");
    const like = query.q ? containsPattern(query.q) : null;
    return pageById(
      this.#db
        .q()
        .selectFrom("tenant")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .$if(query.state !== undefined, (qb) => qb.where("state", "=", query.state as string))
        .$if(query.externalId !== undefined, (qb) => qb.where("external_id", "=", query.externalId as string))
        .$if(like !== null, (qb) =>
          qb.where((eb) =>
            eb.or([
              eb(eb.fn("lower", ["name"]), "like", like as string),
              eb("slug", "like", like as string),
              eb(eb.fn("lower", ["external_id"]), "like", like as string),
            ]),
          ),
        ),
      query,
      toTenant,
    );
  }

  /**
   * findTenantById reads a tenant: the environment's secret keys read any (`tenants:read`); its
   * members, tenant keys and agent keys read their own (`tenants:read` too, open while suspended).
   */
  async findTenantById(ctx: ActionContext, id: string): Promise<Tenant> {
    const { environmentId } =
      ctx.principal && ENVIRONMENT_WIDE.has(ctx.principal.actorType)
        ? this.m.access.environment(ctx, "tenants:read")
        : await this.m.access.require(ctx, "tenants:read", { tenantId: id });
    return toTenant(await this.#tenant(environmentId, id));
  }

  /** findTenantAnywhere finds a tenant by id in any environment (operator tooling only: the CLI). */
  /**
   * resolveSubjects maps subjects of one environment (a tenant id, or a tenant's `externalId`) to
   * their tenant's id and state. Found subjects are cached until their tenant changes (a state
   * transition or an update, which publish the tenant's id); unknown ones are read every time. An id
   * wins over an `externalId` that happens to spell the same; unknown subjects are absent.
   */
  async resolveSubjects(
    environmentId: string,
    subjects: readonly string[],
  ): Promise<Map<string, { id: string; state: TenantStateName }>> {
    const out = new Map<string, { id: string; state: TenantStateName }>();
    if (subjects.length === 0) return out;
    const now = this.m.clock.now();
    const missing: string[] = [];
    for (const subject of new Set(subjects)) {
      const hit = this.#subjects.get(`${environmentId}\n${subject}`, now);
      if (hit) out.set(subject, hit.value);
      else missing.push(subject);
    }
    if (missing.length === 0) return out;
    const generation = this.#subjects.generation;
    const rows = await this.#db
      .q()
      .selectFrom("tenant")
      .select(["id", "external_id", "state"])
      .where("environment_id", "=", environmentId)
      .where((eb) => eb.or([eb("id", "in", missing), eb("external_id", "in", missing)]))
      .execute();
    const found = new Map<string, { id: string; state: TenantStateName }>();
    for (const row of rows) {
      const value = { id: row.id, state: row.state as TenantStateName };
      if (row.external_id !== null && !found.has(row.external_id)) found.set(row.external_id, value);
    }
    for (const row of rows) found.set(row.id, { id: row.id, state: row.state as TenantStateName });
    for (const subject of missing) {
      const value = found.get(subject);
      if (!value) continue;
      out.set(subject, value);
      this.#subjects.set(
        `${environmentId}\n${subject}`,
        { value, validUntil: Number.MAX_SAFE_INTEGER, owners: [value.id, environmentId], cachedAt: now },
        generation,
      );
    }
    return out;
  }

  async findTenantAnywhere(id: string): Promise<Tenant | null> {
    const row = await this.#db.q().selectFrom("tenant").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toTenant(row) : null;
  }

  async updateTenant(ctx: ActionContext, id: string, input: z.infer<typeof UpdateTenantInput>): Promise<Tenant> {
    const { environmentId } = this.m.access.environment(ctx, "tenants:write");
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const before = toTenant(await this.#tenant(environmentId, id, tx));
        const now = this.m.clock.now();
        const after: Tenant = {
          ...before,
          name: input.name ?? before.name,
          slug: input.slug ?? before.slug,
          externalId: input.externalId === undefined ? before.externalId : input.externalId,
          metadata: input.metadata ?? before.metadata,
          timeZone: input.timeZone ?? before.timeZone,
          updatedAt: iso(now),
        };
        const changes = changedFields(before, after, ["name", "slug", "externalId", "metadata", "timeZone"]);
        if (!changes) return before;
        await tx
          .updateTable("tenant")
          .set({
            name: after.name,
            slug: after.slug,
            external_id: after.externalId,
            metadata: toJson(after.metadata),
            time_zone: after.timeZone,
            updated_at: now,
          })
          .where("environment_id", "=", environmentId)
          .where("id", "=", id)
          .execute();
        // Caches of the tenant's externalId (usage subjects) and time zone (usage periods) drop it.
        if ("externalId" in changes.after || "timeZone" in changes.after) {
          await this.m.bus.publish(tx, TENANT_TOPIC, id);
        }
        await this.m.facts.record(tx, ctx, {
          type: "tenant.updated",
          tenantId: id,
          targets: [{ type: "tenant", id }],
          changes,
        });
        return after;
      });
    } catch (err) {
      throw this.#conflict(err, input.slug, input.externalId ?? undefined);
    }
  }

  /**
   * transitionTenant moves a tenant to another lifecycle state through `TENANT_TRANSITIONS`,
   * recording the reason, category and actor, and tells every process at once (change bus), so a
   * suspension stops the tenant's credentials on the next request everywhere. Throws 409
   * `invalid_tenant_transition` for a move the machine forbids.
   */
  async transitionTenant(
    ctx: ActionContext,
    environmentId: string,
    id: string,
    to: TenantStateName,
    reason: string | null,
    category: "billing" | "other" | null,
  ): Promise<Tenant> {
    return this.m.db.write(ctx, async (tx) => {
      const before = toTenant(await this.#tenant(environmentId, id, tx));
      // Reactivating an active tenant is a no-op (like revoking twice), so retries are safe.
      if (to === "active" && before.state === "active") return before;
      if (!TENANT_TRANSITIONS[before.state].includes(to)) {
        throw new AppError(
          TenancyErrors.invalid_tenant_transition,
          `A tenant cannot go from ${before.state} to ${to}.`,
        );
      }
      const now = this.m.clock.now();
      const by = ctx.principal?.actorId ?? null;
      await tx
        .updateTable("tenant")
        .set({
          state: to,
          state_reason: reason,
          state_category: category,
          state_changed_by: by,
          state_changed_at: now,
          updated_at: now,
        })
        .where("environment_id", "=", environmentId)
        .where("id", "=", id)
        .execute();
      await this.m.bus.publish(tx, TENANT_TOPIC, id);
      await this.m.facts.record(tx, ctx, {
        type: TRANSITION_FACTS[to],
        // The tenant's environment, not the caller's: an operator or the CLI acts from outside it,
        // and the audit entry, the event and the webhooks' resume must land in the tenant's.
        environmentId,
        tenantId: id,
        targets: [{ type: "tenant", id }],
        changes: {
          before: { state: before.state, stateCategory: before.stateCategory },
          after: { state: to, stateCategory: category },
        },
        data: { reason, category },
      });
      return {
        ...before,
        state: to,
        stateReason: reason,
        stateCategory: category,
        stateChangedBy: by,
        stateChangedAt: iso(now),
        updatedAt: iso(now),
      };
    });
  }

  async #tenant(environmentId: string, id: string, tx?: Tx) {
    const [row] = await this.#tenantQuery(tx, environmentId, id);
    if (!row) throw new AppError(TenancyErrors.tenant_not_found, `No tenant ${id}.`);
    return row;
  }

  #conflict(err: unknown, slug: string | undefined, externalId: string | undefined): unknown {
    if (!isUniqueViolation(err)) return err;
    if (isUniqueViolation(err, "external_id")) {
      return new AppError(TenancyErrors.tenant_external_id_taken, `The external id "${externalId}" is taken.`);
    }
    return new AppError(TenancyErrors.tenant_slug_taken, `The slug "${slug}" is taken.`);
  }
}
