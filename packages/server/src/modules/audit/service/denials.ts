import { sql } from "kysely";
import { z } from "zod";
import type { Denial } from "../../../platform/access.js";
import type { TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { AuditTables } from "../tables.js";

/** DENIED_FACT is the fact (and audit action) of a refused request of an agent or tenant key. */
export const DENIED_FACT = "access.denied";

/** DENIAL_WINDOW_MS: at most one `access.denied` entry per actor, action and reason per window. */
export const DENIAL_WINDOW_MS = 60_000;

/** DeniedData is the data of an `access.denied` fact. */
export const DeniedData = z.object({
  action: z.string().describe("What was refused: the permission (`events:publish`), else the route."),
  permission: z.string().nullable(),
  route: z.string().describe("The route asked for, e.g. `POST /v1/events`."),
  reason: z.enum([
    "missing_permission",
    "outside_ceiling",
    "other_tenant",
    "tenant_suspended",
    "credential_not_accepted",
  ]),
  status: z.number().int().describe("The HTTP status answered."),
  requestedTenantId: z.string().nullable().describe("The tenant the caller named when it was not its own."),
  suppressed: z
    .number()
    .int()
    .describe("Refusals of the same actor, action and reason counted, not written, since the previous such entry."),
});

/**
 * Denials turns refused requests of agents and tenant keys into `access.denied` facts (so the
 * audit log shows what an agent tried, not only what it did), in a small transaction of their own,
 * at most one per (actor, action, reason) per `DENIAL_WINDOW_MS`: the refusals in between are
 * counted and the count is carried by the next entry. The window is a row, so the limit holds
 * across processes: an open window is counted by one conditional update; opening a new one locks
 * the row, so of two processes only one writes the entry.
 */
export class Denials {
  readonly #db: TypedDb<AuditTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<AuditTables>();
  }

  /** record records one refusal (the `denied` access hook). Callers without a tenant are ignored. */
  async record(ctx: ActionContext, denial: Denial): Promise<void> {
    const principal = ctx.principal;
    const environmentId = principal?.environmentId;
    const tenantId = principal?.tenantId;
    if (!principal || !environmentId || !tenantId) return;
    const key = {
      environment_id: environmentId,
      actor_id: principal.actorId,
      action: denial.action,
      reason: denial.reason,
    };
    const now = this.m.clock.now();
    const suppressedPlusOne = sql<number>`${sql.ref("suppressed")} + 1`;
    const counted = await this.#db
      .q()
      .updateTable("audit_denial_window")
      .set({ suppressed: suppressedPlusOne })
      .where("environment_id", "=", key.environment_id)
      .where("actor_id", "=", key.actor_id)
      .where("action", "=", key.action)
      .where("reason", "=", key.reason)
      .where("window_ends_at", ">", now)
      .executeTakeFirst();
    if (Number(counted.numUpdatedRows) > 0) return;
    await this.m.db.transaction(async (tx) => {
      const db = this.#db.q(tx);
      await db
        .insertInto("audit_denial_window")
        .values({ ...key, window_ends_at: 0, suppressed: 0 })
        .onConflict((oc) => oc.doNothing())
        .execute();
      const row = await db
        .selectFrom("audit_denial_window")
        .select(["window_ends_at", "suppressed"])
        .where("environment_id", "=", key.environment_id)
        .where("actor_id", "=", key.actor_id)
        .where("action", "=", key.action)
        .where("reason", "=", key.reason)
        .$call((qb) => this.m.db.forUpdate(qb))
        .executeTakeFirstOrThrow();
      const update = db
        .updateTable("audit_denial_window")
        .where("environment_id", "=", key.environment_id)
        .where("actor_id", "=", key.actor_id)
        .where("action", "=", key.action)
        .where("reason", "=", key.reason);
      if (Number(row.window_ends_at) > now) {
        // Another process opened the window meanwhile: count this one in it.
        await update.set({ suppressed: suppressedPlusOne }).execute();
        return;
      }
      await update.set({ window_ends_at: now + DENIAL_WINDOW_MS, suppressed: 0 }).execute();
      await this.m.facts.record(
        tx,
        { principal, request: ctx.request },
        {
          type: DENIED_FACT,
          environmentId,
          tenantId,
          targets: [
            { type: principal.actorType === "agent" ? "agent_key" : principal.actorType, id: principal.actorId },
          ],
          data: {
            action: denial.action,
            permission: denial.permission,
            route: denial.route,
            reason: denial.reason,
            status: denial.status,
            requestedTenantId: denial.requestedTenantId,
            suppressed: Number(row.suppressed),
          } satisfies z.infer<typeof DeniedData>,
        },
      );
    });
  }

  /** pruneWindows deletes windows that ended more than a day ago with nothing left to report. */
  async pruneWindows(): Promise<number> {
    const result = await this.#db
      .q()
      .deleteFrom("audit_denial_window")
      .where("window_ends_at", "<", this.m.clock.now() - 86_400_000)
      .where("suppressed", "=", 0)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
