import type { Selectable } from "kysely";
import { sql } from "kysely";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import { TenancyErrors, type TenancyService } from "../../tenancy/index.js";
import { newId } from "../ids.js";
import { DAY_MS } from "../internal/now.js";
import type { BillingSubscriptionTable, BillingTables } from "../tables.js";
import type { ClockTime, TestClocksService } from "./clocks.js";

/** DUNNING_JOB: the recurring job that moves overdue subscriptions to past due, suspends and restores tenants. */
export const DUNNING_JOB = "billing.collect_overdue";

type SubscriptionRow = Selectable<BillingSubscriptionTable>;

/** DunningPass counts what one pass of `runDue` changed. */
export interface DunningPass {
  pastDue: number;
  suspended: number;
  restored: number;
}

/**
 * DunningService walks unpaid invoices through the past-due path. An invoice is **overdue** when it
 * is `finalized`, owes something, and its `dueAt` has passed. A live subscription with an overdue
 * invoice becomes `past_due` (`subscription.past_due`); when its oldest overdue invoice is more than
 * `BASEPLATE_BILLING_GRACE_DAYS` past due, the tenant is suspended with the category `billing`
 * through the tenancy module (`tenant.suspended`: writes answer 402, reads, export and billing stay
 * open). When nothing is overdue any more (paid, credited or voided), the subscription is `active`
 * again (`subscription.reactivated`, in the transaction that settled the last overdue invoice) and
 * the tenant is reactivated — only when it is still suspended for billing and dunning suspended it
 * (`suspended_tenant_at`): a tenant an operator suspended for another reason stays suspended.
 *
 * The tenant's transition is the tenancy module's own transaction, so each step is convergent:
 * the recurring job re-derives it from the invoices every minute, and a step lost to a crash
 * between the two transactions is done by the next pass. Time is the subscription's: its test clock's, or the plane's.
 */
export class DunningService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly tenancy: TenancyService,
    private readonly clocks: TestClocksService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /**
   * runDue does one dunning pass over every environment: past due, then suspensions, then
   * restores — of the subscriptions on real time, or with `clock`, of that test clock's
   * subscriptions at its time.
   */
  async runDue(limit = 500, clock?: ClockTime): Promise<DunningPass> {
    const now = clock?.now ?? this.m.clock.now();
    const onClock = clock?.clockId ?? null;
    const pass: DunningPass = { pastDue: 0, suspended: 0, restored: 0 };
    const late = await this.#overdue(this.#db.q(), now)
      .innerJoin("billing_subscription as s", "s.id", "i.subscription_id")
      .where("s.status", "=", "active")
      .where("s.test_clock_id", onClock === null ? "is" : "=", onClock)
      .select("i.subscription_id as id")
      .distinct()
      .limit(limit)
      .execute();
    for (const { id } of late) {
      if (await this.#step(id, () => this.markPastDue(id))) pass.pastDue++;
    }
    const cutoff = now - this.m.config.billing.graceDays * DAY_MS;
    const grace = await this.#overdue(this.#db.q(), cutoff)
      .innerJoin("billing_subscription as s", "s.id", "i.subscription_id")
      .where("s.status", "=", "past_due")
      .where("s.test_clock_id", onClock === null ? "is" : "=", onClock)
      .select("i.subscription_id as id")
      .distinct()
      .limit(limit)
      .execute();
    for (const { id } of grace) {
      if (await this.#step(id, () => this.suspend(id))) pass.suspended++;
    }
    const marked = await this.#db
      .q()
      .selectFrom("billing_subscription")
      .select("id")
      .where("suspended_tenant_at", "is not", null)
      .where("test_clock_id", onClock === null ? "is" : "=", onClock)
      .limit(limit)
      .execute();
    for (const { id } of marked) {
      if (await this.#step(id, () => this.restore(id))) pass.restored++;
    }
    return pass;
  }

  /** markPastDue moves an `active` subscription with an overdue invoice to `past_due`. */
  async markPastDue(id: string): Promise<boolean> {
    const ctx = systemContext(newId("request"), "billing");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#lock(tx, id);
      if (row.status !== "active") return false;
      const now = await this.clocks.timeOf(row.test_clock_id, tx);
      const overdue = await this.#overdue(this.#db.q(tx), now)
        .where("i.subscription_id", "=", id)
        .select(["i.id", "i.number", "i.due_at"])
        .orderBy("i.due_at")
        .execute();
      const first = overdue[0];
      if (!first) return false;
      await this.#setStatus(tx, row, "past_due", now);
      await this.m.facts.record(tx, ctx, {
        type: "subscription.past_due",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "subscription", id: row.id }, ...overdue.map((i) => ({ type: "invoice", id: i.id }))],
        data: { invoices: overdue.map((i) => i.number), pastDueSince: iso(Number(first.due_at)) },
      });
      return true;
    });
  }

  /**
   * suspend suspends the tenant of a `past_due` subscription whose oldest overdue invoice is past
   * the grace period, with the category `billing`. Leaves alone a tenant that is not active (an
   * operator suspended or deactivated it). Returns whether it suspended the tenant.
   */
  async suspend(id: string): Promise<boolean> {
    const found = await this.#db
      .q()
      .selectFrom("billing_subscription")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (!found) return false;
    const state = await this.tenancy.tenants.tenantState(found.environment_id, found.tenant_id);
    if (state?.status !== "active") return false;
    const ctx = systemContext(newId("request"), "billing");
    const oldest = await this.m.db.write(ctx, async (tx) => {
      const row = await this.#lock(tx, id);
      const now = await this.clocks.timeOf(row.test_clock_id, tx);
      if (row.status !== "past_due") return null;
      const cutoff = now - this.m.config.billing.graceDays * DAY_MS;
      const late = await this.#overdue(this.#db.q(tx), cutoff)
        .where("i.subscription_id", "=", id)
        .select(["i.number"])
        .orderBy("i.due_at")
        .executeTakeFirst();
      if (!late) return null;
      await this.#db
        .q(tx)
        .updateTable("billing_subscription")
        .set({ suspended_tenant_at: now })
        .where("id", "=", id)
        .execute();
      return late.number;
    });
    if (oldest === null) return false;
    try {
      await this.tenancy.tenants.transitionTenant(
        ctx,
        found.environment_id,
        found.tenant_id,
        "suspended",
        `Invoice ${oldest} is more than ${this.m.config.billing.graceDays} days past due.`,
        "billing",
      );
    } catch (err) {
      // Another actor moved the tenant first (suspended or deactivated it): leave it as it is.
      if (!(err instanceof AppError && err.code === TenancyErrors.invalid_tenant_transition.code)) throw err;
      return false;
    }
    // A payment that settled the invoice while the tenant was being suspended finds the tenant
    // still active and has nothing to restore: look again, now that the suspension committed.
    await this.restore(id);
    return true;
  }

  /**
   * restore reactivates the tenant of a subscription dunning suspended, once nothing of it is
   * overdue, if the tenant is still suspended for billing (never one suspended for another reason),
   * then clears the mark. Returns whether it reactivated the tenant.
   */
  async restore(id: string): Promise<boolean> {
    const row = await this.#db
      .q()
      .selectFrom("billing_subscription")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row || row.suspended_tenant_at === null) return false;
    const now = await this.clocks.timeOf(row.test_clock_id);
    if (await this.#hasOverdue(id, now)) return false;
    const ctx = systemContext(newId("request"), "billing");
    let restored = false;
    const state = await this.tenancy.tenants.tenantState(row.environment_id, row.tenant_id);
    if (state?.status === "suspended" && state.suspendedFor === "billing") {
      await this.tenancy.tenants.transitionTenant(
        ctx,
        row.environment_id,
        row.tenant_id,
        "active",
        "Every overdue invoice is settled.",
        null,
      );
      restored = true;
    }
    await this.m.db.write(ctx, async (tx) => {
      await this.#lock(tx, id);
      // Overdue again since (a new invoice fell due): keep the mark for the next suspension.
      if (await this.#hasOverdue(id, await this.clocks.timeOf(row.test_clock_id, tx), tx)) return;
      await this.#db
        .q(tx)
        .updateTable("billing_subscription")
        .set({ suspended_tenant_at: null })
        .where("id", "=", id)
        .execute();
    });
    return restored;
  }

  /**
   * restoreAfterCommit is `restore` for a write that settled an invoice and has committed: a
   * failure is logged, not thrown (the write stands; the recurring job restores the tenant on its
   * next pass).
   */
  async restoreAfterCommit(subscriptionId: string): Promise<void> {
    await this.#step(subscriptionId, () => this.restore(subscriptionId));
  }

  /**
   * settleIn is called in the transaction that settled an invoice of `subscriptionId` (paid,
   * credited to nothing owed, or voided): when the subscription is `past_due` and nothing of it is
   * overdue any more, it is `active` again (`subscription.reactivated`). The tenant is restored
   * after the commit (`restore`).
   */
  async settleIn(tx: Tx, ctx: ActionContext, subscriptionId: string): Promise<void> {
    const row = await this.#lock(tx, subscriptionId);
    if (row.status !== "past_due") return;
    const now = await this.clocks.timeOf(row.test_clock_id, tx);
    if (await this.#hasOverdue(subscriptionId, now, tx)) return;
    await this.#setStatus(tx, row, "active", now);
    await this.m.facts.record(tx, ctx, {
      type: "subscription.reactivated",
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [{ type: "subscription", id: row.id }],
      data: { reason: "overdue_settled" },
    });
  }

  /** #step runs one subscription's step; a failure is logged and holds up no other subscription. */
  async #step(id: string, fn: () => Promise<boolean>): Promise<boolean> {
    try {
      return await fn();
    } catch (err) {
      this.m.logger.error({ err, subscriptionId: id }, "a dunning step failed");
      return false;
    }
  }

  async #hasOverdue(subscriptionId: string, now: number, tx?: Tx): Promise<boolean> {
    const hit = await this.#overdue(this.#db.q(tx), now)
      .where("i.subscription_id", "=", subscriptionId)
      .select("i.id")
      .executeTakeFirst();
    return hit !== undefined;
  }

  /** #overdue selects the invoices that owe something and were due at or before `at`. */
  #overdue(q: ReturnType<TypedDb<BillingTables>["q"]>, at: number) {
    return q
      .selectFrom("billing_invoice as i")
      .where("i.status", "=", "finalized")
      .where("i.due_at", "<=", at)
      .where(sql<boolean>`i.total > i.amount_paid + i.amount_credited`);
  }

  async #setStatus(tx: Tx, row: SubscriptionRow, status: "active" | "past_due", now: number) {
    const r = await this.#db
      .q(tx)
      .updateTable("billing_subscription")
      .set({ status, updated_at: now })
      .where("id", "=", row.id)
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
}
