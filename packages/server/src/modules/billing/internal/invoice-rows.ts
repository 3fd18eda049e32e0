import type { Selectable } from "kysely";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { BillingErrors } from "../errors.js";
import type { BillingInvoiceTable, BillingTables } from "../tables.js";

export type InvoiceRow = Selectable<BillingInvoiceTable>;

/**
 * authorizedInvoice reads an invoice of the caller's environment that the caller may act on with
 * `permission`. Throws 404 `invoice_not_found` for another environment's or tenant's invoice (or
 * none), so existence never leaks, and the access check's refusal otherwise.
 */
export async function authorizedInvoice(
  m: ModuleContext,
  db: TypedDb<BillingTables>,
  ctx: ActionContext,
  permission: string,
  id: string,
): Promise<InvoiceRow> {
  const environmentId = ctx.principal?.environmentId;
  const notFound = () => new AppError(BillingErrors.invoice_not_found, `No invoice ${id}.`);
  const row = environmentId
    ? await db
        .q()
        .selectFrom("billing_invoice")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("id", "=", id)
        .executeTakeFirst()
    : undefined;
  if (!row) {
    await m.access.require(ctx, permission);
    throw notFound();
  }
  await m.access.requireOn(ctx, permission, row.tenant_id, notFound);
  return row;
}

/** lockInvoice reads an invoice inside `tx`, locking its row until `tx` ends (see `Db.forUpdate`). */
export async function lockInvoice(m: ModuleContext, db: TypedDb<BillingTables>, tx: Tx, id: string) {
  return db
    .q(tx)
    .selectFrom("billing_invoice")
    .selectAll()
    .where("id", "=", id)
    .$call((qb) => m.db.forUpdate(qb))
    .executeTakeFirstOrThrow();
}

/**
 * updateInvoice changes a locked invoice on the condition that its settlement is what was read
 * (status, amount paid, amount credited): the row count decides, so a lost race is an error that
 * rolls the write back, never a double count.
 */
export async function updateInvoice(
  db: TypedDb<BillingTables>,
  tx: Tx,
  row: InvoiceRow,
  set: Partial<BillingInvoiceTable>,
): Promise<void> {
  const r = await db
    .q(tx)
    .updateTable("billing_invoice")
    .set(set)
    .where("id", "=", row.id)
    .where("status", "=", row.status)
    .where("amount_paid", "=", row.amount_paid)
    .where("amount_credited", "=", row.amount_credited)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw new Error(`Invoice ${row.id} changed under a locked update`);
}
