import { CredentialLookups } from "../../../platform/credential-lookup.js";
import { sha256Hex } from "../../../platform/crypto.js";
import { fromJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import type { Principal } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import type { Core } from "../internal/core.js";

/**
 * CredentialResolution turns secret keys, sessions and operator tokens into principals (through
 * CredentialLookups: cached, one lookup by the token's SHA-256, `lastUsedAt` batched). Sessions and
 * operator sessions also end after `sessions.idleMs` without use.
 */
export class CredentialResolution {
  readonly #lookups: CredentialLookups;

  constructor(private readonly c: Core) {
    this.#lookups = new CredentialLookups(c.cache, c.lastUsed, c.clock);
  }

  resolveSecretKey(token: string): Promise<Principal | null> {
    return this.#lookups.resolve(token, {
      table: "secret_key",
      find: (hash) =>
        this.c.tables
          .q()
          .selectFrom("secret_key")
          .select(["id", "environment_id", "surface_id", "scopes", "expires_at", "revoked_at", "name"])
          .where("token_hash", "=", hash)
          .executeTakeFirst(),
      accept: async (row, now) => {
        if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
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
        return { principal, validUntil: row.expires_at, owners: [row.id, row.surface_id, row.environment_id] };
      },
    });
  }

  resolveSession(token: string): Promise<Principal | null> {
    return this.#resolveSession(token, (hash) => ["session.token_hash", hash]);
  }

  /**
   * resolveSessionById resolves a live session by id (an access token's `sid`), through the same
   * cache and checks as `resolveSession`: a revoked session, a disabled user or an archived surface
   * is refused as soon as the revocation is announced. Throws 401 `session_expired` like it.
   */
  resolveSessionById(sessionId: string): Promise<Principal | null> {
    return this.#resolveSession(`sid:${sessionId}`, () => ["session.id", sessionId]);
  }

  #resolveSession(
    key: string,
    where: (hash: string) => ["session.token_hash" | "session.id", string],
  ): Promise<Principal | null> {
    const idleMs = this.c.config.sessions.idleMs;
    return this.#lookups.resolve(key, {
      table: "session",
      idleMs: () => idleMs,
      find: (hash) => {
        const [column, value] = where(hash);
        return this.c.tables
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
            "session.created_at",
            "session.auth_method",
            "session.aal",
            "session.second_factor_at",
            "user.disabled_at",
            "user.email",
          ])
          .where(column, "=", value)
          .executeTakeFirst();
      },
      accept: async (row, now) => {
        if (row.revoked_at !== null || row.disabled_at !== null) return null;
        // An expired session says so (the client should sign in again); a revoked or unknown one
        // stays the generic 401, so a token's fate is not told to whoever holds a stolen copy.
        const lastUsed = Math.max(row.last_used_at, this.c.lastUsed.latest(row.id) ?? 0);
        if (row.expires_at <= now || lastUsed + idleMs <= now) throw sessionExpired();
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
          expiresAt: row.expires_at,
          auth: {
            method: row.auth_method,
            aal: Number(row.aal),
            authenticatedAt: row.created_at,
            secondFactorAt: row.second_factor_at,
          },
        };
        return {
          principal,
          validUntil: row.expires_at,
          owners: [row.id, row.user_id, row.surface_id, row.environment_id],
        };
      },
    });
  }

  /** sessionEnvironment tells which environment a session token belongs to (null when unknown), for refusals that must not cross environments. */
  async sessionEnvironment(token: string): Promise<string | null> {
    const row = await this.c.tables
      .q()
      .selectFrom("session")
      .select("environment_id")
      .where("token_hash", "=", sha256Hex(token))
      .executeTakeFirst();
    return row?.environment_id ?? null;
  }

  resolveOperatorToken(token: string): Promise<Principal | null> {
    const idleMs = this.c.config.sessions.idleMs;
    return this.#lookups.resolve(token, {
      table: "operator_token",
      // Only operator sessions idle out; API tokens live until they expire.
      idleMs: (cached) => (cached.owners.includes("kind:session") ? idleMs : null),
      find: (hash) =>
        this.c.tables
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
          .executeTakeFirst(),
      accept: async (row, now) => {
        if (row.revoked_at !== null || row.disabled_at !== null) return null;
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
        return { principal, validUntil: row.expires_at, owners: [row.id, row.operator_id, `kind:${row.kind}`] };
      },
    });
  }

  /** flushLastUsed writes the batched `last_used_at` values now (they are also written every few seconds and at shutdown). */
  flushLastUsed(): Promise<void> {
    return this.c.lastUsed.flush();
  }

  /** writeLastUsed is the LastUsedTracker's writer: sessions and operator tokens never move back in time. */
  async writeLastUsed(table: string, rows: Array<{ id: string; at: number }>): Promise<void> {
    await this.c.db.transaction(async (tx) => {
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
    });
  }
}

/** operatorPermissions: admins may do everything; support may read everything and change nothing. */
export function operatorPermissions(role: string): string[] {
  return role === "admin" ? ["*"] : ["*:read"];
}

function sessionExpired(): AppError {
  return new AppError(IdentityErrors.session_expired, "The session expired: sign in again.", {
    headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="session expired"' },
  });
}
