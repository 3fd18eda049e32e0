import type { Credential, IsolationWorld } from "../../testing/isolation.js";
import { created, defineModuleFixtures } from "../../testing/isolation.js";

/** openSession mints a portal link for env a's home tenant and exchanges it: a portal session credential. */
async function openSession(w: IsolationWorld): Promise<Credential> {
  const link = await created(
    await w.call(w.a.key, "POST", `/v1/tenants/${w.a.tenantId}/portal-links`, { body: {} }),
    "minting a portal link",
  );
  const session = await created(
    await w.call(null, "POST", "/v1/portal/sessions", { body: { token: link.token } }),
    "opening a portal session",
  );
  return { kind: "portal", token: session.token as string, actorId: session.id as string, label: "portal session" };
}

/**
 * The portal module's fixtures: its routes take the tenancy module's `tenantId` and `surfaceId`;
 * the facts sweep mints a link (secret key), opens a session with it (no credential: the session is
 * the actor), ends a session, and sets a surface's theme.
 */
export const fixtures = defineModuleFixtures({
  module: "portal",
  // The generated body names a made-up surface: the caller's own surface is the default.
  bodies: {
    "POST /v1/tenants/:tenantId/portal-links": () => ({ expiresInSeconds: 120 }),
    "PUT /v1/surfaces/:surfaceId/portal-theme": () => ({ name: "Customer portal", accentColor: "#223344" }),
  },
  facts: {
    "POST /v1/tenants/:tenantId/portal-links": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId },
      body: { actor: { email: "admin@customer.example", name: "Customer Admin" } },
      expect: () => ({ types: ["portal_link.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/portal/sessions": async (w) => {
      const link = await created(
        await w.call(w.a.key, "POST", `/v1/tenants/${w.a.tenantId}/portal-links`, { body: {} }),
        "minting a portal link",
      );
      return {
        caller: null,
        body: { token: link.token },
        expect: (response) => ({
          types: ["portal_session.started"],
          actorId: response.id as string,
          environmentId: w.a.environmentId,
        }),
      };
    },
    "DELETE /v1/portal/sessions/current": async (w) => ({
      caller: await openSession(w),
      expect: () => ({ types: ["portal_session.revoked"], environmentId: w.a.environmentId }),
    }),
    "PUT /v1/surfaces/:surfaceId/portal-theme": async (w) => ({
      caller: w.a.key,
      ids: { surfaceId: w.a.surfaceId },
      body: { name: "Customer portal", primaryColor: "#0055aa" },
      expect: () => ({ types: ["portal_theme.updated"], environmentId: w.a.environmentId }),
    }),
  },
});
