import { type ZodType, z } from "zod";
import { fromJson, isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import { type JsonSchema, validateJson } from "../../../platform/json-schema.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { EventsErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toEventType } from "../internal/rows.js";
import type {
  CreateEventTypeInput,
  EventSettings,
  EventType,
  ListEventTypesQuery,
  UpdateEventSettingsInput,
  UpdateEventTypeInput,
} from "../schemas.js";
import type { EventsTables } from "../tables.js";

/**
 * CatalogService is the event catalog of an environment: the plane's own fact types (declared by
 * the modules, listed read-only) and the types products register, with an optional JSON Schema
 * for `data` that publishing checks. JSON Schemas are interpreted by zod's `fromJSONSchema`
 * (no code generation); keywords it does not support are refused when the type is registered.
 */
export class CatalogService {
  /** Parsed data schemas by `environment:name:version` (bounded). */
  readonly #schemas = new Map<string, JsonSchema | null>();

  readonly #db: TypedDb<EventsTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<EventsTables>();
  }

  /** planeTypes lists the fact types the plane's modules declared, with their data schemas. */
  planeTypes(): EventType[] {
    return this.m.facts.declared().map((d) => ({
      id: null,
      name: d.type,
      description: d.description,
      version: 1,
      schema: d.data ? jsonSchemaOf(d.data) : null,
      origin: "plane" as const,
      deprecatedAt: null,
      createdAt: null,
      updatedAt: null,
    }));
  }

  isPlaneType(name: string): boolean {
    return this.m.facts.declared().some((d) => d.type === name);
  }

  async listEventTypes(ctx: ActionContext, query: z.infer<typeof ListEventTypesQuery>) {
    const { environmentId } = await this.m.access.require(ctx, "events:read", {
      tenantId: query.tenantId ?? ctx.principal?.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = await this.#db
      .q()
      .selectFrom("event_type")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(!query.includeDeprecated, (qb) => qb.where("deprecated_at", "is", null))
      .orderBy("name")
      .execute();
    return { data: [...this.planeTypes(), ...rows.map(toEventType)] };
  }

  async createEventType(ctx: ActionContext, input: z.infer<typeof CreateEventTypeInput>): Promise<EventType> {
    const { environmentId } = await this.m.access.require(ctx, "events:manage");
    try {
      return await this.m.db.write(ctx, (tx) => this.insertEventType(tx, ctx, environmentId, input));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(EventsErrors.event_type_taken, `The event type "${input.name}" exists.`);
      }
      throw err;
    }
  }

  /**
   * insertEventType registers an event type in `tx` (the caller checked `events:manage`). Throws
   * 422 `event_type_reserved` for one of the plane's own types; a taken name is a unique violation.
   */
  async insertEventType(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateEventTypeInput>,
  ): Promise<EventType> {
    if (this.isPlaneType(input.name)) {
      throw new AppError(EventsErrors.event_type_reserved, `"${input.name}" is one of the plane's own event types.`);
    }
    const now = this.m.clock.now();
    const row = {
      id: newId("eventType", now),
      environment_id: environmentId,
      name: input.name,
      description: input.description,
      version: 1,
      schema: input.schema ? toJson(input.schema) : null,
      deprecated_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.#db.q(tx).insertInto("event_type").values(row).execute();
    await this.m.facts.record(tx, ctx, {
      type: "event_type.created",
      environmentId,
      targets: [{ type: "event_type", id: row.id }],
      data: { name: row.name, version: 1 },
    });
    return toEventType(row);
  }

  async updateEventType(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof UpdateEventTypeInput>,
  ): Promise<EventType> {
    const { environmentId } = await this.m.access.require(ctx, "events:manage");
    return this.m.db.write(ctx, (tx) => this.changeEventType(tx, ctx, environmentId, id, input));
  }

  /**
   * changeEventType changes, deprecates or restores an event type in `tx` (the caller checked
   * `events:manage`); a new schema bumps its version. Throws 404 `event_type_not_found`.
   */
  async changeEventType(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
    input: z.infer<typeof UpdateEventTypeInput>,
  ): Promise<EventType> {
    const row = await this.#db
      .q(tx)
      .selectFrom("event_type")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(EventsErrors.event_type_not_found, `No event type ${id}.`);
    const before = toEventType(row);
    const now = this.m.clock.now();
    const deprecatedAt =
      input.deprecated === undefined ? row.deprecated_at : input.deprecated ? (row.deprecated_at ?? now) : null;
    const schemaChanged = input.schema !== undefined && JSON.stringify(input.schema) !== JSON.stringify(before.schema);
    const after: EventType = {
      ...before,
      description: input.description ?? before.description,
      schema: input.schema === undefined ? before.schema : input.schema,
      version: schemaChanged ? before.version + 1 : before.version,
      deprecatedAt: isoOrNull(deprecatedAt),
      updatedAt: iso(now),
    };
    await this.#db
      .q(tx)
      .updateTable("event_type")
      .set({
        description: after.description,
        schema: after.schema === null ? null : toJson(after.schema),
        version: after.version,
        deprecated_at: deprecatedAt,
        updated_at: now,
      })
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "event_type.updated",
      environmentId,
      targets: [{ type: "event_type", id }],
      changes: {
        before: { description: before.description, version: before.version, deprecatedAt: before.deprecatedAt },
        after: { description: after.description, version: after.version, deprecatedAt: after.deprecatedAt },
      },
    });
    return after;
  }

  /** liveEventTypes lists the environment's registered types that are not deprecated, by name (read in `tx` when given). */
  async liveEventTypes(environmentId: string, tx?: Tx): Promise<EventType[]> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("event_type")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("deprecated_at", "is", null)
      .orderBy("name")
      .execute();
    return rows.map(toEventType);
  }

  /** findByName returns the environment's registered type named `name`, deprecated or not, or null. */
  async findByName(environmentId: string, name: string, tx?: Tx): Promise<EventType | null> {
    const row = await this.#db
      .q(tx)
      .selectFrom("event_type")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("name", "=", name)
      .executeTakeFirst();
    return row ? toEventType(row) : null;
  }

  /**
   * validateData checks a product event against the catalog: the type must be registered in the
   * environment (not a plane type), and `data` must match its schema. Throws 422 otherwise.
   */
  async validateData(environmentId: string, name: string, data: unknown): Promise<void> {
    if (this.isPlaneType(name)) {
      throw new AppError(
        EventsErrors.event_type_reserved,
        `"${name}" is recorded by the plane; products cannot publish it.`,
      );
    }
    const row = await this.#db
      .q()
      .selectFrom("event_type")
      .select(["version", "schema"])
      .where("environment_id", "=", environmentId)
      .where("name", "=", name)
      .executeTakeFirst();
    if (!row) {
      throw new AppError(EventsErrors.event_type_unknown, `Register "${name}" in the event catalog first.`);
    }
    const key = `${environmentId}:${name}:${row.version}`;
    let schema = this.#schemas.get(key);
    if (schema === undefined) {
      schema = row.schema === null ? null : fromJson<JsonSchema>(row.schema);
      if (this.#schemas.size > 1000) this.#schemas.clear();
      this.#schemas.set(key, schema);
    }
    if (!schema) return;
    const problems = validateJson(schema, data);
    if (problems.length > 0) {
      const first = problems[0];
      throw new AppError(
        EventsErrors.event_data_invalid,
        `data${first?.path ? `.${first.path}` : ""}: ${first?.message ?? "does not match"}`,
        { errors: problems.map((p) => ({ path: `body.data${p.path ? `.${p.path}` : ""}`, message: p.message })) },
      );
    }
  }

  async findEventSettings(ctx: ActionContext): Promise<EventSettings> {
    const { environmentId } = await this.m.access.require(ctx, "events:manage");
    return this.settingsOf(environmentId);
  }

  async updateEventSettings(
    ctx: ActionContext,
    input: z.infer<typeof UpdateEventSettingsInput>,
  ): Promise<EventSettings> {
    const { environmentId } = await this.m.access.require(ctx, "events:manage");
    return this.m.db.write(ctx, (tx) => this.changeEventSettings(tx, ctx, environmentId, input));
  }

  /** changeEventSettings sets the environment's event log retention in `tx` (the caller checked `events:manage`). */
  async changeEventSettings(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof UpdateEventSettingsInput>,
  ): Promise<EventSettings> {
    const before = await this.settingsOf(environmentId, tx);
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .insertInto("event_settings")
      .values({ environment_id: environmentId, retention_days: input.retentionDays, updated_at: now })
      .onConflict((oc) =>
        oc.column("environment_id").doUpdateSet({ retention_days: input.retentionDays, updated_at: now }),
      )
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "event_settings.updated",
      environmentId,
      targets: [{ type: "environment", id: environmentId }],
      changes: { before: { retentionDays: before.retentionDays }, after: { retentionDays: input.retentionDays } },
    });
    return { environmentId, retentionDays: input.retentionDays };
  }

  /** settingsOf reads the environment's event log settings (the configured default when never set). */
  async settingsOf(environmentId: string, tx?: Tx): Promise<EventSettings> {
    const row = await this.#db
      .q(tx)
      .selectFrom("event_settings")
      .select("retention_days")
      .where("environment_id", "=", environmentId)
      .executeTakeFirst();
    return { environmentId, retentionDays: row ? Number(row.retention_days) : this.m.config.events.retentionDays };
  }
}

/** jsonSchemaOf renders a declared zod schema as JSON Schema (draft 2020-12). */
function jsonSchemaOf(schema: ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", io: "output", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return json;
}
