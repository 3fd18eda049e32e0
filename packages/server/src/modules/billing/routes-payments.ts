import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { BillingErrors } from "./errors.js";
import {
  BillingSettings,
  CreateCreditNoteInput,
  CreatePaymentInput,
  CreditNote,
  Invoice,
  ListCreditNotesQuery,
  Payment,
  PaymentReceipt,
  UpdateBillingSettingsInput,
} from "./schemas.js";
import type { BillingService } from "./service.js";

/** paymentRoutes: tenants' billing settings, payments, voids and credit notes (after finalization). */
export function paymentRoutes(s: BillingService): RouteDefinition[] {
  const invoiceParams = z.strictObject({ invoiceId: Id });
  const tenantParams = z.strictObject({ tenantId: Id });
  const iTags = ["Billing: invoices"];
  const pTags = ["Billing: payments"];
  const cTags = ["Billing: credit notes"];
  return [
    defineRoute({
      method: "GET",
      url: "/v1/billing/tenants/:tenantId/settings",
      operationId: "getBillingSettings",
      summary: "Get a tenant's billing settings",
      tags: iTags,
      auth: AUTH.keys,
      params: tenantParams,
      response: { status: 200, schema: BillingSettings, description: "The settings (defaults if never set)." },
      handler: ({ ctx, params }) => s.settings.findSettings(ctx, params.tenantId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/billing/tenants/:tenantId/settings",
      operationId: "updateBillingSettings",
      summary: "Set a tenant's tax rate and billing contact",
      description:
        "The tax rate applies to previews at once and to invoices finalized from now on; a finalized invoice keeps its rate.",
      tags: iTags,
      auth: AUTH.environment,
      params: tenantParams,
      body: UpdateBillingSettingsInput,
      response: { status: 200, schema: BillingSettings, description: "The settings." },
      handler: ({ ctx, params, body }) => s.settings.updateSettings(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/billing/invoices/:invoiceId/payments",
      operationId: "createPayment",
      summary: "Record a payment of an invoice",
      description:
        "Call it from your payment processor's webhook handler. Recorded once per (processor, reference): a replayed webhook answers the payment already recorded. Applied up to what the invoice owes; the excess is `overpaid`. When nothing is left to pay the invoice is `paid`, and a past-due subscription with nothing else overdue is active again (its tenant reactivated if it was suspended for billing).",
      tags: pTags,
      auth: AUTH.environment,
      params: invoiceParams,
      body: CreatePaymentInput,
      response: { status: 201, schema: PaymentReceipt, description: "The payment, and where the invoice stands." },
      errors: [
        BillingErrors.invoice_not_found,
        BillingErrors.invoice_not_payable,
        BillingErrors.currency_mismatch,
        BillingErrors.payment_reference_conflict,
      ],
      handler: ({ ctx, params, body }) => s.payments.createPayment(ctx, params.invoiceId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/billing/invoices/:invoiceId/payments",
      operationId: "listInvoicePayments",
      summary: "List an invoice's payments",
      tags: pTags,
      auth: AUTH.keys,
      params: invoiceParams,
      response: { status: 200, schema: z.object({ data: z.array(Payment) }), description: "Oldest first." },
      errors: [BillingErrors.invoice_not_found],
      handler: ({ ctx, params }) => s.payments.listPayments(ctx, params.invoiceId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/billing/invoices/:invoiceId/void",
      operationId: "voidInvoice",
      summary: "Void an invoice",
      description: "A finalized invoice nothing was paid on: it owes nothing any more. A paid one is credited instead.",
      tags: iTags,
      auth: AUTH.environment,
      params: invoiceParams,
      response: { status: 200, schema: Invoice, description: "The void invoice." },
      errors: [BillingErrors.invoice_not_found, BillingErrors.invoice_not_voidable],
      handler: ({ ctx, params }) => s.payments.voidInvoice(ctx, params.invoiceId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/billing/invoices/:invoiceId/credit-notes",
      operationId: "createCreditNote",
      summary: "Credit an invoice",
      description:
        "In full (no `lines`: all that is left) or by line (`lines: [{line, amount}]`, minor units before tax). Reduces what an open invoice owes; on a paid one it is a refund owed to the tenant.",
      tags: cTags,
      auth: AUTH.environment,
      params: invoiceParams,
      body: CreateCreditNoteInput,
      response: { status: 201, schema: CreditNote, description: "The credit note." },
      errors: [
        BillingErrors.invoice_not_found,
        BillingErrors.invoice_not_creditable,
        BillingErrors.credit_exceeds_invoice,
      ],
      handler: ({ ctx, params, body }) => s.creditNotes.createCreditNote(ctx, params.invoiceId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/billing/credit-notes",
      operationId: "listCreditNotes",
      summary: "List credit notes",
      tags: cTags,
      auth: AUTH.keys,
      query: ListCreditNotesQuery,
      response: { status: 200, schema: pageSchema(CreditNote), description: "Newest first." },
      handler: ({ ctx, query }) => s.creditNotes.listCreditNotes(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/billing/credit-notes/:creditNoteId",
      operationId: "getCreditNote",
      summary: "Get a credit note",
      tags: cTags,
      auth: AUTH.keys,
      params: z.strictObject({ creditNoteId: Id }),
      response: { status: 200, schema: CreditNote, description: "The credit note." },
      errors: [BillingErrors.credit_note_not_found],
      handler: ({ ctx, params }) => s.creditNotes.findCreditNote(ctx, params.creditNoteId),
    }),
  ];
}
