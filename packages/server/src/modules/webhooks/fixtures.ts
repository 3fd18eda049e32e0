import { created, defineModuleFixtures, expectStatus, readBack } from "../../testing/isolation.js";

/**
 * The webhooks module's fixtures for the plane-wide suites: endpoints and messages (environment
 * routes; endpoints belong to the home tenant), the bodies a schema cannot generate, and one
 * successful call per mutating route with the facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "webhooks",
  params: {
    endpointId: async (w, env) => {
      const body = await created(
        await w.call(env.key, "POST", "/v1/webhooks/endpoints", {
          // Owned by the home tenant: its members and keys manage it, the environment's key too.
          body: {
            url: `https://${env.marker}.example.com/hooks`,
            description: `Endpoint ${env.marker}`,
            tenantId: env.tenantId,
            eventTypes: ["iso.*"],
          },
        }),
        "creating a webhook endpoint",
      );
      const id = (body as { id: string }).id;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/webhooks/endpoints/${id}`) };
    },
    messageId: async (w, env, parents) => {
      const endpoint = await w.param("endpointId", env, parents);
      // Any event of the home tenant the endpoint subscribes to becomes a message.
      await w.param("eventId", env);
      const list = await w.call(env.key, "GET", `/v1/webhooks/endpoints/${endpoint.id}/messages`);
      expectStatus(list, 200, "listing the endpoint's messages");
      const id = (list.json() as { data: Array<{ id: string }> }).data[0]?.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/webhooks/messages/${id}`) };
    },
  },
  bodies: {
    // The generated tenantId would name no tenant.
    "POST /v1/webhooks/endpoints": () => ({ url: "https://isolation.example.com/hook", eventTypes: ["iso.*"] }),
  },
  facts: {
    // The home tenant's owner, tenant key and agent manage its endpoints
    "POST /v1/webhooks/endpoints": async (w) => ({
      caller: w.a.user,
      body: { url: "https://hooks.example.com/in", tenantId: w.a.tenantId, headers: { authorization: "Bearer x1" } },
      expect: () => ({ types: ["webhook_endpoint.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/webhooks/endpoints/:endpointId": async (w) => ({
      caller: w.a.tenantKey,
      ids: { endpointId: (await w.param("endpointId", w.a)).id },
      body: { enabled: false },
      expect: () => ({ types: ["webhook_endpoint.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/webhooks/endpoints/:endpointId": async (w) => ({
      caller: w.a.agent,
      ids: { endpointId: (await w.param("endpointId", w.a)).id },
      expect: () => ({ types: ["webhook_endpoint.deleted"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/webhooks/endpoints/:endpointId/rotate-secret": async (w) => ({
      caller: w.a.key,
      ids: { endpointId: (await w.param("endpointId", w.a)).id },
      body: { gracePeriodSeconds: 3600 },
      expect: () => ({ types: ["webhook_endpoint.secret_rotated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/webhooks/endpoints/:endpointId/recover": async (w) => ({
      caller: w.a.tenantKey,
      ids: { endpointId: (await w.param("endpointId", w.a)).id },
      body: { since: 0 },
      expect: () => ({ types: ["webhook_endpoint.recovered"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/webhooks/messages/:messageId/resend": async (w) => ({
      caller: w.a.user,
      ids: { messageId: (await w.param("messageId", w.a)).id },
      expect: () => ({ types: ["webhook_message.resent"], environmentId: w.a.environmentId }),
    }),
  },
});
