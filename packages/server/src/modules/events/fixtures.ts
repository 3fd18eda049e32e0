import {
  created,
  defineModuleFixtures,
  type EnvActors,
  findIn,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";

/**
 * The events module's fixtures for the plane-wide suites: events and event types (environment
 * routes), the stream (checked by its own test), the bodies a schema cannot generate, and one
 * successful call per mutating route with the facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "events",
  params: {
    eventId: async (w, env) => {
      const type = await eventTypeIn(w, env);
      // An event of the home tenant: its members and keys may read it, other tenants may not.
      const body = await created(
        await w.call(env.key, "POST", "/v1/events", {
          body: { type: type.name, tenantId: env.tenantId, data: { marker: env.marker } },
        }),
        "publishing an event",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/events/${id}`) };
    },
    eventTypeId: async (w, env) => {
      const type = await eventTypeIn(w, env);
      return { id: type.id, owner: env.key, read: () => findIn(w, env.key, "/v1/events/types", type.id) };
    },
  },
  bodies: {
    // Event types are dotted lower-case words, which no generated string is.
    "POST /v1/events": () => ({ type: "iso.published", data: { n: 1 } }),
    "POST /v1/events/types": (w) => ({ name: `iso.t${w.unique()}`, description: "Isolation probe" }),
    "PATCH /v1/events/types/:eventTypeId": () => ({ description: "Changed", deprecated: true }),
  },
  streams: {
    "GET /v1/events/stream":
      "src/modules/events/stream.test.ts: other environments' and tenants' events never reach a stream",
  },
  facts: {
    // Publishing: a tenant key, into its tenant
    "POST /v1/events": async (w) => {
      const name = `facts.e${w.unique()}`;
      await created(
        await w.call(w.a.key, "POST", "/v1/events/types", { body: { name, description: "x" } }),
        "event type",
      );
      return {
        caller: w.a.tenantKey,
        body: { type: name, data: { orderId: "o_1" } },
        expect: () => ({ types: ["event.published"], environmentId: w.a.environmentId }),
      };
    },
    // The catalog and settings: the secret key
    "POST /v1/events/types": async (w) => ({
      caller: w.a.key,
      body: { name: `facts.t${w.unique()}`, description: "An order shipped", schema: { type: "object" } },
      expect: () => ({ types: ["event_type.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/events/types/:eventTypeId": async (w) => ({
      caller: w.a.key,
      ids: { eventTypeId: (await w.param("eventTypeId", w.a)).id },
      body: { deprecated: true },
      expect: () => ({ types: ["event_type.updated"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/events/settings": async (w) => ({
      caller: w.a.key,
      body: { retentionDays: 90 },
      expect: () => ({ types: ["event_settings.updated"], environmentId: w.a.environmentId }),
    }),
  },
});

/** eventTypeIn registers a product event type in the environment (events must be in the catalog). */
async function eventTypeIn(w: IsolationWorld, env: EnvActors): Promise<{ id: string; name: string }> {
  const name = `iso.e${w.unique()}`;
  const body = await created(
    await w.call(env.key, "POST", "/v1/events/types", { body: { name, description: `Type ${env.marker}` } }),
    "registering an event type",
  );
  return { id: body.id as string, name };
}
