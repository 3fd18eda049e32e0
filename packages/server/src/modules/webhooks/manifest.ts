import { z } from "zod";
import type { Tx } from "../../platform/db/db.js";
import { AppError } from "../../platform/errors.js";
import {
  type ManifestAffected,
  type ManifestAssessment,
  type ManifestSection,
  sortedSet,
} from "../../platform/manifest.js";
import { WebhooksErrors } from "./errors.js";
import { CreateEndpointInput } from "./schemas.js";
import type { WebhooksService } from "./service.js";

/** WebhookItem is an environment-owned webhook endpoint as the manifest declares it, named by its URL. */
export const WebhookItem = z.strictObject({
  url: CreateEndpointInput.shape.url.describe(
    "The http(s) URL receiving the POSTs: the manifest's key for the endpoint (another URL is another endpoint). Private addresses are refused.",
  ),
  description: CreateEndpointInput.shape.description,
  eventTypes: CreateEndpointInput.shape.eventTypes,
  enabled: CreateEndpointInput.shape.enabled.describe("Whether events are delivered to it."),
  rateLimitPerSecond: CreateEndpointInput.shape.rateLimitPerSecond.describe(
    "At most this many deliveries a second (null: no limit).",
  ),
});
export type WebhookItem = z.infer<typeof WebhookItem>;

/** ROTATE names the route through which an operator obtains the signing secret of an endpoint. */
const ROTATE = "POST /v1/webhooks/endpoints/{id}/rotate-secret";

const quote = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(", ");
const receives = (types: readonly string[]) => (types.length === 0 ? "every event" : quote(types));

/**
 * webhooksSection: the environment's own webhook endpoints (tenant-owned endpoints are the
 * tenants' and are neither listed nor changed). Custom headers hold sealed values and signing
 * secrets are never exported: the section leaves headers as they are (none on an endpoint it
 * creates), and the secret of an endpoint it creates is obtained by rotating it. Changing what an
 * endpoint receives, enabling or disabling it, or its rate limit, is a behaviour change; deleting
 * it (and its delivery log) is destructive.
 */
export function webhooksSection(service: WebhooksService): ManifestSection<WebhookItem> {
  const endpoints = service.endpoints;
  const m = service.context;
  const byUrl = async (environmentId: string, url: string, tx?: Tx) => {
    const found = (await endpoints.environmentEndpoints(environmentId, tx)).find((e) => e.url === url);
    if (!found) throw new AppError(WebhooksErrors.endpoint_not_found, `No environment webhook endpoint at ${url}.`);
    return found;
  };
  return {
    name: "webhooks",
    description: `The environment's own webhook endpoints (tenants' endpoints are theirs, not listed), by URL: what each receives, whether it is enabled, its rate limit. Custom headers (sealed values) are not managed: an endpoint keeps its own, and one the manifest creates has none. Signing secrets are never shown: to obtain the secret of an endpoint the manifest created, rotate it (${ROTATE}, \`gracePeriodSeconds: 0\`).`,
    item: WebhookItem,
    keyOf: (e) => e.url,
    normalize: (e) => ({ ...e, eventTypes: sortedSet(e.eventTypes), rateLimitPerSecond: e.rateLimitPerSecond ?? null }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "webhooks:read" : "webhooks:write"),
    lock: (tx) => m.db.lockTable(tx, "webhook_endpoint"),
    live: async (environmentId, tx) =>
      (await endpoints.environmentEndpoints(environmentId, tx)).map((e) => ({
        url: e.url,
        description: e.description,
        eventTypes: e.eventTypes,
        enabled: e.enabled,
        rateLimitPerSecond: e.rateLimitPerSecond,
      })),
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const after = diff.after as WebhookItem;
        const refusal = endpoints.urlRefusal(after.url);
        return {
          risk: "additive",
          summary: `Adds endpoint ${key} receiving ${receives(after.eventTypes)}${after.enabled ? "" : " (disabled)"}; its signing secret is not shown: rotate it (${ROTATE}) to obtain one.`,
          affected: [],
          blocked: refusal ? `The endpoint's url ${refusal}.` : null,
        };
      }
      const endpoint = await byUrl(environmentId, diff.key, tx);
      const counts = await endpoints.messageCounts(endpoint.id, tx);
      const undelivered = counts.pending + counts.paused;
      if (diff.action === "delete") {
        const total = counts.pending + counts.paused + counts.succeeded + counts.failed;
        const affected: ManifestAffected[] = [];
        if (undelivered > 0)
          affected.push({ count: undelivered, what: `messages not yet delivered to ${key}, dropped` });
        if (total > 0) affected.push({ count: total, what: `messages in the delivery log of ${key}, deleted with it` });
        return {
          risk: "destructive",
          summary: `Deletes endpoint ${key} and its delivery log: it receives no event from then on.`,
          affected,
          blocked: null,
        };
      }
      const before = diff.before as WebhookItem;
      const after = diff.after as WebhookItem;
      const parts: string[] = [];
      const affected: ManifestAffected[] = [];
      if (before.enabled !== after.enabled) {
        if (after.enabled) {
          const by = endpoint.disabledReason && endpoint.disabledReason !== "manual";
          parts.push(by ? `enables it again (the plane disabled it: ${endpoint.disabledReason})` : "enables it");
        } else {
          parts.push("disables it: it receives no event from then on");
          if (undelivered > 0) {
            affected.push({ count: undelivered, what: `messages not yet delivered to ${key}, settled as failed` });
          }
        }
      }
      if (diff.fields.includes("eventTypes")) {
        const gone = before.eventTypes.filter((t) => !after.eventTypes.includes(t));
        const added = after.eventTypes.filter((t) => !before.eventTypes.includes(t));
        if (after.eventTypes.length === 0) parts.push("receives every event");
        else if (before.eventTypes.length === 0) parts.push(`receives only ${quote(after.eventTypes)}`);
        else {
          if (gone.length > 0) parts.push(`no longer receives ${quote(gone)}`);
          if (added.length > 0) parts.push(`also receives ${quote(added)}`);
        }
      }
      if (before.rateLimitPerSecond !== after.rateLimitPerSecond) {
        parts.push(
          after.rateLimitPerSecond === null
            ? "lifts its rate limit"
            : `limits it to ${after.rateLimitPerSecond} deliveries a second`,
        );
      }
      if (parts.length === 0) {
        return { risk: "additive", summary: `Endpoint ${key}: changes its description.`, affected: [], blocked: null };
      }
      return { risk: "behaviour", summary: `Endpoint ${key}: ${parts.join("; ")}.`, affected, blocked: null };
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") {
        const after = diff.after as WebhookItem;
        // The new secret is returned once, here, and not kept: the operator rotates it to obtain one.
        await endpoints.insertEndpoint(tx, ctx, environmentId, null, { ...after, headers: {} });
        return;
      }
      const endpoint = await byUrl(environmentId, diff.key, tx);
      if (diff.action === "delete") {
        await endpoints.deleteIn(tx, ctx, environmentId, endpoint.id);
        return;
      }
      const after = diff.after as WebhookItem;
      await endpoints.changeEndpoint(tx, ctx, environmentId, endpoint.id, {
        description: after.description,
        eventTypes: after.eventTypes,
        enabled: after.enabled,
        rateLimitPerSecond: after.rateLimitPerSecond,
      });
    },
  };
}
