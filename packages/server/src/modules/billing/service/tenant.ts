import type { z } from "zod";
import type { TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { isoOrNull } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { UsageService } from "../../usage/index.js";
import { BillingErrors } from "../errors.js";
import type { ChangePlanInput, InvoicePreview, Subscription, TenantUsage } from "../schemas.js";
import type { BillingTables } from "../tables.js";
import type { SubscriptionsService } from "./subscriptions.js";

/**
 * TenantBillingService: billing as a tenant sees it on its own path (`/v1/tenants/:tenantId/billing`):
 * a subscription's current period previewed, its usage against its limits, and the changes a member with
 * `billing:manage` may make (cancel at period end, change plan), through the same service methods
 * and rules as the environment's keys. Every object is looked up within the named tenant, so another
 * tenant's subscription answers 404.
 */
export class TenantBillingService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly usageService: UsageService,
    private readonly subscriptions: SubscriptionsService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /** preview prices the current period so far of a subscription of the tenant. */
  async preview(ctx: ActionContext, tenantId: string, id: string): Promise<InvoicePreview> {
    await this.#own(ctx, "billing:read", tenantId, id);
    return this.subscriptions.preview(ctx, id);
  }

  /**
   * usage lists the tenant's entitlements with each metered limit's use in its own period, and
   * the live subscription's metered charges over the billing period so far.
   */
  async usage(ctx: ActionContext, tenantId: string): Promise<TenantUsage> {
    const { environmentId, live } = await this.#live(ctx, tenantId);
    const [standings, preview] = await Promise.all([
      this.usageService.entitlements.standings(environmentId, tenantId),
      live ? this.subscriptions.preview(ctx, live) : null,
    ]);
    return {
      subscriptionId: live,
      currency: preview?.currency ?? null,
      periodStart: preview?.periodStart ?? null,
      periodEnd: preview?.periodEnd ?? null,
      limits: standings.map(({ entitlement: e, meter, standing: s }) => ({
        feature: e.feature,
        kind: e.kind,
        enabled: e.enabled,
        meter,
        limit: e.limit,
        used: s?.used ?? null,
        held: s?.held ?? null,
        remaining: s?.remaining ?? null,
        from: isoOrNull(s?.from),
        to: isoOrNull(s?.to),
        resetsAt: isoOrNull(s?.resetsAt),
      })),
      charges: (preview?.lines ?? []).flatMap((line) =>
        line.usage
          ? [
              {
                description: line.description,
                meter: line.usage.meter,
                aggregation: line.usage.aggregation,
                used: line.usage.value,
                billableQuantity: line.billableQuantity,
                total: line.total,
              },
            ]
          : [],
      ),
    };
  }

  /** cancel ends the tenant's subscription at the end of its period (invoiced then). */
  async cancel(ctx: ActionContext, tenantId: string, id: string): Promise<Subscription> {
    await this.#own(ctx, "billing:manage", tenantId, id);
    return this.subscriptions.cancelSubscription(ctx, id, { atPeriodEnd: true });
  }

  /** changePlan is the environment's plan change, on a subscription of the tenant. */
  async changePlan(
    ctx: ActionContext,
    tenantId: string,
    id: string,
    input: z.infer<typeof ChangePlanInput>,
  ): Promise<Subscription> {
    await this.#own(ctx, "billing:manage", tenantId, id);
    return this.subscriptions.changePlan(ctx, id, input);
  }

  /** #live answers the id of the tenant's live subscription (null: none), after the read check. */
  async #live(ctx: ActionContext, tenantId: string): Promise<{ environmentId: string; live: string | null }> {
    const { environmentId } = await this.m.access.require(ctx, "billing:read", { tenantId });
    const row = await this.#db
      .q()
      .selectFrom("billing_subscription")
      .select("id")
      .where("environment_id", "=", environmentId)
      .where("live_tenant_id", "=", tenantId)
      .executeTakeFirst();
    return { environmentId, live: row?.id ?? null };
  }

  /** #own checks `permission` in the tenant and that the subscription is the tenant's (404 otherwise). */
  async #own(ctx: ActionContext, permission: string, tenantId: string, id: string): Promise<void> {
    const { environmentId } = await this.m.access.require(ctx, permission, { tenantId });
    const row = await this.#db
      .q()
      .selectFrom("billing_subscription")
      .select("id")
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(BillingErrors.subscription_not_found, `No subscription ${id}.`);
  }
}
