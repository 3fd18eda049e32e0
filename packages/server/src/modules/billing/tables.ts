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
  total: number;
  lines: unknown;
  finalized_at: number;
  created_at: number;
}

/** BillingInvoiceCounterTable: the last invoice number per environment and year (gap-free). */
export interface BillingInvoiceCounterTable {
  environment_id: string;
  year: number;
  last_value: number;
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
  billing_plan: BillingPlanTable;
  billing_plan_version: BillingPlanVersionTable;
  billing_subscription: BillingSubscriptionTable;
  billing_invoice: BillingInvoiceTable;
  billing_invoice_counter: BillingInvoiceCounterTable;
  billing_credit_wallet: BillingCreditWalletTable;
  billing_credit_grant: BillingCreditGrantTable;
  billing_credit_hold: BillingCreditHoldTable;
  billing_credit_entry: BillingCreditEntryTable;
}
