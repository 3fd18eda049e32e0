/** Kysely table types of the billing module. */

export type Interval = "week" | "month" | "year";
export type SubscriptionStatus = "trialing" | "active" | "past_due" | "canceled";
export type InvoiceStatus = "finalized" | "paid" | "void";

/** BillingPlanTable: a plan of the environment's catalog; its prices live in immutable versions. */
export interface BillingPlanTable {
  id: string;
  environment_id: string;
  key: string;
  name: string;
  description: string;
  /** current_version_id: the version new subscriptions get (the highest). */
  current_version_id: string;
  current_version: number;
  archived_at: number | null;
  created_at: number;
  updated_at: number;
}

/**
 * BillingPlanVersionTable: one immutable price list of a plan. Prices are decimal strings in
 * major units (`fixed_fee`, and inside `charges`); `charges` and `entitlements` are JSON.
 */
export interface BillingPlanVersionTable {
  id: string;
  environment_id: string;
  plan_id: string;
  version: number;
  interval: Interval;
  currency: string;
  trial_days: number;
  fixed_fee: string;
  charges: unknown;
  entitlements: unknown;
  /** credits: JSON, the credit grants each period starts with (null: none). */
  credits: unknown | null;
  created_at: number;
}

/**
 * BillingSubscriptionTable: a tenant on a plan version. Period `period_index` runs from
 * `anchor + index intervals` to `anchor + (index + 1) intervals` (month ends clamped, from the
 * anchor each time). `live_tenant_id` is the tenant while the subscription is not canceled (null
 * after): unique per environment, so a tenant has one live subscription.
 */
export interface BillingSubscriptionTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  plan_id: string;
  plan_version_id: string;
  /** pending_plan_version_id: the version the subscription moves to when its period ends. */
  pending_plan_version_id: string | null;
  status: SubscriptionStatus;
  live_tenant_id: string | null;
  anchor: number;
  period_index: number;
  current_period_start: number;
  current_period_end: number;
  trial_end: number | null;
  cancel_at_period_end: boolean | number;
  canceled_at: number | null;
  /**
   * suspended_tenant_at: when dunning suspended the tenant for this subscription's overdue invoices
   * (null: it did not, or the tenant was reactivated since).
   */
  suspended_tenant_at: number | null;
  /** test_clock_id: the test clock whose time the subscription lives on (its tenant's at start; null: real time). */
  test_clock_id: string | null;
  /** time_zone: the IANA zone whose wall clock its periods follow (its tenant's when it started). */
  time_zone: string;
  created_at: number;
  updated_at: number;
}

/**
 * BillingInvoiceTable: a finalized invoice of one subscription period. The unique
 * (subscription_id, period_start) makes finalization happen once per period whoever races it.
 * Amounts are integer minor units of `currency`; `lines` is JSON (each line with its usage query).
 */
export interface BillingInvoiceTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  subscription_id: string;
  plan_version_id: string;
  number: string;
  status: InvoiceStatus;
  currency: string;
  period_start: number;
  period_end: number;
  subtotal: number;
  /** tax_rate: the tenant's tax rate at finalization, a decimal percentage (`8.25`). */
  tax_rate: string;
  tax: number;
  total: number;
  /** amount_paid: payments applied (never above the total); amount_credited: credit notes' totals. */
  amount_paid: number;
  amount_credited: number;
  due_at: number | null;
  paid_at: number | null;
  voided_at: number | null;
  lines: unknown;
  finalized_at: number;
  created_at: number;
  /**
   * late_cutoff: the received-time cut-off of the invoice's usage (platform time): its lines count
   * the events received before it; the next invoice's late lines those received from it on.
   * late_from: the first event time the subscription bills (its first invoiced period's start).
   * Both null on invoices finalized before late usage was billed.
   */
  late_cutoff: number | null;
  late_from: number | null;
}

/** BillingInvoiceCounterTable: the last invoice number per environment and year (gap-free). */
export interface BillingInvoiceCounterTable {
  environment_id: string;
  year: number;
  last_value: number;
}

/** BillingSettingsTable: a tenant's billing settings (its tax rate, who invoices are addressed to). */
export interface BillingSettingsTable {
  environment_id: string;
  tenant_id: string;
  tax_rate: string;
  billing_name: string | null;
  billing_email: string | null;
  created_at: number;
  updated_at: number;
}

/**
 * BillingPaymentTable: a payment a processor collected for an invoice. Unique per environment,
 * processor and reference, so a replayed processor webhook records nothing twice. `applied` went to
 * the invoice; `overpaid` is the excess (amount = applied + overpaid).
 */
export interface BillingPaymentTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  invoice_id: string;
  processor: string;
  reference: string;
  currency: string;
  amount: number;
  applied: number;
  overpaid: number;
  created_at: number;
}

/**
 * BillingCreditNoteTable: a credit against a finalized or paid invoice, numbered gap-free per
 * environment and year. `credited_to_due` reduced what the invoice still owed; `refund` is the
 * rest (owed back to the tenant). total = subtotal + tax = credited_to_due + refund.
 */
export interface BillingCreditNoteTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  invoice_id: string;
  number: string;
  currency: string;
  reason: string;
  kind: "full" | "lines";
  lines: unknown;
  subtotal: number;
  tax: number;
  total: number;
  credited_to_due: number;
  refund: number;
  created_at: number;
}

/**
 * BillingTestClockTable: a test clock of a non-production environment. Its tenants' billing runs at
 * `frozen_time`, which only the API moves (forward); `advancing` while the steps that time made due run.
 */
export interface BillingTestClockTable {
  id: string;
  environment_id: string;
  name: string;
  frozen_time: number;
  status: "ready" | "advancing";
  created_at: number;
  updated_at: number;
}

/** BillingTestClockTenantTable: a tenant living on a test clock (one clock per tenant). */
export interface BillingTestClockTenantTable {
  environment_id: string;
  tenant_id: string;
  test_clock_id: string;
  attached_at: number;
}

export type CreditSource = "plan" | "top_up" | "operator" | "overpayment";
export type CreditEntryKind = "grant" | "consume" | "expire" | "hold" | "release";
export type CreditHoldStatus = "open" | "committed" | "released" | "expired";

/**
 * BillingCreditWalletTable: a tenant's credits of one unit (a currency code: minor units of it; or
 * a custom unit such as `tokens`: whole units). `balance` is what is left to spend (the sum of its
 * grants' `remaining`, open holds already taken off) and always equals the sum of its ledger.
 */
export interface BillingCreditWalletTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  unit: string;
  balance: number;
  low_balance_threshold: number | null;
  /** low_notified: `credits.low_balance` was recorded for the current crossing. */
  low_notified: boolean | number;
  /** block_feature: a boolean entitlement kept on while the balance is above zero (null: none). */
  block_feature: string | null;
  created_at: number;
  updated_at: number;
}

/** BillingCreditGrantTable: credits added to a wallet; spent oldest-expiring first (no expiry last). */
export interface BillingCreditGrantTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  wallet_id: string;
  source: CreditSource;
  amount: number;
  remaining: number;
  expires_at: number | null;
  expired_at: number | null;
  reference: string | null;
  description: string;
  created_at: number;
}

/** BillingCreditHoldTable: credits reserved before costly work, then committed or released. */
export interface BillingCreditHoldTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  wallet_id: string;
  amount: number;
  status: CreditHoldStatus;
  committed_amount: number | null;
  reference: string | null;
  expires_at: number;
  created_at: number;
  updated_at: number;
}

/**
 * BillingCreditEntryTable: the append-only credit ledger. `amount` is the signed change to one
 * grant's `remaining` (and so to the wallet's balance); `balance_after` is the wallet's balance
 * after it. Entries are never updated or deleted.
 */
export interface BillingCreditEntryTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  wallet_id: string;
  grant_id: string;
  hold_id: string | null;
  kind: CreditEntryKind;
  amount: number;
  balance_after: number;
  reference: string | null;
  created_at: number;
}

export interface BillingTables {
  billing_test_clock: BillingTestClockTable;
  billing_test_clock_tenant: BillingTestClockTenantTable;
  billing_plan: BillingPlanTable;
  billing_plan_version: BillingPlanVersionTable;
  billing_subscription: BillingSubscriptionTable;
  billing_invoice: BillingInvoiceTable;
  billing_invoice_counter: BillingInvoiceCounterTable;
  billing_settings: BillingSettingsTable;
  billing_payment: BillingPaymentTable;
  billing_credit_note: BillingCreditNoteTable;
  billing_credit_note_counter: BillingInvoiceCounterTable;
  billing_credit_wallet: BillingCreditWalletTable;
  billing_credit_grant: BillingCreditGrantTable;
  billing_credit_hold: BillingCreditHoldTable;
  billing_credit_entry: BillingCreditEntryTable;
}
