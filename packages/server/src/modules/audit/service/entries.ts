import type { z } from "zod";
import { fromJson, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { Fact } from "../../../platform/facts/index.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import { type JsonSchema, validateJson } from "../../../platform/json-schema.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { DataSubject } from "../../../platform/personal-data.js";
import type { ActionContext } from "../../../platform/principal.js";
import { AuditErrors } from "../errors.js";
import type { AuditEntryRecord } from "../format.js";
import type { PersonalFields } from "../internal/personal.js";
import { actorOf, contextOf, draftOfFact, toAuditEntry, toEntry, wellFormed } from "../internal/rows.js";
import type { AuditEntry, CreateEntryInput, ListEntriesQuery } from "../schemas.js";
import type { AuditTables } from "../tables.js";
import type { ChainLedger } from "./chains.js";
import type { ChainScope } from "./exports.js";

/** Entries: the fact sink, product-written entries and queries. */
export class Entries {
  readonly #db: TypedDb<AuditTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly chains: ChainLedger,
    private readonly personal: PersonalFields,
  ) {
    this.#db = m.db.tables<AuditTables>();
  }

  /** recordFact is the fact sink: every fact becomes exactly one entry, in the fact's transaction. */
  async recordFact(tx: Parameters<ChainLedger["append"]>[0], fact: Fact): Promise<void> {
    await this.chains.append(tx, draftOfFact(fact));
  }

  /**
   * createEntry records an entry a product wrote. The actor and context come from the credential
   * and the request (the body has no actor fields); the metadata must match the action's schema
   * when one is registered (422 `audit_metadata_invalid`).
   */
  async createEntry(ctx: ActionContext, input: z.infer<typeof CreateEntryInput>): Promise<AuditEntry> {
    const access = await this.chains.scope(ctx, "audit:write", input.tenantId);
    const metadata = input.metadata ?? {};
    const schema = await this.#db
      .q()
      .selectFrom("audit_schema")
      .select("schema")
      .where("environment_id", access.environmentId === null ? "is" : "=", access.environmentId)
      .where("action", "=", input.action)
      .executeTakeFirst();
    if (schema) {
      const problems = validateJson(fromJson<JsonSchema>(schema.schema), metadata);
      if (problems.length > 0) {
        throw new AppError(
          AuditErrors.audit_metadata_invalid,
          `metadata${problems[0]?.path ? `.${problems[0].path}` : ""}: ${problems[0]?.message}`,
          {
            errors: problems.map((p) => ({ path: `body.metadata${p.path ? `.${p.path}` : ""}`, message: p.message })),
          },
        );
      }
    }
    const entry = await this.m.db.write(ctx, (tx) =>
      this.chains.append(
        tx,
        wellFormed({
          environmentId: access.environmentId,
          tenantId: access.tenantId,
          action: input.action,
          occurredAt: this.m.clock.now(),
          actor: actorOf(access.principal),
          targets: input.targets,
          context: contextOf(ctx.request, access.principal),
          metadata,
          changes: input.changes ?? null,
          source: "product",
          factId: null,
        }),
      ),
    );
    return toAuditEntry((await this.personal.reveal([entry]))[0] as AuditEntryRecord);
  }

  /**
   * listEntries pages the entries the caller may read: a tenant-bound caller (or one naming a
   * tenant) its tenant's only; an environment secret key the whole environment.
   */
  async listEntries(ctx: ActionContext, query: z.infer<typeof ListEntriesQuery>) {
    const access = await this.chains.scope(ctx, "audit:read", query.tenantId);
    return this.queryEntries(access, query);
  }

  /** queryEntries pages a chain's entries (`access.environmentId` null: the plane's own chain). */
  async queryEntries(access: ChainScope, query: z.infer<typeof ListEntriesQuery>) {
    const newest = query.order === "newest";
    const prefix = query.action?.endsWith(".*") ? query.action.slice(0, -1) : null;
    const entries = this.#db
      .q()
      .selectFrom("audit_entry")
      .selectAll()
      .where("environment_id", access.environmentId === null ? "is" : "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      // An operator acting environment-wide sees the environment's entries and tenants' lifecycle
      // (`tenant.*`, the plane's to run); the rest of a tenant's chain needs support access.
      .$if(access.environmentOnly === true, (qb) =>
        qb.where((eb) =>
          eb.or([eb("tenant_id", "is", null), eb.and([eb("action", ">=", "tenant."), eb("action", "<", "tenant/")])]),
        ),
      )
      .$if(query.action !== undefined && prefix === null, (qb) => qb.where("action", "=", query.action as string))
      .$if(prefix !== null, (qb) =>
        // A range instead of LIKE: `_` is a LIKE wildcard and occurs in actions.
        qb.where("action", ">=", prefix as string).where("action", "<", `${(prefix as string).slice(0, -1)}/`),
      )
      .$if(query.actorId !== undefined, (qb) => qb.where("actor_id", "=", query.actorId as string))
      .$if(query.actorType !== undefined, (qb) => qb.where("actor_type", "=", query.actorType as string))
      .$if(query.targetId !== undefined || query.targetType !== undefined, (qb) =>
        qb.where("id", "in", (eb) =>
          eb
            .selectFrom("audit_entry_target")
            .select("entry_id")
            .where("environment_id", "=", access.environmentId)
            .$if(query.targetType !== undefined, (sq) => sq.where("target_type", "=", query.targetType as string))
            .$if(query.targetId !== undefined, (sq) => sq.where("target_id", "=", query.targetId as string)),
        ),
      )
      .$if(query.from !== undefined, (qb) => qb.where("occurred_at", ">=", query.from as number))
      .$if(query.to !== undefined, (qb) => qb.where("occurred_at", "<", query.to as number));
    const page = await pageById(entries, query, toEntry, { descending: newest });
    return { ...page, data: (await this.personal.reveal(page.data)).map(toAuditEntry) };
  }

  /**
   * exportSubject lists the entries about an end user (as actor or target), personal fields
   * opened, for an access request (at most the newest 10,000).
   */
  async exportSubject(subject: DataSubject): Promise<Record<string, unknown>> {
    const rows = await this.#db
      .q()
      .selectFrom("audit_entry")
      .selectAll()
      .where("environment_id", "=", subject.environmentId)
      .where((eb) =>
        eb.or([
          eb("actor_id", "=", subject.userId),
          eb(
            "id",
            "in",
            eb
              .selectFrom("audit_entry_target")
              .select("entry_id")
              .where("environment_id", "=", subject.environmentId)
              .where("target_type", "=", "user")
              .where("target_id", "=", subject.userId),
          ),
        ]),
      )
      .orderBy("id", "desc")
      .limit(10_000)
      .execute();
    const entries = await this.personal.reveal(rows.map(toEntry));
    return {
      auditEntries: entries.map((e) => ({
        id: e.id,
        action: e.action,
        occurredAt: iso(e.occurredAt),
        tenantId: e.tenantId,
        actor: e.actor,
        targets: e.targets,
        context: e.context,
        metadata: e.metadata,
        changes: e.changes,
      })),
    };
  }
}
