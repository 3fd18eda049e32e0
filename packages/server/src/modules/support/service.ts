import type { SupportGrant } from "../../platform/access.js";
import { OwnedCache } from "../../platform/cache.js";
import type { Tx, TypedDb } from "../../platform/db/index.js";
import { AppError, PlatformErrors } from "../../platform/errors.js";
import type { Fact } from "../../platform/facts/index.js";
import { type Page, pageById } from "../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../platform/http/schemas.js";
import type { ModuleContext } from "../../platform/module.js";
import { principalPermits } from "../../platform/permissions.js";
import type { ActionContext, Principal } from "../../platform/principal.js";
import { SupportErrors } from "./errors.js";
import { newId } from "./ids.js";
import {
  type DecideSupportAccessInput,
  PENDING_LIFETIME_MS,
  type RequestSupportAccessInput,
  type SetSupportPolicyInput,
  type SupportAccess,
  type SupportPolicy,
} from "./schemas.js";
import type { SupportAccessTable, SupportTables } from "./tables.js";

/** SUPPORT_TOPIC: the change-bus topic on which `<environmentId>:<tenantId>` is published when a grant changes. */
export const SUPPORT_TOPIC = "support_access";

type Status = SupportAccess["status"];
type Row = SupportAccessTable;

/**
 * SupportService keeps operators' support access to tenants. An operator asks for time-boxed
 * access to one tenant with a reason; under the tenant's `notify` policy it is granted at once,
 * under `approval_required` a member holding `support_access:approve` approves or denies it. The
 * tenant sees every request, decision and action in its own audit log and events; the access ends
 * by itself, or earlier when the operator, a member or a secret key ends it.
 *
 * The access check asks `grantFor` (cached, evicted in every process through the change bus);
 * every write made under a grant is checked again in its own transaction (`onFact`, on the
 * grant's locked row), so a grant ended or expired meanwhile never lets a write commit.
 */
export class SupportService {
  readonly #db: TypedDb<SupportTables>;
  readonly #grants: OwnedCache<SupportGrant | null>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<SupportTables>();
    this.#grants = new OwnedCache(m.bus, [SUPPORT_TOPIC], 30_000, 50_000);
  }

  /** accessesSince lists support access requests of an environment (or one tenant) made since `since`, newest first. */
  async accessesSince(environmentId: string, tenantId: string | null, since: number) {
    return this.#db
      .q()
      .selectFrom("support_access")
      .select([
        "id",
        "tenant_id",
        "operator_id",
        "operator_name",
        "reason",
        "access",
        "status",
        "policy",
        "requested_at",
      ])
      .where("environment_id", "=", environmentId)
      .where("requested_at", ">=", since)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      .orderBy("requested_at", "desc")
      .execute();
  }

  /** grantFor: the operator's live grant in the tenant (write before read, the latest ending first), or null. */
  async grantFor(environmentId: string, operatorId: string, tenantId: string): Promise<SupportGrant | null> {
    const key = `${environmentId}:${tenantId}:${operatorId}`;
    const now = this.m.clock.now();
    const hit = this.#grants.get(key, now);
    if (hit) return hit.value;
    const owner = `${environmentId}:${tenantId}`;
    const stamp = this.#grants.stamp([owner]);
    const rows = await this.#db
      .q()
      .selectFrom("support_access")
      .select(["id", "access", "reason", "expires_at"])
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("operator_id", "=", operatorId)
      .where("status", "=", "active")
      .where("expires_at", ">", now)
      .execute();
    rows.sort((a, b) =>
      a.access === b.access ? Number(b.expires_at) - Number(a.expires_at) : a.access === "write" ? -1 : 1,
    );
    const row = rows[0];
    const grant: SupportGrant | null = row
      ? {
          id: row.id,
          access: row.access as SupportGrant["access"],
          reason: row.reason,
          expiresAt: Number(row.expires_at),
        }
      : null;
    // A found grant is cached until it expires; its absence until a grant of the tenant changes.
    const validUntil = grant ? grant.expiresAt : Number.MAX_SAFE_INTEGER;
    this.#grants.setStamped(key, { value: grant, validUntil, owners: [owner], cachedAt: now }, stamp);
    return grant;
  }

  /**
   * onFact (a fact sink, inside every write's transaction): a write made under a support grant
   * commits only while that grant is active, checked on its locked row. Ending a grant locks the
   * same row, so the two are ordered: no write under a grant commits after the grant ended.
   */
  async onFact(tx: Tx, fact: Fact): Promise<void> {
    const behalf = fact.actor?.onBehalfOf;
    if (behalf?.actorType !== "support_access") return;
    const row = await this.#db
      .q(tx)
      .selectFrom("support_access")
      .select(["status", "expires_at", "tenant_id", "operator_id"])
      .where("id", "=", behalf.actorId)
      .$call((q) => this.m.db.forUpdate(q))
      .executeTakeFirst();
    const now = this.m.clock.now();
    const live =
      row !== undefined &&
      row.status === "active" &&
      Number(row.expires_at) > now &&
      row.operator_id === fact.actor?.actorId &&
      (fact.tenantId === null || fact.tenantId === row.tenant_id);
    if (!live) {
      throw new AppError(
        PlatformErrors.forbidden,
        "Your support access to this tenant ended before this change could be made; nothing was changed.",
      );
    }
  }

  // ----- operators -----------------------------------------------------------------------------

  /** request: an operator asks for access to a tenant; granted at once under the `notify` policy. */
  async request(ctx: ActionContext, input: RequestSupportAccessInput): Promise<SupportAccess> {
    const operator = this.#operator(ctx);
    // Reading the tenant's record is what operators may do without support access: 404 when absent.
    const { environmentId } = await this.m.access.require(ctx, "tenants:read", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    if (input.access === "write" && !principalPermits(operator, "support_access:write")) {
      throw new AppError(
        PlatformErrors.forbidden,
        'Your operator role reads only: ask for `access: "read"`, or ask an admin operator.',
      );
    }
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const mode = await this.#mode(environmentId, input.tenantId, tx);
      const durationSeconds = input.durationMinutes * 60;
      const row: Row = {
        id: newId("supportAccess"),
        environment_id: environmentId,
        tenant_id: input.tenantId,
        operator_id: operator.actorId,
        operator_name: operator.displayName ?? null,
        reason: input.reason,
        access: input.access,
        duration_seconds: durationSeconds,
        status: mode === "notify" ? "active" : "pending",
        policy: mode,
        requested_at: now,
        decided_at: mode === "notify" ? now : null,
        decided_by: null,
        decision_note: null,
        expires_at: mode === "notify" ? now + durationSeconds * 1000 : null,
        ended_at: null,
        ended_by_type: null,
        ended_by_id: null,
      };
      await this.#db.q(tx).insertInto("support_access").values(row).execute();
      const data = {
        operatorId: operator.actorId,
        operatorName: operator.displayName ?? null,
        reason: input.reason,
        access: input.access,
        durationMinutes: input.durationMinutes,
        policy: mode,
      };
      await this.#record(tx, ctx, "support_access.requested", row, data);
      if (mode === "notify") {
        await this.#record(tx, ctx, "support_access.approved", row, {
          operatorId: operator.actorId,
          approvedBy: null,
          expiresAt: iso(row.expires_at as number),
        });
      }
      await this.m.bus.publish(tx, SUPPORT_TOPIC, `${environmentId}:${input.tenantId}`);
      return toAccess(row, now);
    });
  }

  /** list: the environment's support access (operators, secret keys), newest first. */
  async list(
    ctx: ActionContext,
    query: {
      limit: number;
      cursor?: string | undefined;
      tenantId?: string | undefined;
      operatorId?: string | undefined;
      status?: Status | undefined;
    },
  ): Promise<Page<SupportAccess>> {
    const { environmentId } = this.m.access.environment(ctx, "support_access:read");
    return this.#page(environmentId, query);
  }

  /** get: one support access of the environment. */
  async get(ctx: ActionContext, id: string): Promise<SupportAccess> {
    const { environmentId } = this.m.access.environment(ctx, "support_access:read");
    return toAccess(await this.#row(environmentId, id), this.m.clock.now());
  }

  /**
   * end: the operator who holds it, an admin operator or a secret key ends an access early (a
   * pending request is withdrawn the same way).
   */
  async end(ctx: ActionContext, id: string): Promise<SupportAccess> {
    const { environmentId, principal } = this.m.access.environment(ctx, "support_access:read");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx);
      const mayEnd =
        principal.actorType === "service" ||
        row.operator_id === principal.actorId ||
        (principal.actorType === "operator" && principalPermits(principal, "support_access:write"));
      if (!mayEnd) {
        throw new AppError(
          PlatformErrors.forbidden,
          "Only the operator who asked, an admin operator or a secret key may end it.",
        );
      }
      return this.#finish(tx, ctx, row, null, "support_access.ended");
    });
  }

  // ----- the tenant ----------------------------------------------------------------------------

  /** listForTenant: a tenant's support access, for its members holding `support_access:read`. */
  async listForTenant(
    ctx: ActionContext,
    tenantId: string,
    query: { limit: number; cursor?: string | undefined; status?: Status | undefined },
  ): Promise<Page<SupportAccess>> {
    const { environmentId } = await this.m.access.require(ctx, "support_access:read", { tenantId });
    return this.#page(environmentId, { ...query, tenantId });
  }

  async getForTenant(ctx: ActionContext, tenantId: string, id: string): Promise<SupportAccess> {
    const { environmentId } = await this.m.access.require(ctx, "support_access:read", { tenantId });
    const row = await this.#row(environmentId, id);
    if (row.tenant_id !== tenantId) throw notFound();
    return toAccess(row, this.m.clock.now());
  }

  /** approve: a member approves a pending request; the access starts now and lasts its duration. */
  approve(ctx: ActionContext, tenantId: string, id: string, input: DecideSupportAccessInput): Promise<SupportAccess> {
    return this.#decide(ctx, tenantId, id, input, "approve");
  }

  /** deny: a member refuses a pending request. */
  deny(ctx: ActionContext, tenantId: string, id: string, input: DecideSupportAccessInput): Promise<SupportAccess> {
    return this.#decide(ctx, tenantId, id, input, "deny");
  }

  async #decide(
    ctx: ActionContext,
    tenantId: string,
    id: string,
    input: DecideSupportAccessInput,
    verb: "approve" | "deny",
  ): Promise<SupportAccess> {
    const { environmentId, principal } = await this.m.access.require(ctx, "support_access:approve", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const row = await this.#row(environmentId, id, tx);
      if (row.tenant_id !== tenantId) throw notFound();
      if (!DECIDERS.has(principal.actorType)) throw membersOnly();
      const status = statusOf(row, now);
      if (status !== "pending") {
        throw new AppError(SupportErrors.support_access_not_pending, `This request is ${status}, not pending.`);
      }
      const decided = { decided_at: now, decided_by: principal.actorId, decision_note: input.note ?? null };
      if (verb === "deny") {
        return this.#transition(tx, ctx, row, { status: "denied", ...decided }, "support_access.denied", {
          operatorId: row.operator_id,
          deniedBy: principal.actorId,
          note: input.note ?? null,
        });
      }
      const expiresAt = now + row.duration_seconds * 1000;
      return this.#transition(
        tx,
        ctx,
        row,
        { status: "active", ...decided, expires_at: expiresAt },
        "support_access.approved",
        {
          operatorId: row.operator_id,
          approvedBy: principal.actorId,
          expiresAt: iso(expiresAt),
        },
      );
    });
  }

  /**
   * revoke: the tenant ends an access (pending or active) early: its members holding
   * `support_access:approve`, or the environment's secret keys (ending is always safe).
   */
  async revoke(
    ctx: ActionContext,
    tenantId: string,
    id: string,
    input: DecideSupportAccessInput,
  ): Promise<SupportAccess> {
    const { environmentId, principal } = await this.m.access.require(ctx, "support_access:approve", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx);
      if (row.tenant_id !== tenantId) throw notFound();
      if (!DECIDERS.has(principal.actorType) && principal.actorType !== "service") throw membersOnly();
      return this.#finish(tx, ctx, row, input.note ?? null, "support_access.revoked");
    });
  }

  async getPolicy(ctx: ActionContext, tenantId: string): Promise<SupportPolicy> {
    const { environmentId } = await this.m.access.require(ctx, "support_access:read", { tenantId });
    const row = await this.#db
      .q()
      .selectFrom("support_policy")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .executeTakeFirst();
    return { tenantId, mode: (row?.mode as SupportPolicy["mode"]) ?? "notify", updatedAt: isoOrNull(row?.updated_at) };
  }

  /**
   * setPolicy: the tenant's members holding `support_access:approve` choose whether operators need
   * their approval, and so may the environment's secret keys (the product, which may set it by
   * plan). Operators may not, even under support access: they would be loosening their own check.
   */
  async setPolicy(ctx: ActionContext, tenantId: string, input: SetSupportPolicyInput): Promise<SupportPolicy> {
    const { environmentId } = await this.m.access.require(ctx, "support_access:approve", { tenantId });
    const p = ctx.principal as Principal;
    if (!DECIDERS.has(p.actorType) && p.actorType !== "service") throw membersOnly();
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const before = await this.#mode(environmentId, tenantId, tx);
      await this.#db
        .q(tx)
        .insertInto("support_policy")
        .values({ environment_id: environmentId, tenant_id: tenantId, mode: input.mode, updated_at: now })
        .onConflict((oc) =>
          oc.columns(["environment_id", "tenant_id"]).doUpdateSet({ mode: input.mode, updated_at: now }),
        )
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "support_policy.updated",
        environmentId,
        tenantId,
        targets: [{ type: "tenant", id: tenantId }],
        data: { before, after: input.mode },
      });
      return { tenantId, mode: input.mode, updatedAt: iso(now) };
    });
  }

  // ----- internals -----------------------------------------------------------------------------

  #operator(ctx: ActionContext): Principal {
    const p = ctx.principal;
    if (p?.actorType !== "operator") {
      throw new AppError(PlatformErrors.forbidden, "Only plane operators ask for support access.");
    }
    if (!p.environmentId) {
      throw new AppError(
        PlatformErrors.forbidden,
        "Name the environment of the tenant with the `Baseplate-Environment` header.",
      );
    }
    return p;
  }

  async #mode(environmentId: string, tenantId: string, tx: Tx): Promise<"notify" | "approval_required"> {
    const row = await this.#db
      .q(tx)
      .selectFrom("support_policy")
      .select("mode")
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .$call((q) => this.m.db.forUpdate(q))
      .executeTakeFirst();
    return (row?.mode as "notify" | "approval_required" | undefined) ?? "notify";
  }

  async #row(environmentId: string, id: string, tx?: Tx): Promise<Row> {
    const row = await this.#db
      .q(tx)
      .selectFrom("support_access")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .$if(tx !== undefined, (qb) => qb.$call((q) => this.m.db.forUpdate(q)))
      .executeTakeFirst();
    if (!row) throw notFound();
    return row;
  }

  async #page(
    environmentId: string,
    query: {
      limit: number;
      cursor?: string | undefined;
      tenantId?: string | undefined;
      operatorId?: string | undefined;
      status?: Status | undefined;
    },
  ): Promise<Page<SupportAccess>> {
    const now = this.m.clock.now();
    const lapse = now - PENDING_LIFETIME_MS;
    const rows = this.#db
      .q()
      .selectFrom("support_access")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(query.tenantId !== undefined, (qb) => qb.where("tenant_id", "=", query.tenantId as string))
      .$if(query.operatorId !== undefined, (qb) => qb.where("operator_id", "=", query.operatorId as string))
      .$if(query.status === "pending", (qb) => qb.where("status", "=", "pending").where("requested_at", ">", lapse))
      .$if(query.status === "active", (qb) => qb.where("status", "=", "active").where("expires_at", ">", now))
      .$if(query.status === "expired", (qb) =>
        qb.where((eb) =>
          eb.or([
            eb.and([eb("status", "=", "active"), eb("expires_at", "<=", now)]),
            eb.and([eb("status", "=", "pending"), eb("requested_at", "<=", lapse)]),
          ]),
        ),
      )
      .$if(query.status === "denied" || query.status === "ended", (qb) =>
        qb.where("status", "=", query.status as string),
      );
    return pageById(rows, query, (r) => toAccess(r, now), { descending: true });
  }

  /**
   * #finish ends a pending or active access (`support_access.ended` by its side, `revoked` by the
   * tenant's); the note goes to the fact.
   */
  async #finish(
    tx: Tx,
    ctx: ActionContext,
    row: Row,
    note: string | null,
    type: "support_access.ended" | "support_access.revoked",
  ): Promise<SupportAccess> {
    const now = this.m.clock.now();
    const status = statusOf(row, now);
    if (status !== "pending" && status !== "active") {
      throw new AppError(SupportErrors.support_access_not_active, `This support access is already ${status}.`);
    }
    const p = ctx.principal as Principal;
    const changes = {
      status: "ended",
      ended_at: this.m.clock.now(),
      ended_by_type: p.actorType,
      ended_by_id: p.actorId,
    };
    return this.#transition(tx, ctx, row, changes, type, { operatorId: row.operator_id, wasStatus: status, note });
  }

  /**
   * #transition writes one change of an access's row, records its fact, and tells every process
   * (the access check's cache) that the tenant's grants changed. Answers the access as changed.
   */
  async #transition(
    tx: Tx,
    ctx: ActionContext,
    row: Row,
    changes: Partial<Row>,
    type: string,
    data: Record<string, unknown>,
  ): Promise<SupportAccess> {
    await this.#db.q(tx).updateTable("support_access").set(changes).where("id", "=", row.id).execute();
    const after: Row = { ...row, ...changes };
    await this.#record(tx, ctx, type, after, data);
    await this.m.bus.publish(tx, SUPPORT_TOPIC, `${row.environment_id}:${row.tenant_id}`);
    return toAccess(after, this.m.clock.now());
  }

  async #record(tx: Tx, ctx: ActionContext, type: string, row: Row, data: Record<string, unknown>): Promise<void> {
    await this.m.facts.record(tx, ctx, {
      type,
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [
        { type: "support_access", id: row.id },
        { type: "tenant", id: row.tenant_id },
        { type: "operator", id: row.operator_id },
      ],
      data,
    });
  }
}

/**
 * DECIDERS: who approves and denies for the tenant: its members (sessions of users holding
 * `support_access:approve`) and the tenant portal's sessions opened with the `support` section (the
 * customer admin the product vouched for, recorded as such).
 */
const DECIDERS: ReadonlySet<string> = new Set(["user", "portal"]);

/** statusOf: a row's status now (expiry is read from the clock, not stored). */
export function statusOf(row: Pick<Row, "status" | "expires_at" | "requested_at">, now: number): Status {
  if (row.status === "active") return Number(row.expires_at) > now ? "active" : "expired";
  if (row.status === "pending") return Number(row.requested_at) > now - PENDING_LIFETIME_MS ? "pending" : "expired";
  return row.status as Status;
}

function toAccess(row: Row, now: number): SupportAccess {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    operatorId: row.operator_id,
    operatorName: row.operator_name,
    reason: row.reason,
    access: row.access as SupportAccess["access"],
    durationMinutes: Math.round(Number(row.duration_seconds) / 60),
    status: statusOf(row, now),
    policy: row.policy as SupportAccess["policy"],
    requestedAt: iso(row.requested_at),
    decidedAt: isoOrNull(row.decided_at),
    decidedBy: row.decided_by,
    decisionNote: row.decision_note,
    expiresAt: isoOrNull(row.expires_at),
    endedAt: isoOrNull(row.ended_at),
    endedBy: row.ended_by_type && row.ended_by_id ? { type: row.ended_by_type, id: row.ended_by_id } : null,
  };
}

function notFound(): AppError {
  return new AppError(SupportErrors.support_access_not_found, "No such support access in this tenant.");
}

function membersOnly(): AppError {
  return new AppError(
    SupportErrors.support_access_decided_by_members,
    "Only the tenant's members holding `support_access:approve` (or its admin in the tenant portal) approve support access; operators never decide on their own access.",
  );
}
