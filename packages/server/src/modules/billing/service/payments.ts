import type { Selectable } from "kysely";
import type { z } from "zod";
import { isUniqueViolation, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { authorizedInvoice, type InvoiceRow, lockInvoice, updateInvoice } from "../internal/invoice-rows.js";
import { billingNow } from "../internal/now.js";
import { amountDue, toInvoice, toPayment } from "../internal/rows.js";
import type { CreatePaymentInput, Invoice, Payment, PaymentReceipt } from "../schemas.js";
import type { BillingPaymentTable, BillingTables } from "../tables.js";
import type { CreditsService } from "./credits.js";
import type { DunningService } from "./dunning.js";

/**
 * PaymentsService records what a payment processor collected for an invoice, and voids invoices.
 * Baseplate moves no money: the product's processor webhook handler reports each payment here.
 * A payment is recorded once per (processor, reference) in an environment, so a replayed webhook
 * changes nothing; it is applied to the invoice up to what it owes (`applied`), under the invoice
 * row's lock with a conditional update, so racing payments never count twice nor push the paid
 * amount past the total. The excess is `overpaid`, handed to `#creditOverpayment`.
 */
export class PaymentsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly dunning: DunningService,
    private readonly credits: CreditsService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /**
   * createPayment records a payment of an invoice (`payment.recorded`; `invoice.paid` when nothing
   * is left to pay, and the subscription's past-due state is lifted when nothing is overdue).
   * The same processor reference again, for the same invoice and amount, answers the payment
   * already recorded. Throws 409 `payment_reference_conflict` when the reference was recorded with
   * another invoice or amount, 422 `invoice_not_payable` for a void invoice and
   * `currency_mismatch` for another currency.
   */
  async createPayment(
    ctx: ActionContext,
    invoiceId: string,
    input: z.infer<typeof CreatePaymentInput>,
  ): Promise<PaymentReceipt> {
    const found = await authorizedInvoice(this.m, this.#db, ctx, "billing:manage", invoiceId);
    let receipt: PaymentReceipt;
    try {
      receipt = await this.m.db.write(ctx, async (tx) => {
        const invoice = await lockInvoice(this.m, this.#db, tx, found.id);
        const existing = await this.#db
          .q(tx)
          .selectFrom("billing_payment")
          .selectAll()
          .where("environment_id", "=", invoice.environment_id)
          .where("processor", "=", input.processor)
          .where("reference", "=", input.reference)
          .executeTakeFirst();
        if (existing) return this.#replay(existing, invoice, input);
        if (invoice.status === "void") {
          throw new AppError(BillingErrors.invoice_not_payable, `Invoice ${invoice.number} is void.`);
        }
        if (input.currency !== invoice.currency) {
          throw new AppError(
            BillingErrors.currency_mismatch,
            `Invoice ${invoice.number} is in ${invoice.currency}, not ${input.currency}.`,
          );
        }
        const { receipt } = await this.applyIn(tx, ctx, invoice, input);
        return receipt;
      });
    } catch (err) {
      // The same reference raced in for another invoice: its unique key decided.
      if (isUniqueViolation(err, "billing_payment_reference") || isUniqueViolation(err, "billing_payment.reference")) {
        throw new AppError(
          BillingErrors.payment_reference_conflict,
          `${input.processor} payment ${input.reference} is already recorded.`,
        );
      }
      throw err;
    }
    await this.dunning.restoreAfterCommit(found.subscription_id);
    return receipt;
  }

  /**
   * applyCreditsIn pays a just-finalized invoice from the tenant's prepaid money credits of its
   * currency, inside the finalization's transaction: as much as the balance covers is consumed
   * (oldest-expiring first) and recorded as a payment of the processor `credits` (reference: the
   * invoice id), so the invoice's `amountPaid`/`amountDue`, its payments list and dunning treat it
   * like any payment. Returns the invoice row after it.
   */
  async applyCreditsIn(tx: Tx, ctx: ActionContext, invoice: InvoiceRow): Promise<InvoiceRow> {
    const due = amountDue(invoice);
    if (due <= 0) return invoice;
    const applied = await this.credits.consumeForInvoice(
      tx,
      ctx,
      invoice.environment_id,
      invoice.tenant_id,
      invoice.currency,
      due,
      invoice.id,
    );
    if (applied <= 0) return invoice;
    const input = { processor: "credits", reference: invoice.id, currency: invoice.currency, amount: applied };
    return (await this.applyIn(tx, ctx, invoice, input)).after;
  }

  /** applyIn applies a payment to the locked invoice in `tx`: its row, the invoice's amounts and status, facts. */
  async applyIn(
    tx: Tx,
    ctx: ActionContext,
    invoice: InvoiceRow,
    input: z.infer<typeof CreatePaymentInput>,
  ): Promise<{ receipt: PaymentReceipt; after: InvoiceRow }> {
    const now = billingNow(this.m, { environmentId: invoice.environment_id });
    const due = amountDue(invoice);
    const applied = Math.min(due, input.amount);
    const paid = invoice.status === "finalized" && applied === due;
    const after: InvoiceRow = {
      ...invoice,
      amount_paid: Number(invoice.amount_paid) + applied,
      status: paid ? "paid" : invoice.status,
      paid_at: paid ? now : invoice.paid_at,
    };
    await updateInvoice(this.#db, tx, invoice, {
      amount_paid: after.amount_paid,
      status: after.status,
      paid_at: after.paid_at,
    });
    const row: BillingPaymentTable = {
      id: newId("payment", now),
      environment_id: invoice.environment_id,
      tenant_id: invoice.tenant_id,
      invoice_id: invoice.id,
      processor: input.processor,
      reference: input.reference,
      currency: input.currency,
      amount: input.amount,
      applied,
      overpaid: input.amount - applied,
      created_at: now,
    };
    await this.#db.q(tx).insertInto("billing_payment").values(row).execute();
    await this.m.facts.record(tx, ctx, {
      type: "payment.recorded",
      environmentId: invoice.environment_id,
      tenantId: invoice.tenant_id,
      targets: [
        { type: "payment", id: row.id },
        { type: "invoice", id: invoice.id },
      ],
      data: {
        invoiceId: invoice.id,
        number: invoice.number,
        processor: row.processor,
        reference: row.reference,
        currency: row.currency,
        amount: row.amount,
        applied: row.applied,
        overpaid: row.overpaid,
        amountDue: amountDue(after),
      },
    });
    if (row.overpaid > 0) await this.#creditOverpayment(tx, ctx, row);
    if (paid) await this.paidIn(tx, ctx, after, "payment");
    return { receipt: { ...toPayment(row), invoice: this.#summary(after) }, after };
  }

  /** listPayments lists an invoice's payments, oldest first. */
  async listPayments(ctx: ActionContext, invoiceId: string): Promise<{ data: Payment[] }> {
    const invoice = await authorizedInvoice(this.m, this.#db, ctx, "billing:read", invoiceId);
    const rows = await this.#db
      .q()
      .selectFrom("billing_payment")
      .selectAll()
      .where("invoice_id", "=", invoice.id)
      .orderBy("id")
      .execute();
    return { data: rows.map(toPayment) };
  }

  /**
   * voidInvoice cancels a finalized invoice nothing was paid on (`invoice.voided`): it owes nothing
   * and no longer counts as overdue. Throws 422 `invoice_not_voidable` for a paid or void invoice,
   * or one partly paid (credit it instead).
   */
  async voidInvoice(ctx: ActionContext, invoiceId: string): Promise<Invoice> {
    const found = await authorizedInvoice(this.m, this.#db, ctx, "billing:manage", invoiceId);
    const invoice = await this.m.db.write(ctx, async (tx) => {
      const row = await lockInvoice(this.m, this.#db, tx, found.id);
      if (row.status !== "finalized" || Number(row.amount_paid) > 0) {
        throw new AppError(
          BillingErrors.invoice_not_voidable,
          row.status === "finalized"
            ? `Invoice ${row.number} is partly paid: credit it with a credit note instead.`
            : `Invoice ${row.number} is ${row.status}.`,
        );
      }
      const now = billingNow(this.m, { environmentId: row.environment_id });
      const after: InvoiceRow = { ...row, status: "void", voided_at: now };
      await updateInvoice(this.#db, tx, row, { status: "void", voided_at: now });
      await this.m.facts.record(tx, ctx, {
        type: "invoice.voided",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [
          { type: "invoice", id: row.id },
          { type: "subscription", id: row.subscription_id },
        ],
        data: { number: row.number, currency: row.currency, total: Number(row.total) },
      });
      await this.dunning.settleIn(tx, ctx, row.subscription_id);
      return toInvoice(after);
    });
    await this.dunning.restoreAfterCommit(found.subscription_id);
    return invoice;
  }

  /**
   * paidIn records that an invoice has nothing left to pay (`invoice.paid`), in the transaction
   * that settled it, and lifts its subscription's past-due state when nothing else is overdue.
   */
  async paidIn(tx: Tx, ctx: ActionContext, invoice: InvoiceRow, by: "payment" | "credit_note"): Promise<void> {
    await this.m.facts.record(tx, ctx, {
      type: "invoice.paid",
      environmentId: invoice.environment_id,
      tenantId: invoice.tenant_id,
      targets: [
        { type: "invoice", id: invoice.id },
        { type: "subscription", id: invoice.subscription_id },
      ],
      data: {
        number: invoice.number,
        currency: invoice.currency,
        total: Number(invoice.total),
        amountPaid: Number(invoice.amount_paid),
        amountCredited: Number(invoice.amount_credited),
        by,
      },
    });
    await this.dunning.settleIn(tx, ctx, invoice.subscription_id);
  }

  /**
   * #creditOverpayment grants a payment's excess over what its invoice owed (`payment.overpaid`,
   * minor units of `payment.currency`) to the tenant's money credits of that currency (source
   * `overpayment`, no expiry, referenced by the payment), in the payment's transaction: the next
   * invoices in that currency consume it at finalization.
   */
  async #creditOverpayment(tx: Tx, ctx: ActionContext, payment: BillingPaymentTable): Promise<void> {
    await this.credits.grantIn(tx, ctx, {
      environmentId: payment.environment_id,
      tenantId: payment.tenant_id,
      unit: payment.currency,
      amount: payment.overpaid,
      source: "overpayment",
      reference: payment.id,
      description: `Overpayment of ${payment.processor} ${payment.reference}`,
    });
  }

  /** #replay answers a payment already recorded under the same reference, if it is the same payment. */
  #replay(existing: Selectable<BillingPaymentTable>, invoice: InvoiceRow, input: z.infer<typeof CreatePaymentInput>) {
    if (
      existing.invoice_id !== invoice.id ||
      Number(existing.amount) !== input.amount ||
      existing.currency !== input.currency
    ) {
      throw new AppError(
        BillingErrors.payment_reference_conflict,
        `${input.processor} payment ${input.reference} is already recorded with another invoice or amount.`,
      );
    }
    return { ...toPayment(existing), invoice: this.#summary(invoice) };
  }

  #summary(invoice: InvoiceRow) {
    return { status: invoice.status, amountPaid: Number(invoice.amount_paid), amountDue: amountDue(invoice) };
  }
}
