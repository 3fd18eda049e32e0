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
  wallet_not_found: { status: 404, title: "Credit wallet not found" },
  insufficient_credits: { status: 409, title: "The wallet's balance is too low" },
  invalid_credit_expiry: { status: 422, title: "Credits must expire in the future" },
  credit_hold_not_found: { status: 404, title: "Credit hold not found" },
  credit_hold_not_open: { status: 409, title: "The credit hold is no longer open" },
  commit_exceeds_hold: { status: 422, title: "A hold commits at most the amount it reserved" },
});
