import type { Selectable } from "kysely";
import type { z } from "zod";
import { type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { SsoErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { type IssuerPolicy, issuerRefusal, type ProviderClient } from "../internal/issuer.js";
import { toProvider } from "../internal/rows.js";
import type { CreateProviderInput, ListProvidersQuery, OidcProvider, UpdateProviderInput } from "../schemas.js";
import type { OidcProviderTable } from "../tables.js";

/**
 * ProvidersService: an environment's OIDC providers (secret-key API): social ones offered on a
 * surface, and tenants' enterprise IdPs. Client secrets are sealed under the master key and
 * never shown again. An issuer must be https on a public address, except in non-production
 * environments of a plane run with `BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS` (development, tests).
 */
export class ProvidersService {
  constructor(private readonly c: Core) {}

  async createProvider(ctx: ActionContext, input: z.infer<typeof CreateProviderInput>): Promise<OidcProvider> {
    const { environmentId } = this.c.m.access.environment(ctx, "sso:manage");
    if (input.kind === "social") await this.#ownSurface(environmentId, input.surfaceId as string);
    else await this.c.m.access.require(ctx, "sso:manage", { tenantId: input.tenantId as string });
    await this.#checkIssuer(environmentId, input.issuer);
    await this.#checkRole(ctx, input.defaultRole);
    return this.c.m.db.write(ctx, async (tx) => {
      const now = this.c.m.clock.now();
      const id = newId("oidcProvider", now);
      const row = {
        id,
        environment_id: environmentId,
        kind: input.kind,
        surface_id: input.kind === "social" ? (input.surfaceId as string) : null,
        tenant_id: input.kind === "enterprise" ? (input.tenantId as string) : null,
        name: input.name,
        issuer: input.issuer,
        client_id: input.clientId,
        client_secret: this.c.m.secrets.seal(input.clientSecret, id),
        scopes: toJson(withOpenid(input.scopes)),
        trust_email_verified: this.c.m.db.bool(input.trustEmailVerified),
        jit: this.c.m.db.bool(input.jit),
        default_role: input.defaultRole,
        enabled: this.c.m.db.bool(input.enabled),
        created_at: now,
        updated_at: now,
      };
      await this.c.tables.q(tx).insertInto("oidc_provider").values(row).execute();
      const provider = toProvider(row);
      await this.c.m.facts.record(tx, ctx, {
        type: "oidc_provider.created",
        environmentId,
        tenantId: provider.tenantId,
        targets: [{ type: "oidc_provider", id }],
        data: { kind: provider.kind, name: provider.name, issuer: provider.issuer, surfaceId: provider.surfaceId },
      });
      return provider;
    });
  }

  async listProviders(ctx: ActionContext, query: z.infer<typeof ListProvidersQuery>) {
    const { environmentId } = this.c.m.access.environment(ctx, "sso:read");
    return pageById(
      this.c.tables
        .q()
        .selectFrom("oidc_provider")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .$if(query.surfaceId !== undefined, (qb) => qb.where("surface_id", "=", query.surfaceId as string))
        .$if(query.tenantId !== undefined, (qb) => qb.where("tenant_id", "=", query.tenantId as string)),
      query,
      toProvider,
    );
  }

  async findProviderById(ctx: ActionContext, id: string): Promise<OidcProvider> {
    const { environmentId } = this.c.m.access.environment(ctx, "sso:read");
    return toProvider(await this.#row(environmentId, id));
  }

  /**
   * updateProvider changes a provider. A new issuer ends the provider's links to users: subjects
   * are unique only within one issuer, so a link made under the old one must never match a
   * subject of the new one (users link again by the linking rules).
   */
  async updateProvider(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof UpdateProviderInput>,
  ): Promise<OidcProvider> {
    const { environmentId } = this.c.m.access.environment(ctx, "sso:manage");
    // Another environment's provider answers 404 before any check of the body can answer otherwise.
    await this.#row(environmentId, id);
    if (input.issuer !== undefined) await this.#checkIssuer(environmentId, input.issuer);
    if (input.defaultRole !== undefined) await this.#checkRole(ctx, input.defaultRole);
    return this.c.m.db.write(ctx, async (tx) => {
      const before = await this.#row(environmentId, id, tx, true);
      const now = this.c.m.clock.now();
      const issuerChanged = input.issuer !== undefined && input.issuer !== before.issuer;
      const set = {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.issuer !== undefined ? { issuer: input.issuer } : {}),
        ...(input.clientId !== undefined ? { client_id: input.clientId } : {}),
        ...(input.clientSecret !== undefined ? { client_secret: this.c.m.secrets.seal(input.clientSecret, id) } : {}),
        ...(input.scopes !== undefined ? { scopes: toJson(withOpenid(input.scopes)) } : {}),
        ...(input.trustEmailVerified !== undefined
          ? { trust_email_verified: this.c.m.db.bool(input.trustEmailVerified) }
          : {}),
        ...(input.jit !== undefined ? { jit: this.c.m.db.bool(input.jit) } : {}),
        ...(input.defaultRole !== undefined ? { default_role: input.defaultRole } : {}),
        ...(input.enabled !== undefined ? { enabled: this.c.m.db.bool(input.enabled) } : {}),
        updated_at: now,
      };
      await this.c.tables.q(tx).updateTable("oidc_provider").set(set).where("id", "=", id).execute();
      const after = toProvider({ ...before, ...set });
      const was = toProvider(before);
      const fields = (
        ["name", "issuer", "clientId", "scopes", "trustEmailVerified", "jit", "defaultRole", "enabled"] as const
      ).filter((f) => JSON.stringify(was[f]) !== JSON.stringify(after[f]));
      let linksRemoved = 0;
      if (issuerChanged) {
        const removed = await this.c.tables
          .q(tx)
          .deleteFrom("user_identity")
          .where("environment_id", "=", environmentId)
          .where("provider_id", "=", id)
          .executeTakeFirst();
        linksRemoved = Number(removed.numDeletedRows);
      }
      await this.c.m.facts.record(tx, ctx, {
        type: "oidc_provider.updated",
        environmentId,
        tenantId: after.tenantId,
        targets: [{ type: "oidc_provider", id }],
        data: { secretChanged: input.clientSecret !== undefined, linksRemoved },
        changes: {
          before: Object.fromEntries(fields.map((f) => [f, was[f]])),
          after: Object.fromEntries(fields.map((f) => [f, after[f]])),
        },
      });
      return after;
    });
  }

  /** deleteProvider removes a provider, its links to users and its pending sign-ins. */
  async deleteProvider(ctx: ActionContext, id: string): Promise<OidcProvider> {
    const { environmentId } = this.c.m.access.environment(ctx, "sso:manage");
    return this.c.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx, true);
      const q = this.c.tables.q(tx);
      await q
        .deleteFrom("user_identity")
        .where("environment_id", "=", environmentId)
        .where("provider_id", "=", id)
        .execute();
      await q
        .deleteFrom("oidc_login")
        .where("environment_id", "=", environmentId)
        .where("provider_id", "=", id)
        .execute();
      await q.deleteFrom("oidc_provider").where("id", "=", id).execute();
      const provider = toProvider(row);
      await this.c.m.facts.record(tx, ctx, {
        type: "oidc_provider.deleted",
        environmentId,
        tenantId: provider.tenantId,
        targets: [{ type: "oidc_provider", id }],
        data: { kind: provider.kind, name: provider.name, issuer: provider.issuer },
      });
      return provider;
    });
  }

  /** policyFor answers the issuer policy of an environment (insecure issuers only outside production). */
  async policyFor(environmentId: string): Promise<IssuerPolicy> {
    const insecure =
      this.c.m.config.oidc.allowInsecureIssuers && !(await this.c.tenancy.projects.isProduction(environmentId));
    return { insecure };
  }

  /** clientOf opens a provider row's sealed client secret, for discovery and the code exchange. */
  clientOf(row: Selectable<OidcProviderTable>): ProviderClient {
    return {
      id: row.id,
      updatedAt: row.updated_at,
      issuer: row.issuer,
      clientId: row.client_id,
      clientSecret: this.c.m.secrets.open(row.client_secret, row.id),
    };
  }

  /** row reads a provider of the environment (404 `provider_not_found` for any other). */
  async row(environmentId: string, id: string, tx?: Tx): Promise<Selectable<OidcProviderTable>> {
    return this.#row(environmentId, id, tx);
  }

  async #row(environmentId: string, id: string, tx?: Tx, lock = false) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("oidc_provider")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .$if(lock, (qb) => this.c.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(SsoErrors.provider_not_found, `No OIDC provider ${id}.`);
    return row;
  }

  async #ownSurface(environmentId: string, surfaceId: string): Promise<void> {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface || surface.environmentId !== environmentId) {
      throw new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    }
  }

  async #checkIssuer(environmentId: string, issuer: string): Promise<void> {
    const refusal = issuerRefusal(issuer, await this.policyFor(environmentId));
    if (refusal) {
      throw new AppError(SsoErrors.insecure_issuer, `issuer: the URL ${refusal}.`, {
        errors: [{ path: "body.issuer", message: refusal }],
      });
    }
  }

  /** #checkRole: the default role must exist, and sign-in never makes an owner. */
  async #checkRole(ctx: ActionContext, key: string): Promise<void> {
    if (key === "owner") {
      throw new AppError(SsoErrors.invalid_default_role, "Sign-in never makes a tenant owner; pick another role.");
    }
    try {
      await this.c.access.roles.findRoleByKey(ctx, key);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) {
        throw new AppError(SsoErrors.invalid_default_role, `No role "${key}" in this environment.`);
      }
      throw err;
    }
  }
}

function withOpenid(scopes: readonly string[]): string[] {
  return [...new Set(["openid", ...scopes])];
}
