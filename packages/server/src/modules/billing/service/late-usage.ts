import type { Selectable } from "kysely";
import { fromJson, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { iso } from "../../../platform/http/schemas.js";
import { Dec, decimalOf, toMinor } from "../internal/money.js";
import { priceCharge } from "../internal/pricing.js";
import type { Charge, InvoiceLine } from "../schemas.js";
import type { BillingSubscriptionTable, BillingTables } from "../tables.js";

/**
 * LATE_CUTOFF_MARGIN_MS: how far before the moment of finalization its received-time cut-off lies.
 * An invoice counts the events received before its cut-off; those received from it on go to the
 * next invoice. The margin covers an ingestion that read the clock before the cut-off and commits
 * after the finalization read the usage (it would otherwise be on neither invoice): one minute, far
 * beyond the few milliseconds an ingestion transaction takes. On a test clock (one caller, no
 * concurrent reports) the cut-off is just after the moment of finalization (it counts what was
 * received up to then).
 */
export const LATE_CUTOFF_MARGIN_MS = 60_000;

/**
 * LateContext: what one finalization bills by received time. `cutoff`: this invoice's cut-off;
 * `lateFrom`: the first event time the subscription bills; `window`: the late usage it carries
 * (event times [lateFrom, period start), received in [previous cut-off, cutoff)), null on a
 * subscription's first invoice; `billed`: per meter, the quantity the previous invoice billed
 * (late usage is priced on top of it).
 */
export interface LateContext {
  cutoff: number;
  lateFrom: number;
  window: { from: number; to: number; receivedFrom: number; receivedTo: number } | null;
  billed: Map<string, string>;
}

/**
 * lateContext reads the subscription's previous invoice (one indexed row) and sets the cut-off of
 * the invoice of the period starting at `from`: `now` (platform time, the clock that stamps
 * `received_at`) minus the margin, never before the previous cut-off.
 */
export async function lateContext(
  db: TypedDb<BillingTables>,
  tx: Tx,
  sub: Pick<Selectable<BillingSubscriptionTable>, "id" | "test_clock_id">,
  from: number,
  now: number,
): Promise<LateContext> {
  const prev = await db
    .q(tx)
    .selectFrom("billing_invoice")
    .select(["late_cutoff", "late_from", "period_start", "created_at", "lines"])
    .where("subscription_id", "=", sub.id)
    .where("period_start", "<", from)
    .orderBy("period_start", "desc")
    .limit(1)
    .executeTakeFirst();
  let cutoff = sub.test_clock_id === null ? now - LATE_CUTOFF_MARGIN_MS : now + 1;
  if (!prev) return { cutoff, lateFrom: from, window: null, billed: new Map() };
  const previous = Number(prev.late_cutoff ?? prev.created_at);
  cutoff = Math.max(cutoff, previous);
  const lateFrom = Number(prev.late_from ?? prev.period_start);
  const billed = new Map<string, string>();
  for (const line of fromJson<InvoiceLine[]>(prev.lines)) {
    if (line.type === "charge" && line.usage) billed.set(line.usage.meterId, line.usage.value);
  }
  return { cutoff, lateFrom, window: { from: lateFrom, to: from, receivedFrom: previous, receivedTo: cutoff }, billed };
}

/**
 * lateLine prices `late` units of a charge's meter at the marginal rate: on top of `billed`, the
 * quantity the previous invoice billed, amount = price(billed + late) − price(billed), each exact
 * (a minimum counts as the exact amount when above it), the difference rounded once. Graduated
 * tiers continue where the period stopped; volume tiers reprice the whole at the new tier, so the
 * difference is what the period would have cost more with the late units in it (never below zero).
 */
export function lateLine(
  charge: Charge,
  meter: { id: string; key: string; aggregation: string },
  billed: string,
  late: number,
  window: NonNullable<LateContext["window"]>,
  currency: string,
): InvoiceLine {
  const model = charge as Parameters<typeof priceCharge>[0];
  const base = decimalOf(billed);
  const before = priceCharge(model, base.toFixed(), currency);
  const after = priceCharge(model, base.add(late).toFixed(), currency);
  const minimum = new Dec(charge.minimum ?? "0");
  const exact = (p: { amount: string }) => Dec.max(new Dec(p.amount), minimum);
  // Never below zero: a volume tier that reprices the whole lower does not credit the tenant.
  const amount = Dec.max(0, exact(after).sub(exact(before)));
  return {
    type: "late_usage",
    description: `${charge.description ?? meter.key} (late usage of earlier periods, on top of ${base.toFixed()} billed)`,
    quantity: String(late),
    billableQuantity: new Dec(after.billableQuantity).sub(before.billableQuantity).toFixed(),
    unitPrice: charge.model === "per_unit" ? (charge.unitPrice ?? null) : null,
    amount: amount.toFixed(),
    total: toMinor(amount, currency),
    minimumApplied: false,
    tiers: [],
    charge,
    usage: {
      meterId: meter.id,
      meter: meter.key,
      aggregation: meter.aggregation,
      from: iso(window.from),
      to: iso(window.to),
      receivedFrom: iso(window.receivedFrom),
      receivedTo: iso(window.receivedTo),
      value: String(late),
    },
  };
}
