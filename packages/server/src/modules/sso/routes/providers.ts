import { z } from "zod";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { SsoErrors } from "../errors.js";
import { CreateProviderInput, ListProvidersQuery, OidcProvider, UpdateProviderInput } from "../schemas.js";
import type { SsoService } from "../service.js";

const tags = ["Single sign-on"];

/** providerRoutes: an environment's OIDC providers (secret-key API). */
export function providerRoutes(s: SsoService): RouteDefinition[] {
  const params = z.strictObject({ providerId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/sso/providers",
      operationId: "createOidcProvider",
      summary: "Add an OIDC provider: a surface's social provider or a tenant's enterprise IdP",
      description:
        "The client secret is sealed under the master key and never shown again. The issuer must be https on a public address (see `BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS` for development).",
      tags,
      auth: AUTH.environment,
      body: CreateProviderInput,
      response: { status: 201, schema: OidcProvider, description: "The provider (without its secret)." },
      errors: [
        TenancyErrors.surface_not_found,
        TenancyErrors.tenant_not_found,
        SsoErrors.insecure_issuer,
        SsoErrors.invalid_default_role,
      ],
      handler: ({ ctx, body }) => s.providers.createProvider(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/sso/providers",
      operationId: "listOidcProviders",
      summary: "List the environment's OIDC providers",
      tags,
      auth: AUTH.environment,
      query: ListProvidersQuery,
      response: { status: 200, schema: pageSchema(OidcProvider), description: "A page of providers, oldest first." },
      handler: ({ ctx, query }) => s.providers.listProviders(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/sso/providers/:providerId",
      operationId: "getOidcProvider",
      summary: "Get an OIDC provider",
      tags,
      auth: AUTH.environment,
      params,
      response: { status: 200, schema: OidcProvider, description: "The provider." },
      errors: [SsoErrors.provider_not_found],
      handler: ({ ctx, params }) => s.providers.findProviderById(ctx, params.providerId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/sso/providers/:providerId",
      operationId: "updateOidcProvider",
      summary: "Change an OIDC provider; a new issuer ends its links to users",
      tags,
      auth: AUTH.environment,
      params,
      body: UpdateProviderInput,
      response: { status: 200, schema: OidcProvider, description: "The provider after the change." },
      errors: [SsoErrors.provider_not_found, SsoErrors.insecure_issuer, SsoErrors.invalid_default_role],
      handler: ({ ctx, params, body }) => s.providers.updateProvider(ctx, params.providerId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/sso/providers/:providerId",
      operationId: "deleteOidcProvider",
      summary: "Remove an OIDC provider, its links to users and its pending sign-ins",
      tags,
      auth: AUTH.environment,
      params,
      response: { status: 200, schema: OidcProvider, description: "The provider as it was." },
      errors: [SsoErrors.provider_not_found],
      handler: ({ ctx, params }) => s.providers.deleteProvider(ctx, params.providerId),
    }),
  ];
}
