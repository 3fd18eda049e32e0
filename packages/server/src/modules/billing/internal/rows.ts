import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { PlanCredits } from "../credit-schemas.js";
import type { Charge, CreditNote, Invoice, InvoiceLine, Payment, Plan, PlanVersion, Subscription } from "../schemas.js";
import type {
  BillingCreditNoteTable,
  BillingInvoiceTable,
  BillingPaymentTable,
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
    createdAt: iso(row.created_at),
  };
}

export function toPlan(row: Selectable<BillingPlanTable>, version: Selectable<BillingPlanVersionTable>): Plan {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    currentVersion: toPlanVersion(version),
    archivedAt: isoOrNull(row.archived_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
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
    anchor: iso(row.anchor),
    currentPeriodStart: iso(row.current_period_start),
    currentPeriodEnd: iso(row.current_period_end),
    trialEnd: isoOrNull(row.trial_end),
    cancelAtPeriodEnd: Boolean(row.cancel_at_period_end),
    canceledAt: isoOrNull(row.canceled_at),
    testClockId: row.test_clock_id,
    timeZone: row.time_zone,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** isoTime is a stored line time as an API time: invoices finalized before ISO answers kept epoch ms. */
function isoTime(time: string | number): string {
  return typeof time === "number" ? iso(time) : time;
}

/** lineTimes is a stored invoice line with its usage window in ISO 8601, whichever way it was stored. */
function lineTimes(line: InvoiceLine): InvoiceLine {
  if (!line.usage) return line;
  const u = line.usage as InvoiceLine["usage"] & Record<string, string | number>;
  return {
    ...line,
    usage: {
      ...line.usage,
      from: isoTime(u.from),
      to: isoTime(u.to),
      ...(u.receivedFrom === undefined ? {} : { receivedFrom: isoTime(u.receivedFrom) }),
      ...(u.receivedTo === undefined ? {} : { receivedTo: isoTime(u.receivedTo) }),
    },
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
    periodStart: iso(row.period_start),
    periodEnd: iso(row.period_end),
    lines: fromJson<InvoiceLine[]>(row.lines).map(lineTimes),
    subtotal: Number(row.subtotal),
    taxRate: row.tax_rate,
    tax: Number(row.tax),
    total: Number(row.total),
    dueAt: isoOrNull(row.due_at),
    amountPaid: Number(row.amount_paid),
    amountCredited: Number(row.amount_credited),
    amountDue: amountDue(row),
    paidAt: isoOrNull(row.paid_at),
    voidedAt: isoOrNull(row.voided_at),
    finalizedAt: iso(row.finalized_at),
    createdAt: iso(row.created_at),
  };
}

/** amountDue is what an invoice still owes: nothing once paid or void, else total − paid − credited (≥ 0). */
export function amountDue(
  row: Pick<Selectable<BillingInvoiceTable>, "status" | "total" | "amount_paid" | "amount_credited">,
): number {
  if (row.status !== "finalized") return 0;
  return Math.max(0, Number(row.total) - Number(row.amount_paid) - Number(row.amount_credited));
}

export function toPayment(row: Selectable<BillingPaymentTable>): Payment {
  return {
    id: row.id,
    invoiceId: row.invoice_id,
    tenantId: row.tenant_id,
    processor: row.processor,
    reference: row.reference,
    currency: row.currency,
    amount: Number(row.amount),
    applied: Number(row.applied),
    overpaid: Number(row.overpaid),
    createdAt: iso(row.created_at),
  };
}

export function toCreditNote(row: Selectable<BillingCreditNoteTable>): CreditNote {
  return {
    id: row.id,
    number: row.number,
    invoiceId: row.invoice_id,
    tenantId: row.tenant_id,
    currency: row.currency,
    reason: row.reason,
    kind: row.kind,
    lines: fromJson<CreditNote["lines"]>(row.lines),
    subtotal: Number(row.subtotal),
    tax: Number(row.tax),
    total: Number(row.total),
    creditedToDue: Number(row.credited_to_due),
    refund: Number(row.refund),
    createdAt: iso(row.created_at),
  };
}
