import type { z } from "zod";
import type { TypedDb } from "../../../platform/db/db.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { billingNow } from "../internal/now.js";
import { NO_TAX } from "../internal/tax.js";
import type { BillingSettings, UpdateBillingSettingsInput } from "../schemas.js";
import type { BillingSettingsTable, BillingTables } from "../tables.js";

/**
 * SettingsService keeps a tenant's billing settings: its tax rate (a decimal percentage applied to
 * the subtotal of its previews and of the invoices finalized after it is set; a finalized invoice
 * keeps the rate it was finalized with), and who its invoices are addressed to. Not a tax engine:
 * the product decides the rate.
 */
export class SettingsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<BillingTables>();
  }

  async findSettings(ctx: ActionContext, tenantId: string): Promise<BillingSettings> {
    const { environmentId } = await this.m.access.require(ctx, "billing:read", { tenantId });
    const row = await this.#db
      .q()
      .selectFrom("billing_settings")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .executeTakeFirst();
    return toSettings(tenantId, row);
  }

  /** updateSettings changes the fields given (`billing_settings.updated`, with before and after). */
  async updateSettings(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof UpdateBillingSettingsInput>,
  ): Promise<BillingSettings> {
    const { environmentId } = await this.m.access.require(ctx, "billing:manage", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      const now = billingNow(this.m, { environmentId });
      const found = await this.#db
        .q(tx)
        .selectFrom("billing_settings")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .$call((qb) => this.m.db.forUpdate(qb))
        .executeTakeFirst();
      const before = toSettings(tenantId, found);
      const row: BillingSettingsTable = {
        environment_id: environmentId,
        tenant_id: tenantId,
        tax_rate: input.taxRate ?? before.taxRate,
        billing_name: input.billingName === undefined ? before.billingName : input.billingName,
        billing_email: input.billingEmail === undefined ? before.billingEmail : input.billingEmail,
        created_at: found ? Number(found.created_at) : now,
        updated_at: now,
      };
      await this.#db
        .q(tx)
        .insertInto("billing_settings")
        .values(row)
        .onConflict((oc) =>
          oc.columns(["environment_id", "tenant_id"]).doUpdateSet({
            tax_rate: row.tax_rate,
            billing_name: row.billing_name,
            billing_email: row.billing_email,
            updated_at: now,
          }),
        )
        .execute();
      const after = toSettings(tenantId, row);
      await this.m.facts.record(tx, ctx, {
        type: "billing_settings.updated",
        environmentId,
        tenantId,
        targets: [{ type: "tenant", id: tenantId }],
        changes: {
          before: { taxRate: before.taxRate, billingName: before.billingName, billingEmail: before.billingEmail },
          after: { taxRate: after.taxRate, billingName: after.billingName, billingEmail: after.billingEmail },
        },
        data: { taxRate: after.taxRate },
      });
      return after;
    });
  }
}

function toSettings(tenantId: string, row: BillingSettingsTable | undefined): BillingSettings {
  return {
    tenantId,
    taxRate: row?.tax_rate ?? NO_TAX,
    billingName: row?.billing_name ?? null,
    billingEmail: row?.billing_email ?? null,
    updatedAt: row ? iso(row.updated_at) : null,
  };
}
