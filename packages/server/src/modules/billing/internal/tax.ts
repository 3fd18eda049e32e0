import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { BillingTables } from "../tables.js";
import { Dec, fromMinor, toMinor } from "./money.js";

/** NO_TAX: the rate of a tenant whose billing settings were never set. */
export const NO_TAX = "0";

/**
 * taxOf is the tax on `subtotal` (minor units) at `rate` (a decimal percentage, `8.25`): computed
 * exactly and rounded once, half to even, like an invoice line. Throws a RangeError past 2^53 - 1.
 */
export function taxOf(subtotal: number, rate: string, currency: string): number {
  const exact = fromMinor(subtotal, currency).mul(new Dec(rate)).div(100);
  return toMinor(exact, currency);
}

/** taxRateOf reads a tenant's tax rate (NO_TAX when its settings were never set). */
export async function taxRateOf(
  db: TypedDb<BillingTables>,
  environmentId: string,
  tenantId: string,
  tx?: Tx,
): Promise<string> {
  const row = await db
    .q(tx)
    .selectFrom("billing_settings")
    .select("tax_rate")
    .where("environment_id", "=", environmentId)
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  return row?.tax_rate ?? NO_TAX;
}
