import { OwnedCache } from "../../../platform/cache.js";
import { CredentialLookups } from "../../../platform/credential-lookup.js";
import { fromJson } from "../../../platform/db/db.js";
import { LastUsedTracker } from "../../../platform/last-used.js";
import { intersectPermissions } from "../../../platform/permissions.js";
import type { Principal } from "../../../platform/principal.js";
import { ACCESS_TOPIC, type Core, rolesOwner } from "../internal/core.js";
import { isActive } from "../internal/rows.js";
import type { GrantsService } from "./grants.js";

/**
 * KeyResolution turns tenant keys and agent keys into principals (through CredentialLookups: cached,
 * one lookup by the token's SHA-256, `lastUsedAt` batched). Both are bound to one tenant
 * (`tenantId`), so the access check confines them to it whatever their permissions. An agent's
 * permissions are recomputed from the delegating user's current membership: the cached principal
 * is evicted (in every process) when the key, the user, the membership, a role or the surface
 * changes.
 */
export class KeyResolution {
  /** lastUsed batches the keys' `last_used_at` (started and stopped with the module). */
  readonly lastUsed: LastUsedTracker;
  readonly #lookups: CredentialLookups;

  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
  ) {
    this.lastUsed = new LastUsedTracker(
      (table, rows) => this.#writeLastUsed(table, rows),
      (err) => c.m.logger.warn({ err }, "could not record lastUsedAt"),
    );
    const cache = new OwnedCache<Principal>(c.m.bus, [ACCESS_TOPIC, "credentials"]);
    this.#lookups = new CredentialLookups(cache, this.lastUsed, c.m.clock);
  }

  resolveTenantKey(token: string): Promise<Principal | null> {
    return this.#lookups.resolve(token, {
      table: "tenant_key",
      find: (hash) =>
        this.c.tables
          .q()
          .selectFrom("tenant_key")
          .select([
            "id",
            "environment_id",
            "tenant_id",
            "surface_id",
            "name",
            "permissions",
            "expires_at",
            "revoked_at",
            "created_by_type",
          ])
          .where("token_hash", "=", hash)
          .executeTakeFirst(),
      accept: async (row, now) => {
        if (!isActive(row, now)) return null;
        // Keys never mint keys (see TenantKeysService); one minted by a key before that rule is refused.
        if (row.created_by_type === "agent" || row.created_by_type === "tenant_key") return null;
        const surface = await this.c.tenancy.surfaces.findActiveSurface(row.surface_id);
        if (!surface || surface.environmentId !== row.environment_id) return null;
        const principal: Principal = {
          actorType: "tenant_key",
          actorId: row.id,
          credentialId: row.id,
          environmentId: row.environment_id,
          surfaceId: row.surface_id,
          tenantId: row.tenant_id,
          permissions: fromJson<string[]>(row.permissions),
          ceiling: surface.scopeCeiling,
          displayName: row.name,
          expiresAt: row.expires_at,
        };
        return {
          principal,
          validUntil: row.expires_at,
          owners: [row.id, row.tenant_id, row.surface_id, row.environment_id],
        };
      },
    });
  }

  resolveAgentKey(token: string): Promise<Principal | null> {
    return this.#lookups.resolve(token, {
      table: "agent_key",
      find: (hash) =>
        this.c.tables
          .q()
          .selectFrom("agent_key")
          .select([
            "id",
            "environment_id",
            "tenant_id",
            "user_id",
            "surface_id",
            "name",
            "model",
            "scopes",
            "expires_at",
            "revoked_at",
            "created_at",
          ])
          .where("token_hash", "=", hash)
          .executeTakeFirst(),
      accept: async (row, now) => {
        if (!isActive(row, now)) return null;
        const user = await this.c.identity.users.lookupUser(row.environment_id, { id: row.user_id });
        if (!user || user.disabled) return null;
        // A key issued before the current membership began belongs to an earlier one: re-adding a
        // user never brings back a key (removal revokes them; this also covers any key that escaped).
        const held = await this.grants.held(row.environment_id, row.user_id, row.tenant_id);
        if (!held || row.created_at < held.since) return null;
        const surface = await this.c.tenancy.surfaces.findActiveSurface(row.surface_id);
        if (!surface || surface.environmentId !== row.environment_id) return null;
        const principal: Principal = {
          actorType: "agent",
          actorId: row.id,
          credentialId: row.id,
          environmentId: row.environment_id,
          surfaceId: row.surface_id,
          tenantId: row.tenant_id,
          permissions: intersectPermissions(fromJson<string[]>(row.scopes), held.permissions.patterns),
          ceiling: surface.scopeCeiling,
          displayName: row.name,
          expiresAt: row.expires_at,
          ...(row.model ? { model: row.model } : {}),
          onBehalfOf: { actorType: "user", actorId: row.user_id },
        };
        return {
          principal,
          validUntil: row.expires_at,
          owners: [
            row.id,
            row.user_id,
            row.tenant_id,
            row.surface_id,
            row.environment_id,
            rolesOwner(row.environment_id),
          ],
        };
      },
    });
  }

  /** flushLastUsed writes the batched `last_used_at` values now (they are also written every few seconds and at shutdown). */
  flushLastUsed(): Promise<void> {
    return this.lastUsed.flush();
  }

  async #writeLastUsed(table: string, rows: Array<{ id: string; at: number }>): Promise<void> {
    await this.c.m.db.transaction(async (tx) => {
      for (const { id, at } of rows) {
        await this.c.tables
          .q(tx)
          .updateTable(table as "tenant_key" | "agent_key")
          .set({ last_used_at: at })
          .where("id", "=", id)
          .execute();
      }
    });
  }
}
