import { sql } from "kysely";
import type { z } from "zod";
import { z as zod } from "zod";
import { ENVIRONMENT_WIDE, type TenantAccess } from "../../../platform/access.js";
import { canonicalJson } from "../../../platform/canonical-json.js";
import { isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { Fact } from "../../../platform/facts/index.js";
import { decodeCursor, keysetPage } from "../../../platform/http/pagination.js";
import { Replayed } from "../../../platform/http/route.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { DataSubject } from "../../../platform/personal-data.js";
import type { ActionContext } from "../../../platform/principal.js";
import { EventsErrors } from "../errors.js";
import { newId } from "../ids.js";
import { parsePatterns, toEvent, typeCondition } from "../internal/rows.js";
import type { Event, ListEventsQuery, PublishEventInput } from "../schemas.js";
import type { EventsTables } from "../tables.js";
import type { CatalogService } from "./catalog.js";

/** AppendInput is one event to add to an environment's log. */
export interface AppendInput {
  environmentId: string;
  /** clientId is the publisher's id, unique within `clientScope` (see `clientScopeOf`). */
  clientId?: string;
  clientScope?: string;
  tenantId: string | null;
  type: string;
  source: string;
  subject: string | null;
  time: number;
  data: Record<string, unknown>;
}

/** AppendListener runs on the appending transaction for every event (webhooks fan out here). */
export type AppendListener = (tx: Tx, event: Event) => Promise<void>;

/** BUS_TOPIC is the ChangeBus topic announcing "environment X has new events" (payload: its id). */
export const BUS_TOPIC = "events.appended";

/** PUBLISHED_FACT is the fact a publish records (for the audit log); it is not itself an event. */
export const PUBLISHED_FACT = "event.published";

/**
 * clientScopeOf is the scope a publisher's own event ids are unique in: the environment for an
 * environment-wide caller (a secret key), else the tenant it acts in (tenant and agent keys,
 * members). Two scopes may use one id; each gets its own event.
 */
export function clientScopeOf(access: TenantAccess): string {
  return access.tenantId === null || ENVIRONMENT_WIDE.has(access.principal.actorType)
    ? "environment"
    : `tenant:${access.tenantId}`;
}

const SeqCursor = zod.object({ seq: zod.number().int().min(0) });

/**
 * EventLogService is the per-environment event log: facts and published events are appended in
 * the writer's transaction with the next sequence number of their environment, so the log of an
 * environment has no gaps and its order is the commit order. Environments never wait for each
 * other: the sequence is one row per environment.
 */
export class EventLogService {
  readonly #listeners: AppendListener[] = [];

  readonly #db: TypedDb<EventsTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly catalog: CatalogService,
  ) {
    this.#db = m.db.tables<EventsTables>();
  }

  /** onAppend registers a listener run inside the appending transaction (a throw aborts the write). */
  onAppend(listener: AppendListener): void {
    this.#listeners.push(listener);
  }

  /**
   * append adds an event to its environment's log inside `tx` and returns it with its sequence.
   * NOTE: the sequence row stays locked until `tx` ends, so appends in one environment commit in
   * sequence order; keep appending transactions short.
   */
  async append(tx: Tx, input: AppendInput): Promise<Event> {
    const db = this.#db.q(tx);
    const { last_seq } = await db
      .insertInto("event_sequence")
      .values({ environment_id: input.environmentId, last_seq: 1 })
      .onConflict((oc) =>
        oc.column("environment_id").doUpdateSet({ last_seq: sql<number>`${sql.ref("event_sequence.last_seq")} + 1` }),
      )
      .returning("last_seq")
      .executeTakeFirstOrThrow();
    const now = this.m.clock.now();
    const row = {
      environment_id: input.environmentId,
      seq: Number(last_seq),
      id: newId("event", now),
      client_id: input.clientId ?? null,
      client_scope: input.clientId ? (input.clientScope ?? null) : null,
      tenant_id: input.tenantId,
      type: input.type,
      source: input.source,
      subject: input.subject,
      time: input.time,
      data: toJson(input.data),
      created_at: now,
    };
    await db.insertInto("event").values(row).execute();
    const event = toEvent(row);
    for (const listener of this.#listeners) await listener(tx, event);
    await this.m.bus.publish(tx, BUS_TOPIC, input.environmentId);
    return event;
  }

  /** appendFact is the fact sink: every fact of an environment becomes an event (source `baseplate`). */
  async appendFact(tx: Tx, fact: Fact): Promise<void> {
    if (!fact.environmentId || fact.type === PUBLISHED_FACT) return;
    const target = fact.targets[0];
    await this.append(tx, {
      environmentId: fact.environmentId,
      tenantId: fact.tenantId,
      type: fact.type,
      source: "baseplate",
      subject: target ? `${target.type}/${target.id}` : null,
      time: fact.occurredAt,
      data: { ...fact.data, ...(fact.changes ? { changes: fact.changes } : {}) },
    });
  }

  /**
   * publishEvent appends a product's event after checking it against the catalog. The event's `id`
   * is the plane's; the publisher's own id (`input.id`, returned as `clientId`) is unique within
   * the publisher's scope only (`clientScopeOf`), so no publisher can learn of or block another
   * tenant's ids. Publishing an id that exists in the scope returns the stored event as `Replayed`
   * when the content is the same (a retry), and 409 `event_id_reused` otherwise.
   */
  async publishEvent(ctx: ActionContext, input: z.infer<typeof PublishEventInput>): Promise<Event | Replayed<Event>> {
    const access = await this.m.access.require(ctx, "events:publish", {
      tenantId: input.tenantId ?? null,
      field: "body.tenantId",
    });
    const { environmentId, tenantId, principal } = access;
    await this.catalog.validateData(environmentId, input.type, input.data);
    const source = input.source ?? (principal.surfaceId ? `surface/${principal.surfaceId}` : "api");
    const subject = input.subject ?? null;
    const clientScope = clientScopeOf(access);
    const same = (e: Event) =>
      e.type === input.type &&
      e.tenantId === tenantId &&
      e.source === source &&
      e.subject === subject &&
      canonicalJson(e.data) === canonicalJson(input.data);
    const existing = async (): Promise<Replayed<Event> | null> => {
      if (!input.id) return null;
      const found = await this.#findByClientId(environmentId, clientScope, input.id);
      if (!found) return null;
      if (!same(found)) {
        throw new AppError(EventsErrors.event_id_reused, `You published an event ${input.id} with different content.`);
      }
      return new Replayed(found);
    };
    const before = await existing();
    if (before) return before;
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const event = await this.append(tx, {
          environmentId,
          ...(input.id ? { clientId: input.id, clientScope } : {}),
          tenantId,
          type: input.type,
          source,
          subject,
          time: this.m.clock.now(),
          data: input.data,
        });
        await this.m.facts.record(tx, ctx, {
          type: PUBLISHED_FACT,
          environmentId,
          tenantId,
          targets: [{ type: "event", id: event.id }],
          data: { eventType: event.type, sequence: event.sequence },
        });
        return event;
      });
    } catch (err) {
      if (!isUniqueViolation(err, "client_id")) throw err;
      const raced = await existing();
      if (raced) return raced;
      throw err;
    }
  }

  async listEvents(ctx: ActionContext, query: z.infer<typeof ListEventsQuery>) {
    const { environmentId, tenantId, environmentOnly } = await this.m.access.require(ctx, "events:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const after = query.cursor ? decodeCursor(query.cursor, SeqCursor).seq : (query.after ?? 0);
    const patterns = parsePatterns(query.types);
    const events = this.#db
      .q()
      .selectFrom("event")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      // An operator acting environment-wide sees the environment's events and tenants' lifecycle
      // (`tenant.*`); the rest of a tenant's events need support access.
      .$if(environmentOnly === true, (qb) =>
        qb.where((eb) =>
          eb.or([eb("tenant_id", "is", null), eb.and([eb("type", ">=", "tenant."), eb("type", "<", "tenant/")])]),
        ),
      )
      .$if(query.clientId !== undefined, (qb) => qb.where("client_id", "=", query.clientId as string))
      .$if(patterns.length > 0, (qb) => qb.where((eb) => typeCondition(eb, patterns)))
      .$if(query.from !== undefined, (qb) => qb.where("time", ">=", query.from as number))
      .$if(query.to !== undefined, (qb) => qb.where("time", "<", query.to as number));
    return keysetPage(events, { column: "seq", after }, query.limit, (r) => ({ seq: Number(r.seq) }), toEvent);
  }

  async findEventById(ctx: ActionContext, id: string): Promise<Event> {
    const environmentId = ctx.principal?.environmentId;
    if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    const event = await this.#find(environmentId, id);
    const notFound = () => new AppError(EventsErrors.event_not_found, `No event ${id}.`);
    if (!event) {
      await this.m.access.require(ctx, "events:read", { tenantId: ctx.principal?.tenantId ?? null }).catch(() => null);
      throw notFound();
    }
    await this.m.access.requireOn(ctx, "events:read", event.tenantId, notFound);
    return event;
  }

  /** eventsAfter reads up to `limit` events of an environment after `seq`, in order (streams, deliveries). */
  async eventsAfter(environmentId: string, seq: number, limit: number): Promise<Event[]> {
    const rows = await this.#db
      .q()
      .selectFrom("event")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("seq", ">", seq)
      .orderBy("seq")
      .limit(limit)
      .execute();
    return rows.map(toEvent);
  }

  /** headOf returns the last committed sequence of an environment (0 when its log is empty). */
  async headOf(environmentId: string): Promise<number> {
    const row = await this.#db
      .q()
      .selectFrom("event_sequence")
      .select("last_seq")
      .where("environment_id", "=", environmentId)
      .executeTakeFirst();
    return row ? Number(row.last_seq) : 0;
  }

  /** findEvent reads one event of an environment by id (no access check: for other modules' jobs). */
  async findEvent(environmentId: string, id: string): Promise<Event | null> {
    return this.#find(environmentId, id);
  }

  /**
   * eraseSubject redacts, in `tx`, the stored events about an end user (a data subject erasure):
   * events whose subject is the user, and events whose data holds the user's address, keep their
   * type, time and place in the log but their data becomes `{ "$erased": true }`. Events already
   * delivered to webhook endpoints are out of the plane's reach (docs/privacy.md).
   */
  async eraseSubject(tx: Tx, s: DataSubject): Promise<Record<string, number>> {
    const text = this.m.db.engine === "postgres" ? sql`strpos(data::text, ${s.email})` : sql`instr(data, ${s.email})`;
    const erased = await this.#db
      .q(tx)
      .updateTable("event")
      .set({ data: toJson({ $erased: true }) })
      .where("environment_id", "=", s.environmentId)
      .where("type", "!=", "user.erased")
      .where((eb) => eb.or([eb("subject", "=", `user/${s.userId}`), eb(text, ">", sql<number>`0`)]))
      .executeTakeFirst();
    return { eventsRedacted: Number(erased.numUpdatedRows) };
  }

  /** exportSubject lists the stored events whose subject is the user (newest 10,000). */
  async exportSubject(s: DataSubject): Promise<Record<string, unknown>> {
    const rows = await this.#db
      .q()
      .selectFrom("event")
      .selectAll()
      .where("environment_id", "=", s.environmentId)
      .where("subject", "=", `user/${s.userId}`)
      .orderBy("seq", "desc")
      .limit(10_000)
      .execute();
    return { events: rows.map(toEvent) };
  }

  /**
   * pruneEvents deletes events older than each environment's retention (default from config).
   * Sequences are never reused: the log's numbering continues after a prune.
   */
  async pruneEvents(): Promise<number> {
    const now = this.m.clock.now();
    const day = 86_400_000;
    const db = this.#db.q();
    const custom = await db.selectFrom("event_settings").select(["environment_id", "retention_days"]).execute();
    let deleted = 0;
    for (const s of custom) {
      const r = await db
        .deleteFrom("event")
        .where("environment_id", "=", s.environment_id)
        .where("time", "<", now - Number(s.retention_days) * day)
        .executeTakeFirst();
      deleted += Number(r.numDeletedRows);
    }
    const ids = custom.map((s) => s.environment_id);
    const r = await db
      .deleteFrom("event")
      .where("time", "<", now - this.m.config.events.retentionDays * day)
      .$if(ids.length > 0, (qb) => qb.where("environment_id", "not in", ids))
      .executeTakeFirst();
    return deleted + Number(r.numDeletedRows);
  }

  /**
   * countOlderThan counts the environment's events whose time is before `before` and at or after
   * `since` (by the environment-time index), read in `tx` when given.
   */
  async countOlderThan(environmentId: string, before: number, since: number, tx?: Tx): Promise<number> {
    const row = await this.#db
      .q(tx)
      .selectFrom("event")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("environment_id", "=", environmentId)
      .where("time", "<", before)
      .where("time", ">=", since)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async #findByClientId(environmentId: string, clientScope: string, clientId: string): Promise<Event | null> {
    const row = await this.#db
      .q()
      .selectFrom("event")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("client_scope", "=", clientScope)
      .where("client_id", "=", clientId)
      .executeTakeFirst();
    return row ? toEvent(row) : null;
  }

  async #find(environmentId: string, id: string): Promise<Event | null> {
    const row = await this.#db
      .q()
      .selectFrom("event")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    return row ? toEvent(row) : null;
  }
}
