import { defineErrors } from "../../platform/errors.js";

/** Stable problem codes of the billing module. */
export const BillingErrors = defineErrors({
  plan_not_found: { status: 404, title: "Plan not found" },
  plan_key_taken: { status: 409, title: "A plan with this key already exists" },
  plan_archived: { status: 409, title: "The plan is archived" },
  plan_version_not_found: { status: 404, title: "Plan version not found" },
  invalid_price: { status: 422, title: "The price does not fit the plan's currency" },
  meter_not_billable: { status: 422, title: "Charges count `sum` and `count` meters only" },
  subscription_not_found: { status: 404, title: "Subscription not found" },
  subscription_exists: { status: 409, title: "The tenant already has a live subscription" },
  subscription_canceled: { status: 409, title: "The subscription is canceled" },
  interval_change_at_period_end: {
    status: 422,
    title: "A change to another billing interval takes effect at the end of the period",
  },
  amount_out_of_range: { status: 422, title: "An amount is too large to bill" },
  invoice_not_found: { status: 404, title: "Invoice not found" },
  test_clock_not_found: { status: 404, title: "Test clock not found" },
  test_clocks_not_in_production: { status: 422, title: "Test clocks are for non-production environments" },
  test_clock_backwards: { status: 422, title: "A test clock only moves forward, at most two years at once" },
  test_clock_in_use: { status: 409, title: "The test clock has tenants" },
  tenant_on_test_clock: { status: 409, title: "The tenant cannot move to this test clock" },
  tenant_not_on_test_clock: { status: 404, title: "The tenant is not on this test clock" },
  invoice_not_payable: { status: 422, title: "The invoice does not take payments" },
  invoice_not_voidable: { status: 422, title: "Only a finalized invoice with nothing paid can be voided" },
  invoice_not_creditable: { status: 422, title: "The invoice cannot be credited" },
  currency_mismatch: { status: 422, title: "The currency differs from the invoice's" },
  payment_reference_conflict: {
    status: 409,
    title: "The processor's reference is already recorded for another payment",
  },
  credit_exceeds_invoice: { status: 422, title: "The credit exceeds what the invoice has left to credit" },
  credit_note_not_found: { status: 404, title: "Credit note not found" },
});
