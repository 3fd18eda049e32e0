import { z } from "zod";
import { defineModule } from "../../platform/module.js";
import { usageModule } from "../usage/index.js";
import { CREDIT_FACTS } from "./credit-facts.js";
import { billingIds } from "./ids.js";
import { migration as core } from "./migrations/202612121500_billing_core.js";
import { migration as credits } from "./migrations/202612121520_billing_credits.js";
import { billingRoutes } from "./routes.js";
import { EXPIRE_CREDITS_JOB } from "./service/credits.js";
import { ADVANCE_JOB } from "./service/subscriptions.js";
import { BillingService } from "./service.js";

const period = { currentPeriodStart: z.number().int(), currentPeriodEnd: z.number().int() };

/**
 * The billing module: plans with immutable price versions, subscriptions of tenants to them, and
 * invoices priced from the usage module's meters, exact to the minor unit. Periods end through a
 * durable recurring job; each period is invoiced once.
 */
export const billingModule = defineModule({
  name: "billing",
  dependsOn: { usage: usageModule },
  migrations: [core, credits],
  ids: billingIds.prefixes,
  permissions: { billing: ["read", "manage"] },
  roleGrants: { admin: { billing: ["read"] } },
  createService: (ctx, { usage }) => new BillingService(ctx, usage),
  routes: (service) => billingRoutes(service),
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
      data: z.object({ endsAt: z.number().int() }),
    },
    "subscription.canceled": {
      description: "A subscription ended (`requested`: at once; `period_end`: as scheduled); its entitlements are off.",
      data: z.object({ reason: z.enum(["requested", "period_end"]), canceledAt: z.number().int() }),
    },
    "invoice.finalized": {
      description: "A subscription period's invoice was finalized and numbered.",
      data: z.object({
        number: z.string(),
        currency: z.string(),
        total: z.number().int(),
        periodStart: z.number().int(),
        periodEnd: z.number().int(),
        subscriptionId: z.string(),
      }),
    },
    ...CREDIT_FACTS,
  },
  jobs: (service) => [
    { name: ADVANCE_JOB, maxAttempts: 3, handler: async () => void (await service.subscriptions.advanceDue()) },
    { name: EXPIRE_CREDITS_JOB, maxAttempts: 3, handler: async () => void (await service.credits.expireDue()) },
  ],
  schedules: { [ADVANCE_JOB]: "* * * * *", [EXPIRE_CREDITS_JOB]: "* * * * *" },
});
