import type { ModuleContext } from "../../platform/module.js";
import type { UsageService } from "../usage/index.js";
import { CreditLedger } from "./internal/credit-ledger.js";
import { CatalogService } from "./service/catalog.js";
import { CreditHoldsService } from "./service/credit-holds.js";
import { CreditsService } from "./service/credits.js";
import { InvoicesService } from "./service/invoices.js";
import { SubscriptionsService } from "./service/subscriptions.js";

/** BillingService: the plan catalog, subscriptions, invoices priced from the usage module's meters, and prepaid credits. */
export class BillingService {
  readonly catalog: CatalogService;
  readonly credits: CreditsService;
  readonly creditHolds: CreditHoldsService;
  readonly invoices: InvoicesService;
  readonly subscriptions: SubscriptionsService;

  constructor(m: ModuleContext, usage: UsageService) {
    this.catalog = new CatalogService(m, usage);
    const ledger = new CreditLedger(m, usage);
    this.credits = new CreditsService(m, ledger, usage);
    this.creditHolds = new CreditHoldsService(m, ledger);
    this.invoices = new InvoicesService(m, usage);
    this.subscriptions = new SubscriptionsService(m, usage, this.catalog, this.invoices, this.credits);
  }
}
