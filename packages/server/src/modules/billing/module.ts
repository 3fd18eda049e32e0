import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { usageModule } from "../usage/index.js";
import { CREDIT_FACTS } from "./credit-facts.js";
import { billingIds } from "./ids.js";
import { plansSection } from "./manifest.js";
import { migration as core } from "./migrations/202612121500_billing_core.js";
import { migration as payments } from "./migrations/202612121510_billing_payments.js";
import { migration as credits } from "./migrations/202612121520_billing_credits.js";
import { migration as testClocks } from "./migrations/202612121555_billing_test_clocks.js";
import { migration as lateUsage } from "./migrations/202612121605_billing_late_usage.js";
import { billingReview } from "./review.js";
import { billingRoutes } from "./routes.js";
import { CLOCK_JOB } from "./service/clocks.js";
import { EXPIRE_CREDITS_JOB } from "./service/credits.js";
import { DUNNING_JOB } from "./service/dunning.js";
import { ADVANCE_JOB } from "./service/subscriptions.js";
import { BillingService } from "./service.js";

const period = { currentPeriodStart: Timestamp, currentPeriodEnd: Timestamp };

/** paymentFacts: what happens to an invoice after finalization, and the past-due path. */
const paymentFacts = {
  "billing_settings.updated": {
    description: "A tenant's billing settings (tax rate, billing name and email) changed (`changes`: before/after).",
    data: z.object({ taxRate: z.string() }),
  },
  "payment.recorded": {
    description:
      "A payment a processor collected was recorded against an invoice (`applied` to it; `overpaid`: the excess).",
    data: z.object({
      invoiceId: z.string(),
      number: z.string(),
      processor: z.string(),
      reference: z.string(),
      currency: z.string(),
      amount: z.number().int(),
      applied: z.number().int(),
      overpaid: z.number().int(),
      amountDue: z.number().int(),
    }),
  },
  "invoice.paid": {
    description: "An invoice has nothing left to pay (`by`: the payment or the credit note that settled it).",
    data: z.object({
      number: z.string(),
      currency: z.string(),
      total: z.number().int(),
      amountPaid: z.number().int(),
      amountCredited: z.number().int(),
      by: z.enum(["payment", "credit_note"]),
    }),
  },
  "invoice.voided": {
    description: "A finalized invoice nothing was paid on was voided: it owes nothing.",
    data: z.object({ number: z.string(), currency: z.string(), total: z.number().int() }),
  },
  "credit_note.created": {
    description:
      "An invoice was credited (`creditedToDue`: taken off what it owed; `refund`: already paid, owed back to the tenant).",
    data: z.object({
      number: z.string(),
      invoiceId: z.string(),
      invoiceNumber: z.string(),
      currency: z.string(),
      total: z.number().int(),
      creditedToDue: z.number().int(),
      refund: z.number().int(),
    }),
  },
  "subscription.past_due": {
    description: "A subscription has an invoice unpaid past its due date (`invoices`: the overdue ones' numbers).",
    data: z.object({ invoices: z.array(z.string()), pastDueSince: Timestamp }),
  },
  "subscription.reactivated": {
    description: "A past-due subscription is active again: none of its invoices is overdue any more.",
    data: z.object({ reason: z.literal("overdue_settled") }),
  },
};

/**
 * The billing module: plans with immutable price versions, subscriptions of tenants to them, and
 * invoices priced from the usage module's meters, exact to the minor unit. Periods end through a
 * durable recurring job; each period is invoiced once. Invoices are taxed at the tenant's rate,
 * paid by recorded payments, credited, voided; overdue ones walk the past-due path (another
 * recurring job) to the tenant's suspension for billing, and back on payment.
 */
export const billingModule = defineModule({
  name: "billing",
  dependsOn: { usage: usageModule, tenancy: tenancyModule },
  migrations: [core, payments, credits, testClocks, lateUsage],
  ids: billingIds.prefixes,
  permissions: { billing: ["read", "manage"] },
  roleGrants: { admin: { billing: ["read"] } },
  createService: (ctx, { usage, tenancy }) => new BillingService(ctx, usage, tenancy),
  routes: (service) => billingRoutes(service),
  manifest: (service) => [plansSection(service)],
  review: (service) => billingReview(service),
  facts: {
    "billing_plan.created": {
      description: "A plan was created with its version 1.",
      data: z.object({
        key: z.string(),
        name: z.string(),
        version: z.number().int(),
        currency: z.string(),
        interval: z.string(),
      }),
    },
    "billing_plan.version_created": {
      description: "A plan got a new price version (new subscriptions get it; existing ones keep theirs).",
      data: z.object({ key: z.string(), version: z.number().int(), currency: z.string(), interval: z.string() }),
    },
    "billing_plan.updated": { description: "A plan's name or description changed (`changes`: before/after)." },
    "billing_plan.archived": {
      description: "A plan was archived: no new subscription may start on it.",
      data: z.object({ key: z.string() }),
    },
    "subscription.created": {
      description: "A tenant was subscribed to a plan version (in trial or active).",
      data: z.object({ planId: z.string(), planVersionId: z.string(), status: z.string(), ...period }),
    },
    "subscription.trial_ended": {
      description: "A subscription's trial ended: its first paid period began.",
      data: z.object(period),
    },
    "subscription.renewed": {
      description: "A subscription's period ended (and was invoiced): the next one began.",
      data: z.object(period),
    },
    "subscription.plan_changed": {
      description:
        "A subscription moved to another plan version (at once: the period so far was invoiced on the old one; or at its period end).",
      data: z.object({ fromPlanVersionId: z.string(), toPlanVersionId: z.string() }),
    },
    "subscription.change_scheduled": {
      description:
        "A subscription will move to another plan version when its period ends (`toPlanVersionId` equal to `fromPlanVersionId`: a scheduled change was withdrawn).",
      data: z.object({ fromPlanVersionId: z.string(), toPlanVersionId: z.string() }),
    },
    "subscription.cancel_scheduled": {
      description: "A subscription will end at the end of its current period.",
      data: z.object({ endsAt: Timestamp }),
    },
    "subscription.canceled": {
      description: "A subscription ended (`requested`: at once; `period_end`: as scheduled); its entitlements are off.",
      data: z.object({ reason: z.enum(["requested", "period_end"]), canceledAt: Timestamp }),
    },
    "invoice.finalized": {
      description: "A subscription period's invoice was finalized and numbered.",
      data: z.object({
        number: z.string(),
        currency: z.string(),
        total: z.number().int(),
        dueAt: Timestamp.nullable(),
        periodStart: Timestamp,
        periodEnd: Timestamp,
        subscriptionId: z.string(),
      }),
    },
    "test_clock.created": {
      description: "A test clock was created (non-production environments only).",
      data: z.object({ name: z.string(), frozenTime: Timestamp }),
    },
    "test_clock.advanced": {
      description: "A test clock was moved forward; its tenants' due billing steps are running.",
      data: z.object({ from: Timestamp, to: Timestamp }),
    },
    "test_clock.ready": {
      description: "Every billing step a test clock's advance made due has run.",
      data: z.object({ frozenTime: Timestamp }),
    },
    "test_clock.deleted": {
      description: "A test clock with no tenants was deleted.",
      data: z.object({ name: z.string() }),
    },
    "test_clock.tenant_attached": {
      description: "A tenant was put on a test clock: its subscriptions from now on run at the clock's time.",
      data: z.object({ testClockId: z.string(), frozenTime: Timestamp }),
    },
    "test_clock.tenant_detached": {
      description: "A tenant was taken off its test clock.",
      data: z.object({ testClockId: z.string() }),
    },
    ...paymentFacts,
    ...CREDIT_FACTS,
  },
  jobs: (service) => [
    { name: ADVANCE_JOB, maxAttempts: 3, handler: async () => void (await service.subscriptions.advanceDue()) },
    { name: DUNNING_JOB, maxAttempts: 3, handler: async () => void (await service.dunning.runDue()) },
    { name: EXPIRE_CREDITS_JOB, maxAttempts: 3, handler: async () => void (await service.credits.expireDue()) },
    {
      name: CLOCK_JOB,
      maxAttempts: 5,
      handler: (payload) => service.clocks.runClock(payload as { environmentId: string; testClockId: string }),
    },
  ],
  schedules: { [ADVANCE_JOB]: "* * * * *", [DUNNING_JOB]: "* * * * *", [EXPIRE_CREDITS_JOB]: "* * * * *" },
});
