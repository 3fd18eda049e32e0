import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp, TimestampInput } from "../../platform/http/schemas.js";
import { SetEntitlementInput } from "../usage/index.js";
import { PlanCredits } from "./credit-schemas.js";
import { CURRENCY_EXPONENTS } from "./internal/money.js";
import { PRICE_PATTERN, QUANTITY_PATTERN, tierProblem } from "./internal/pricing.js";

/** Public shapes of the billing module: plans and versions, subscriptions, invoices. */

const Price = z
  .string()
  .regex(PRICE_PATTERN, "must be a decimal string of at most 12 decimal places (e.g. `0.0000021`)")
  .describe("A price in major units of the plan's currency, as a decimal string (up to 12 decimal places).");
const Quantity = z
  .string()
  .regex(QUANTITY_PATTERN, "must be a non-negative decimal string (e.g. `1000000`)")
  .describe("A quantity of the meter's unit, as a decimal string.");
const PlanKey = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_-]*$/, "must be lower-case letters, digits, `_` and `-`, starting with a letter");
const Currency = z
  .string()
  .refine((c) => Object.hasOwn(CURRENCY_EXPONENTS, c), "must be an ISO 4217 currency code (upper case)")
  .describe("ISO 4217 code; totals are integer minor units of it (USD: cents, JPY: yen).");
export const Interval = z.enum(["week", "month", "year"]);

const Tier = z.strictObject({
  upTo: Quantity.nullable().describe("The last unit of the tier (inclusive); null for the last tier."),
  unitPrice: Price,
  flatFee: Price.optional().describe("Added once when any unit falls in the tier."),
});
const Tiers = z
  .array(Tier)
  .min(1)
  .max(20)
  .superRefine((tiers, ctx) => {
    const problem = tierProblem(tiers);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const chargeBase = {
  meter: z.string().min(1).max(64).describe("The meter (key or id) whose usage over the period is the quantity."),
  description: z.string().max(200).optional(),
  freeUnits: Quantity.optional().describe("Units taken off the quantity before pricing."),
  minimum: Price.optional().describe("The least the line costs (major units), usage or not."),
};

export const ChargeInput = z.discriminatedUnion("model", [
  z.strictObject({ model: z.literal("per_unit"), unitPrice: Price, ...chargeBase }),
  z.strictObject({ model: z.literal("graduated"), tiers: Tiers, ...chargeBase }),
  z.strictObject({ model: z.literal("volume"), tiers: Tiers, ...chargeBase }),
  z.strictObject({
    model: z.literal("package"),
    packageSize: Quantity.refine((s) => !/^0(\.0*)?$/.test(s), "must be positive"),
    packagePrice: Price,
    ...chargeBase,
  }),
  z.strictObject({
    model: z.literal("percentage"),
    percent: Price.describe("Percent of the summed value (`2.9` is 2.9 %)."),
    ...chargeBase,
  }),
]);
export type ChargeInput = z.infer<typeof ChargeInput>;

const versionFields = {
  interval: Interval.describe("How long a billing period is."),
  currency: Currency,
  trialDays: z.number().int().min(0).max(730).default(0).describe("Days of free trial before the first period."),
  fixedFee: Price.default("0").describe("The recurring fee per period (major units), e.g. `49.00`."),
  charges: z.array(ChargeInput).max(50).default([]).describe("Per-meter charges, priced from usage."),
  entitlements: z
    .array(SetEntitlementInput)
    .max(100)
    .default([])
    .describe("Features and limits granted to a subscribed tenant (applied to its usage entitlements)."),
  credits: PlanCredits.default([]).describe("Credits granted to the tenant's wallets at the start of every period."),
};

function distinctFeatures(v: { entitlements: Array<{ feature: string }> }): boolean {
  return new Set(v.entitlements.map((e) => e.feature)).size === v.entitlements.length;
}
const featuresMessage = { message: "each feature at most once", path: ["entitlements"] };

export const CreatePlanVersionInput = z.strictObject(versionFields).refine(distinctFeatures, featuresMessage);
export const CreatePlanInput = z
  .strictObject({
    key: PlanKey,
    name: z.string().min(1).max(200),
    description: z.string().max(1000).default(""),
    ...versionFields,
  })
  .refine(distinctFeatures, featuresMessage);
export const UpdatePlanInput = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  description: z.string().max(1000).optional(),
});
export const ListPlansQuery = paginationQuery.extend({
  archived: z.enum(["true", "false"]).optional().describe("`true`: archived plans only; default: active plans."),
});

export const Charge = z
  .object({
    model: z.enum(["per_unit", "graduated", "volume", "package", "percentage"]),
    meter: z.string().describe("The meter's key."),
    meterId: z.string(),
    description: z.string().optional(),
    unitPrice: z.string().optional(),
    tiers: z
      .array(z.object({ upTo: z.string().nullable(), unitPrice: z.string(), flatFee: z.string().optional() }))
      .optional(),
    packageSize: z.string().optional(),
    packagePrice: z.string().optional(),
    percent: z.string().optional(),
    freeUnits: z.string().optional(),
    minimum: z.string().optional(),
  })
  .describe("A charge as stored: the model's fields, with the meter resolved.");
export type Charge = z.infer<typeof Charge>;

export const PlanVersion = z.object({
  id: z.string(),
  planId: z.string(),
  version: z.number().int(),
  interval: Interval,
  currency: z.string(),
  trialDays: z.number().int(),
  fixedFee: z.string(),
  charges: z.array(Charge),
  entitlements: z.array(z.record(z.string(), z.unknown())),
  credits: PlanCredits,
  createdAt: Timestamp,
});
export type PlanVersion = z.infer<typeof PlanVersion>;

export const Plan = z.object({
  id: z.string(),
  key: z.string(),
  name: z.string(),
  description: z.string(),
  currentVersion: PlanVersion,
  archivedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Plan = z.infer<typeof Plan>;

export const SubscriptionStatus = z.enum(["trialing", "active", "past_due", "canceled"]);

export const CreateSubscriptionInput = z.strictObject({
  tenantId: Id,
  plan: z.string().min(1).max(64).describe("The plan (key or id): its current version."),
  planVersionId: Id.optional().describe("A version of the plan other than its current one."),
});
export const CancelSubscriptionInput = z.strictObject({
  atPeriodEnd: z
    .boolean()
    .default(true)
    .describe("`true`: the subscription runs to the end of its period (invoiced), then ends; `false`: it ends now."),
});
export const ChangePlanInput = z.strictObject({
  plan: z.string().min(1).max(64).describe("The plan (key or id) to move to: its current version."),
  planVersionId: Id.optional().describe("A version of that plan other than its current one."),
  atPeriodEnd: z
    .boolean()
    .default(false)
    .describe(
      "`false`: now — the period so far is invoiced on the old version (fixed fee prorated), the rest of it goes to the new one; `true`: when the period ends.",
    ),
});
export const ListSubscriptionsQuery = paginationQuery.extend({
  tenantId: Id.optional(),
  status: SubscriptionStatus.optional(),
});

export const Subscription = z.object({
  id: z.string(),
  tenantId: z.string(),
  planId: z.string(),
  planVersionId: z.string(),
  pendingPlanVersionId: z.string().nullable().describe("The version it moves to at the end of the period."),
  status: SubscriptionStatus,
  anchor: Timestamp.describe("Periods start at the anchor plus whole intervals."),
  currentPeriodStart: Timestamp,
  currentPeriodEnd: Timestamp,
  trialEnd: Timestamp.nullable(),
  cancelAtPeriodEnd: z.boolean(),
  canceledAt: Timestamp.nullable(),
  testClockId: z
    .string()
    .nullable()
    .describe("The test clock whose time the subscription runs at (its tenant's when it started), or null."),
  timeZone: z
    .string()
    .describe("The IANA time zone whose wall clock its periods follow: its tenant's when it started."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Subscription = z.infer<typeof Subscription>;

const AppliedTier = z.object({
  from: z.string(),
  upTo: z.string().nullable(),
  units: z.string(),
  unitPrice: z.string(),
  flatFee: z.string(),
  amount: z.string(),
});

export const InvoiceLine = z.object({
  type: z.enum(["fixed_fee", "charge", "late_usage"]),
  description: z.string(),
  quantity: z.string(),
  billableQuantity: z.string(),
  unitPrice: z.string().nullable().describe("The price per unit (null for tiered models: see `tiers`)."),
  amount: z.string().describe("Exact amount in major units, before rounding and the minimum."),
  total: z.number().int().describe("The line's total in minor units, rounded once (half to even)."),
  minimumApplied: z.boolean(),
  tiers: z.array(AppliedTier),
  charge: Charge.nullable(),
  usage: z
    .object({
      meterId: z.string(),
      meter: z.string(),
      aggregation: z.string(),
      from: Timestamp,
      to: Timestamp,
      receivedFrom: Timestamp.optional().describe("Counted events were received at or after this time."),
      receivedTo: Timestamp.optional().describe("Counted events were received before this time."),
      value: z.string(),
    })
    .nullable()
    .describe("The usage query that produced the quantity: recompute it with the usage API."),
});
export type InvoiceLine = z.infer<typeof InvoiceLine>;

export const InvoicePreview = z.object({
  subscriptionId: z.string(),
  tenantId: z.string(),
  planVersionId: z.string(),
  currency: z.string(),
  periodStart: Timestamp,
  periodEnd: Timestamp,
  lines: z.array(InvoiceLine),
  subtotal: z.number().int().describe("Minor units of `currency`: the sum of the lines' totals."),
  taxRate: z.string().describe("The tenant's tax rate, a decimal percentage (`8.25` is 8.25 %)."),
  tax: z.number().int().describe("subtotal × taxRate / 100, rounded once (half to even) to minor units."),
  total: z.number().int().describe("subtotal + tax."),
});
export type InvoicePreview = z.infer<typeof InvoicePreview>;

export const Invoice = InvoicePreview.extend({
  id: z.string(),
  number: z.string().describe("Gap-free per environment and year: `INV-2026-000123`."),
  status: z
    .enum(["finalized", "paid", "void"])
    .describe("`finalized`: open (owes `amountDue`); `paid`: nothing left to pay; `void`: canceled, owes nothing."),
  dueAt: Timestamp.nullable().describe("When payment is due (finalization + the plane's net terms)."),
  amountPaid: z.number().int().describe("Payments applied to the invoice (never above the total)."),
  amountCredited: z.number().int().describe("The sum of its credit notes' totals."),
  amountDue: z.number().int().describe("What is still owed: total − amountPaid − amountCredited, at least 0."),
  paidAt: Timestamp.nullable(),
  voidedAt: Timestamp.nullable(),
  finalizedAt: Timestamp,
  createdAt: Timestamp,
});
export type Invoice = z.infer<typeof Invoice>;

export const ListInvoicesQuery = paginationQuery.extend({
  tenantId: Id.optional(),
  subscriptionId: Id.optional(),
});

export const CreateTestClockInput = z.strictObject({
  name: z.string().min(1).max(200),
  frozenTime: TimestampInput.pipe(z.number().max(8_640_000_000_000))
    .optional()
    .describe("The clock's starting time (default: now). It may be in the past, to replay a billing history."),
});
export const AdvanceTestClockInput = z.strictObject({
  frozenTime: TimestampInput.pipe(z.number().max(8_640_000_000_000)).describe(
    "The time to move to: after the clock's current time, at most two years later.",
  ),
});
export const AttachTestClockInput = z.strictObject({ tenantId: Id });
export const ListTestClocksQuery = paginationQuery;
export const TestClock = z.object({
  id: z.string(),
  name: z.string(),
  frozenTime: Timestamp.describe("The time the clock's tenants' billing runs at."),
  status: z
    .enum(["ready", "advancing"])
    .describe("`advancing` while the steps its last advance made due (periods, invoices, …) are running."),
  tenants: z.number().int().describe("How many tenants live on the clock."),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type TestClock = z.infer<typeof TestClock>;
/** TaxRate: a decimal percentage from 0 to 100 with up to 4 decimal places, as a string. */
const TaxRate = z
  .string()
  .regex(/^(100(\.0{1,4})?|\d{1,2}(\.\d{1,4})?)$/, "must be a decimal percentage from 0 to 100, e.g. `8.25`")
  .describe("A decimal percentage (`8.25` is 8.25 %), up to 4 decimal places.");

export const UpdateBillingSettingsInput = z.strictObject({
  taxRate: TaxRate.optional(),
  billingName: z.string().min(1).max(200).nullable().optional().describe("Who invoices are addressed to."),
  billingEmail: z.email().max(320).nullable().optional().describe("Where invoices are sent."),
});
export const BillingSettings = z.object({
  tenantId: z.string(),
  taxRate: z.string().describe("Applied to invoices finalized from now on (and to previews)."),
  billingName: z.string().nullable(),
  billingEmail: z.string().nullable(),
  updatedAt: Timestamp.nullable().describe("null: never set (the defaults)."),
});
export type BillingSettings = z.infer<typeof BillingSettings>;

export const CreatePaymentInput = z.strictObject({
  processor: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z][a-z0-9_.-]*$/, "must be lower-case letters, digits, `_`, `.` and `-` (e.g. `stripe`)")
    .refine((p) => p !== "credits", "`credits` is reserved: payments from prepaid credits are recorded by the plane")
    .describe("The payment processor that collected it."),
  reference: z
    .string()
    .min(1)
    .max(255)
    .describe("The processor's id of the payment (e.g. a payment intent id): unique per processor."),
  amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe("Integer minor units of `currency`."),
  currency: z.string().describe("Must be the invoice's currency."),
});
export const Payment = z.object({
  id: z.string(),
  invoiceId: z.string(),
  tenantId: z.string(),
  processor: z.string(),
  reference: z.string(),
  currency: z.string(),
  amount: z.number().int(),
  applied: z.number().int().describe("The part applied to the invoice."),
  overpaid: z.number().int().describe("The excess over what the invoice owed (amount − applied)."),
  createdAt: Timestamp,
});
export type Payment = z.infer<typeof Payment>;
export const PaymentReceipt = Payment.extend({
  invoice: z.object({ status: z.string(), amountPaid: z.number().int(), amountDue: z.number().int() }),
});
export type PaymentReceipt = z.infer<typeof PaymentReceipt>;

export const CreateCreditNoteInput = z.strictObject({
  reason: z.string().min(1).max(500).default("").describe("Why the credit was given."),
  lines: z
    .array(
      z.strictObject({
        line: z.number().int().min(0).max(1000).describe("The invoice line's index (from 0)."),
        amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe("Minor units, before tax."),
      }),
    )
    .min(1)
    .max(100)
    .optional()
    .describe("Credit these amounts of these lines (tax follows at the invoice's rate); omitted: all that is left."),
});
export const CreditNote = z.object({
  id: z.string(),
  number: z.string().describe("Gap-free per environment and year: `CN-2027-000001`."),
  invoiceId: z.string(),
  tenantId: z.string(),
  currency: z.string(),
  reason: z.string(),
  kind: z.enum(["full", "lines"]),
  lines: z.array(z.object({ line: z.number().int(), amount: z.number().int() })),
  subtotal: z.number().int(),
  tax: z.number().int(),
  total: z.number().int().describe("subtotal + tax = creditedToDue + refund."),
  creditedToDue: z.number().int().describe("The part that reduced what the invoice still owed."),
  refund: z.number().int().describe("The part already paid: owed back to the tenant (refund or credit)."),
  createdAt: Timestamp,
});
export type CreditNote = z.infer<typeof CreditNote>;
export const ListCreditNotesQuery = paginationQuery.extend({
  tenantId: Id.optional(),
  invoiceId: Id.optional(),
});
export const TenantUsage = z.object({
  subscriptionId: z.string().nullable().describe("The live subscription; null when the tenant has none."),
  currency: z.string().nullable(),
  periodStart: Timestamp.nullable().describe("The subscription's current period (null without one)."),
  periodEnd: Timestamp.nullable(),
  limits: z
    .array(
      z.object({
        feature: z.string(),
        kind: z.enum(["boolean", "metered"]),
        enabled: z.boolean(),
        meter: z.string().nullable().describe("A metered limit's meter key."),
        limit: z.number().nullable(),
        used: z.number().nullable().describe("Used in the limit's own current period (month or rolling window)."),
        held: z.number().nullable().describe("Reserved by open holds."),
        remaining: z.number().nullable().describe("limit − used − held (never below 0)."),
        from: Timestamp.nullable().describe("The limit's current period: from (inclusive) …"),
        to: Timestamp.nullable().describe("… to (exclusive)."),
        resetsAt: Timestamp.nullable().describe("When a calendar month's limit resets; null for rolling windows."),
      }),
    )
    .describe("The tenant's entitlements, by feature: each metered one with its use against its limit."),
  charges: z
    .array(
      z.object({
        description: z.string(),
        meter: z.string(),
        aggregation: z.string(),
        used: z.string().describe("The meter's value over the billing period so far."),
        billableQuantity: z.string().describe("What is billed of it (free units taken off)."),
        total: z.number().int().describe("What it costs so far, in minor units of `currency`."),
      }),
    )
    .describe("The plan's metered charges over the current billing period so far (the preview's charge lines)."),
});
export type TenantUsage = z.infer<typeof TenantUsage>;

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    AdvanceTestClockInput,
    AttachTestClockInput,
    BillingSettings,
    CancelSubscriptionInput,
    ChangePlanInput,
    Charge,
    ChargeInput,
    CreateCreditNoteInput,
    CreatePaymentInput,
    CreatePlanInput,
    CreatePlanVersionInput,
    CreateSubscriptionInput,
    CreateTestClockInput,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoicePreview,
    Payment,
    PaymentReceipt,
    Plan,
    PlanVersion,
    Subscription,
    TenantUsage,
    TestClock,
    UpdateBillingSettingsInput,
    UpdatePlanInput,
  },
  {
    Invoice: {
      description: "A finalised invoice of one billing period: its lines, totals in minor units, and payment state.",
      examples: [
        {
          id: "in_01JEXQCR4S6T8V0W2X4Y6Z8A0B",
          number: "GLOBEX-0007",
          subscriptionId: "sub_01JEXQCS6T8V0W2X4Y6Z8A0B2C",
          tenantId: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          planVersionId: "plv_01JEXQCT8V0W2X4Y6Z8A0B2C4D",
          currency: "EUR",
          periodStart: "2026-11-01T00:00:00.000Z",
          periodEnd: "2026-12-01T00:00:00.000Z",
          lines: [],
          subtotal: 4900,
          taxRate: "0.19",
          tax: 931,
          total: 5831,
          status: "finalized",
          dueAt: "2026-12-15T00:00:00.000Z",
          amountPaid: 0,
          amountCredited: 0,
          amountDue: 5831,
          paidAt: null,
          voidedAt: null,
          finalizedAt: "2026-12-01T09:30:00.000Z",
          createdAt: "2026-12-01T09:30:00.000Z",
        },
      ],
    },
  },
);
