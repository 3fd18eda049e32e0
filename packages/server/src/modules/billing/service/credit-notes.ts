import type { z } from "zod";
import { fromJson, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { authorizedInvoice, type InvoiceRow, lockInvoice, updateInvoice } from "../internal/invoice-rows.js";
import { billingNow } from "../internal/now.js";
import { amountDue, toCreditNote } from "../internal/rows.js";
import { taxOf } from "../internal/tax.js";
import type { CreateCreditNoteInput, CreditNote, InvoiceLine, ListCreditNotesQuery } from "../schemas.js";
import type { BillingCreditNoteTable, BillingTables } from "../tables.js";
import type { DunningService } from "./dunning.js";
import type { PaymentsService } from "./payments.js";

/**
 * CreditNotesService credits finalized or paid invoices, in full or line by line. A line can be
 * credited up to its total, less what earlier notes credited of it; the tax follows at the
 * invoice's rate (rounded once, half to even; the note that credits the last of the lines takes
 * the tax that is left), so the notes of an invoice never sum past its total. Checked under the
 * invoice row's lock with a conditional update: racing notes never over-credit. A note first
 * reduces what the invoice owes (`creditedToDue`); the part already paid is `refund`, owed back
 * to the tenant. Numbers are gap-free per environment and year: `CN-2027-000001`.
 */
export class CreditNotesService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly payments: PaymentsService,
    private readonly dunning: DunningService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /**
   * createCreditNote credits an invoice (`credit_note.created`; `invoice.paid` when it leaves
   * nothing to pay on an open invoice). Throws 422 `invoice_not_creditable` for a void invoice or
   * a line it does not have, and `credit_exceeds_invoice` past what is left to credit.
   */
  async createCreditNote(
    ctx: ActionContext,
    invoiceId: string,
    input: z.infer<typeof CreateCreditNoteInput>,
  ): Promise<CreditNote> {
    const found = await authorizedInvoice(this.m, this.#db, ctx, "billing:manage", invoiceId);
    const note = await this.m.db.write(ctx, async (tx) => {
      const invoice = await lockInvoice(this.m, this.#db, tx, found.id);
      if (invoice.status === "void") {
        throw new AppError(BillingErrors.invoice_not_creditable, `Invoice ${invoice.number} is void.`);
      }
      const lines = fromJson<InvoiceLine[]>(invoice.lines);
      const earlier = await this.#db
        .q(tx)
        .selectFrom("billing_credit_note")
        .select(["lines", "tax"])
        .where("invoice_id", "=", invoice.id)
        .execute();
      const left = lines.map((l) => l.total);
      let taxLeft = Number(invoice.tax);
      for (const n of earlier) {
        for (const c of fromJson<CreditNote["lines"]>(n.lines)) left[c.line] = (left[c.line] ?? 0) - c.amount;
        taxLeft -= Number(n.tax);
      }
      const wanted = input.lines ?? left.map((amount, line) => ({ line, amount })).filter((c) => c.amount > 0);
      for (const c of wanted) {
        const remaining = left[c.line];
        if (remaining === undefined) {
          throw new AppError(
            BillingErrors.invoice_not_creditable,
            `Invoice ${invoice.number} has no line ${c.line} (it has ${lines.length}).`,
          );
        }
        if (c.amount > remaining) {
          throw new AppError(
            BillingErrors.credit_exceeds_invoice,
            `Line ${c.line} of invoice ${invoice.number} has ${remaining} left to credit, not ${c.amount}.`,
          );
        }
        left[c.line] = remaining - c.amount;
      }
      const subtotal = wanted.reduce((sum, c) => sum + c.amount, 0);
      const allCredited = left.every((amount) => amount === 0);
      const tax = allCredited ? taxLeft : Math.min(taxOf(subtotal, invoice.tax_rate, invoice.currency), taxLeft);
      const total = subtotal + tax;
      if (total <= 0 || Number(invoice.amount_credited) + total > Number(invoice.total)) {
        throw new AppError(
          BillingErrors.credit_exceeds_invoice,
          `Invoice ${invoice.number} has ${Number(invoice.total) - Number(invoice.amount_credited)} left to credit.`,
        );
      }
      const now = billingNow(this.m, { environmentId: invoice.environment_id });
      const due = amountDue(invoice);
      const creditedToDue = Math.min(due, total);
      const settles = invoice.status === "finalized" && creditedToDue === due;
      const after: InvoiceRow = {
        ...invoice,
        amount_credited: Number(invoice.amount_credited) + total,
        status: settles ? "paid" : invoice.status,
        paid_at: settles ? now : invoice.paid_at,
      };
      await updateInvoice(this.#db, tx, invoice, {
        amount_credited: after.amount_credited,
        status: after.status,
        paid_at: after.paid_at,
      });
      const year = new Date(now).getUTCFullYear();
      const counter = await this.#db
        .q(tx)
        .insertInto("billing_credit_note_counter")
        .values({ environment_id: invoice.environment_id, year, last_value: 1 })
        .onConflict((oc) =>
          oc
            .columns(["environment_id", "year"])
            .doUpdateSet((eb) => ({ last_value: eb("billing_credit_note_counter.last_value", "+", 1) })),
        )
        .returning("last_value")
        .executeTakeFirstOrThrow();
      const row: BillingCreditNoteTable = {
        id: newId("creditNote", now),
        environment_id: invoice.environment_id,
        tenant_id: invoice.tenant_id,
        invoice_id: invoice.id,
        number: `CN-${year}-${String(Number(counter.last_value)).padStart(6, "0")}`,
        currency: invoice.currency,
        reason: input.reason,
        kind: input.lines ? "lines" : "full",
        lines: toJson(wanted),
        subtotal,
        tax,
        total,
        credited_to_due: creditedToDue,
        refund: total - creditedToDue,
        created_at: now,
      };
      await this.#db.q(tx).insertInto("billing_credit_note").values(row).execute();
      await this.m.facts.record(tx, ctx, {
        type: "credit_note.created",
        environmentId: invoice.environment_id,
        tenantId: invoice.tenant_id,
        targets: [
          { type: "credit_note", id: row.id },
          { type: "invoice", id: invoice.id },
        ],
        data: {
          number: row.number,
          invoiceId: invoice.id,
          invoiceNumber: invoice.number,
          currency: row.currency,
          total: row.total,
          creditedToDue: row.credited_to_due,
          refund: row.refund,
        },
      });
      if (settles) await this.payments.paidIn(tx, ctx, after, "credit_note");
      return toCreditNote(row);
    });
    await this.dunning.restoreAfterCommit(found.subscription_id);
    return note;
  }

  /** listCreditNotes lists credit notes, newest first: the environment's, a tenant's or an invoice's. */
  async listCreditNotes(ctx: ActionContext, query: z.infer<typeof ListCreditNotesQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_credit_note")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.invoiceId !== undefined, (qb) => qb.where("invoice_id", "=", query.invoiceId as string));
    return pageById(rows, query, toCreditNote, { descending: true });
  }

  async findCreditNote(ctx: ActionContext, id: string): Promise<CreditNote> {
    const environmentId = ctx.principal?.environmentId;
    const notFound = () => new AppError(BillingErrors.credit_note_not_found, `No credit note ${id}.`);
    const row = environmentId
      ? await this.#db
          .q()
          .selectFrom("billing_credit_note")
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
    return toCreditNote(row);
  }
}
