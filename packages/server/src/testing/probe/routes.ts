import { z } from "zod";
import { pageSchema, paginationQuery } from "../../platform/http/pagination.js";
import { defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { ProbeErrors } from "./errors.js";
import { CreateItemInput, Item, type ProbeService } from "./service.js";

/** probeRoutes: create, read and list items (any credential), and a slow answer (no credential). */
export function probeRoutes(service: ProbeService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/probe/items",
      operationId: "createProbeItem",
      summary: "Create a probe item",
      tags: ["Probe"],
      auth: { actorTypes: "any" },
      body: CreateItemInput,
      response: { status: 201, schema: Item, description: "The created item." },
      errors: [ProbeErrors.probe_refused],
      handler: ({ ctx, body }) => service.createItem(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/probe/items/:itemId",
      operationId: "getProbeItem",
      summary: "Get a probe item",
      tags: ["Probe"],
      auth: { actorTypes: "any" },
      params: z.strictObject({ itemId: z.string().max(64) }),
      response: { status: 200, schema: Item, description: "The item." },
      errors: [ProbeErrors.probe_item_not_found],
      handler: ({ ctx, params }) => service.findItemById(ctx, params.itemId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/probe/slow",
      operationId: "probeSlow",
      summary: "Answer after a delay (graceful-shutdown tests)",
      tags: ["Probe"],
      auth: "none",
      query: z.strictObject({ ms: z.coerce.number().int().min(0).max(10_000) }),
      response: { status: 200, schema: z.object({ waitedMs: z.number() }), description: "Done waiting." },
      handler: async ({ query }) => {
        await new Promise((r) => setTimeout(r, query.ms));
        return { waitedMs: query.ms };
      },
    }),
    defineRoute({
      method: "GET",
      url: "/v1/probe/items",
      operationId: "listProbeItems",
      summary: "List probe items",
      tags: ["Probe"],
      auth: { actorTypes: "any" },
      query: paginationQuery.strict(),
      response: { status: 200, schema: pageSchema(Item), description: "A page of items." },
      handler: ({ ctx, query }) => service.listItems(ctx, query),
    }),
  ];
}
