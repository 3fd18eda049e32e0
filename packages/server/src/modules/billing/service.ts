import type { ModuleContext } from "../../platform/module.js";
import type { TenancyService } from "../tenancy/index.js";
import type { UsageService } from "../usage/index.js";
import { CatalogService } from "./service/catalog.js";
import { DocumentsService } from "./service/documents.js";
import { InvoicesService } from "./service/invoices.js";
import { SubscriptionsService } from "./service/subscriptions.js";
import { TenantBillingService } from "./service/tenant.js";

/**
 * BillingService: the plan catalog, subscriptions and invoices, priced from the usage module's
 * meters; invoices rendered as documents; billing on a tenant's own path.
 */
export class BillingService {
  readonly catalog: CatalogService;
  readonly invoices: InvoicesService;
  readonly subscriptions: SubscriptionsService;
  readonly documents: DocumentsService;
  readonly tenant: TenantBillingService;

  constructor(m: ModuleContext, usage: UsageService, tenancy: TenancyService) {
    this.catalog = new CatalogService(m, usage);
    this.invoices = new InvoicesService(m, usage);
    this.subscriptions = new SubscriptionsService(m, usage, this.catalog, this.invoices);
    this.documents = new DocumentsService(this.invoices, tenancy);
    this.tenant = new TenantBillingService(m, usage, this.subscriptions);
  }
}
