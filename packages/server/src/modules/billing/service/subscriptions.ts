import type { Selectable } from "kysely";
import type { z } from "zod";
import { fromJson, isUniqueViolation, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import type { TenancyService } from "../../tenancy/index.js";
import type { SetEntitlementInput, UsageService } from "../../usage/index.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { periodOf, trialEnd, wholeMinute, wholePeriod } from "../internal/periods.js";
import { toSubscription } from "../internal/rows.js";
import type {
  CancelSubscriptionInput,
  ChangePlanInput,
  CreateSubscriptionInput,
  InvoicePreview,
  ListSubscriptionsQuery,
  Subscription,
} from "../schemas.js";
import type { BillingPlanVersionTable, BillingSubscriptionTable, BillingTables } from "../tables.js";
import type { CatalogService } from "./catalog.js";
import type { ClockTime, TestClocksService } from "./clocks.js";
import type { CreditsService } from "./credits.js";
import type { InvoicesService } from "./invoices.js";

/** ADVANCE_JOB: the recurring job that ends due periods (trial ends, invoices, renewals, cancellations). */
export const ADVANCE_JOB = "billing.advance_periods";

/**
 * FINALIZE_CONCURRENCY: how many due periods one `advanceDue` ends at once (connections it holds
 * on PostgreSQL, out of the pool's 10 by default).
 */
const FINALIZE_CONCURRENCY = 4;

type SubscriptionRow = Selectable<BillingSubscriptionTable>;
type Grant = z.infer<typeof SetEntitlementInput>;

/**
 * SubscriptionsService: a tenant on a plan version. States: `trialing` (a free first period of
 * the plan's trial days), `active`, `past_due` (an invoice is overdue: see DunningService), `canceled`. A tenant has
 * at most one live (not canceled) subscription. The plan version's entitlements are applied to the
 * tenant's usage entitlements in the transaction that starts the subscription, and switched off
 * in the one that ends it. Periods end through `advanceDue`, the durable recurring job: each due
 * period is invoiced exactly once, then the subscription renews or ends.
 */
export class SubscriptionsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly usage: UsageService,
    private readonly catalog: CatalogService,
    private readonly invoices: InvoicesService,
    private readonly clocks: TestClocksService,
    private readonly tenancy: TenancyService,
    private readonly credits: CreditsService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  async createSubscription(ctx: ActionContext, input: z.infer<typeof CreateSubscriptionInput>): Promise<Subscription> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "billing:manage", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    const tenant = tenantId as string;
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const plan = await this.catalog.planRow(environmentId, input.plan, tx);
        if (plan.archived_at !== null) throw new AppError(BillingErrors.plan_archived, `Plan ${plan.key} is archived.`);
        const versionId = input.planVersionId ?? plan.current_version_id;
        const version = await this.catalog.versionRow(environmentId, versionId, tx);
        if (version.plan_id !== plan.id) {
          throw new AppError(BillingErrors.plan_version_not_found, `Plan ${plan.key} has no version ${versionId}.`);
        }
        const now = this.m.clock.now();
        // A tenant on a test clock starts its subscription at the clock's time, and keeps that clock.
        const clock = await this.clocks.clockOfTenant(environmentId, tenant, tx);
        const start = wholeMinute(clock === null ? now : Number(clock.frozen_time));
        const trial = Number(version.trial_days) > 0;
        // Periods follow the tenant's wall clock, in the zone it has when the subscription starts.
        const zone = (await this.tenancy.tenants.timeZoneOf(environmentId, tenant, tx)) ?? "UTC";
        const anchor = trial ? trialEnd(start, Number(version.trial_days), zone) : start;
        const first = periodOf(anchor, version.interval, 0, zone);
        const row: BillingSubscriptionTable = {
          id: newId("subscription", now),
          environment_id: environmentId,
          tenant_id: tenant,
          plan_id: plan.id,
          plan_version_id: version.id,
          pending_plan_version_id: null,
          status: trial ? "trialing" : "active",
          live_tenant_id: tenant,
          anchor,
          period_index: trial ? -1 : 0,
          current_period_start: start,
          current_period_end: trial ? anchor : first.end,
          trial_end: trial ? anchor : null,
          cancel_at_period_end: this.m.db.bool(false),
          canceled_at: null,
          test_clock_id: clock?.id ?? null,
          time_zone: zone,
          suspended_tenant_at: null,
          created_at: now,
          updated_at: now,
        };
        await this.#db.q(tx).insertInto("billing_subscription").values(row).execute();
        await this.usage.applyEntitlements(tx, ctx, environmentId, tenant, this.#grants(version));
        await this.credits.grantForPeriod(tx, ctx, row, version, start);
        await this.m.facts.record(tx, ctx, {
          type: "subscription.created",
          environmentId,
          tenantId: tenant,
          targets: [{ type: "subscription", id: row.id }],
          data: {
            planId: plan.id,
            planVersionId: version.id,
            status: row.status,
            currentPeriodStart: iso(row.current_period_start),
            currentPeriodEnd: iso(row.current_period_end),
          },
        });
        return toSubscription(row);
      });
    } catch (err) {
      if (isUniqueViolation(err, "live_tenant_id") || isUniqueViolation(err, "billing_subscription_live")) {
        throw new AppError(BillingErrors.subscription_exists, `Tenant ${tenant} already has a live subscription.`);
      }
      throw err;
    }
  }

  async listSubscriptions(ctx: ActionContext, query: z.infer<typeof ListSubscriptionsQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_subscription")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.status !== undefined, (qb) => qb.where("status", "=", query.status as Subscription["status"]));
    return pageById(rows, query, toSubscription, { descending: true });
  }

  async findSubscription(ctx: ActionContext, id: string): Promise<Subscription> {
    return toSubscription(await this.#authorized(ctx, "billing:read", id));
  }

  /** liveOnPlan counts the environment's live (not canceled) subscriptions on a plan, any version (read in `tx` when given). */
  async liveOnPlan(environmentId: string, planId: string, tx?: Tx): Promise<number> {
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_subscription")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("environment_id", "=", environmentId)
      .where("plan_id", "=", planId)
      .where("live_tenant_id", "is not", null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** preview prices the current period so far: what the tenant owes if the period ended now. */
  async preview(ctx: ActionContext, id: string): Promise<InvoicePreview> {
    const row = await this.#authorized(ctx, "billing:read", id);
    if (row.live_tenant_id === null) {
      throw new AppError(BillingErrors.subscription_canceled, `Subscription ${id} is canceled.`);
    }
    const version = await this.catalog.versionRow(row.environment_id, row.plan_version_id);
    const start = Number(row.current_period_start);
    const end = Number(row.current_period_end);
    return this.invoices.compute(row, version, start, end, wholePeriod(row, version.interval));
  }

  /**
   * cancelSubscription ends a subscription at the end of its period (it is invoiced then; a trial
   * ends unbilled) or at once (the period so far is invoiced now, its fixed fee prorated).
   */
  async cancelSubscription(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof CancelSubscriptionInput>,
  ): Promise<Subscription> {
    const found = await this.#authorized(ctx, "billing:manage", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#lock(tx, found.id);
      if (row.live_tenant_id === null) {
        throw new AppError(BillingErrors.subscription_canceled, `Subscription ${id} is canceled.`);
      }
      const now = this.m.clock.now();
      if (input.atPeriodEnd) {
        if (row.cancel_at_period_end) return toSubscription(row);
        await this.#update(tx, row, { cancel_at_period_end: this.m.db.bool(true), updated_at: now });
        await this.m.facts.record(tx, ctx, {
          type: "subscription.cancel_scheduled",
          environmentId: row.environment_id,
          tenantId: row.tenant_id,
          targets: [{ type: "subscription", id: row.id }],
          data: { endsAt: iso(row.current_period_end) },
        });
        return toSubscription({ ...row, cancel_at_period_end: true, updated_at: now });
      }
      const at = wholeMinute(await this.clocks.timeOf(row.test_clock_id, tx));
      if (row.status !== "trialing" && at > Number(row.current_period_start)) {
        const version = await this.catalog.versionRow(row.environment_id, row.plan_version_id, tx);
        const start = Number(row.current_period_start);
        await this.invoices.finalizeIn(tx, ctx, row, version, start, at, wholePeriod(row, version.interval), at);
      }
      return toSubscription(await this.#end(tx, ctx, row, at, "requested"));
    });
  }

  /**
   * changePlan moves a subscription to another plan version (an upgrade or a downgrade). At once
   * (default): the period so far is invoiced on the old version (usage until now, the fixed fee
   * prorated by the minute), the rest of the period runs on the new one (invoiced at its end, the
   * fee prorated likewise), and the new version's entitlements replace the old ones now (features
   * it does not grant are switched off). At period end: the change waits in
   * `pendingPlanVersionId` and happens when the period is invoiced. A change to another interval
   * takes effect at period end only (422 otherwise); during a trial a change is immediate and free.
   */
  async changePlan(ctx: ActionContext, id: string, input: z.infer<typeof ChangePlanInput>): Promise<Subscription> {
    const found = await this.#authorized(ctx, "billing:manage", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#lock(tx, found.id);
      if (row.live_tenant_id === null) {
        throw new AppError(BillingErrors.subscription_canceled, `Subscription ${id} is canceled.`);
      }
      const plan = await this.catalog.planRow(row.environment_id, input.plan, tx);
      if (plan.archived_at !== null) throw new AppError(BillingErrors.plan_archived, `Plan ${plan.key} is archived.`);
      const to = await this.catalog.versionRow(row.environment_id, input.planVersionId ?? plan.current_version_id, tx);
      if (to.plan_id !== plan.id) {
        throw new AppError(BillingErrors.plan_version_not_found, `Plan ${plan.key} has no version ${to.id}.`);
      }
      const from = await this.catalog.versionRow(row.environment_id, row.plan_version_id, tx);
      const now = this.m.clock.now();
      if (input.atPeriodEnd && row.status !== "trialing") {
        const pending = to.id === from.id ? null : to.id;
        if (pending === row.pending_plan_version_id) return toSubscription(row);
        await this.#update(tx, row, { pending_plan_version_id: pending, updated_at: now });
        await this.#changedFact(tx, ctx, row, from.id, pending ?? from.id, "subscription.change_scheduled");
        return toSubscription({ ...row, pending_plan_version_id: pending, updated_at: now });
      }
      if (to.id === from.id) return toSubscription(row);
      const changes: Partial<BillingSubscriptionTable> = {
        plan_id: to.plan_id,
        plan_version_id: to.id,
        pending_plan_version_id: null,
        updated_at: now,
      };
      if (row.status !== "trialing") {
        if (to.interval !== from.interval) {
          throw new AppError(
            BillingErrors.interval_change_at_period_end,
            `Moving from a ${from.interval}ly to a ${to.interval}ly plan takes effect at period end: pass atPeriodEnd.`,
          );
        }
        const start = Number(row.current_period_start);
        const time = await this.clocks.timeOf(row.test_clock_id, tx);
        const at = Math.min(wholeMinute(time), Number(row.current_period_end));
        if (at > start) {
          await this.invoices.finalizeIn(tx, ctx, row, from, start, at, wholePeriod(row, from.interval), at);
          changes.current_period_start = at;
        }
      }
      await this.#update(tx, row, changes);
      await this.#switchGrants(tx, ctx, row, from, to);
      await this.#changedFact(tx, ctx, row, from.id, to.id, "subscription.plan_changed");
      return toSubscription({ ...row, ...changes });
    });
  }

  /**
   * advanceDue ends every period due by now, one period per subscription per pass, until none is
   * due (or `maxPasses`): a trial becomes active, an active period is invoiced, then renews or,
   * when canceled at its end, ends. Returns how many periods it ended. Safe to run in many
   * processes at once: each period is ended by one transaction on the locked subscription row.
   * Without `clock` it ends the periods of subscriptions on real time; with one, those of the
   * clock's subscriptions, due by the clock's time.
   */
  async advanceDue(limit = 200, maxPasses = 50, clock?: ClockTime): Promise<number> {
    let ended = 0;
    for (let pass = 0; pass < maxPasses; pass++) {
      const due = await this.#db
        .q()
        .selectFrom("billing_subscription")
        .select("id")
        .where("live_tenant_id", "is not", null)
        .where("test_clock_id", clock ? "=" : "is", clock ? clock.clockId : null)
        .where("current_period_end", "<=", clock ? clock.now : this.m.clock.now())
        .orderBy("current_period_end")
        .limit(limit)
        .execute();
      if (due.length === 0) break;
      let progressed = 0;
      let next = 0;
      // FINALIZE_CONCURRENCY periods end at once, each in its own transaction (on SQLite they share
      // commits). One subscription that cannot end its period (its failure is logged) holds up no other.
      const worker = async () => {
        for (let row = due[next++]; row; row = due[next++]) {
          try {
            if (await this.advance(row.id, clock)) progressed++;
          } catch (err) {
            this.m.logger.error({ err, subscriptionId: row.id }, "ending a billing period failed");
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(FINALIZE_CONCURRENCY, due.length) }, worker));
      ended += progressed;
      if (progressed === 0) break;
    }
    return ended;
  }

  /**
   * advance ends the due period of one subscription, at the time of `clock` (a subscription on
   * another clock, or on real time without one, is left alone). Returns false when it was not due
   * (or ended by another).
   */
  async advance(id: string, clock?: ClockTime): Promise<boolean> {
    const ctx = systemContext(newId("request"), "billing");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#lock(tx, id);
      const now = this.m.clock.now();
      if (row.test_clock_id !== (clock?.clockId ?? null)) return false;
      const time = clock?.now ?? now;
      if (row.live_tenant_id === null || Number(row.current_period_end) > time) return false;
      const version = await this.catalog.versionRow(row.environment_id, row.plan_version_id, tx);
      const anchor = Number(row.anchor);
      if (row.status === "trialing") {
        const first = periodOf(anchor, version.interval, 0, row.time_zone);
        if (row.cancel_at_period_end) {
          await this.#end(tx, ctx, row, Number(row.current_period_end), "period_end");
          return true;
        }
        await this.#update(tx, row, {
          status: "active",
          period_index: 0,
          current_period_start: first.start,
          current_period_end: first.end,
          updated_at: now,
        });
        await this.m.facts.record(tx, ctx, {
          type: "subscription.trial_ended",
          environmentId: row.environment_id,
          tenantId: row.tenant_id,
          targets: [{ type: "subscription", id: row.id }],
          data: { currentPeriodStart: iso(first.start), currentPeriodEnd: iso(first.end) },
        });
        await this.credits.grantForPeriod(tx, ctx, row, version, first.start);
        return true;
      }
      const start = Number(row.current_period_start);
      const end = Number(row.current_period_end);
      if (row.cancel_at_period_end) {
        await this.invoices.finalizeIn(tx, ctx, row, version, start, end, wholePeriod(row, version.interval), time);
        await this.#end(tx, ctx, row, end, "period_end");
        return true;
      }
      let next = periodOf(anchor, version.interval, Number(row.period_index) + 1, row.time_zone);
      const changes: Partial<BillingSubscriptionTable> = {};
      const to =
        row.pending_plan_version_id === null
          ? null
          : await this.catalog.versionRow(row.environment_id, row.pending_plan_version_id, tx);
      if (to) {
        // Another interval starts its periods afresh at this period's end.
        if (to.interval !== version.interval) {
          next = periodOf(end, to.interval, 0, row.time_zone);
          changes.anchor = end;
        }
        Object.assign(changes, { plan_id: to.plan_id, plan_version_id: to.id, pending_plan_version_id: null });
      }
      // NOTE: the renewal is written before the invoice: the invoice takes the environment's
      // counter and its fact the event sequence, rows held until commit, so the less follows them
      // the more finalizers of one environment overlap. (`row` is the period as locked.)
      await this.#update(tx, row, {
        ...changes,
        period_index: next.index,
        current_period_start: next.start,
        current_period_end: next.end,
        updated_at: now,
      });
      await this.invoices.finalizeIn(tx, ctx, row, version, start, end, wholePeriod(row, version.interval), time);
      if (to) {
        await this.#switchGrants(tx, ctx, row, version, to);
        await this.#changedFact(tx, ctx, row, version.id, to.id, "subscription.plan_changed");
      }
      await this.m.facts.record(tx, ctx, {
        type: "subscription.renewed",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "subscription", id: row.id }],
        data: { currentPeriodStart: iso(next.start), currentPeriodEnd: iso(next.end) },
      });
      const renewedOn =
        row.pending_plan_version_id === null
          ? version
          : await this.catalog.versionRow(row.environment_id, row.pending_plan_version_id, tx);
      await this.credits.grantForPeriod(tx, ctx, row, renewedOn, next.start);
      return true;
    });
  }

  /** #switchGrants applies `to`'s entitlements and switches off the features only `from` granted. */
  async #switchGrants(
    tx: Tx,
    ctx: ActionContext,
    row: SubscriptionRow,
    from: Selectable<BillingPlanVersionTable>,
    to: Selectable<BillingPlanVersionTable>,
  ) {
    const next = this.#grants(to);
    const kept = new Set(next.map((g) => g.feature));
    const off = this.#grants(from)
      .filter((g) => !kept.has(g.feature))
      .map((g) => ({ ...g, enabled: false }));
    await this.usage.applyEntitlements(tx, ctx, row.environment_id, row.tenant_id, [...off, ...next]);
  }

  async #changedFact(
    tx: Tx,
    ctx: ActionContext,
    row: SubscriptionRow,
    from: string,
    to: string,
    type: "subscription.plan_changed" | "subscription.change_scheduled",
  ) {
    await this.m.facts.record(tx, ctx, {
      type,
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [{ type: "subscription", id: row.id }],
      data: { fromPlanVersionId: from, toPlanVersionId: to },
    });
  }

  /** #end cancels a live subscription at `at` and switches its plan's entitlements off. */
  async #end(tx: Tx, ctx: ActionContext, row: SubscriptionRow, at: number, reason: "requested" | "period_end") {
    const version = await this.catalog.versionRow(row.environment_id, row.plan_version_id, tx);
    const now = this.m.clock.now();
    const changes = { status: "canceled" as const, live_tenant_id: null, canceled_at: at, updated_at: now };
    await this.#update(tx, row, changes);
    const off = this.#grants(version).map((g) => ({ ...g, enabled: false }));
    await this.usage.applyEntitlements(tx, ctx, row.environment_id, row.tenant_id, off);
    await this.m.facts.record(tx, ctx, {
      type: "subscription.canceled",
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [{ type: "subscription", id: row.id }],
      data: { reason, canceledAt: iso(at) },
    });
    return { ...row, ...changes };
  }

  /**
   * #update changes the subscription row, on the condition that no one changed its period or
   * state since it was locked (the row count decides; a lost race is a conflict, never a repeat).
   */
  async #update(tx: Tx, row: SubscriptionRow, set: Partial<BillingSubscriptionTable>) {
    const r = await this.#db
      .q(tx)
      .updateTable("billing_subscription")
      .set(set)
      .where("id", "=", row.id)
      .where("period_index", "=", row.period_index)
      .where("status", "=", row.status)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw new Error(`Subscription ${row.id} changed under a locked update`);
  }

  async #lock(tx: Tx, id: string): Promise<SubscriptionRow> {
    return this.#db
      .q(tx)
      .selectFrom("billing_subscription")
      .selectAll()
      .where("id", "=", id)
      .$call((qb) => this.m.db.forUpdate(qb))
      .executeTakeFirstOrThrow();
  }

  async #authorized(ctx: ActionContext, permission: string, id: string): Promise<SubscriptionRow> {
    const environmentId = ctx.principal?.environmentId;
    const notFound = () => new AppError(BillingErrors.subscription_not_found, `No subscription ${id}.`);
    const row = environmentId
      ? await this.#db
          .q()
          .selectFrom("billing_subscription")
          .selectAll()
          .where("environment_id", "=", environmentId)
          .where("id", "=", id)
          .executeTakeFirst()
      : undefined;
    if (!row) {
      await this.m.access.require(ctx, permission);
      throw notFound();
    }
    await this.m.access.requireOn(ctx, permission, row.tenant_id, notFound);
    return row;
  }

  #grants(version: Selectable<BillingPlanVersionTable>): Grant[] {
    return fromJson<Grant[]>(version.entitlements);
  }
}
