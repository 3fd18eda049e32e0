import { sql } from "kysely";
import { fromJson, type TypedDb } from "../../platform/db/db.js";
import {
  type ReviewContributor,
  type ReviewPart,
  type ReviewScope,
  type ReviewValue,
  reviewDate,
  reviewTable,
} from "../../platform/review.js";
import { billingIds } from "./ids.js";
import { formatMinor } from "./internal/money.js";
import type { Charge } from "./schemas.js";
import type { BillingService } from "./service.js";
import type { BillingTables, InvoiceStatus, SubscriptionStatus } from "./tables.js";

/** SUBSCRIPTION_FIGURES names each subscription status in the figures (`subscriptions.pastDue`). */
const SUBSCRIPTION_FIGURES: Record<SubscriptionStatus, string> = {
  trialing: "subscriptions.trialing",
  active: "subscriptions.active",
  past_due: "subscriptions.pastDue",
  canceled: "subscriptions.canceled",
};

/** INVOICE_FIGURES names each invoice status in the figures (`finalized`: open, still owing or not). */
const INVOICE_FIGURES: Record<InvoiceStatus, string> = {
  finalized: "invoices.open",
  paid: "invoices.paid",
  void: "invoices.void",
};

/** EXAMPLES: how many invoice numbers a failed check names. */
const EXAMPLES = 5;

/**
 * The billing module's parts of the review report: the plans and the subscriptions on them (a
 * tenant's report: its own subscriptions only), and how invoices are made from the meters' usage,
 * with the period's invoices by status and currency, reconciled now against their lines, payments
 * and credit notes, and the state of the past-due path.
 */
export function billingReview(service: BillingService): ReviewContributor[] {
  return [
    {
      name: "billing.plans",
      topic: "usageBilling",
      collect: (scope) =>
        scope.tenantId === null ? plansPart(service, scope) : tenantSubscriptionsPart(service, scope),
    },
    { name: "billing.invoices", topic: "usageBilling", collect: (scope) => invoicesPart(service, scope) },
  ];
}

/** subscriptionCounts counts the scope's subscriptions by status, in SQL: every status figure, 0 when none. */
async function subscriptionCounts(db: TypedDb<BillingTables>, scope: ReviewScope) {
  const rows = await db
    .q()
    .selectFrom("billing_subscription")
    .select(["status", (eb) => eb.fn.countAll<number | string>().as("n")])
    .where("environment_id", "=", scope.environmentId)
    .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
    .groupBy("status")
    .execute();
  const counts: Record<SubscriptionStatus, number> = { trialing: 0, active: 0, past_due: 0, canceled: 0 };
  for (const r of rows) counts[r.status] = Number(r.n);
  return counts;
}

function subscriptionFacts(counts: Record<SubscriptionStatus, number>, tenant: boolean) {
  return {
    blocks: {
      kind: "facts" as const,
      items: [
        { label: tenant ? "The tenant's subscriptions: trialing" : "Subscriptions trialing", value: counts.trialing },
        { label: "…active", value: counts.active },
        { label: "…past due", value: counts.past_due },
        { label: "…canceled", value: counts.canceled },
      ],
    },
    figures: Object.fromEntries(
      (Object.keys(SUBSCRIPTION_FIGURES) as SubscriptionStatus[]).map((s) => [SUBSCRIPTION_FIGURES[s], counts[s]]),
    ),
  };
}

const VERSIONS_TEXT =
  "A plan's prices live in immutable versions: a new price list is the plan's next version, which new subscriptions get, while a live subscription stays on its version until it is moved " +
  "(at once, the period so far invoiced on the old version, or at its period end). Prices are decimal strings in major units; a charge prices the usage of one `sum` or `count` meter.";

/** plansPart: the environment's live plans with their current versions, and its subscriptions by status. */
async function plansPart(service: BillingService, scope: ReviewScope): Promise<ReviewPart> {
  const db = service.context.db.tables<BillingTables>();
  const plans = await service.catalog.livePlans(scope.environmentId);
  const archived = await db
    .q()
    .selectFrom("billing_plan")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("environment_id", "=", scope.environmentId)
    .where("archived_at", "is not", null)
    .executeTakeFirst();
  const liveByPlan = new Map(
    (
      await db
        .q()
        .selectFrom("billing_subscription")
        .select(["plan_id", (eb) => eb.fn.countAll<number | string>().as("n")])
        .where("environment_id", "=", scope.environmentId)
        .where("live_tenant_id", "is not", null)
        .groupBy("plan_id")
        .execute()
    ).map((r) => [r.plan_id, Number(r.n)]),
  );
  const counts = await subscriptionCounts(db, scope);
  const subscriptions = subscriptionFacts(counts, false);
  const rows: ReviewValue[][] = plans.map(({ plan, version }) => {
    const charges = fromJson<Charge[]>(version.charges);
    return [
      plan.key,
      plan.name,
      version.currency,
      version.interval,
      Number(version.version),
      version.fixed_fee,
      charges.length,
      [...new Set(charges.map((c) => c.meter))].join(", ") || null,
      [...new Set(charges.map((c) => c.model))].join(", ") || null,
      liveByPlan.get(plan.id) ?? 0,
    ];
  });
  const metered = plans.reduce((n, { version }) => n + fromJson<Charge[]>(version.charges).length, 0);
  return {
    title: "Plans and subscriptions",
    blocks: [
      { kind: "text", text: VERSIONS_TEXT },
      reviewTable(
        "Live plans (current version)",
        [
          "Plan",
          "Name",
          "Currency",
          "Interval",
          "Version",
          "Fixed fee",
          "Metered charges",
          "Meters",
          "Charge models",
          "Live subscriptions",
        ],
        rows,
      ),
      {
        kind: "facts",
        items: [
          { label: "Live plans", value: plans.length },
          { label: "Archived plans (no new subscriptions)", value: Number(archived?.n ?? 0) },
        ],
      },
      subscriptions.blocks,
    ],
    figures: {
      "plans.live": plans.length,
      "plans.archived": Number(archived?.n ?? 0),
      "plans.meteredCharges": metered,
      ...subscriptions.figures,
    },
  };
}

/** tenantSubscriptionsPart: the tenant's subscriptions (plan, version, status, period) and their count by status. */
async function tenantSubscriptionsPart(service: BillingService, scope: ReviewScope): Promise<ReviewPart> {
  const db = service.context.db.tables<BillingTables>();
  const rows = await db
    .q()
    .selectFrom("billing_subscription as s")
    .innerJoin("billing_plan as p", "p.id", "s.plan_id")
    .innerJoin("billing_plan_version as v", "v.id", "s.plan_version_id")
    .select([
      "s.id",
      "p.key",
      "v.version",
      "v.currency",
      "s.status",
      "s.current_period_start",
      "s.current_period_end",
      "s.cancel_at_period_end",
      "s.canceled_at",
    ])
    .where("s.environment_id", "=", scope.environmentId)
    .where("s.tenant_id", "=", scope.tenantId as string)
    .orderBy("s.id", "desc")
    .execute();
  const counts = await subscriptionCounts(db, scope);
  const subscriptions = subscriptionFacts(counts, true);
  return {
    title: "The tenant's subscriptions",
    blocks: [
      { kind: "text", text: VERSIONS_TEXT },
      subscriptions.blocks,
      reviewTable(
        "Subscriptions (newest first)",
        ["Subscription", "Plan", "Version", "Currency", "Status", "Period start", "Period end", "Ends"],
        rows.map((r) => [
          r.id,
          r.key,
          Number(r.version),
          r.currency,
          r.status,
          reviewDate(r.current_period_start),
          reviewDate(r.current_period_end),
          r.canceled_at !== null ? reviewDate(r.canceled_at) : r.cancel_at_period_end ? "at period end" : null,
        ]),
      ),
    ],
    figures: subscriptions.figures,
  };
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * firstInvoiceIdAt is the least invoice ID that can have been minted at or after `ms`. An ID is
 * `<prefix>_<ULID>`, 48 bits of its creation time first, never earlier than the `created_at` it is
 * written with (platform/ids.ts): `id >= firstInvoiceIdAt(since)` bounds the period's invoices by
 * the primary key (and the tenant index), so no query reads the invoices of earlier periods.
 */
function firstInvoiceIdAt(ms: number): string {
  let time = "";
  for (let t = Math.max(0, Math.floor(ms)), i = 0; i < 10; i++, t = Math.floor(t / 32)) {
    time = CROCKFORD[t % 32] + time;
  }
  return `${billingIds.prefixes.invoice}_${time}${"0".repeat(16)}`;
}

/** invoicesPart: how invoices are made, the period's invoices by status and currency, reconciled now. */
async function invoicesPart(service: BillingService, scope: ReviewScope): Promise<ReviewPart> {
  const m = service.context;
  const db = m.db.tables<BillingTables>();
  const tenant = scope.tenantId;
  /** inPeriod: the scope's invoices written in the period (created_at in [since, now]). */
  const inPeriod = () =>
    db
      .q()
      .selectFrom("billing_invoice as i")
      .where("i.environment_id", "=", scope.environmentId)
      .$if(tenant !== null, (qb) => qb.where("i.tenant_id", "=", tenant as string))
      .where("i.id", ">=", firstInvoiceIdAt(scope.since))
      .where("i.created_at", ">=", scope.since)
      .where("i.created_at", "<=", scope.now);

  const groups = await inPeriod()
    .select([
      "i.currency",
      "i.status",
      (eb) => eb.fn.countAll<number | string>().as("n"),
      sql<number | string>`coalesce(sum(i.total), 0)`.as("total"),
      sql<number | string>`coalesce(sum(i.amount_paid), 0)`.as("paid"),
      sql<number | string>`coalesce(sum(i.amount_credited), 0)`.as("credited"),
      sql<
        number | string
      >`coalesce(sum(case when i.status = 'finalized' and i.total > i.amount_paid + i.amount_credited then i.total - i.amount_paid - i.amount_credited else 0 end), 0)`.as(
        "due",
      ),
    ])
    .groupBy(["i.currency", "i.status"])
    .execute();
  const byStatus: Record<InvoiceStatus, number> = { finalized: 0, paid: 0, void: 0 };
  const byCurrency = new Map<string, { n: number; total: number; paid: number; credited: number; due: number }>();
  for (const g of groups) {
    byStatus[g.status] += Number(g.n);
    const c = byCurrency.get(g.currency) ?? { n: 0, total: 0, paid: 0, credited: 0, due: 0 };
    c.n += Number(g.n);
    // A void invoice owes nothing: its total is not invoiced.
    if (g.status !== "void") c.total += Number(g.total);
    c.paid += Number(g.paid);
    c.credited += Number(g.credited);
    c.due += Number(g.due);
    byCurrency.set(g.currency, c);
  }
  const issued = byStatus.finalized + byStatus.paid + byStatus.void;
  const currencies = [...byCurrency.keys()].sort();

  // Reconciliation of the period's invoices, in SQL: (1) the sums of each invoice, (2) its
  // settlement against the payments and credit notes recorded for it.
  const linesTotal =
    m.db.engine === "postgres"
      ? sql<number>`(select coalesce(sum((l.value ->> 'total')::bigint), 0) from jsonb_array_elements(i.lines) as l(value))`
      : sql<number>`(select coalesce(sum(json_extract(l.value, '$.total')), 0) from json_each(i.lines) as l)`;
  const unbalanced = sql<boolean>`(i.total <> i.subtotal + i.tax or i.subtotal <> ${linesTotal})`;
  const unsettled = sql<boolean>`(i.amount_paid <> coalesce((select sum(p.applied) from billing_payment p where p.invoice_id = i.id), 0)
    or i.amount_credited <> coalesce((select sum(c.total) from billing_credit_note c where c.invoice_id = i.id), 0)
    or i.amount_paid > i.total
    or (i.status = 'paid' and i.amount_paid + i.amount_credited < i.total)
    or (i.status = 'void' and i.amount_paid <> 0))`;
  const checked = await inPeriod()
    .select([
      sql<number | string | null>`sum(case when ${unbalanced} then 1 else 0 end)`.as("unbalanced"),
      sql<number | string | null>`sum(case when ${unsettled} then 1 else 0 end)`.as("unsettled"),
    ])
    .executeTakeFirst();
  const failed = { unbalanced: Number(checked?.unbalanced ?? 0), unsettled: Number(checked?.unsettled ?? 0) };
  const examples = async (condition: typeof unbalanced, n: number) =>
    n === 0
      ? []
      : (await inPeriod().select("i.number").where(condition).orderBy("i.id").limit(EXAMPLES).execute()).map(
          (r) => r.number,
        );
  const detail = async (condition: typeof unbalanced, n: number, holds: string) => {
    const names = await examples(condition, n);
    if (issued === 0) return "No invoice was written in the period: nothing to check.";
    return n === 0
      ? `${holds} for all ${issued} invoices written in the period.`
      : `${n} of ${issued} invoices written in the period do not: ${names.join(", ")}${n > names.length ? ", …" : ""}.`;
  };

  // The past-due path now (any period): open invoices owing past their due date, by each
  // subscription's own time (its test clock's, or the plane's), as the dunning job sees them.
  const overdue = await db
    .q()
    .selectFrom("billing_invoice as i")
    .innerJoin("billing_subscription as s", "s.id", "i.subscription_id")
    .leftJoin("billing_test_clock as c", "c.id", "s.test_clock_id")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("i.environment_id", "=", scope.environmentId)
    .$if(tenant !== null, (qb) => qb.where("i.tenant_id", "=", tenant as string))
    .where("i.status", "=", "finalized")
    .where(sql<boolean>`i.total > i.amount_paid + i.amount_credited`)
    .where(sql<boolean>`i.due_at <= coalesce(c.frozen_time, ${scope.now})`)
    .executeTakeFirst();
  const dunning = await db
    .q()
    .selectFrom("billing_subscription")
    .select([
      sql<number | string | null>`sum(case when status = 'past_due' then 1 else 0 end)`.as("pastDue"),
      // A tenant's mark is on the subscription dunning suspended it for (it may have ended since).
      sql<number | string | null>`count(distinct case when suspended_tenant_at is not null then tenant_id end)`.as(
        "suspended",
      ),
    ])
    .where("environment_id", "=", scope.environmentId)
    .$if(tenant !== null, (qb) => qb.where("tenant_id", "=", tenant as string))
    .executeTakeFirst();
  const { netTermsDays, graceDays } = m.config.billing;

  return {
    title: tenant ? "The tenant's invoices" : "Invoices",
    blocks: [
      {
        kind: "text",
        text:
          "Each subscription period (a trial excepted) is invoiced once, when it ends (or at a plan change or cancellation, the fixed fee prorated by the minute), numbered gap-free per environment and year; " +
          "a charge's quantity is its meter's usage by the tenant over the period, summed from the usage module's rollups, priced exactly from decimal prices and rounded once, half to even, to integer minor units. " +
          "An invoice counts the events received up to a cut-off a minute before it is finalized; events of earlier periods received after their invoice are billed on the next one as late-usage lines, at the marginal price. " +
          `The tenant's tax rate applies to the subtotal (rounded once); a finalized invoice is paid from prepaid credits first, then by payments the product's processor reports (once per processor reference), can be credited by credit notes or voided if nothing was paid, and is due ${netTermsDays} days after finalization: overdue, its subscription is past due, and ${graceDays} days later the tenant is suspended for billing until it is settled.`,
      },
      {
        kind: "facts",
        items: [
          { label: "Invoices written in the period", value: issued },
          { label: "…open (finalized)", value: byStatus.finalized },
          { label: "…paid", value: byStatus.paid },
          { label: "…void", value: byStatus.void },
        ],
      },
      reviewTable(
        "The period's invoices by currency (amounts in major units; void invoices' totals left out)",
        ["Currency", "Invoices", "Invoiced", "Paid", "Credited", "Still due"],
        currencies.map((code) => {
          const c = byCurrency.get(code) as { n: number; total: number; paid: number; credited: number; due: number };
          const money = (minor: number) => formatMinor(minor, code);
          return [code, c.n, money(c.total), money(c.paid), money(c.credited), money(c.due)];
        }),
      ),
      {
        kind: "check",
        label: "Every invoice adds up",
        ok: failed.unbalanced === 0,
        detail: await detail(
          unbalanced,
          failed.unbalanced,
          "Subtotal equals the sum of the lines' totals, and total equals subtotal plus tax (minor units, checked in SQL),",
        ),
      },
      {
        kind: "check",
        label: "Payments and credit notes reconcile with the invoices",
        ok: failed.unsettled === 0,
        detail: await detail(
          unsettled,
          failed.unsettled,
          "Amount paid equals the sum of the payments applied (never above the total), amount credited equals the sum of the credit notes, a paid invoice owes nothing and a void one had nothing paid,",
        ),
      },
      {
        kind: "facts",
        items: [
          {
            label: `Open invoices past their due date now (due ${netTermsDays} days after finalization)`,
            value: Number(overdue?.n ?? 0),
          },
          { label: "Subscriptions past due", value: Number(dunning?.pastDue ?? 0) },
          {
            label: `Tenants suspended for billing by dunning, not yet restored (after ${graceDays} days of grace)`,
            value: Number(dunning?.suspended ?? 0),
          },
        ],
      },
    ],
    figures: {
      "invoices.issued": issued,
      ...Object.fromEntries(
        (Object.keys(INVOICE_FIGURES) as InvoiceStatus[]).map((s) => [INVOICE_FIGURES[s], byStatus[s]]),
      ),
      ...Object.fromEntries(currencies.map((code) => [`invoices.total.${code}`, byCurrency.get(code)?.total ?? 0])),
      ...Object.fromEntries(currencies.map((code) => [`invoices.due.${code}`, byCurrency.get(code)?.due ?? 0])),
      "invoices.unbalanced": failed.unbalanced,
      "invoices.unreconciled": failed.unsettled,
      "invoices.overdue": Number(overdue?.n ?? 0),
      "dunning.suspendedTenants": Number(dunning?.suspended ?? 0),
    },
  };
}
