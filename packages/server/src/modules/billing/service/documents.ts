import { documentBody as body, CSP_DOCUMENT } from "../../../platform/http/documents.js";
import type { StreamedBody } from "../../../platform/http/route.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { TenancyService } from "../../tenancy/index.js";
import { buildInvoiceView } from "../internal/invoice-view.js";
import { renderInvoiceHtml } from "../internal/render-html.js";
import { renderInvoicePdf } from "../internal/render-pdf.js";
import type { Invoice } from "../schemas.js";
import type { InvoicesService } from "./invoices.js";

export type DocumentFormat = "html" | "pdf";

/**
 * DocumentsService renders invoices for people: an HTML page and a PDF, drawn from one view model
 * (`internal/invoice-view.ts`). Reading a document is reading the invoice: the same checks, the
 * same 404 for another tenant's.
 */
export class DocumentsService {
  constructor(
    private readonly invoices: InvoicesService,
    private readonly tenancy: TenancyService,
  ) {}

  /** invoice renders an invoice of the environment (keys) or, with `tenantId`, of that tenant's path. */
  async invoice(ctx: ActionContext, id: string, format: DocumentFormat, tenantId?: string): Promise<StreamedBody> {
    const invoice =
      tenantId === undefined
        ? await this.invoices.findInvoice(ctx, id)
        : await this.invoices.findTenantInvoice(ctx, tenantId, id);
    const environmentId = ctx.principal?.environmentId as string;
    const [tenant, environmentName] = await Promise.all([
      this.tenancy.tenants.findTenantAnywhere(invoice.tenantId),
      this.tenancy.projects.environmentName(environmentId),
    ]);
    const view = buildInvoiceView(invoice, {
      tenantName: tenant?.environmentId === environmentId ? tenant.name : null,
      environmentName,
    });
    const common = { "cache-control": "private, no-store" };
    if (format === "html") {
      const html = Buffer.from(renderInvoiceHtml(view), "utf8");
      return body("text/html; charset=utf-8", html, {
        ...common,
        "content-security-policy": CSP_DOCUMENT,
        "content-disposition": `inline; filename="${fileName(invoice)}.html"`,
      });
    }
    const pdf = await renderInvoicePdf(view);
    return body("application/pdf", pdf, {
      ...common,
      "content-disposition": `inline; filename="${fileName(invoice)}.pdf"`,
    });
  }
}

/** fileName: the invoice number, limited to characters safe in a quoted header parameter. */
function fileName(invoice: Invoice): string {
  return invoice.number.replace(/[^A-Za-z0-9._-]/g, "_");
}
