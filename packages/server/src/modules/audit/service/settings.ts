import type { z } from "zod";
import { fromJson, isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { AuditErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { AuditSchema, AuditSettings, PutSchemaInput, UpdateSettingsInput } from "../schemas.js";
import type { AuditSchemaTable, AuditTables } from "../tables.js";

/** environmentWide refuses tenant-bound callers: this setting is the whole environment's. */
async function environmentWide(
  m: ModuleContext,
  ctx: ActionContext,
  permission: string,
): Promise<{ environmentId: string }> {
  const access = await m.access.require(ctx, permission);
  if (access.tenantId !== null) {
    throw new AppError(
      PlatformErrors.forbidden,
      "This setting belongs to the environment; a tenant credential cannot change it.",
    );
  }
  return access;
}

const DAY_MS = 86_400_000;
/** PRUNE_BATCH is how many entries one pruning transaction deletes. */
const PRUNE_BATCH = 5000;

function toSchema(row: AuditSchemaTable): AuditSchema {
  return {
    id: row.id,
    action: row.action,
    schema: fromJson(row.schema),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/**
 * Settings: an environment's per-action metadata schemas and its retention. Every change records
 * a fact (so the audit module's own configuration is audited like everything else).
 */
export class Settings {
  readonly #db: TypedDb<AuditTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<AuditTables>();
  }

  /** putSchema registers (or replaces) the metadata schema of an action. */
  async putSchema(ctx: ActionContext, input: z.infer<typeof PutSchemaInput>): Promise<AuditSchema> {
    const { environmentId } = await environmentWide(this.m, ctx, "audit:manage");
    const attempt = () =>
      this.m.db.write(ctx, async (tx) => {
        const now = this.m.clock.now();
        const existing = await this.#db
          .q(tx)
          .selectFrom("audit_schema")
          .selectAll()
          .where("environment_id", "=", environmentId)
          .where("action", "=", input.action)
          .executeTakeFirst();
        const row: AuditSchemaTable = {
          id: existing?.id ?? newId("auditSchema", now),
          environment_id: environmentId,
          action: input.action,
          schema: toJson(input.schema),
          created_at: existing ? Number(existing.created_at) : now,
          updated_at: now,
        };
        if (existing) {
          await this.#db
            .q(tx)
            .updateTable("audit_schema")
            .set({ schema: row.schema, updated_at: now })
            .where("id", "=", existing.id)
            .execute();
        } else {
          await this.#db.q(tx).insertInto("audit_schema").values(row).execute();
        }
        await this.m.facts.record(tx, ctx, {
          type: existing ? "audit_schema.updated" : "audit_schema.created",
          environmentId,
          targets: [{ type: "audit_schema", id: row.id }],
          data: { action: input.action },
          ...(existing
            ? { changes: { before: { schema: fromJson(existing.schema) }, after: { schema: input.schema } } }
            : {}),
        });
        return toSchema(row);
      });
    try {
      return await attempt();
    } catch (err) {
      // Two first registrations of one action at once: the second becomes an update.
      if (isUniqueViolation(err)) return attempt();
      throw err;
    }
  }

  async listSchemas(ctx: ActionContext): Promise<{ data: AuditSchema[] }> {
    const { environmentId } = await this.m.access.require(ctx, "audit:read");
    const rows = await this.#db
      .q()
      .selectFrom("audit_schema")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .orderBy("action")
      .execute();
    return { data: rows.map(toSchema) };
  }

  /** deleteSchema removes an action's schema. Throws 404 `audit_schema_not_found`. */
  async deleteSchema(ctx: ActionContext, id: string): Promise<AuditSchema> {
    const { environmentId } = await environmentWide(this.m, ctx, "audit:manage");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#db
        .q(tx)
        .selectFrom("audit_schema")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("id", "=", id)
        .executeTakeFirst();
      if (!row) throw new AppError(AuditErrors.audit_schema_not_found, `No audit schema ${id}.`);
      await this.#db.q(tx).deleteFrom("audit_schema").where("id", "=", id).execute();
      await this.m.facts.record(tx, ctx, {
        type: "audit_schema.deleted",
        environmentId,
        targets: [{ type: "audit_schema", id }],
        data: { action: row.action },
      });
      return toSchema(row);
    });
  }

  async findSettings(ctx: ActionContext): Promise<AuditSettings> {
    const { environmentId } = await this.m.access.require(ctx, "audit:read");
    return this.readSettings(environmentId);
  }

  /** readSettings reads an environment's settings (retention forever when never set), in `tx` when given. */
  async readSettings(environmentId: string, tx?: Tx): Promise<AuditSettings> {
    const row = await this.#db
      .q(tx)
      .selectFrom("audit_settings")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .executeTakeFirst();
    return {
      environmentId,
      retentionDays: row?.retention_days === null || row === undefined ? null : Number(row.retention_days),
      updatedAt: row ? iso(row.updated_at) : null,
    };
  }

  /** updateSettings sets the environment's retention (30 or 365 days, or null: forever). */
  async updateSettings(ctx: ActionContext, input: z.infer<typeof UpdateSettingsInput>): Promise<AuditSettings> {
    const { environmentId } = await environmentWide(this.m, ctx, "audit:manage");
    return this.m.db.write(ctx, (tx) => this.changeSettings(tx, ctx, environmentId, input));
  }

  /**
   * changeSettings sets the environment's retention in `tx` with its fact (`audit_settings.updated`).
   * The caller checked `audit:manage` environment-wide.
   */
  async changeSettings(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof UpdateSettingsInput>,
  ): Promise<AuditSettings> {
    const before = await this.readSettings(environmentId, tx);
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .insertInto("audit_settings")
      .values({ environment_id: environmentId, retention_days: input.retentionDays, updated_at: now })
      .onConflict((oc) =>
        oc.column("environment_id").doUpdateSet({ retention_days: input.retentionDays, updated_at: now }),
      )
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "audit_settings.updated",
      environmentId,
      targets: [{ type: "environment", id: environmentId }],
      changes: { before: { retentionDays: before.retentionDays }, after: { retentionDays: input.retentionDays } },
    });
    return { environmentId, retentionDays: input.retentionDays, updatedAt: iso(now) };
  }

  /**
   * entriesOlderThan counts the environment's audit entries (its own chain and its tenants')
   * that occurred before `cutoff`: what a retention of `now - cutoff` lets the daily prune delete
   * once their segment is checkpointed. Read in `tx` when given.
   */
  async entriesOlderThan(environmentId: string, cutoff: number, tx?: Tx): Promise<number> {
    const row = await this.#db
      .q(tx)
      .selectFrom("audit_entry")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("environment_id", "=", environmentId)
      .where("occurred_at", "<", cutoff)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * pruneAll applies every environment's retention: for each of its chains, the anchor moves to
   * the newest checkpoint older than the retention period, then the entries up to it are deleted
   * in batches. Whole checkpointed segments go; the rest stays verifiable from that anchor (a
   * crash between batches leaves entries before the anchor, which the next run deletes).
   * Returns the number of entries deleted.
   */
  async pruneAll(): Promise<number> {
    const settings = await this.#db
      .q()
      .selectFrom("audit_settings")
      .select(["environment_id", "retention_days"])
      .where("retention_days", "is not", null)
      .execute();
    let deleted = 0;
    for (const s of settings) {
      const cutoff = this.m.clock.now() - Number(s.retention_days) * DAY_MS;
      const chains = await this.#db
        .q()
        .selectFrom("audit_chain")
        .select("id")
        .where("environment_id", "=", s.environment_id)
        .execute();
      for (const chain of chains) deleted += await this.pruneChain(chain.id, cutoff);
    }
    return deleted;
  }

  /** pruneChain removes a chain's checkpointed segments older than `cutoff`. Returns the entries deleted. */
  async pruneChain(chain: string, cutoff: number): Promise<number> {
    await this.m.db.transaction(async (tx) => {
      const head = await this.#db
        .q(tx)
        .updateTable("audit_chain")
        .set({ updated_at: this.m.clock.now() })
        .where("id", "=", chain)
        .returning(["anchor_size"])
        .executeTakeFirst();
      if (!head) return;
      const cp = await this.#db
        .q(tx)
        .selectFrom("audit_checkpoint")
        .select(["size", "head_hash"])
        .where("chain_id", "=", chain)
        .where("time", "<", cutoff)
        .where("size", ">", Number(head.anchor_size))
        .orderBy("position", "desc")
        .limit(1)
        .executeTakeFirst();
      if (!cp) return;
      await this.#db
        .q(tx)
        .updateTable("audit_chain")
        .set({ anchor_size: Number(cp.size), anchor_hash: cp.head_hash })
        .where("id", "=", chain)
        .execute();
    });
    let deleted = 0;
    for (;;) {
      const n = await this.m.db.transaction(async (tx) => {
        const ids = this.#db
          .q(tx)
          .selectFrom("audit_entry")
          .select("id")
          .where("chain_id", "=", chain)
          .where("seq", "<=", (eb) => eb.selectFrom("audit_chain").select("anchor_size").where("id", "=", chain))
          .orderBy("seq")
          .limit(PRUNE_BATCH);
        const batch = (await ids.execute()).map((r) => r.id);
        if (batch.length === 0) return 0;
        await this.#db.q(tx).deleteFrom("audit_entry_target").where("entry_id", "in", batch).execute();
        await this.#db.q(tx).deleteFrom("audit_entry").where("id", "in", batch).execute();
        return batch.length;
      });
      deleted += n;
      if (n < PRUNE_BATCH) return deleted;
    }
  }
}
