import type { Selectable } from "kysely";
import type { z } from "zod";
import { OwnedCache } from "../../../platform/cache.js";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TENANT_TOPIC, type TenancyService } from "../../tenancy/index.js";
import { UsageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toEntitlement } from "../internal/rows.js";
import { STANDING_TOPIC, standingOwner } from "../internal/topics.js";
import { isTimeZone, nextWindow, windowStart } from "../internal/zones.js";
import type { CheckInput, CheckResult, Entitlement, SetEntitlementInput } from "../schemas.js";
import type { UsageEntitlementTable, UsageTables } from "../tables.js";
import type { MetersService } from "./meters.js";
import type { QueryService } from "./query.js";

const MINUTE = 60_000;

/** CHECK_CACHE_MS: how long an entitlement check may reuse what it read (see `check`). */
export const CHECK_CACHE_MS = 1000;

/** Standing is what an entitlement check reads, cached (see `EntitlementsService.check`). */
interface Standing {
  row: (Selectable<UsageEntitlementTable> & { aggregation: string | null }) | null;
  used: number;
  holds: Array<{ amount: number; expiresAt: number }>;
  period: Period | null;
  validUntil: number;
}

/** EntitlementStanding is an entitlement with, when metered, its use in the current period. */
export interface EntitlementStanding {
  entitlement: Entitlement;
  /** meter: the metered entitlement's meter key. */
  meter: string | null;
  standing: { used: number; held: number; remaining: number; from: number; to: number; resetsAt: number | null } | null;
}

/** Period is the range an entitlement's limit counts over at one instant. */
export interface Period {
  from: number;
  to: number;
  /** resetsAt: when a calendar month ends (null for a rolling window, which never resets at once). */
  resetsAt: number | null;
}

/**
 * periodOf: a calendar month in the entitlement's time zone, or the last N days in whole minutes
 * (the current minute counted whole; events reported up to 5 minutes ahead count too).
 */
export function periodOf(e: Selectable<UsageEntitlementTable>, now: number, timeZone: string): Period {
  if (e.period === "month") {
    const from = windowStart("month", now, timeZone);
    const to = nextWindow("month", from, timeZone);
    return { from, to, resetsAt: to };
  }
  const minute = Math.floor(now / MINUTE) * MINUTE;
  return { from: minute + MINUTE - Number(e.rolling_seconds) * 1000, to: minute + 10 * MINUTE, resetsAt: null };
}

/**
 * EntitlementsService: per-tenant features, boolean or a metered limit per period, set by the
 * environment (by API now, by billing plans later) and checked by anyone acting in the tenant.
 * `used` comes from the rollups and `held` from open, unexpired holds.
 */
export class EntitlementsService {
  readonly #db: TypedDb<UsageTables>;
  /** #checks: what `check` reads, per `<environment>\n<tenant>\n<feature>` (see `check`). */
  readonly #checks: OwnedCache<Standing>;

  constructor(
    private readonly m: ModuleContext,
    private readonly meters: MetersService,
    private readonly query: QueryService,
    private readonly tenancy: TenancyService,
  ) {
    this.#db = m.db.tables<UsageTables>();
    // Evicted by entitlement and hold changes, and by tenant changes (a new time zone moves months).
    this.#checks = new OwnedCache(m.bus, [STANDING_TOPIC, TENANT_TOPIC], CHECK_CACHE_MS);
  }

  async setEntitlement(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof SetEntitlementInput>,
  ): Promise<Entitlement> {
    const { environmentId } = await this.m.access.require(ctx, "entitlements:write", { tenantId });
    return this.m.db.write(ctx, (tx) => this.setIn(tx, ctx, environmentId, tenantId, input));
  }

  /**
   * setIn sets a tenant's entitlement inside `tx`, for a caller that already decided the change is
   * allowed (`setEntitlement`, or billing applying a plan version's grants with the subscription).
   */
  async setIn(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    input: z.infer<typeof SetEntitlementInput>,
  ): Promise<Entitlement> {
    if (input.timeZone !== undefined && !isTimeZone(input.timeZone)) {
      throw new AppError(UsageErrors.invalid_query, "timeZone must be an IANA time zone.", {
        errors: [{ path: "body.timeZone", message: "must be an IANA time zone" }],
      });
    }
    let meterId: string | null = null;
    if (input.meter !== undefined) {
      const meter = await this.meters.row(environmentId, input.meter, tx);
      if (meter.aggregation !== "sum" && meter.aggregation !== "count") {
        throw new AppError(UsageErrors.meter_not_limitable, `Meter ${meter.key} is a ${meter.aggregation} meter.`);
      }
      meterId = meter.id;
    }
    const now = this.m.clock.now();
    const q = this.#db.q(tx);
    // One row per (tenant, feature): create it if missing, then lock it and change it.
    const inserted = await q
      .insertInto("usage_entitlement")
      .values({
        id: newId("entitlement", now),
        environment_id: environmentId,
        tenant_id: tenantId,
        feature: input.feature,
        kind: "boolean",
        enabled: this.m.db.bool(false),
        meter_id: null,
        limit_value: null,
        period: null,
        rolling_seconds: null,
        time_zone: "UTC",
        zone_from_tenant: this.m.db.bool(true),
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(["environment_id", "tenant_id", "feature"]).doNothing())
      .executeTakeFirst();
    const row = await this.#row(environmentId, tenantId, input.feature, tx);
    const fresh = Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
    const before = toEntitlement(row);
    const next = {
      kind: (meterId ? "metered" : "boolean") as "metered" | "boolean",
      enabled: this.m.db.bool(input.enabled),
      meter_id: meterId,
      limit_value: input.limit ?? null,
      period: meterId ? (input.period ?? null) : null,
      rolling_seconds: input.period === "rolling" ? (input.rollingDays as number) * 86_400 : null,
      time_zone: input.timeZone ?? "UTC",
      zone_from_tenant: this.m.db.bool(input.timeZone === undefined),
      updated_at: now,
    };
    await q.updateTable("usage_entitlement").set(next).where("id", "=", row.id).execute();
    await this.m.bus.publish(tx, STANDING_TOPIC, standingOwner(environmentId, tenantId));
    const after = toEntitlement({ ...row, ...next });
    const fields = ["kind", "enabled", "meterId", "limit", "period", "rollingDays", "timeZone"] as const;
    await this.m.facts.record(tx, ctx, {
      type: "entitlement.set",
      environmentId,
      tenantId,
      targets: [{ type: "entitlement", id: row.id }],
      ...(fresh
        ? {}
        : {
            changes: {
              before: Object.fromEntries(fields.map((k) => [k, before[k]])),
              after: Object.fromEntries(fields.map((k) => [k, after[k]])),
            },
          }),
      data: { feature: after.feature, kind: after.kind, limit: after.limit, period: after.period },
    });
    return after;
  }

  async listEntitlements(ctx: ActionContext, tenantId: string): Promise<{ data: Entitlement[] }> {
    const { environmentId } = await this.m.access.require(ctx, "entitlements:read", { tenantId });
    const rows = await this.#db
      .q()
      .selectFrom("usage_entitlement")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .orderBy("feature")
      .limit(1000)
      .execute();
    return { data: rows.map(toEntitlement) };
  }

  async removeEntitlement(ctx: ActionContext, tenantId: string, id: string): Promise<Entitlement> {
    const { environmentId } = await this.m.access.require(ctx, "entitlements:write", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#db
        .q(tx)
        .selectFrom("usage_entitlement")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .$call((qb) => this.m.db.forUpdate(qb))
        .executeTakeFirst();
      if (!row) throw new AppError(UsageErrors.entitlement_not_found, `No entitlement ${id}.`);
      await this.#db.q(tx).deleteFrom("usage_entitlement").where("id", "=", id).execute();
      await this.m.bus.publish(tx, STANDING_TOPIC, standingOwner(environmentId, tenantId));
      await this.m.facts.record(tx, ctx, {
        type: "entitlement.removed",
        environmentId,
        tenantId,
        targets: [{ type: "entitlement", id }],
        data: { feature: row.feature },
      });
      return toEntitlement(row);
    });
  }

  /**
   * check answers "may this tenant use `amount` more of `feature` now?". It is a read: it changes
   * nothing and decides nothing (a hold's reservation decides, under a lock). Its inputs (the
   * entitlement, the period's usage, the open holds) are cached per tenant × feature for at most
   * CHECK_CACHE_MS and dropped at once when the tenant's entitlements or holds change (change bus,
   * every process) or when this process stores usage of the tenant; usage stored through another
   * process shows within CHECK_CACHE_MS.
   */
  async check(ctx: ActionContext, input: z.infer<typeof CheckInput>): Promise<CheckResult> {
    const access = await this.m.access.require(ctx, "entitlements:read", {
      tenantId: input.tenantId ?? null,
      field: "body.tenantId",
    });
    if (access.tenantId === null) {
      throw new AppError(UsageErrors.invalid_query, "body.tenantId: name the tenant.", {
        errors: [{ path: "body.tenantId", message: "is required for environment keys" }],
      });
    }
    const now = this.m.clock.now();
    const key = `${access.environmentId}\n${access.tenantId}\n${input.feature}`;
    let standing = this.#checks.get(key, now)?.value;
    if (!standing) {
      const owners = [standingOwner(access.environmentId, access.tenantId), access.tenantId];
      const stamp = this.#checks.stamp(owners);
      standing = await this.#standingNow(access.environmentId, access.tenantId, input.feature, now);
      this.#checks.setStamped(key, { value: standing, validUntil: standing.validUntil, owners, cachedAt: now }, stamp);
    }
    const none: CheckResult = {
      allowed: false,
      feature: input.feature,
      kind: null,
      limit: null,
      used: null,
      held: null,
      remaining: null,
      resetsAt: null,
    };
    const row = standing.row;
    if (!row) return none;
    if (row.kind === "boolean") return { ...none, kind: "boolean", allowed: Boolean(row.enabled) };
    // A hold stops counting the instant it expires, cached or not.
    let held = 0;
    for (const h of standing.holds) if (h.expiresAt > now) held += h.amount;
    const limit = Number(row.limit_value);
    const remaining = Math.max(0, limit - standing.used - held);
    return {
      allowed: Boolean(row.enabled) && remaining >= input.amount,
      feature: row.feature,
      kind: "metered",
      limit,
      used: standing.used,
      held,
      remaining,
      resetsAt: standing.period?.resetsAt == null ? null : new Date(standing.period.resetsAt).toISOString(),
    };
  }

  /**
   * forget drops the cached standings of tenants that just stored usage (called after the commit).
   * Cheap when nothing is cached for them.
   */
  forget(environmentId: string, tenantIds: ReadonlySet<string>): void {
    for (const tenantId of tenantIds) this.#checks.evictOwner(standingOwner(environmentId, tenantId));
  }

  /** zoneOf: the time zone an entitlement's calendar months are counted in (its own, or its tenant's). */
  async zoneOf(row: Selectable<UsageEntitlementTable>, tx?: Tx): Promise<string> {
    if (!row.zone_from_tenant) return row.time_zone;
    return (await this.tenancy.tenants.timeZoneOf(row.environment_id, row.tenant_id, tx)) ?? "UTC";
  }

  /** #standingNow reads what a check needs: the entitlement, its period's usage and its open holds. */
  async #standingNow(environmentId: string, tenantId: string, feature: string, now: number): Promise<Standing> {
    const row = (await this.#find(environmentId, tenantId, feature)) ?? null;
    const soon = now + CHECK_CACHE_MS;
    if (row?.kind !== "metered") return { row, used: 0, holds: [], period: null, validUntil: soon };
    const period = periodOf(row, now, await this.zoneOf(row));
    const meterId = row.meter_id as string;
    const [used, holds] = await Promise.all([
      this.query.used(environmentId, meterId, row.aggregation ?? "sum", tenantId, period.from, period.to),
      this.#db
        .q()
        .selectFrom("usage_hold")
        .select(["amount", "expires_at"])
        .where("entitlement_id", "=", row.id)
        .where("status", "=", "open")
        .where("expires_at", ">", now)
        .execute(),
    ]);
    // A rolling window moves every minute; a month ends at its reset.
    const periodEnds = period.resetsAt ?? (Math.floor(now / MINUTE) + 1) * MINUTE;
    return {
      row,
      used,
      holds: holds.map((h) => ({ amount: Number(h.amount), expiresAt: Number(h.expires_at) })),
      period,
      validUntil: Math.min(soon, periodEnds),
    };
  }

  /** standing reads a metered entitlement's use in its current period (in `tx`: a hold's decision). */
  async standing(row: Selectable<UsageEntitlementTable>, now: number, tx?: Tx, aggregation?: string) {
    const period = periodOf(row, now, await this.zoneOf(row, tx));
    const meter = aggregation
      ? { aggregation }
      : await this.#db
          .q(tx)
          .selectFrom("usage_meter")
          .select(["aggregation"])
          .where("id", "=", row.meter_id as string)
          .executeTakeFirstOrThrow();
    const used = await this.query.used(
      row.environment_id,
      row.meter_id as string,
      meter.aggregation,
      row.tenant_id,
      period.from,
      period.to,
      tx,
    );
    const heldRow = await this.#db
      .q(tx)
      .selectFrom("usage_hold")
      .select((eb) => eb.fn.sum<number | string | null>("amount").as("held"))
      .where("entitlement_id", "=", row.id)
      .where("status", "=", "open")
      .where("expires_at", ">", now)
      .executeTakeFirst();
    const held = Number(heldRow?.held ?? 0);
    const limit = Number(row.limit_value);
    return { period, used, held, limit, remaining: Math.max(0, limit - used - held), aggregation: meter.aggregation };
  }

  /**
   * standings lists a tenant's entitlements (by feature) with each metered one's standing now: its
   * current period, used, held and remaining. For a module that already authorized the read (billing
   * shows a tenant its usage against its plan's limits).
   */
  async standings(environmentId: string, tenantId: string): Promise<EntitlementStanding[]> {
    const rows = await this.#db
      .q()
      .selectFrom("usage_entitlement")
      .leftJoin("usage_meter", "usage_meter.id", "usage_entitlement.meter_id")
      .selectAll("usage_entitlement")
      .select(["usage_meter.aggregation", "usage_meter.key as meter_key"])
      .where("usage_entitlement.environment_id", "=", environmentId)
      .where("usage_entitlement.tenant_id", "=", tenantId)
      .orderBy("usage_entitlement.feature")
      .limit(1000)
      .execute();
    const now = this.m.clock.now();
    const out: EntitlementStanding[] = [];
    for (const row of rows) {
      const entitlement = toEntitlement(row);
      if (row.kind !== "metered" || row.aggregation === null) {
        out.push({ entitlement, meter: null, standing: null });
        continue;
      }
      const s = await this.standing(row, now, undefined, row.aggregation);
      out.push({
        entitlement,
        meter: row.meter_key,
        standing: {
          used: s.used,
          held: s.held,
          remaining: s.remaining,
          from: s.period.from,
          to: s.period.to,
          resetsAt: s.period.resetsAt,
        },
      });
    }
    return out;
  }

  /** lockFeature reads and locks a tenant's entitlement to a feature (404 when it has none). */
  async lockFeature(tx: Tx, environmentId: string, tenantId: string, feature: string) {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_entitlement")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("feature", "=", feature)
      .$call((qb) => this.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (row?.kind !== "metered") {
      throw new AppError(UsageErrors.feature_not_entitled, `The tenant has no metered entitlement to ${feature}.`);
    }
    return row;
  }

  /** #find reads a tenant's entitlement to a feature with its meter's aggregation (one query). */
  async #find(environmentId: string, tenantId: string, feature: string) {
    return this.#db
      .q()
      .selectFrom("usage_entitlement")
      .leftJoin("usage_meter", "usage_meter.id", "usage_entitlement.meter_id")
      .selectAll("usage_entitlement")
      .select("usage_meter.aggregation")
      .where("usage_entitlement.environment_id", "=", environmentId)
      .where("usage_entitlement.tenant_id", "=", tenantId)
      .where("usage_entitlement.feature", "=", feature)
      .executeTakeFirst();
  }

  async #row(environmentId: string, tenantId: string, feature: string, tx: Tx) {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_entitlement")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("feature", "=", feature)
      .$call((qb) => this.m.db.forUpdate(qb))
      .executeTakeFirstOrThrow();
    return row;
  }
}
