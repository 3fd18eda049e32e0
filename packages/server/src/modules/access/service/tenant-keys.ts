import type { z } from "zod";
import { generateToken, redactToken, sha256Hex } from "../../../platform/crypto.js";
import { type Tx, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import { exceeding } from "../../../platform/permissions.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AccessErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { voidInvitationsIssuedBy } from "../internal/issued.js";
import { isActive, toTenantKey } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { CreateTenantKeyInput, ListQuery, RotateKeyInput, TenantKey } from "../schemas.js";
import type { GrantsService } from "./grants.js";

/**
 * TenantKeysService: keys a tenant issues for its own integrations (a partner API). They belong
 * to the tenant, not to their creator (who is recorded), so they survive the creator leaving;
 * their permissions stay within the creator's at creation. Shown once, stored as SHA-256.
 * Only a person (a user's session) or the product's backend (a secret key) issues or rotates
 * one: a key never mints a key, so revoking a key (or ending an agent's delegation) never leaves
 * a credential behind that it made (docs/security.md, "Delegation never outlives its delegator").
 */
export class TenantKeysService {
  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
  ) {}

  async createTenantKey(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof CreateTenantKeyInput>,
  ): Promise<TenantKey & { token: string }> {
    const access = await this.c.m.access.require(ctx, "keys:create", { tenantId });
    refuseKeyCaller(access.principal.actorType);
    await this.c.m.access.stepUp(ctx);
    if (input.expiresAt !== undefined && input.expiresAt <= this.c.m.clock.now()) {
      throw new AppError(PlatformErrors.validation_failed, "expiresAt must be in the future.", {
        errors: [{ path: "body.expiresAt", message: "must be in the future" }],
      });
    }
    const permissions = [...new Set(input.permissions)].sort();
    await this.grants.requireWithin(access, permissions, "This key");
    const surfaceId = await this.#surfaceFor(access.environmentId, access.principal.surfaceId, input, permissions);
    return this.c.m.db.write(ctx, async (tx) => {
      const { limits } = await this.grants.lockForWrite(tx, access, "keys:create");
      await this.grants.requireWithin(access, permissions, "This key", limits);
      return this.#issue(tx, ctx, {
        environmentId: access.environmentId,
        tenantId,
        surfaceId,
        name: input.name,
        permissions,
        expiresAt: input.expiresAt ?? null,
      });
    });
  }

  async listTenantKeys(ctx: ActionContext, tenantId: string, query: z.infer<typeof ListQuery>) {
    const { environmentId } = await this.c.m.access.require(ctx, "keys:read", { tenantId });
    return pageById(
      this.c.tables
        .q()
        .selectFrom("tenant_key")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId),
      query,
      toTenantKey,
    );
  }

  async findTenantKeyById(ctx: ActionContext, tenantId: string, id: string): Promise<TenantKey> {
    const { environmentId } = await this.c.m.access.require(ctx, "keys:read", { tenantId });
    return toTenantKey(await this.#row(environmentId, tenantId, id));
  }

  /** revokeTenantKey ends the key at once, in every process. Revoking twice is a no-op. */
  async revokeTenantKey(ctx: ActionContext, tenantId: string, id: string): Promise<TenantKey> {
    const access = await this.c.m.access.require(ctx, "keys:revoke", { tenantId });
    const { environmentId } = access;
    return this.c.m.db.write(ctx, async (tx) => {
      await this.grants.lockForWrite(tx, access, "keys:revoke", { tenantKeyIds: [id] });
      const key = toTenantKey(await this.#row(environmentId, tenantId, id, tx));
      if (key.revokedAt !== null) return key;
      const now = this.c.m.clock.now();
      await this.c.tables
        .q(tx)
        .updateTable("tenant_key")
        .set({ revoked_at: now })
        .where("id", "=", id)
        .where("revoked_at", "is", null)
        .execute();
      voidInvitationsIssuedBy(this.c, tx, ctx, environmentId, [id], now);
      await this.c.changed(tx, id);
      await this.c.m.facts.record(tx, ctx, {
        type: "tenant_key.revoked",
        tenantId,
        targets: [{ type: "tenant_key", id }],
        data: { name: key.name },
      });
      return { ...key, revokedAt: iso(now) };
    });
  }

  /**
   * rotateTenantKey issues a replacement with the same name, surface and permissions; the old key
   * keeps working for the grace period, then stops. Rotation needs `keys:create` and `keys:revoke`,
   * and the permissions must still be within the caller's. A key has at most one successor: the
   * old key's row is locked and its `replaced_by` checked in the write, so of concurrent rotations
   * one answers 201 and the others 409 `key_already_rotated` (on every engine and process).
   */
  async rotateTenantKey(
    ctx: ActionContext,
    tenantId: string,
    id: string,
    input: z.infer<typeof RotateKeyInput>,
  ): Promise<TenantKey & { token: string }> {
    const access = await this.c.m.access.require(ctx, "keys:create", { tenantId });
    await this.c.m.access.require(ctx, "keys:revoke", { tenantId });
    refuseKeyCaller(access.principal.actorType);
    await this.c.m.access.stepUp(ctx);
    return this.c.m.db.write(ctx, async (tx) => {
      const { limits } = await this.grants.lockForWrite(tx, access, "keys:create", { tenantKeyIds: [id] });
      const old = await this.#row(access.environmentId, tenantId, id, tx);
      const now = this.c.m.clock.now();
      if (old.replaced_by !== null) {
        throw new AppError(
          PlatformErrors.key_already_rotated,
          `The key was already rotated to ${old.replaced_by}; rotate that key instead.`,
        );
      }
      if (!isActive(old, now)) {
        throw new AppError(AccessErrors.key_inactive, "A revoked or expired key cannot be rotated; create a new one.");
      }
      const current = toTenantKey(old);
      await this.grants.requireWithin(access, current.permissions, "The rotated key", limits);
      const graceEnd = now + input.gracePeriodSeconds * 1000;
      // An old key that stops now takes its pending invitations with it (one with a grace period
      // stops vouching for them when it expires).
      if (graceEnd <= now) voidInvitationsIssuedBy(this.c, tx, ctx, access.environmentId, [id], now);
      const issued = await this.#issue(
        tx,
        ctx,
        {
          environmentId: access.environmentId,
          tenantId,
          surfaceId: current.surfaceId,
          name: current.name,
          permissions: current.permissions,
          expiresAt: old.expires_at,
        },
        id,
      );
      const replaced = await this.c.tables
        .q(tx)
        .updateTable("tenant_key")
        .set({
          expires_at: old.expires_at === null ? graceEnd : Math.min(old.expires_at, graceEnd),
          replaced_by: issued.id,
        })
        .where("id", "=", id)
        .where("replaced_by", "is", null)
        .executeTakeFirst();
      // The lock above makes this hold; the row count keeps it true on an engine without one.
      if (Number(replaced.numUpdatedRows) !== 1) {
        throw new AppError(PlatformErrors.key_already_rotated, "The key was rotated by another request.");
      }
      await this.c.changed(tx, id);
      return issued;
    });
  }

  async #issue(
    tx: Tx,
    ctx: ActionContext,
    k: {
      environmentId: string;
      tenantId: string;
      surfaceId: string;
      name: string;
      permissions: string[];
      expiresAt: number | null;
    },
    rotatedFrom?: string,
  ): Promise<TenantKey & { token: string }> {
    const now = this.c.m.clock.now();
    const token = generateToken(TOKEN_PREFIX.tenantKey);
    const principal = ctx.principal;
    const row = {
      id: newId("tenantKey", now),
      environment_id: k.environmentId,
      tenant_id: k.tenantId,
      surface_id: k.surfaceId,
      name: k.name,
      token_hash: sha256Hex(token),
      display: redactToken(token, TOKEN_PREFIX.tenantKey),
      permissions: toJson(k.permissions),
      created_by: principal?.actorId ?? "system",
      created_by_type: principal?.actorType ?? "system",
      created_at: now,
      expires_at: k.expiresAt,
      revoked_at: null,
      last_used_at: null,
      replaced_by: null,
    };
    await this.c.tables.q(tx).insertInto("tenant_key").values(row).execute();
    await this.c.m.facts.record(tx, ctx, {
      type: rotatedFrom ? "tenant_key.rotated" : "tenant_key.created",
      tenantId: k.tenantId,
      targets: [{ type: "tenant_key", id: row.id }, ...(rotatedFrom ? [{ type: "tenant_key", id: rotatedFrom }] : [])],
      data: { name: k.name, permissions: k.permissions, expiresAt: isoOrNull(k.expiresAt), display: row.display },
    });
    return { ...toTenantKey(row), token };
  }

  /**
   * #surfaceFor picks the surface a new key calls through: the one named (an active surface of the
   * environment, else 404 `surface_not_found`; its ceiling must hold every permission, else 422
   * `scope_exceeds_ceiling`), or by default the surface of the creator's own credential.
   */
  async #surfaceFor(
    environmentId: string,
    creatorSurfaceId: string | undefined,
    input: z.infer<typeof CreateTenantKeyInput>,
    permissions: string[],
  ): Promise<string> {
    if (input.surfaceId === undefined) {
      if (!creatorSurfaceId) {
        // Operators act through no surface of their own: they name the one the key calls through.
        const message = "is required: this credential has no surface of its own for the key to call through";
        throw new AppError(PlatformErrors.validation_failed, `surfaceId: ${message}`, {
          errors: [{ path: "body.surfaceId", message, code: "invalid_type" }],
        });
      }
      return creatorSurfaceId;
    }
    const surface = await this.c.tenancy.surfaces.findActiveSurface(input.surfaceId);
    if (!surface || surface.environmentId !== environmentId) {
      throw new AppError(TenancyErrors.surface_not_found, `No active surface ${input.surfaceId} in this environment.`);
    }
    const over = exceeding(permissions, surface.scopeCeiling);
    if (over.length > 0) {
      throw new AppError(
        IdentityErrors.scope_exceeds_ceiling,
        `Permissions beyond the surface's ceiling: ${over.join(", ")}.`,
      );
    }
    return surface.id;
  }

  async #row(environmentId: string, tenantId: string, id: string, tx?: Tx) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("tenant_key")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(AccessErrors.tenant_key_not_found, `No tenant key ${id} in this tenant.`);
    return row;
  }
}

/**
 * refuseKeyCaller throws 403 `key_cannot_issue` for tenant keys and agent keys: a key that minted
 * a key would leave a credential alive after its own revocation (or its user's removal).
 */
function refuseKeyCaller(actorType: string): void {
  if (actorType === "tenant_key" || actorType === "agent") {
    throw new AppError(
      AccessErrors.key_cannot_issue,
      "Tenant keys are issued and rotated by a user or a secret key, never by another key.",
    );
  }
}
