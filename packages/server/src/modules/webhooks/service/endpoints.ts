import type { Selectable } from "kysely";
import type { z } from "zod";
import { fromJson, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { checkUrl } from "../../../platform/ssrf.js";
import { WebhooksErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toEndpoint } from "../internal/rows.js";
import { environmentOf } from "../internal/scope.js";
import { sealHeaders, sealSecret } from "../internal/sealing.js";
import { generateSecret } from "../internal/signing.js";
import type {
  CreateEndpointInput,
  Endpoint,
  ListEndpointsQuery,
  RotateSecretInput,
  UpdateEndpointInput,
} from "../schemas.js";
import type { MessageStatus, WebhookEndpointTable, WebhooksTables } from "../tables.js";

/** EnvironmentEndpoint is an environment-owned endpoint without its secrets (what the manifest manages). */
export type EnvironmentEndpoint = Pick<
  Endpoint,
  "id" | "url" | "description" | "eventTypes" | "enabled" | "disabledReason" | "rateLimitPerSecond"
>;

/**
 * EndpointsService manages webhook endpoints: environment endpoints (secret keys) and
 * tenant-owned endpoints (a tenant's admins or its tenant keys), which receive only their
 * tenant's events. The signing secret is shown once, at creation and at rotation.
 */
export class EndpointsService {
  readonly #db: TypedDb<WebhooksTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<WebhooksTables>();
  }

  #endpoint(row: Selectable<WebhookEndpointTable>, now: number): Endpoint {
    return toEndpoint(row, now, this.m.secrets);
  }

  #checkUrl(url: string): void {
    const refusal = checkUrl(url, this.m.config.webhooks.allowPrivateTargets);
    if (refusal) {
      throw new AppError(WebhooksErrors.endpoint_url_refused, `url ${refusal}.`, {
        errors: [{ path: "body.url", message: refusal }],
      });
    }
  }

  async createEndpoint(
    ctx: ActionContext,
    input: z.infer<typeof CreateEndpointInput>,
  ): Promise<Endpoint & { secret: string }> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "webhooks:write", {
      tenantId: input.tenantId ?? null,
      field: "body.tenantId",
    });
    return this.m.db.write(ctx, (tx) => this.insertEndpoint(tx, ctx, environmentId, tenantId, input));
  }

  /**
   * insertEndpoint creates an endpoint owned by `tenantId` (null: the environment's) in `tx`, with a
   * new signing secret it returns (the caller checked `webhooks:write`). Throws 400
   * `endpoint_url_refused` for a URL the SSRF policy refuses.
   */
  async insertEndpoint(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string | null,
    input: Omit<z.infer<typeof CreateEndpointInput>, "tenantId">,
  ): Promise<Endpoint & { secret: string }> {
    this.#checkUrl(input.url);
    const now = this.m.clock.now();
    const secret = generateSecret();
    const row: WebhookEndpointTable = {
      id: newId("webhookEndpoint", now),
      environment_id: environmentId,
      tenant_id: tenantId,
      url: input.url,
      description: input.description,
      event_types: toJson(input.eventTypes),
      enabled: this.m.db.bool(input.enabled),
      disabled_reason: input.enabled ? null : "manual",
      disabled_at: input.enabled ? null : now,
      rate_limit_per_second: input.rateLimitPerSecond,
      headers: "",
      secret: "",
      previous_secret: null,
      previous_secret_expires_at: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    };
    // Sealed under the master key, with the row's id as associated data.
    row.headers = sealHeaders(this.m.secrets, input.headers, row.id);
    row.secret = sealSecret(this.m.secrets, secret, row.id);
    await this.#db.q(tx).insertInto("webhook_endpoint").values(row).execute();
    await this.m.facts.record(tx, ctx, {
      type: "webhook_endpoint.created",
      environmentId,
      tenantId,
      targets: [{ type: "webhook_endpoint", id: row.id }],
      data: { url: redactUrl(row.url), eventTypes: input.eventTypes, headerNames: Object.keys(input.headers) },
    });
    return { ...this.#endpoint(row, now), secret };
  }

  async listEndpoints(ctx: ActionContext, query: z.infer<typeof ListEndpointsQuery>) {
    const { environmentId, tenantId, environmentOnly } = await this.m.access.require(ctx, "webhooks:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("webhook_endpoint")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      .$if(environmentOnly === true, (qb) => qb.where("tenant_id", "is", null));
    const now = this.m.clock.now();
    return pageById(rows, query, (r) => this.#endpoint(r, now));
  }

  async findEndpointById(ctx: ActionContext, id: string): Promise<Endpoint> {
    const row = await this.authorized(ctx, "webhooks:read", id);
    return this.#endpoint(row, this.m.clock.now());
  }

  async updateEndpoint(ctx: ActionContext, id: string, input: z.infer<typeof UpdateEndpointInput>): Promise<Endpoint> {
    await this.authorized(ctx, "webhooks:write", id);
    return this.m.db.write(ctx, (tx) => this.changeEndpoint(tx, ctx, environmentOf(ctx), id, input));
  }

  /**
   * changeEndpoint changes an endpoint of the environment in `tx` (the caller checked
   * `webhooks:write` on it); headers left out keep their values. Throws 404 `endpoint_not_found`,
   * 400 `endpoint_url_refused`.
   */
  async changeEndpoint(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
    input: z.infer<typeof UpdateEndpointInput>,
  ): Promise<Endpoint> {
    if (input.url !== undefined) this.#checkUrl(input.url);
    const row = await this.#row(environmentId, id, tx);
    const now = this.m.clock.now();
    const before = this.#endpoint(row, now);
    const enabled = input.enabled ?? before.enabled;
    const next: WebhookEndpointTable = {
      ...row,
      url: input.url ?? row.url,
      description: input.description ?? row.description,
      event_types: toJson(input.eventTypes ?? before.eventTypes),
      enabled: this.m.db.bool(enabled),
      disabled_reason: enabled ? null : before.enabled ? "manual" : row.disabled_reason,
      disabled_at: enabled ? null : before.enabled ? now : row.disabled_at,
      failing_since: enabled && !before.enabled ? null : row.failing_since,
      rate_limit_per_second:
        input.rateLimitPerSecond === undefined ? row.rate_limit_per_second : input.rateLimitPerSecond,
      headers: sealHeaders(this.m.secrets, input.headers ?? before.headers, row.id),
      updated_at: now,
    };
    await this.#db.q(tx).updateTable("webhook_endpoint").set(next).where("id", "=", id).execute();
    const after = this.#endpoint(next, now);
    await this.m.facts.record(tx, ctx, {
      type: "webhook_endpoint.updated",
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [{ type: "webhook_endpoint", id }],
      changes: {
        before: auditable(before),
        after: auditable(after),
      },
    });
    return after;
  }

  async deleteEndpoint(ctx: ActionContext, id: string): Promise<{ id: string; deleted: true }> {
    await this.authorized(ctx, "webhooks:write", id);
    return this.m.db.write(ctx, (tx) => this.deleteIn(tx, ctx, environmentOf(ctx), id));
  }

  /**
   * deleteIn deletes an endpoint of the environment and its delivery log (messages, attempts) in
   * `tx` (the caller checked `webhooks:write` on it). Throws 404 `endpoint_not_found`.
   */
  async deleteIn(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
  ): Promise<{ id: string; deleted: true }> {
    const row = await this.#row(environmentId, id, tx);
    const db = this.#db.q(tx);
    await db.deleteFrom("webhook_attempt").where("endpoint_id", "=", id).execute();
    await db.deleteFrom("webhook_message").where("endpoint_id", "=", id).execute();
    await db.deleteFrom("webhook_endpoint").where("id", "=", id).execute();
    await this.m.facts.record(tx, ctx, {
      type: "webhook_endpoint.deleted",
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      targets: [{ type: "webhook_endpoint", id }],
      data: { url: redactUrl(row.url) },
    });
    return { id, deleted: true as const };
  }

  /**
   * rotateSecret issues a new secret. For `gracePeriodSeconds` deliveries carry a signature with
   * the previous secret too, so receivers can switch keys without losing a message.
   */
  async rotateSecret(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof RotateSecretInput>,
  ): Promise<Endpoint & { secret: string }> {
    await this.authorized(ctx, "webhooks:write", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentOf(ctx), id, tx);
      const now = this.m.clock.now();
      const secret = generateSecret();
      const sealed = sealSecret(this.m.secrets, secret, id);
      const next: WebhookEndpointTable = {
        ...row,
        secret: sealed,
        // The old secret stays sealed as it was (same row, same associated data).
        previous_secret: input.gracePeriodSeconds > 0 ? row.secret : null,
        previous_secret_expires_at: input.gracePeriodSeconds > 0 ? now + input.gracePeriodSeconds * 1000 : null,
        updated_at: now,
      };
      await this.#db
        .q(tx)
        .updateTable("webhook_endpoint")
        .set({
          secret: sealed,
          previous_secret: next.previous_secret,
          previous_secret_expires_at: next.previous_secret_expires_at,
          updated_at: now,
        })
        .where("id", "=", id)
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "webhook_endpoint.secret_rotated",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "webhook_endpoint", id }],
        data: { gracePeriodSeconds: input.gracePeriodSeconds },
      });
      return { ...this.#endpoint(next, now), secret };
    });
  }

  /** urlRefusal is why the SSRF policy refuses `url` as an endpoint (as creating one would say), or null. */
  urlRefusal(url: string): string | null {
    return checkUrl(url, this.m.config.webhooks.allowPrivateTargets);
  }

  /**
   * environmentEndpoints lists the environment's own endpoints (not tenants'), by URL, without
   * their sealed headers and secrets (read in `tx` when given).
   */
  async environmentEndpoints(environmentId: string, tx?: Tx): Promise<EnvironmentEndpoint[]> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("webhook_endpoint")
      .select(["id", "url", "description", "event_types", "enabled", "disabled_reason", "rate_limit_per_second"])
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "is", null)
      .orderBy("url")
      .orderBy("id")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      url: r.url,
      description: r.description,
      eventTypes: fromJson<string[]>(r.event_types),
      enabled: Boolean(r.enabled),
      disabledReason: r.disabled_reason,
      rateLimitPerSecond: r.rate_limit_per_second === null ? null : Number(r.rate_limit_per_second),
    }));
  }

  /** messageCounts counts an endpoint's messages by status (its delivery log), read in `tx` when given. */
  async messageCounts(endpointId: string, tx?: Tx): Promise<Record<MessageStatus, number>> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("webhook_message")
      .select((eb) => ["status", eb.fn.countAll<number>().as("n")])
      .where("endpoint_id", "=", endpointId)
      .groupBy("status")
      .execute();
    const counts: Record<MessageStatus, number> = { pending: 0, paused: 0, succeeded: 0, failed: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  /** authorized loads an endpoint of the caller's environment and checks `permission` on it (404 otherwise). */
  async authorized(ctx: ActionContext, permission: string, id: string) {
    const environmentId = environmentOf(ctx);
    const notFound = () => new AppError(WebhooksErrors.endpoint_not_found, `No webhook endpoint ${id}.`);
    const row = await this.#db
      .q()
      .selectFrom("webhook_endpoint")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound();
    await this.m.access.requireOn(ctx, permission, row.tenant_id, notFound);
    return row;
  }

  async #row(environmentId: string, id: string, tx: Tx) {
    const row = await this.#db
      .q(tx)
      .selectFrom("webhook_endpoint")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(WebhooksErrors.endpoint_not_found, `No webhook endpoint ${id}.`);
    return row;
  }
}

/** auditable: the fields of an endpoint a fact may carry (header values may hold credentials). */
function auditable(e: Endpoint): Record<string, unknown> {
  return {
    url: redactUrl(e.url),
    description: e.description,
    eventTypes: e.eventTypes,
    enabled: e.enabled,
    rateLimitPerSecond: e.rateLimitPerSecond,
    headerNames: Object.keys(e.headers).sort(),
  };
}

/** redactUrl drops the query string (it may carry a receiver's token) from a URL kept in facts. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "(invalid)";
  }
}
