import {
  created,
  defineModuleFixtures,
  type EnvActors,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";

/**
 * The sso module's fixtures for the plane-wide suites: OIDC providers (environment routes) and
 * tenants' domain claims, and one successful call per mutating route with the facts it must
 * commit. The sign-in itself needs a live IdP: oidc.test.ts and enterprise.test.ts run it.
 */
export const fixtures = defineModuleFixtures({
  module: "sso",
  params: {
    providerId: async (w, env) => {
      const id = await providerIn(w, env);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/sso/providers/${id}`) };
    },
    domainId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const id = await domainIn(w, env, tenant.id);
      // Verified as its TXT record would verify it (the sweep runs no DNS server), so that verifying
      // it again succeeds for its owner: the positive control of the verify route.
      await w.t.app.db.kysely
        .updateTable("sso_domain" as never)
        .set({ verified_at: Date.now(), verified_key: `${env.environmentId}:${id}` } as never)
        .where("id" as never, "=", id as never)
        .execute();
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/domains/${id}`) };
    },
  },
  bodies: {
    "POST /v1/sso/providers": (w) => providerBody(w.a, w.unique()),
    "PATCH /v1/sso/providers/:providerId": (w) => ({ name: `Renamed IdP ${w.unique()}` }),
    "POST /v1/tenants/:tenantId/domains": (w) => ({ domain: `sweep-${w.unique()}.example.com` }),
    // The positive control's surface allows no origin: a start never reaches the (unreachable) IdP.
    "POST /v1/auth/oidc/start": async (w) => ({
      surfaceId: w.a.surfaceId,
      providerId: await providerIn(w, w.a),
      redirectUri: "https://app.example.com/auth/callback",
    }),
  },
  facts: {
    "POST /v1/sso/providers": async (w) => ({
      caller: w.a.key,
      body: providerBody(w.a, w.unique()),
      expect: () => ({ types: ["oidc_provider.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/sso/providers/:providerId": async (w) => ({
      caller: w.a.key,
      ids: { providerId: await providerIn(w, w.a) },
      body: { name: "Renamed", clientSecret: "a new secret" },
      expect: () => ({ types: ["oidc_provider.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/sso/providers/:providerId": async (w) => ({
      caller: w.a.key,
      ids: { providerId: await providerIn(w, w.a) },
      expect: () => ({ types: ["oidc_provider.deleted"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/domains": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId },
      body: { domain: `facts-${w.unique()}.example.com` },
      expect: () => ({ types: ["sso_domain.created"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/tenants/:tenantId/domains/:domainId": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId, domainId: await domainIn(w, w.a, w.a.tenantId) },
      expect: () => ({ types: ["sso_domain.deleted"], environmentId: w.a.environmentId }),
    }),
  },
  factExclusions: {
    "POST /v1/tenants/:tenantId/domains/:domainId/verify":
      "needs the domain's TXT record in DNS; enterprise.test.ts runs it against its own DNS server and checks sso_domain.verified",
    "POST /v1/auth/oidc/start":
      "stores a pending sign-in only (no fact: nothing happened to an account yet); oidc.test.ts checks it",
    "POST /v1/auth/oidc/callback":
      "needs a live IdP; oidc.test.ts and enterprise.test.ts check its facts (user.signed_up, user_identity.linked, membership.created, user.logged_in)",
  },
});

function providerBody(env: EnvActors, n: number | string) {
  return {
    kind: "social",
    surfaceId: env.surfaceId,
    name: `IdP ${env.marker} ${n}`,
    issuer: "https://idp.example.com",
    clientId: `client-${n}`,
    clientSecret: "fixture client secret",
  };
}

async function providerIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const body = await created(
    await w.call(env.key, "POST", "/v1/sso/providers", { body: providerBody(env, w.unique()) }),
    "creating an OIDC provider",
  );
  return body.id as string;
}

async function domainIn(w: IsolationWorld, env: EnvActors, tenantId: string): Promise<string> {
  const body = await created(
    await w.call(env.key, "POST", `/v1/tenants/${tenantId}/domains`, {
      body: { domain: `d${w.unique()}.${env.marker.toLowerCase().replace(/[^a-z0-9]/g, "")}.example.com` },
    }),
    "claiming a domain",
  );
  return body.id as string;
}
