/** The billing module's public surface: other modules import only this file. */
export { BillingErrors } from "./errors.js";
export { billingModule } from "./module.js";
export type { Invoice, InvoicePreview, Plan, PlanVersion, Subscription } from "./schemas.js";
export type { BillingService } from "./service.js";
