import type { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import { UsageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toHold } from "../internal/rows.js";
import { STANDING_TOPIC, standingOwner } from "../internal/topics.js";
import type { CommitInput, Hold, ListHoldsQuery, ReserveInput } from "../schemas.js";
import type { UsageHoldTable, UsageTables } from "../tables.js";
import type { EntitlementsService } from "./entitlements.js";
import type { IngestService } from "./ingest.js";

/** EXPIRE_JOB releases holds past their TTL (every minute); until then they already stop counting. */
export const EXPIRE_JOB = "usage.expire_holds";

/**
 * HoldsService: reserve → commit or release. A reservation locks the tenant's entitlement row
 * (PostgreSQL `FOR UPDATE`; SQLite's one writer) and decides on what it reads under that lock: the
 * period's usage from the rollups plus the open holds. Committing locks the same row, so a
 * reservation never sees a hold gone and its usage not yet there. Commit records the actual amount
 * as one usage event whose id is derived from the hold (`hold:<id>`), so it counts once.
 */
export class HoldsService {
  readonly #db: TypedDb<UsageTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly entitlements: EntitlementsService,
    private readonly ingest: IngestService,
  ) {
    this.#db = m.db.tables<UsageTables>();
  }

  async reserve(ctx: ActionContext, input: z.infer<typeof ReserveInput>): Promise<Hold> {
    const access = await this.m.access.require(ctx, "usage:report", {
      tenantId: input.tenantId ?? null,
      field: "body.tenantId",
    });
    const tenantId = access.tenantId;
    if (tenantId === null) {
      throw new AppError(UsageErrors.invalid_query, "body.tenantId: name the tenant.", {
        errors: [{ path: "body.tenantId", message: "is required for environment keys" }],
      });
    }
    return this.m.db.write(ctx, async (tx) => {
      const ent = await this.entitlements.lockFeature(tx, access.environmentId, tenantId, input.feature);
      const now = this.m.clock.now();
      const s = await this.entitlements.standing(ent, now, tx);
      if (s.aggregation !== "sum") {
        throw new AppError(
          UsageErrors.hold_needs_sum_meter,
          `Feature ${input.feature} counts a ${s.aggregation} meter.`,
        );
      }
      if (!ent.enabled || s.used + s.held + input.amount > s.limit) {
        throw new AppError(
          UsageErrors.limit_exceeded,
          `Reserving ${input.amount} of ${input.feature} would exceed the limit ${s.limit} (used ${s.used}, held ${s.held}).`,
        );
      }
      const row: UsageHoldTable = {
        id: newId("hold", now),
        environment_id: access.environmentId,
        tenant_id: tenantId,
        entitlement_id: ent.id,
        feature: ent.feature,
        meter_id: ent.meter_id as string,
        amount: input.amount,
        status: "open",
        expires_at: now + input.ttlSeconds * 1000,
        committed_amount: null,
        event_id: null,
        created_at: now,
        updated_at: now,
      };
      await this.#db.q(tx).insertInto("usage_hold").values(row).execute();
      await this.m.bus.publish(tx, STANDING_TOPIC, standingOwner(access.environmentId, tenantId));
      await this.m.facts.record(tx, ctx, {
        type: "usage_hold.reserved",
        environmentId: access.environmentId,
        tenantId,
        targets: [{ type: "usage_hold", id: row.id }],
        data: { feature: row.feature, amount: row.amount, expiresAt: iso(row.expires_at) },
      });
      return toHold(row);
    });
  }

  /**
   * listHolds pages the environment's holds, newest first. A hold is always a tenant's: an operator
   * acting environment-wide (no support access to a named tenant) sees none.
   */
  async listHolds(ctx: ActionContext, query: z.infer<typeof ListHoldsQuery>) {
    const access = await this.m.access.require(ctx, "usage:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("usage_hold")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.status !== undefined, (qb) => qb.where("status", "=", query.status as Hold["status"]))
      .$if(query.feature !== undefined, (qb) => qb.where("feature", "=", query.feature as string));
    return pageById(rows, query, toHold, { descending: true });
  }

  async getHold(ctx: ActionContext, id: string): Promise<Hold> {
    return toHold(await this.#authorized(ctx, "usage:read", id));
  }

  async commit(ctx: ActionContext, id: string, input: z.infer<typeof CommitInput>): Promise<Hold> {
    const first = await this.#authorized(ctx, "usage:report", id);
    return this.m.db.write(ctx, async (tx) => {
      // The entitlement first (reservations lock it too), then the hold.
      await this.#db
        .q(tx)
        .selectFrom("usage_entitlement")
        .select("id")
        .where("id", "=", first.entitlement_id)
        .$call((qb) => this.m.db.forUpdate(qb))
        .execute();
      const hold = await this.#row(first.environment_id, id, tx, true);
      const now = this.m.clock.now();
      if (hold.status !== "open" || Number(hold.expires_at) <= now) {
        throw new AppError(
          UsageErrors.hold_not_open,
          `Hold ${id} is ${hold.status === "open" ? "expired" : hold.status}.`,
        );
      }
      const meter = await this.#db
        .q(tx)
        .selectFrom("usage_meter")
        .selectAll()
        .where("id", "=", hold.meter_id)
        .executeTakeFirstOrThrow();
      const data = structuredClone(input.data);
      setAt(data, meter.value_path as string, input.amount);
      const problem = this.ingest.checkEvent(now, data, now);
      if (problem) throw new AppError(problem.code, problem.detail);
      const eventId = `hold:${hold.id}`;
      const [result] = await this.ingest.apply(
        tx,
        hold.environment_id,
        [{ index: 0, id: eventId, tenantId: hold.tenant_id, type: meter.event_type, time: now, source: "hold", data }],
        { credentialId: ctx.principal?.credentialId ?? "system", actorType: ctx.principal?.actorType ?? "system" },
      );
      if (result?.problem) {
        const code =
          result.problem.code === "unknown_event_type" ? UsageErrors.meter_archived : UsageErrors.invalid_value;
        throw new AppError(code, result.problem.detail);
      }
      const next = { status: "committed" as const, committed_amount: input.amount, event_id: eventId, updated_at: now };
      await this.#db
        .q(tx)
        .updateTable("usage_hold")
        .set(next)
        .where("id", "=", id)
        .where("status", "=", "open")
        .execute();
      await this.m.bus.publish(tx, STANDING_TOPIC, standingOwner(hold.environment_id, hold.tenant_id));
      await this.m.facts.record(tx, ctx, {
        type: "usage_hold.committed",
        environmentId: hold.environment_id,
        tenantId: hold.tenant_id,
        targets: [{ type: "usage_hold", id }],
        data: { feature: hold.feature, amount: Number(hold.amount), committedAmount: input.amount, eventId },
      });
      return toHold({ ...hold, ...next });
    });
  }

  async release(ctx: ActionContext, id: string): Promise<Hold> {
    const first = await this.#authorized(ctx, "usage:report", id);
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const released = await this.#db
        .q(tx)
        .updateTable("usage_hold")
        .set({ status: "released", updated_at: now })
        .where("id", "=", id)
        .where("status", "=", "open")
        .executeTakeFirst();
      if (Number(released.numUpdatedRows) !== 1) {
        const hold = await this.#row(first.environment_id, id, tx);
        throw new AppError(UsageErrors.hold_not_open, `Hold ${id} is ${hold.status}.`);
      }
      await this.m.bus.publish(tx, STANDING_TOPIC, standingOwner(first.environment_id, first.tenant_id));
      await this.m.facts.record(tx, ctx, {
        type: "usage_hold.released",
        environmentId: first.environment_id,
        tenantId: first.tenant_id,
        targets: [{ type: "usage_hold", id }],
        data: { feature: first.feature, amount: Number(first.amount) },
      });
      return toHold({ ...first, status: "released", updated_at: now });
    });
  }

  /**
   * expireDue marks open holds past their TTL as expired (a fact each), at most `limit` per run.
   * They stopped counting against `remaining` when their TTL passed; this records it.
   */
  async expireDue(limit = 500): Promise<number> {
    const now = this.m.clock.now();
    const due = await this.#db
      .q()
      .selectFrom("usage_hold")
      .selectAll()
      .where("status", "=", "open")
      .where("expires_at", "<=", now)
      .orderBy("expires_at")
      .limit(limit)
      .execute();
    if (due.length === 0) return 0;
    const ctx = systemContext(newId("request"), "usage");
    return this.m.db.write(ctx, async (tx) => {
      let expired = 0;
      for (const hold of due) {
        const r = await this.#db
          .q(tx)
          .updateTable("usage_hold")
          .set({ status: "expired", updated_at: now })
          .where("id", "=", hold.id)
          .where("status", "=", "open")
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) continue;
        expired++;
        await this.m.facts.record(tx, ctx, {
          type: "usage_hold.expired",
          environmentId: hold.environment_id,
          tenantId: hold.tenant_id,
          targets: [{ type: "usage_hold", id: hold.id }],
          data: { feature: hold.feature, amount: Number(hold.amount) },
        });
      }
      return expired;
    });
  }

  async #authorized(ctx: ActionContext, permission: string, id: string) {
    const environmentId = ctx.principal?.environmentId;
    const notFound = () => new AppError(UsageErrors.hold_not_found, `No hold ${id}.`);
    if (!environmentId) {
      await this.m.access.require(ctx, permission);
      throw notFound();
    }
    const row = await this.#db
      .q()
      .selectFrom("usage_hold")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) {
      await this.m.access.require(ctx, permission);
      throw notFound();
    }
    await this.m.access.requireOn(ctx, permission, row.tenant_id, notFound);
    return row;
  }

  async #row(environmentId: string, id: string, tx: Tx, lock = false) {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_hold")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .$if(lock, (qb) => this.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(UsageErrors.hold_not_found, `No hold ${id}.`);
    return row;
  }
}

/** setAt writes `value` at a dotted path of `data`, creating objects on the way. */
function setAt(data: Record<string, unknown>, path: string, value: unknown): void {
  const steps = path.split(".");
  let cur = data;
  for (const step of steps.slice(0, -1)) {
    const next = cur[step];
    if (next === null || typeof next !== "object" || Array.isArray(next)) cur[step] = {};
    cur = cur[step] as Record<string, unknown>;
  }
  cur[steps[steps.length - 1] as string] = value;
}
