import type { ModuleContext } from "../../platform/module.js";
import type { TenancyService } from "../tenancy/index.js";
import type { UsageService } from "../usage/index.js";
import { CreditLedger } from "./internal/credit-ledger.js";
import { CatalogService } from "./service/catalog.js";
import { TestClocksService } from "./service/clocks.js";
import { CreditHoldsService } from "./service/credit-holds.js";
import { CreditNotesService } from "./service/credit-notes.js";
import { CreditsService } from "./service/credits.js";
import { DocumentsService } from "./service/documents.js";
import { DunningService } from "./service/dunning.js";
import { InvoicesService } from "./service/invoices.js";
import { PaymentsService } from "./service/payments.js";
import { SettingsService } from "./service/settings.js";
import { SubscriptionsService } from "./service/subscriptions.js";
import { TenantBillingService } from "./service/tenant.js";

/**
 * BillingService: the plan catalog, subscriptions and invoices, priced from the usage module's
 * meters; tenants' billing settings (tax rate), payments, credit notes and dunning; prepaid
 * credits; test clocks; invoices rendered as documents; billing on a tenant's own path.
 */
export class BillingService {
  readonly catalog: CatalogService;
  readonly credits: CreditsService;
  readonly creditHolds: CreditHoldsService;
  readonly invoices: InvoicesService;
  readonly subscriptions: SubscriptionsService;
  readonly clocks: TestClocksService;
  readonly settings: SettingsService;
  readonly dunning: DunningService;
  readonly payments: PaymentsService;
  readonly creditNotes: CreditNotesService;
  readonly documents: DocumentsService;
  readonly tenant: TenantBillingService;
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;
  /** usage is the usage module's service (the manifest section names meters by key through it). */
  readonly usage: UsageService;

  constructor(m: ModuleContext, usage: UsageService, tenancy: TenancyService) {
    this.context = m;
    this.usage = usage;
    this.catalog = new CatalogService(m, usage);
    const ledger = new CreditLedger(m, usage);
    this.credits = new CreditsService(m, ledger, usage);
    this.creditHolds = new CreditHoldsService(m, ledger);
    this.invoices = new InvoicesService(m, usage);
    this.clocks = new TestClocksService(m, tenancy);
    this.subscriptions = new SubscriptionsService(
      m,
      usage,
      this.catalog,
      this.invoices,
      this.clocks,
      tenancy,
      this.credits,
    );
    this.settings = new SettingsService(m);
    this.dunning = new DunningService(m, tenancy, this.clocks);
    this.payments = new PaymentsService(m, this.dunning, this.credits);
    // A finalized invoice is paid from the tenant's prepaid money credits first.
    this.invoices.onFinalized = (tx, ctx, row) => this.payments.applyCreditsIn(tx, ctx, row);
    this.creditNotes = new CreditNotesService(m, this.payments, this.dunning);
    // What a test clock's advance runs, at its time: the same code the real-time jobs run.
    this.clocks.steps.push((clock) => this.subscriptions.advanceDue(200, 50, clock));
    // Credits expire, and credit holds lapse, at a tenant's test clock's time.
    ledger.timeFor = (environmentId, tenantId, tx) => this.clocks.nowFor(environmentId, tenantId, tx);
    this.clocks.steps.push((clock) => this.credits.expireDue(200, clock));
    this.clocks.steps.push(async (clock) => {
      const pass = await this.dunning.runDue(500, clock);
      return pass.pastDue + pass.suspended + pass.restored;
    });
    this.documents = new DocumentsService(this.invoices, tenancy);
    this.tenant = new TenantBillingService(m, usage, this.subscriptions);
  }
}
