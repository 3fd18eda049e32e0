import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";
import { defineModule } from "../../platform/module.js";
import { eventsModule } from "../events/index.js";
import { tenancyModule } from "../tenancy/index.js";
import { webhooksIds } from "./ids.js";
import { webhooksSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261510_webhooks_core.js";
import { webhooksReview } from "./review.js";
import { webhooksRoutes } from "./routes.js";
import { DELIVER_JOB, PRUNE_JOB, RESUME_JOB } from "./service/delivery.js";
import type { WebhooksOptions } from "./service.js";
import { WebhooksService } from "./service.js";

/** webhooksModuleWith builds the module with options (tests inject a DNS resolver). */
export function webhooksModuleWith(options: WebhooksOptions = {}) {
  return defineModule({
    name: "webhooks",
    dependsOn: { events: eventsModule, tenancy: tenancyModule },
    migrations: [core],
    sealedColumns: [
      { table: "webhook_endpoint", column: "secret" },
      { table: "webhook_endpoint", column: "previous_secret" },
      { table: "webhook_endpoint", column: "headers", json: true },
    ],
    ids: webhooksIds.prefixes,
    permissions: { webhooks: ["read", "write"] },
    roleGrants: { admin: { webhooks: "*" } },
    createService: (ctx, { events, tenancy }) => new WebhooksService(ctx, events, tenancy, options),
    connect: (service, { events }) => events.log.onAppend((tx, event) => service.delivery.fanOut(tx, event)),
    routes: (service) => webhooksRoutes(service),
    manifest: (service) => [webhooksSection(service)],
    review: (service) => webhooksReview(service),
    facts: {
      "webhook_endpoint.created": {
        description: "A webhook endpoint was created.",
        data: z.object({ url: z.string(), eventTypes: z.array(z.string()), headerNames: z.array(z.string()) }),
      },
      "webhook_endpoint.updated": { description: "A webhook endpoint changed (`changes`: before/after)." },
      "webhook_endpoint.deleted": {
        description: "A webhook endpoint was deleted.",
        data: z.object({ url: z.string() }),
      },
      "webhook_endpoint.secret_rotated": {
        description: "An endpoint's signing secret was rotated.",
        data: z.object({ gracePeriodSeconds: z.number().int() }),
      },
      "webhook_endpoint.disabled": {
        description:
          "The plane disabled an endpoint: the receiver answered 410 Gone (`gone`), or every attempt failed for 5 days (`failing`).",
        data: z.object({ reason: z.enum(["gone", "failing"]), failingSince: Timestamp.nullable() }),
      },
      "webhook_endpoint.recovered": {
        description: "Failed messages of an endpoint were put back in line.",
        data: z.object({ since: z.number().int(), recovered: z.number().int() }),
      },
      "webhook_message.resent": {
        description: "A webhook message was sent again.",
        data: z.object({ eventId: z.string(), eventType: z.string() }),
      },
    },
    busSubscriptions: (service) => [{ topic: "webhooks.enqueued", handler: () => service.wake() }],
    factSinks: (service) => [{ name: "webhooks.tenant_state", sink: (tx, fact) => service.delivery.onFact(tx, fact) }],
    jobs: (service) => [
      {
        name: DELIVER_JOB,
        // Attempts are counted on the message (a paused or rate-limited delivery spends none).
        maxAttempts: 1_000_000,
        handler: (payload, ctx) => service.delivery.deliver(payload as { messageId: string }, ctx),
      },
      { name: PRUNE_JOB, maxAttempts: 3, handler: async () => void (await service.delivery.pruneDeliveries()) },
      {
        name: RESUME_JOB,
        maxAttempts: 10,
        handler: (payload) => service.delivery.resumeTenant(payload as { environmentId: string; tenantId: string }),
      },
    ],
    schedules: { [PRUNE_JOB]: "41 3 * * *" },
    stop: async (service) => service.sender.close(),
  });
}

export const webhooksModule = webhooksModuleWith();
