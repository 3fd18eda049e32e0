import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import type { PlanCredits } from "../credit-schemas.js";
import type { Charge, Invoice, InvoiceLine, Plan, PlanVersion, Subscription } from "../schemas.js";
import type {
  BillingInvoiceTable,
  BillingPlanTable,
  BillingPlanVersionTable,
  BillingSubscriptionTable,
} from "../tables.js";

export function toPlanVersion(row: Selectable<BillingPlanVersionTable>): PlanVersion {
  return {
    id: row.id,
    planId: row.plan_id,
    version: Number(row.version),
    interval: row.interval,
    currency: row.currency,
    trialDays: Number(row.trial_days),
    fixedFee: row.fixed_fee,
    charges: fromJson<Charge[]>(row.charges),
    entitlements: fromJson<Array<Record<string, unknown>>>(row.entitlements),
    credits: row.credits == null ? [] : fromJson<PlanCredits>(row.credits),
    createdAt: Number(row.created_at),
  };
}

export function toPlan(row: Selectable<BillingPlanTable>, version: Selectable<BillingPlanVersionTable>): Plan {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    currentVersion: toPlanVersion(version),
    archivedAt: row.archived_at === null ? null : Number(row.archived_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export function toSubscription(row: Selectable<BillingSubscriptionTable>): Subscription {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    planId: row.plan_id,
    planVersionId: row.plan_version_id,
    pendingPlanVersionId: row.pending_plan_version_id,
    status: row.status,
    anchor: Number(row.anchor),
    currentPeriodStart: Number(row.current_period_start),
    currentPeriodEnd: Number(row.current_period_end),
    trialEnd: row.trial_end === null ? null : Number(row.trial_end),
    cancelAtPeriodEnd: Boolean(row.cancel_at_period_end),
    canceledAt: row.canceled_at === null ? null : Number(row.canceled_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export function toInvoice(row: Selectable<BillingInvoiceTable>): Invoice {
  return {
    id: row.id,
    number: row.number,
    status: row.status,
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    planVersionId: row.plan_version_id,
    currency: row.currency,
    periodStart: Number(row.period_start),
    periodEnd: Number(row.period_end),
    lines: fromJson<InvoiceLine[]>(row.lines),
    subtotal: Number(row.subtotal),
    total: Number(row.total),
    finalizedAt: Number(row.finalized_at),
    createdAt: Number(row.created_at),
  };
}
