import type { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { WebhooksErrors } from "../errors.js";
import { toAttempt, toMessage } from "../internal/rows.js";
import { environmentOf } from "../internal/scope.js";
import type { ListMessagesQuery, Message, RecoverInput } from "../schemas.js";
import type { WebhooksTables } from "../tables.js";
import type { DeliveryService } from "./delivery.js";
import type { EndpointsService } from "./endpoints.js";

/** MessagesService reads deliveries and their attempt log, and sends them again (resend, recover). */
export class MessagesService {
  readonly #db: TypedDb<WebhooksTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly endpoints: EndpointsService,
    private readonly delivery: DeliveryService,
  ) {
    this.#db = m.db.tables<WebhooksTables>();
  }

  async listMessages(ctx: ActionContext, endpointId: string, query: z.infer<typeof ListMessagesQuery>) {
    await this.endpoints.authorized(ctx, "webhooks:read", endpointId);
    return pageById(
      this.#db
        .q()
        .selectFrom("webhook_message")
        .selectAll()
        .where("environment_id", "=", environmentOf(ctx))
        .where("endpoint_id", "=", endpointId)
        .$if(query.status !== undefined, (qb) => qb.where("status", "=", query.status as Message["status"])),
      query,
      toMessage,
    );
  }

  async findMessageById(ctx: ActionContext, id: string): Promise<Message> {
    return toMessage(await this.#authorized(ctx, "webhooks:read", id));
  }

  async listAttempts(ctx: ActionContext, messageId: string, query: { limit: number; cursor?: string | undefined }) {
    await this.#authorized(ctx, "webhooks:read", messageId);
    return pageById(
      this.#db
        .q()
        .selectFrom("webhook_attempt")
        .selectAll()
        .where("environment_id", "=", environmentOf(ctx))
        .where("message_id", "=", messageId),
      query,
      toAttempt,
    );
  }

  /**
   * resendMessage delivers a message again now, with the same `webhook-id` and a fresh attempt
   * budget. A pending message is moved up (its scheduled retry is dropped).
   */
  async resendMessage(ctx: ActionContext, id: string): Promise<Message> {
    await this.#authorized(ctx, "webhooks:write", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentOf(ctx), id, tx);
      await this.delivery.requeue(tx, row);
      await this.delivery.announce(tx);
      await this.m.facts.record(tx, ctx, {
        type: "webhook_message.resent",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [
          { type: "webhook_message", id },
          { type: "webhook_endpoint", id: row.endpoint_id },
        ],
        data: { eventId: row.event_id, eventType: row.event_type },
      });
      return toMessage(await this.#row(row.environment_id, id, tx));
    });
  }

  /** recoverEndpoint resends every failed message of an endpoint created since `since`. */
  async recoverEndpoint(ctx: ActionContext, endpointId: string, input: z.infer<typeof RecoverInput>) {
    const endpoint = await this.endpoints.authorized(ctx, "webhooks:write", endpointId);
    return this.#recover(ctx, endpoint, input.since);
  }

  /**
   * recoverEndpointAnywhere is `recoverEndpoint` for the plane itself (the operator's CLI): the
   * endpoint is found in any environment. Returns null when there is no such endpoint.
   */
  async recoverEndpointAnywhere(ctx: ActionContext, endpointId: string, since: number) {
    const endpoint = await this.#db
      .q()
      .selectFrom("webhook_endpoint")
      .select(["id", "environment_id", "tenant_id"])
      .where("id", "=", endpointId)
      .executeTakeFirst();
    return endpoint ? this.#recover(ctx, endpoint, since) : null;
  }

  async #recover(
    ctx: ActionContext,
    endpoint: { id: string; environment_id: string; tenant_id: string | null },
    since: number,
  ): Promise<{ recovered: number }> {
    return this.m.db.write(ctx, async (tx) => {
      const rows = await this.#db
        .q(tx)
        .selectFrom("webhook_message")
        .select(["id", "environment_id", "tenant_id"])
        .where("endpoint_id", "=", endpoint.id)
        .where("status", "=", "failed")
        .where("created_at", ">=", since)
        .execute();
      for (const row of rows) await this.delivery.requeue(tx, row);
      if (rows.length > 0) await this.delivery.announce(tx);
      await this.m.facts.record(tx, ctx, {
        type: "webhook_endpoint.recovered",
        environmentId: endpoint.environment_id,
        tenantId: endpoint.tenant_id,
        targets: [{ type: "webhook_endpoint", id: endpoint.id }],
        data: { since, recovered: rows.length },
      });
      return { recovered: rows.length };
    });
  }

  async #authorized(ctx: ActionContext, permission: string, id: string) {
    const notFound = () => new AppError(WebhooksErrors.message_not_found, `No webhook message ${id}.`);
    const row = await this.#db
      .q()
      .selectFrom("webhook_message")
      .selectAll()
      .where("environment_id", "=", environmentOf(ctx))
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound();
    const endpoint = await this.#db
      .q()
      .selectFrom("webhook_endpoint")
      .select("tenant_id")
      .where("id", "=", row.endpoint_id)
      .executeTakeFirst();
    await this.m.access.requireOn(ctx, permission, endpoint?.tenant_id ?? null, notFound);
    return row;
  }

  async #row(environmentId: string, id: string, tx: Tx) {
    const row = await this.#db
      .q(tx)
      .selectFrom("webhook_message")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(WebhooksErrors.message_not_found, `No webhook message ${id}.`);
    return row;
  }
}
