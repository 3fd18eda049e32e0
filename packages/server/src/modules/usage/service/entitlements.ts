import type { Selectable } from "kysely";
import type { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { UsageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toEntitlement } from "../internal/rows.js";
import { isTimeZone, nextWindow, windowStart } from "../internal/zones.js";
import type { CheckInput, CheckResult, Entitlement, SetEntitlementInput } from "../schemas.js";
import type { UsageEntitlementTable, UsageTables } from "../tables.js";
import type { MetersService } from "./meters.js";
import type { QueryService } from "./query.js";

const MINUTE = 60_000;

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
export function periodOf(e: Selectable<UsageEntitlementTable>, now: number): Period {
  if (e.period === "month") {
    const from = windowStart("month", now, e.time_zone);
    const to = nextWindow("month", from, e.time_zone);
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

  constructor(
    private readonly m: ModuleContext,
    private readonly meters: MetersService,
    private readonly query: QueryService,
  ) {
    this.#db = m.db.tables<UsageTables>();
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
   * allowed (`setEntitlement`, or billing applying a plan's grants with the subscription change).
   */
  async setIn(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    input: z.infer<typeof SetEntitlementInput>,
  ): Promise<Entitlement> {
    if (!isTimeZone(input.timeZone)) {
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
      time_zone: input.timeZone,
      updated_at: now,
    };
    await q.updateTable("usage_entitlement").set(next).where("id", "=", row.id).execute();
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
    const row = await this.#find(access.environmentId, access.tenantId, input.feature);
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
    if (!row) return none;
    if (row.kind === "boolean") return { ...none, kind: "boolean", allowed: Boolean(row.enabled) };
    const s = await this.standing(row, this.m.clock.now(), undefined, row.aggregation ?? undefined);
    return {
      allowed: Boolean(row.enabled) && s.remaining >= input.amount,
      feature: row.feature,
      kind: "metered",
      limit: s.limit,
      used: s.used,
      held: s.held,
      remaining: s.remaining,
      resetsAt: s.period.resetsAt === null ? null : new Date(s.period.resetsAt).toISOString(),
    };
  }

  /** standing reads a metered entitlement's use in its current period (in `tx`: a hold's decision). */
  async standing(row: Selectable<UsageEntitlementTable>, now: number, tx?: Tx, aggregation?: string) {
    const period = periodOf(row, now);
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
