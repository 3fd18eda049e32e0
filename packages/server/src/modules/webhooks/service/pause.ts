import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { WebhooksTables } from "../tables.js";
import type { FanOut } from "./fan-out.js";

/** RESUME_JOB un-pauses a tenant's messages. */
export const RESUME_JOB = "webhooks.resume_tenant";

/** DeliveryFact is the part of a fact that delivery reacts to. */
export interface DeliveryFact {
  type: string;
  environmentId: string | null;
  tenantId: string | null;
  targets: Array<{ type: string; id: string }>;
}

/**
 * Pausing resumes deliveries: messages paused while their tenant was not active (see `Attempts`)
 * go back in line, with a fresh attempt budget, after `tenant.reactivated`.
 */
export class Pausing {
  readonly #db: TypedDb<WebhooksTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly fanOut: FanOut,
  ) {
    this.#db = m.db.tables<WebhooksTables>();
  }

  /** resumeTenant puts a reactivated tenant's paused messages back in line (in batches). */
  async resumeTenant(payload: { environmentId: string; tenantId: string }): Promise<void> {
    for (;;) {
      const moved = await this.m.db.transaction(async (tx) => {
        const rows = await this.#db
          .q(tx)
          .selectFrom("webhook_message")
          .select(["id", "environment_id", "tenant_id"])
          .where("environment_id", "=", payload.environmentId)
          .where("tenant_id", "=", payload.tenantId)
          .where("status", "=", "paused")
          .limit(500)
          .execute();
        for (const row of rows) await this.fanOut.requeue(tx, row);
        if (rows.length > 0) await this.fanOut.announce(tx);
        return rows.length;
      });
      if (moved < 500) return;
    }
  }

  /** onFact enqueues `RESUME_JOB` (in `tx`) when a tenant is reactivated; other facts are ignored. */
  async onFact(tx: Tx, fact: DeliveryFact): Promise<void> {
    if (fact.type !== "tenant.reactivated" || !fact.environmentId || !fact.tenantId) return;
    await this.m.jobs.enqueue(tx, RESUME_JOB, { environmentId: fact.environmentId, tenantId: fact.tenantId });
  }
}
