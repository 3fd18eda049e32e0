import { OwnedCache } from "../../../platform/cache.js";
import { sha256Hex } from "../../../platform/crypto.js";
import { fromJson } from "../../../platform/db/db.js";
import { LastUsedTracker } from "../../../platform/last-used.js";
import { intersectPermissions } from "../../../platform/permissions.js";
import type { Principal } from "../../../platform/principal.js";
import { ACCESS_TOPIC, type Core, rolesOwner } from "../internal/core.js";
import { isActive } from "../internal/rows.js";
import type { GrantsService } from "./grants.js";

/**
 * KeyResolution turns tenant keys and agent keys into principals. Both are bound to one tenant
 * (`tenantId`), so the access check confines them to it whatever their permissions. An agent's
 * permissions are recomputed from the delegating user's current membership: the cached principal
 * is evicted (in every process) when the key, the user, the membership, a role or the surface
 * changes. Unused lookups cost one indexed query by the token's SHA-256.
 */
export class KeyResolution {
  readonly #cache: OwnedCache<Principal>;
  readonly #lastUsed = new LastUsedTracker();

  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
  ) {
    this.#cache = new OwnedCache(c.m.bus, [ACCESS_TOPIC, "credentials"]);
  }

  async resolveTenantKey(token: string): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.c.m.clock.now();
    const hit = this.#cache.get(hash, now);
    if (hit) return this.#used("tenant_key", hit.value, now);
    const generation = this.#cache.generation;
    const row = await this.c.tables
      .q()
      .selectFrom("tenant_key")
      .select(["id", "environment_id", "tenant_id", "surface_id", "name", "permissions", "expires_at", "revoked_at"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || !isActive(row, now)) return null;
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
    };
    this.#cache.set(
      hash,
      {
        value: principal,
        validUntil: row.expires_at ?? Number.MAX_SAFE_INTEGER,
        owners: [row.id, row.tenant_id, row.surface_id, row.environment_id],
        cachedAt: now,
      },
      generation,
    );
    return this.#used("tenant_key", principal, now);
  }

  async resolveAgentKey(token: string): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.c.m.clock.now();
    const hit = this.#cache.get(hash, now);
    if (hit) return this.#used("agent_key", hit.value, now);
    const generation = this.#cache.generation;
    const row = await this.c.tables
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
      ])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || !isActive(row, now)) return null;
    const user = await this.c.identity.users.lookupUser(row.environment_id, { id: row.user_id });
    if (!user || user.disabled) return null;
    const held = await this.grants.memberPermissions(row.environment_id, row.user_id, row.tenant_id);
    if (!held) return null;
    const surface = await this.c.tenancy.surfaces.findActiveSurface(row.surface_id);
    if (!surface || surface.environmentId !== row.environment_id) return null;
    const principal: Principal = {
      actorType: "agent",
      actorId: row.id,
      credentialId: row.id,
      environmentId: row.environment_id,
      surfaceId: row.surface_id,
      tenantId: row.tenant_id,
      permissions: intersectPermissions(fromJson<string[]>(row.scopes), held.patterns),
      ceiling: surface.scopeCeiling,
      displayName: row.name,
      ...(row.model ? { model: row.model } : {}),
      onBehalfOf: { actorType: "user", actorId: row.user_id },
    };
    this.#cache.set(
      hash,
      {
        value: principal,
        validUntil: row.expires_at ?? Number.MAX_SAFE_INTEGER,
        owners: [
          row.id,
          row.user_id,
          row.tenant_id,
          row.surface_id,
          row.environment_id,
          rolesOwner(row.environment_id),
        ],
        cachedAt: now,
      },
      generation,
    );
    return this.#used("agent_key", principal, now);
  }

  #used(table: "tenant_key" | "agent_key", principal: Principal, now: number): Principal {
    this.#lastUsed.touch(table, principal.credentialId, now);
    return principal;
  }

  /** flushLastUsed writes the batched `last_used_at` values (every few seconds and at shutdown). */
  async flushLastUsed(): Promise<void> {
    await this.#lastUsed.drain((table, rows) =>
      this.c.m.db.transaction(async (tx) => {
        for (const { id, at } of rows) {
          await this.c.tables
            .q(tx)
            .updateTable(table as "tenant_key" | "agent_key")
            .set({ last_used_at: at })
            .where("id", "=", id)
            .execute();
        }
      }),
    );
  }
}
