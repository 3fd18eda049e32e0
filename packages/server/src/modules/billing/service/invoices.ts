import type { Selectable } from "kysely";
import type { z } from "zod";
import { fromJson, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { UsageService } from "../../usage/index.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { Dec, decimalOf } from "../internal/money.js";
import { DAY_MS } from "../internal/now.js";
import { priceCharge, priceFixed } from "../internal/pricing.js";
import { toInvoice } from "../internal/rows.js";
import { taxOf, taxRateOf } from "../internal/tax.js";
import type { Charge, Invoice, InvoiceLine, InvoicePreview, ListInvoicesQuery } from "../schemas.js";
import type {
  BillingInvoiceTable,
  BillingPlanVersionTable,
  BillingSubscriptionTable,
  BillingTables,
} from "../tables.js";
import { type LateContext, lateContext, lateLine } from "./late-usage.js";

type SubscriptionRow = Selectable<BillingSubscriptionTable>;

/** billable runs a pricing step, turning a total past 2^53 - 1 minor units into a 422. */
function billable<T>(price: () => T): T {
  try {
    return price();
  } catch (err) {
    if (err instanceof RangeError) {
      throw new AppError(BillingErrors.amount_out_of_range, "A line's total is beyond 2^53 - 1 minor units.");
    }
    throw err;
  }
}
type VersionRow = Selectable<BillingPlanVersionTable>;

/**
 * InvoicesService computes what a subscription owes for a period and keeps the finalized
 * invoices. A line's quantity is the usage module's answer for the charge's meter, the tenant and
 * the period [start, end) (recorded on the line, so a disputed line can be recomputed); its total
 * is priced by the pricing engine and rounded once. The subtotal is the sum of the lines' totals
 * (integers, so nothing drifts); the tax is the tenant's rate on the subtotal, rounded once; the
 * total is their sum. A finalized invoice is due `BASEPLATE_BILLING_NET_TERMS_DAYS` after.
 */
export class InvoicesService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /**
   * compute prices [from, to) of a subscription on `version`, a part of the whole billing period
   * `full`: usage is counted over [from, to) and the fixed fee is prorated by the share of `full`
   * it covers, by the minute (the whole fee when it covers all of it). A trial is free: no lines.
   * With `late` (finalization), usage lines count the events received before its cut-off, and each
   * charge with late usage gets a `late_usage` line (see late-usage.ts).
   */
  async compute(
    sub: SubscriptionRow,
    version: VersionRow,
    from: number,
    to: number,
    full: { start: number; end: number },
    tx?: Tx,
    late?: LateContext,
  ): Promise<InvoicePreview> {
    const lines: InvoiceLine[] = [];
    if (sub.status !== "trialing") {
      const fee = decimalOf(version.fixed_fee);
      const whole = from <= full.start && to >= full.end;
      const fraction = whole ? new Dec(1) : new Dec(to - from).div(full.end - full.start);
      if (!fee.isZero() && fraction.gt(0)) {
        const minutes = (a: number, b: number) => Math.round((b - a) / 60_000);
        lines.push({
          type: "fixed_fee",
          description: whole
            ? `Fixed fee (${version.interval})`
            : `Fixed fee (${version.interval}), prorated: ${minutes(from, to)} of ${minutes(full.start, full.end)} minutes`,
          quantity: "1",
          billableQuantity: "1",
          unitPrice: version.fixed_fee,
          amount: fee.mul(fraction).toFixed(),
          total: billable(() => priceFixed(version.fixed_fee, version.currency, fraction)),
          minimumApplied: false,
          tiers: [],
          charge: null,
          usage: null,
        });
      }
      const charges = fromJson<Charge[]>(version.charges);
      // Every charge's meter, then every charge's usage, in one statement each.
      const meters = new Map(
        (
          await this.usage.meters.rows(
            sub.environment_id,
            charges.map((c) => c.meterId),
            tx,
          )
        ).map((m) => [m.id, m]),
      );
      const byReceipt = late
        ? await this.usage.late.usedByReceipt(
            sub.environment_id,
            [...meters.values()],
            sub.tenant_id,
            from,
            to,
            late.cutoff,
            late.window,
            tx,
          )
        : null;
      const used = byReceipt
        ? new Map([...byReceipt.used].map(([id, u]) => [id, u - (byReceipt.after.get(id) ?? 0)]))
        : await this.usage.query.usedByMeter(sub.environment_id, [...meters.values()], sub.tenant_id, from, to, tx);
      const lateLines: InvoiceLine[] = [];
      for (const charge of charges) {
        const meter =
          meters.get(charge.meterId) ?? (await this.usage.meters.row(sub.environment_id, charge.meterId, tx));
        const value = used.get(meter.id) ?? 0;
        const priced = billable(() =>
          priceCharge(charge as Parameters<typeof priceCharge>[0], value, version.currency),
        );
        lines.push({
          type: "charge",
          description: charge.description ?? `${meter.key} (${charge.model.replace("_", "-")})`,
          quantity: priced.quantity,
          billableQuantity: priced.billableQuantity,
          unitPrice: charge.model === "per_unit" ? (charge.unitPrice ?? null) : null,
          amount: priced.amount,
          total: priced.total,
          minimumApplied: priced.minimumApplied,
          tiers: priced.tiers,
          charge,
          usage: {
            meterId: meter.id,
            meter: meter.key,
            aggregation: meter.aggregation,
            from: iso(from),
            to: iso(to),
            ...(late ? { receivedTo: iso(late.cutoff) } : {}),
            value: String(value),
          },
        });
        const lateValue = byReceipt?.late.get(meter.id) ?? 0;
        if (late?.window && lateValue !== 0) {
          const billed = late.billed.get(meter.id) ?? "0";
          const window = late.window;
          lateLines.push(billable(() => lateLine(charge, meter, billed, lateValue, window, version.currency)));
        }
      }
      lines.push(...lateLines);
    }
    const subtotal = lines.reduce((sum, l) => sum + l.total, 0);
    const taxRate = await taxRateOf(this.#db, sub.environment_id, sub.tenant_id, tx);
    const tax = Number.isSafeInteger(subtotal) ? billable(() => taxOf(subtotal, taxRate, version.currency)) : 0;
    if (!Number.isSafeInteger(subtotal) || !Number.isSafeInteger(subtotal + tax)) {
      throw new AppError(BillingErrors.amount_out_of_range, "The invoice's total is beyond 2^53 - 1 minor units.");
    }
    return {
      subscriptionId: sub.id,
      tenantId: sub.tenant_id,
      planVersionId: version.id,
      currency: version.currency,
      periodStart: iso(from),
      periodEnd: iso(to),
      lines,
      subtotal,
      taxRate,
      tax,
      total: subtotal + tax,
    };
  }

  /**
   * onFinalized runs in the transaction that finalized an invoice, after its facts (billing pays
   * it from the tenant's prepaid credits there) and returns the invoice row after it.
   */
  onFinalized?: (tx: Tx, ctx: ActionContext, row: BillingInvoiceTable) => Promise<BillingInvoiceTable>;

  /**
   * finalizeIn writes the invoice of [from, to) (a part of the period `full`, see `compute`) of
   * `sub` inside `tx`, numbered from the
   * environment's counter for the year (gap-free: the counter row is updated in the same
   * transaction, so a rolled-back finalization gives its number back). Returns null, changing
   * nothing, when the period already has an invoice: the unique (subscription, period start)
   * decides, whoever races. Records `invoice.finalized`. `at` is when it is finalized: now, or the
   * time of the subscription's test clock.
   */
  async finalizeIn(
    tx: Tx,
    ctx: ActionContext,
    sub: SubscriptionRow,
    version: VersionRow,
    from: number,
    to: number,
    full: { start: number; end: number },
    at = this.m.clock.now(),
  ): Promise<Invoice | null> {
    const existing = await this.#db
      .q(tx)
      .selectFrom("billing_invoice")
      .select("id")
      .where("subscription_id", "=", sub.id)
      .where("period_start", "=", from)
      .executeTakeFirst();
    if (existing) return null;
    const now = this.m.clock.now();
    const late = await lateContext(this.#db, tx, sub, from, now);
    const preview = await this.compute(sub, version, from, to, full, tx, late);
    const year = new Date(at).getUTCFullYear();
    const counter = await this.#db
      .q(tx)
      .insertInto("billing_invoice_counter")
      .values({ environment_id: sub.environment_id, year, last_value: 1 })
      .onConflict((oc) =>
        oc
          .columns(["environment_id", "year"])
          .doUpdateSet((eb) => ({ last_value: eb("billing_invoice_counter.last_value", "+", 1) })),
      )
      .returning("last_value")
      .executeTakeFirstOrThrow();
    const row: BillingInvoiceTable = {
      id: newId("invoice", now),
      environment_id: sub.environment_id,
      tenant_id: sub.tenant_id,
      subscription_id: sub.id,
      plan_version_id: version.id,
      number: `INV-${year}-${String(Number(counter.last_value)).padStart(6, "0")}`,
      status: "finalized",
      currency: preview.currency,
      period_start: from,
      period_end: to,
      subtotal: preview.subtotal,
      tax_rate: preview.taxRate,
      tax: preview.tax,
      total: preview.total,
      amount_paid: 0,
      amount_credited: 0,
      due_at: at + this.m.config.billing.netTermsDays * DAY_MS,
      paid_at: null,
      voided_at: null,
      lines: toJson(preview.lines),
      finalized_at: at,
      created_at: now,
      late_cutoff: late.cutoff,
      late_from: late.lateFrom,
    };
    await this.#db.q(tx).insertInto("billing_invoice").values(row).execute();
    await this.m.facts.record(tx, ctx, {
      type: "invoice.finalized",
      environmentId: sub.environment_id,
      tenantId: sub.tenant_id,
      targets: [
        { type: "invoice", id: row.id },
        { type: "subscription", id: sub.id },
      ],
      data: {
        number: row.number,
        currency: row.currency,
        total: row.total,
        dueAt: isoOrNull(row.due_at),
        periodStart: iso(from),
        periodEnd: iso(to),
        subscriptionId: sub.id,
      },
    });
    return toInvoice(this.onFinalized ? await this.onFinalized(tx, ctx, row) : row);
  }

  /** listInvoices lists invoices, newest first: the environment's, or one tenant's (`tenantId`). */
  async listInvoices(ctx: ActionContext, query: z.infer<typeof ListInvoicesQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_invoice")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.subscriptionId !== undefined, (qb) =>
        qb.where("subscription_id", "=", query.subscriptionId as string),
      );
    return pageById(rows, query, toInvoice, { descending: true });
  }

  /** findTenantInvoice reads an invoice on a tenant's path (members: their tenant's, by membership). */
  async findTenantInvoice(ctx: ActionContext, tenantId: string, id: string): Promise<Invoice> {
    const access = await this.m.access.require(ctx, "billing:read", { tenantId });
    const row = await this.#db
      .q()
      .selectFrom("billing_invoice")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(BillingErrors.invoice_not_found, `No invoice ${id}.`);
    return toInvoice(row);
  }

  async findInvoice(ctx: ActionContext, id: string): Promise<Invoice> {
    const environmentId = ctx.principal?.environmentId;
    const notFound = () => new AppError(BillingErrors.invoice_not_found, `No invoice ${id}.`);
    const row = environmentId
      ? await this.#db
          .q()
          .selectFrom("billing_invoice")
          .selectAll()
          .where("environment_id", "=", environmentId)
          .where("id", "=", id)
          .executeTakeFirst()
      : undefined;
    if (!row) {
      await this.m.access.require(ctx, "billing:read");
      throw notFound();
    }
    await this.m.access.requireOn(ctx, "billing:read", row.tenant_id, notFound);
    return toInvoice(row);
  }
}
