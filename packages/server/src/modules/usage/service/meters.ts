import type { Selectable } from "kysely";
import type { z } from "zod";
import { isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { UsageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toMeter } from "../internal/rows.js";
import { METERS_TOPIC } from "../internal/topics.js";
import type { CreateMeterInput, ListMetersQuery, Meter, UpdateMeterInput } from "../schemas.js";
import type { UsageMeterTable, UsageTables } from "../tables.js";

/**
 * MetersService: what an environment counts. A meter names an event type, an aggregation, where
 * the value is in `data` and up to five group-by dimensions. Its definition (aggregation, value
 * path, dimensions) is fixed once it has events (create a meter with a new key instead); its
 * description can change; archiving stops ingestion of its events and keeps its history readable.
 */
export class MetersService {
  readonly #db: TypedDb<UsageTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<UsageTables>();
  }

  async createMeter(ctx: ActionContext, input: z.infer<typeof CreateMeterInput>): Promise<Meter> {
    const { environmentId } = this.m.access.environment(ctx, "usage:manage");
    try {
      return await this.m.db.write(ctx, (tx) => this.insertMeter(tx, ctx, environmentId, input));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(UsageErrors.meter_key_taken, `A meter with key ${input.key} exists in this environment.`);
      }
      throw err;
    }
  }

  /** insertMeter creates a meter in `tx` (the caller checked `usage:manage`). */
  async insertMeter(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateMeterInput>,
  ): Promise<Meter> {
    const now = this.m.clock.now();
    const row: UsageMeterTable = {
      id: newId("meter", now),
      environment_id: environmentId,
      key: input.key,
      event_type: input.eventType,
      aggregation: input.aggregation,
      value_path: input.aggregation === "count" ? (input.valuePath ?? null) : (input.valuePath as string),
      group_by: toJson(input.groupBy),
      description: input.description,
      archived_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.#db.q(tx).insertInto("usage_meter").values(row).execute();
    await this.m.bus.publish(tx, METERS_TOPIC, environmentId);
    await this.m.facts.record(tx, ctx, {
      type: "usage_meter.created",
      environmentId,
      targets: [{ type: "usage_meter", id: row.id }],
      data: { key: row.key, eventType: row.event_type, aggregation: row.aggregation },
    });
    return toMeter(row);
  }

  async listMeters(ctx: ActionContext, query: z.infer<typeof ListMetersQuery>) {
    const { environmentId } = this.m.access.environment(ctx, "usage:read");
    const rows = this.#db
      .q()
      .selectFrom("usage_meter")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(query.archived === undefined, (qb) => qb.where("archived_at", "is", null))
      .$if(query.archived === "true", (qb) => qb.where("archived_at", "is not", null));
    return pageById(rows, query, toMeter);
  }

  async findMeter(ctx: ActionContext, id: string): Promise<Meter> {
    const { environmentId } = this.m.access.environment(ctx, "usage:read");
    return toMeter(await this.row(environmentId, id));
  }

  async updateMeter(ctx: ActionContext, id: string, input: z.infer<typeof UpdateMeterInput>): Promise<Meter> {
    const { environmentId } = this.m.access.environment(ctx, "usage:manage");
    return this.m.db.write(ctx, (tx) => this.changeMeter(tx, ctx, environmentId, id, input));
  }

  /** changeMeter changes a meter in `tx` (the caller checked `usage:manage`). */
  async changeMeter(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
    input: z.infer<typeof UpdateMeterInput>,
  ): Promise<Meter> {
    // Locked: ingestion reads meters with a share lock, so no event folds under a definition
    // that changes while it is written.
    const row = await this.row(environmentId, id, tx, true);
    const before = toMeter(row);
    const aggregation = input.aggregation ?? before.aggregation;
    const valuePath = input.valuePath === undefined ? before.valuePath : input.valuePath;
    const groupBy = input.groupBy ?? before.groupBy;
    const definitionChanges =
      aggregation !== before.aggregation ||
      valuePath !== before.valuePath ||
      JSON.stringify(groupBy) !== JSON.stringify(before.groupBy);
    if (definitionChanges) {
      if (aggregation !== "count" && valuePath === null) {
        throw new AppError(UsageErrors.invalid_event, "valuePath is required unless the aggregation is `count`.", {
          errors: [{ path: "body.valuePath", message: "is required unless the aggregation is `count`" }],
        });
      }
      if (await this.#hasEvents(tx, environmentId, row.id)) {
        throw new AppError(
          UsageErrors.meter_has_events,
          `Meter ${before.key} has events: create a meter with a new key for another definition.`,
        );
      }
    }
    const now = this.m.clock.now();
    const after: Meter = {
      ...before,
      aggregation,
      valuePath,
      groupBy,
      description: input.description ?? before.description,
      updatedAt: iso(now),
    };
    const changed = (["aggregation", "valuePath", "groupBy", "description"] as const).filter(
      (k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]),
    );
    if (changed.length === 0) return before;
    await this.#db
      .q(tx)
      .updateTable("usage_meter")
      .set({
        aggregation,
        value_path: valuePath,
        group_by: toJson(groupBy),
        description: after.description,
        updated_at: now,
      })
      .where("id", "=", row.id)
      .execute();
    await this.m.bus.publish(tx, METERS_TOPIC, environmentId);
    await this.m.facts.record(tx, ctx, {
      type: "usage_meter.updated",
      environmentId,
      targets: [{ type: "usage_meter", id: row.id }],
      changes: {
        before: Object.fromEntries(changed.map((k) => [k, before[k]])),
        after: Object.fromEntries(changed.map((k) => [k, after[k]])),
      },
    });
    return after;
  }

  async archiveMeter(ctx: ActionContext, id: string): Promise<Meter> {
    const { environmentId } = this.m.access.environment(ctx, "usage:manage");
    return this.m.db.write(ctx, (tx) => this.archiveIn(tx, ctx, environmentId, id));
  }

  /** archiveIn archives a meter in `tx` (the caller checked `usage:manage`). */
  async archiveIn(tx: Tx, ctx: ActionContext, environmentId: string, id: string): Promise<Meter> {
    const row = await this.row(environmentId, id, tx, true);
    if (row.archived_at !== null) return toMeter(row);
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .updateTable("usage_meter")
      .set({ archived_at: now, updated_at: now })
      .where("id", "=", row.id)
      .where("archived_at", "is", null)
      .execute();
    await this.m.bus.publish(tx, METERS_TOPIC, environmentId);
    await this.m.facts.record(tx, ctx, {
      type: "usage_meter.archived",
      environmentId,
      targets: [{ type: "usage_meter", id: row.id }],
      data: { key: row.key },
    });
    return toMeter({ ...row, archived_at: now, updated_at: now });
  }

  /** row reads a meter of the environment by id or key (locked for update when `lock`). */
  async row(environmentId: string, idOrKey: string, tx?: Tx, lock = false): Promise<Selectable<UsageMeterTable>> {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_meter")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where((eb) => eb.or([eb("id", "=", idOrKey), eb("key", "=", idOrKey)]))
      .$if(lock, (qb) => this.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(UsageErrors.meter_not_found, `No meter ${idOrKey}.`);
    return row;
  }

  /** rows reads meters of the environment by id, in one statement (those not found are left out). */
  async rows(environmentId: string, ids: readonly string[], tx?: Tx): Promise<Array<Selectable<UsageMeterTable>>> {
    if (ids.length === 0) return [];
    return this.#db
      .q(tx)
      .selectFrom("usage_meter")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "in", [...new Set(ids)])
      .execute();
  }

  /**
   * recorded counts a meter's events and the tenants they came from (from the rollups: every grain
   * holds every event, so the grain with the most is complete).
   */
  async recorded(
    environmentId: string,
    meterId: string,
    tx?: Tx,
    tenantId: string | null = null,
  ): Promise<{ events: number; tenants: number }> {
    const grains = await this.#db
      .q(tx)
      .selectFrom("usage_rollup")
      .select((eb) => [
        "grain",
        eb.fn.sum<number>("n").as("events"),
        eb.fn.count<number>("tenant_id").distinct().as("tenants"),
      ])
      .where("environment_id", "=", environmentId)
      .where("meter_id", "=", meterId)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      .groupBy("grain")
      .execute();
    let best = { events: 0, tenants: 0 };
    for (const g of grains) {
      if (Number(g.events) > best.events) best = { events: Number(g.events), tenants: Number(g.tenants) };
    }
    return best;
  }

  /** liveMeters lists the environment's meters that are not archived, by key (read in `tx` when given). */
  async liveMeters(environmentId: string, tx?: Tx): Promise<Meter[]> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("usage_meter")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("archived_at", "is", null)
      .orderBy("key")
      .execute();
    return rows.map(toMeter);
  }

  /** archivedKeyTaken tells whether an archived meter of the environment holds `key` (keys are never reused). */
  async archivedKeyTaken(environmentId: string, key: string, tx?: Tx): Promise<boolean> {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_meter")
      .select("id")
      .where("environment_id", "=", environmentId)
      .where("key", "=", key)
      .where("archived_at", "is not", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  async #hasEvents(tx: Tx, environmentId: string, meterId: string): Promise<boolean> {
    const row = await this.#db
      .q(tx)
      .selectFrom("usage_rollup")
      .select("meter_id")
      .where("environment_id", "=", environmentId)
      .where("meter_id", "=", meterId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}
