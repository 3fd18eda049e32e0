import { sha256Hex } from "../../../platform/crypto.js";
import { fromJson } from "../../../platform/db/db.js";
import type { Principal } from "../../../platform/principal.js";
import type { Core } from "../internal/core.js";

/**
 * CredentialResolution turns secret keys, sessions and operator tokens into principals. Lookups go
 * by the token's SHA-256 (a unique index), so a missing key costs the same query as a present one;
 * results are cached (see CredentialCache) and `lastUsedAt` is recorded in memory, flushed in batches.
 */
export class CredentialResolution {
  constructor(private readonly c: Core) {}

  async resolveSecretKey(token: string): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.c.clock.now();
    const cached = this.#fromCache(hash, now, "secret_key", false);
    if (cached) return cached;
    const generation = this.c.cache.generation;
    const row = await this.c.tables
      .q()
      .selectFrom("secret_key")
      .select(["id", "environment_id", "surface_id", "scopes", "expires_at", "revoked_at", "name"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
    const surface = await this.c.tenancy.surfaces.findActiveSurface(row.surface_id);
    if (!surface || surface.environmentId !== row.environment_id) return null;
    const principal: Principal = {
      actorType: "service",
      actorId: row.id,
      credentialId: row.id,
      environmentId: row.environment_id,
      surfaceId: row.surface_id,
      permissions: fromJson<string[]>(row.scopes),
      ceiling: surface.scopeCeiling,
      displayName: row.name,
    };
    this.c.cache.set(
      hash,
      {
        value: principal,
        validUntil: row.expires_at ?? Number.MAX_SAFE_INTEGER,
        owners: [row.id, row.surface_id, row.environment_id],
        cachedAt: now,
      },
      generation,
    );
    this.c.lastUsed.touch("secret_key", row.id, now);
    return principal;
  }

  async resolveSession(token: string): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.c.clock.now();
    const idleMs = this.c.config.sessions.idleMs;
    const cached = this.#fromCache(hash, now, "session", true);
    if (cached) return cached;
    const generation = this.c.cache.generation;
    const row = await this.c.tables
      .q()
      .selectFrom("session")
      .innerJoin("user", "user.id", "session.user_id")
      .select([
        "session.id",
        "session.environment_id",
        "session.user_id",
        "session.surface_id",
        "session.last_used_at",
        "session.expires_at",
        "session.revoked_at",
        "user.disabled_at",
        "user.email",
      ])
      .where("session.token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || row.disabled_at !== null || row.expires_at <= now) return null;
    const lastUsed = Math.max(row.last_used_at, this.c.lastUsed.latest(row.id) ?? 0);
    if (lastUsed + idleMs <= now) return null;
    const surface = await this.c.tenancy.surfaces.findActiveSurface(row.surface_id);
    if (!surface || surface.environmentId !== row.environment_id) return null;
    const principal: Principal = {
      actorType: "user",
      actorId: row.user_id,
      credentialId: row.id,
      environmentId: row.environment_id,
      surfaceId: row.surface_id,
      permissions: [],
      ceiling: surface.scopeCeiling,
      displayName: row.email,
    };
    this.c.cache.set(
      hash,
      {
        value: principal,
        validUntil: row.expires_at,
        owners: [row.id, row.user_id, row.surface_id, row.environment_id],
        cachedAt: now,
      },
      generation,
    );
    this.c.lastUsed.touch("session", row.id, now);
    return principal;
  }

  async resolveOperatorToken(token: string): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.c.clock.now();
    const idleMs = this.c.config.sessions.idleMs;
    const cached = this.#fromCache(hash, now, "operator_token", "kind:session");
    if (cached) return cached;
    const generation = this.c.cache.generation;
    const row = await this.c.tables
      .q()
      .selectFrom("operator_token")
      .innerJoin("operator", "operator.id", "operator_token.operator_id")
      .select([
        "operator_token.id",
        "operator_token.kind",
        "operator_token.operator_id",
        "operator_token.last_used_at",
        "operator_token.expires_at",
        "operator_token.revoked_at",
        "operator.role",
        "operator.email",
        "operator.disabled_at",
      ])
      .where("operator_token.token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || row.disabled_at !== null) return null;
    if (row.expires_at !== null && row.expires_at <= now) return null;
    const lastUsed = Math.max(row.last_used_at, this.c.lastUsed.latest(row.id) ?? 0);
    if (row.kind === "session" && lastUsed + idleMs <= now) return null;
    const principal: Principal = {
      actorType: "operator",
      actorId: row.operator_id,
      credentialId: row.id,
      permissions: operatorPermissions(row.role),
      displayName: row.email,
    };
    this.c.cache.set(
      hash,
      {
        value: principal,
        validUntil: row.expires_at ?? Number.MAX_SAFE_INTEGER,
        owners: [row.id, row.operator_id, `kind:${row.kind}`],
        cachedAt: now,
      },
      generation,
    );
    this.c.lastUsed.touch("operator_token", row.id, now);
    return principal;
  }

  /**
   * #fromCache serves a cached principal, recording the use. `idle` says whether the credential
   * has an idle timeout (true, or only for entries owned by the given marker); an idle-expired
   * entry is evicted and the caller falls through to the database, which refuses it.
   */
  #fromCache(hash: string, now: number, table: string, idle: boolean | string): Principal | null {
    const cached = this.c.cache.get(hash, now);
    if (!cached) return null;
    const id = cached.value.credentialId;
    const idles = idle === true || (typeof idle === "string" && cached.owners.includes(idle));
    if (idles && (this.c.lastUsed.latest(id) ?? cached.cachedAt) + this.c.config.sessions.idleMs <= now) {
      this.c.cache.evictOwner(id);
      return null;
    }
    this.c.lastUsed.touch(table, id, now);
    return cached.value;
  }

  /** flushLastUsed writes the batched `last_used_at` values (every few seconds and at shutdown). */
  async flushLastUsed(): Promise<void> {
    await this.c.lastUsed.drain((table, rows) =>
      this.c.db.transaction(async (tx) => {
        const q = this.c.tables.q(tx);
        for (const { id, at } of rows) {
          if (table === "secret_key") {
            await q.updateTable("secret_key").set({ last_used_at: at }).where("id", "=", id).execute();
          } else if (table === "session") {
            await q
              .updateTable("session")
              .set({ last_used_at: at })
              .where("id", "=", id)
              .where("last_used_at", "<", at)
              .execute();
          } else if (table === "operator_token") {
            await q
              .updateTable("operator_token")
              .set({ last_used_at: at })
              .where("id", "=", id)
              .where("last_used_at", "<", at)
              .execute();
          }
        }
      }),
    );
  }
}

/** operatorPermissions: admins may do everything; support may read everything and change nothing. */
export function operatorPermissions(role: string): string[] {
  return role === "admin" ? ["*"] : ["*:read"];
}
