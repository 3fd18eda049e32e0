import type { Selectable } from "kysely";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { CreditEntry, CreditGrant, CreditHold, Wallet } from "../credit-schemas.js";
import type {
  BillingCreditEntryTable,
  BillingCreditGrantTable,
  BillingCreditHoldTable,
  BillingCreditWalletTable,
} from "../tables.js";

const opt = (v: number | string | null) => (v === null ? null : Number(v));

export function toWallet(row: Selectable<BillingCreditWalletTable>, held: number): Wallet {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    unit: row.unit,
    balance: Number(row.balance),
    held,
    lowBalanceThreshold: opt(row.low_balance_threshold),
    blockFeature: row.block_feature,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toCreditGrant(row: Selectable<BillingCreditGrantTable>, unit: string): CreditGrant {
  return {
    id: row.id,
    walletId: row.wallet_id,
    tenantId: row.tenant_id,
    unit,
    source: row.source,
    amount: Number(row.amount),
    remaining: Number(row.remaining),
    expiresAt: isoOrNull(row.expires_at),
    expiredAt: isoOrNull(row.expired_at),
    reference: row.reference,
    description: row.description,
    createdAt: iso(row.created_at),
  };
}

export function toCreditEntry(row: Selectable<BillingCreditEntryTable>): CreditEntry {
  return {
    id: row.id,
    walletId: row.wallet_id,
    tenantId: row.tenant_id,
    grantId: row.grant_id,
    holdId: row.hold_id,
    kind: row.kind,
    amount: Number(row.amount),
    balanceAfter: Number(row.balance_after),
    reference: row.reference,
    createdAt: iso(row.created_at),
  };
}

export function toCreditHold(row: Selectable<BillingCreditHoldTable>, unit: string): CreditHold {
  return {
    id: row.id,
    walletId: row.wallet_id,
    tenantId: row.tenant_id,
    unit,
    amount: Number(row.amount),
    status: row.status,
    committedAmount: opt(row.committed_amount),
    reference: row.reference,
    expiresAt: iso(row.expires_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
