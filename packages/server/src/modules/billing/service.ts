import type { ModuleContext } from "../../platform/module.js";
import type { TenancyService } from "../tenancy/index.js";
import type { UsageService } from "../usage/index.js";
import { CatalogService } from "./service/catalog.js";
import { TestClocksService } from "./service/clocks.js";
import { InvoicesService } from "./service/invoices.js";
import { SubscriptionsService } from "./service/subscriptions.js";

/** BillingService: the plan catalog, subscriptions and invoices, priced from the usage module's meters. */
export class BillingService {
  readonly catalog: CatalogService;
  readonly invoices: InvoicesService;
  readonly subscriptions: SubscriptionsService;
  readonly clocks: TestClocksService;

  constructor(m: ModuleContext, usage: UsageService, tenancy: TenancyService) {
    this.catalog = new CatalogService(m, usage);
    this.invoices = new InvoicesService(m, usage);
    this.clocks = new TestClocksService(m, tenancy);
    this.subscriptions = new SubscriptionsService(m, usage, this.catalog, this.invoices, this.clocks, tenancy);
    // What a test clock's advance runs, at its time: the same code the real-time jobs run.
    this.clocks.steps.push((clock) => this.subscriptions.advanceDue(200, 50, clock));
  }
}
