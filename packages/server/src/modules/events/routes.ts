import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { EventsErrors } from "./errors.js";
import {
  CreateEventTypeInput,
  Event,
  EventSettings,
  EventType,
  ListEventsQuery,
  ListEventTypesQuery,
  PublishEventInput,
  StreamEventsQuery,
  UpdateEventSettingsInput,
  UpdateEventTypeInput,
} from "./schemas.js";
import type { EventsService } from "./service.js";

export function eventsRoutes(s: EventsService): RouteDefinition[] {
  const eventParams = z.strictObject({ eventId: z.string().min(1).max(100) });
  const typeParams = z.strictObject({ eventTypeId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/events",
      operationId: "publishEvent",
      summary: "Publish an event",
      description:
        "Appends a product event to the environment's log (and to matching webhook endpoints). The type must be registered in the catalog and `data` must match its schema. The event's `id` is the plane's, unique in the environment; your `id` comes back as `clientId` and is unique within your scope (your tenant, or the environment for a secret key): publishing it again with the same content answers the stored event with 200 and `idempotent-replayed: true`, with other content 409 `event_id_reused`. Other publishers' ids never collide with yours.",
      tags: ["Events"],
      auth: AUTH.tenant,
      body: PublishEventInput,
      response: {
        status: 201,
        schema: Event,
        description: "The event, with its sequence.",
        replay: "You published this `id` before with the same content: the stored event (`idempotent-replayed: true`).",
      },
      errors: [
        EventsErrors.event_type_unknown,
        EventsErrors.event_type_reserved,
        EventsErrors.event_data_invalid,
        EventsErrors.event_id_reused,
      ],
      handler: ({ ctx, body }) => s.log.publishEvent(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events",
      operationId: "listEvents",
      summary: "Query the event log",
      description: "Events in log order (sequence), filtered by type (wildcards), tenant and time.",
      tags: ["Events"],
      auth: AUTH.tenant,
      query: ListEventsQuery,
      response: { status: 200, schema: pageSchema(Event), description: "A page of events." },
      handler: ({ ctx, query }) => s.log.listEvents(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events/stream",
      operationId: "streamEvents",
      summary: "Follow the event log (server-sent events)",
      description:
        "A `text/event-stream` of events as they are committed: `id` is the sequence, `event` the type, `data` the event. Reconnect with `Last-Event-ID` to resume without loss. Tenant credentials see only their tenant's events.",
      tags: ["Events"],
      auth: AUTH.tenant,
      query: StreamEventsQuery,
      response: {
        status: 200,
        schema: z.string(),
        contentTypes: ["text/event-stream"],
        description:
          "A `text/event-stream`: one message per event (`id:` its sequence, `event:` its type, `data:` the event as JSON), and comments as keep-alives.",
      },
      handler: async ({ ctx, query, hijack, headers }) => {
        const last = headers["last-event-id"];
        await s.streamEvents(ctx, query, Array.isArray(last) ? last[0] : last, hijack);
        return "";
      },
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events/types",
      operationId: "listEventTypes",
      summary: "List the event catalog",
      description:
        "The plane's own event types (with their data schemas) and the types registered in this environment.",
      tags: ["Events"],
      auth: AUTH.tenant,
      query: ListEventTypesQuery,
      response: { status: 200, schema: z.object({ data: z.array(EventType) }), description: "The catalog." },
      handler: ({ ctx, query }) => s.catalog.listEventTypes(ctx, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/events/types",
      operationId: "createEventType",
      summary: "Register an event type",
      tags: ["Events"],
      auth: AUTH.environment,
      body: CreateEventTypeInput,
      response: { status: 201, schema: EventType, description: "The event type." },
      errors: [EventsErrors.event_type_taken, EventsErrors.event_type_reserved, EventsErrors.event_schema_invalid],
      handler: ({ ctx, body }) => s.catalog.createEventType(ctx, body),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/events/types/:eventTypeId",
      operationId: "updateEventType",
      summary: "Update or deprecate an event type",
      tags: ["Events"],
      auth: AUTH.environment,
      params: typeParams,
      body: UpdateEventTypeInput,
      response: { status: 200, schema: EventType, description: "The event type." },
      errors: [EventsErrors.event_type_not_found, EventsErrors.event_schema_invalid],
      handler: ({ ctx, params, body }) => s.catalog.updateEventType(ctx, params.eventTypeId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events/settings",
      operationId: "getEventSettings",
      summary: "Get the event log settings of the environment",
      tags: ["Events"],
      auth: AUTH.environment,
      response: { status: 200, schema: EventSettings, description: "The settings." },
      handler: ({ ctx }) => s.catalog.findEventSettings(ctx),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/events/settings",
      operationId: "updateEventSettings",
      summary: "Set the event log retention of the environment",
      tags: ["Events"],
      auth: AUTH.environment,
      body: UpdateEventSettingsInput,
      response: { status: 200, schema: EventSettings, description: "The settings." },
      handler: ({ ctx, body }) => s.catalog.updateEventSettings(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/events/:eventId",
      operationId: "getEvent",
      summary: "Get an event",
      tags: ["Events"],
      auth: AUTH.tenant,
      params: eventParams,
      response: { status: 200, schema: Event, description: "The event." },
      errors: [EventsErrors.event_not_found],
      handler: ({ ctx, params }) => s.log.findEventById(ctx, params.eventId),
    }),
  ];
}
