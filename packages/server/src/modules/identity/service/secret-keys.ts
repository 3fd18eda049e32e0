import type { z } from "zod";
import { generateToken, redactToken, sha256Hex } from "../../../platform/crypto.js";
import { type Tx, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import { exceeding } from "../../../platform/permissions.js";
import type { ActionContext, Principal } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { toSecretKey } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { CreateSecretKeyInput, ListQuery, RotateSecretKeyInput, SecretKey } from "../schemas.js";

/** SecretKeysService: environment credentials for a product's backend, issued to a surface (operator API). */
export class SecretKeysService {
  constructor(private readonly c: Core) {}

  async createSecretKey(
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateSecretKeyInput>,
  ): Promise<SecretKey & { token: string }> {
    const operator = this.c.access.operator(ctx, "secret_keys:write");
    if (input.expiresAt !== undefined && input.expiresAt <= this.c.clock.now()) {
      throw new AppError(PlatformErrors.validation_failed, "expiresAt must be in the future.", {
        errors: [{ path: "body.expiresAt", message: "must be in the future" }],
      });
    }
    const surface = await this.c.tenancy.surfaces.findActiveSurface(input.surfaceId);
    if (!surface || surface.environmentId !== environmentId) {
      throw new AppError(TenancyErrors.surface_not_found, `No active surface ${input.surfaceId} in this environment.`);
    }
    const over = exceeding(input.scopes, surface.scopeCeiling);
    if (over.length > 0) {
      throw new AppError(
        IdentityErrors.scope_exceeds_ceiling,
        `Scopes beyond the surface's ceiling: ${over.join(", ")}.`,
      );
    }
    return this.c.db.write(ctx, (tx) =>
      this.#issue(tx, ctx, operator, environmentId, input.surfaceId, input.name, input.scopes, input.expiresAt ?? null),
    );
  }

  async listSecretKeys(ctx: ActionContext, environmentId: string, query: z.infer<typeof ListQuery>) {
    this.c.access.operator(ctx, "secret_keys:read");
    if (!(await this.c.tenancy.projects.environmentExists(environmentId))) {
      throw new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    }
    return pageById(
      this.c.tables.q().selectFrom("secret_key").selectAll().where("environment_id", "=", environmentId),
      query,
      toSecretKey,
    );
  }

  async findSecretKeyById(ctx: ActionContext, id: string): Promise<SecretKey> {
    this.c.access.operator(ctx, "secret_keys:read");
    return toSecretKey(await this.#key(id));
  }

  /** revokeSecretKey ends the key at once, in every process. Revoking twice is a no-op (one fact). */
  async revokeSecretKey(ctx: ActionContext, id: string): Promise<SecretKey> {
    this.c.access.operator(ctx, "secret_keys:write");
    return this.c.db.write(ctx, async (tx) => {
      const key = toSecretKey(await this.#key(id, tx, { lock: true }));
      if (key.revokedAt !== null) return key;
      const now = this.c.clock.now();
      await tx.updateTable("secret_key").set({ revoked_at: now }).where("id", "=", id).execute();
      await this.c.revoked(tx, id);
      await this.c.facts.record(tx, ctx, {
        type: "secret_key.revoked",
        environmentId: key.environmentId,
        targets: [{ type: "secret_key", id }],
      });
      return { ...key, revokedAt: iso(now) };
    });
  }

  /**
   * rotateSecretKey issues a replacement with the same surface and scopes; the old key keeps
   * working for the grace period (both work meanwhile), then expires. A key has at most one
   * successor: rotating a key that was already rotated (or losing a race to another rotation)
   * answers 409 `key_already_rotated`; rotate the successor instead.
   */
  async rotateSecretKey(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof RotateSecretKeyInput>,
  ): Promise<SecretKey & { token: string }> {
    const operator = this.c.access.operator(ctx, "secret_keys:write");
    return this.c.db.write(ctx, async (tx) => {
      // NOTE: the row stays locked until commit, so of racing rotations one issues and the rest see `replaced_by`.
      const oldRow = await this.#key(id, tx, { lock: true });
      const old = toSecretKey(oldRow);
      const now = this.c.clock.now();
      if (oldRow.revoked_at !== null || (oldRow.expires_at !== null && oldRow.expires_at <= now)) {
        throw new AppError(IdentityErrors.key_revoked, "A revoked or expired key cannot be rotated; create a new one.");
      }
      if (old.replacedBy !== null) {
        throw new AppError(
          PlatformErrors.key_already_rotated,
          `The key was already rotated to ${old.replacedBy}; rotate that key instead.`,
        );
      }
      const issued = await this.#issue(
        tx,
        ctx,
        operator,
        old.environmentId,
        old.surfaceId,
        old.name,
        old.scopes,
        oldRow.expires_at,
        "secret_key.rotated",
        id,
      );
      const graceEnd = now + input.gracePeriodSeconds * 1000;
      const oldExpiry = oldRow.expires_at === null ? graceEnd : Math.min(oldRow.expires_at, graceEnd);
      await tx
        .updateTable("secret_key")
        .set({ expires_at: oldExpiry, replaced_by: issued.id })
        .where("id", "=", id)
        .execute();
      await this.c.revoked(tx, id);
      return issued;
    });
  }

  async #issue(
    tx: Tx,
    ctx: ActionContext,
    operator: Principal,
    environmentId: string,
    surfaceId: string,
    name: string,
    scopes: readonly string[],
    expiresAt: number | null,
    factType = "secret_key.created",
    rotatedFrom?: string,
  ): Promise<SecretKey & { token: string }> {
    const now = this.c.clock.now();
    const token = generateToken(TOKEN_PREFIX.secretKey);
    const row = {
      id: newId("secretKey", now),
      environment_id: environmentId,
      surface_id: surfaceId,
      name,
      token_hash: sha256Hex(token),
      display: redactToken(token, TOKEN_PREFIX.secretKey),
      scopes: toJson(scopes),
      created_by: operator.actorId,
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: null,
      replaced_by: null,
    };
    await tx.insertInto("secret_key").values(row).execute();
    await this.c.facts.record(tx, ctx, {
      type: factType,
      environmentId,
      targets: [{ type: "secret_key", id: row.id }, ...(rotatedFrom ? [{ type: "secret_key", id: rotatedFrom }] : [])],
      data: { name, surfaceId, scopes: [...scopes], expiresAt: isoOrNull(expiresAt), display: row.display },
    });
    return { ...toSecretKey(row), token };
  }

  /** #key reads a key; with `lock` (inside a write) its row stays locked until the transaction ends. */
  async #key(id: string, tx?: Tx, options: { lock?: boolean } = {}) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("secret_key")
      .selectAll()
      .where("id", "=", id)
      .$if(options.lock === true, (qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(IdentityErrors.secret_key_not_found, `No secret key ${id}.`);
    return row;
  }
}
