import type { z } from "zod";
import type { TenantAccess } from "../../../platform/access.js";
import { generateToken, redactToken, sha256Hex } from "../../../platform/crypto.js";
import { type Tx, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../../identity/index.js";
import { AccessErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { voidInvitationsIssuedBy } from "../internal/issued.js";
import { toAgentKey } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { AgentKey, CreateAgentKeyInput, ListQuery } from "../schemas.js";
import type { GrantsService } from "./grants.js";

/**
 * AgentKeysService: a user delegates to an AI agent or tool. The key carries a scope; what it
 * may do is re-evaluated on every request as scope ∩ the user's current permissions in the
 * tenant ∩ the surface's ceiling, so demoting the user shrinks the agent at once. The key dies
 * when the user leaves the tenant or is disabled, or when it is revoked. Users see and revoke
 * their own agent keys; secret keys and tenant keys with `agents:*` manage every one of the tenant.
 */
export class AgentKeysService {
  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
  ) {}

  async createAgentKey(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof CreateAgentKeyInput>,
  ): Promise<AgentKey & { token: string }> {
    const access = await this.c.m.access.require(ctx, "agents:create", { tenantId });
    await this.c.m.access.stepUp(ctx);
    const p = access.principal;
    let userId: string;
    if (p.actorType === "user") {
      if (input.userId !== undefined && input.userId !== p.actorId) {
        throw new AppError(PlatformErrors.forbidden, "A user delegates for themselves only.");
      }
      userId = p.actorId;
    } else if (p.actorType === "service") {
      if (input.userId === undefined) {
        throw new AppError(PlatformErrors.validation_failed, "Name the delegating user.", {
          errors: [{ path: "body.userId", message: "required for secret keys" }],
        });
      }
      userId = input.userId;
    } else {
      throw new AppError(
        PlatformErrors.forbidden,
        "Only a user (or the product's backend for a user) delegates to an agent.",
      );
    }
    if (input.expiresAt !== undefined && input.expiresAt <= this.c.m.clock.now()) {
      throw new AppError(PlatformErrors.validation_failed, "expiresAt must be in the future.", {
        errors: [{ path: "body.expiresAt", message: "must be in the future" }],
      });
    }
    const surfaceId = p.surfaceId;
    if (!surfaceId) throw new AppError(PlatformErrors.forbidden, "Agent keys are issued through a surface credential.");
    const scopes = [...new Set(input.scopes)].sort();
    return this.c.m.db.write(ctx, async (tx) => {
      // The delegating user's membership is locked before the key exists: a removal that commits
      // first leaves no membership to find; one that comes later waits and revokes this key.
      const { memberships } = await this.grants.lockForWrite(tx, access, "agents:create", { userIds: [userId] });
      // Read after the lock: disabling a user locks its memberships before revoking its keys.
      const user = await this.c.identity.users.lookupUser(access.environmentId, { id: userId }, tx);
      if (!user) throw new AppError(IdentityErrors.user_not_found, `No user ${userId} in this environment.`);
      if (user.disabled) throw new AppError(IdentityErrors.user_disabled, "A disabled user cannot delegate.");
      if (!memberships.some((m) => m.user_id === userId)) {
        throw new AppError(AccessErrors.membership_not_found, "The user is not a member of this tenant.");
      }
      const now = this.c.m.clock.now();
      const token = generateToken(TOKEN_PREFIX.agentKey);
      const row = {
        id: newId("agentKey", now),
        environment_id: access.environmentId,
        tenant_id: tenantId,
        user_id: userId,
        surface_id: surfaceId,
        name: input.name,
        model: input.model ?? null,
        token_hash: sha256Hex(token),
        display: redactToken(token, TOKEN_PREFIX.agentKey),
        scopes: toJson(scopes),
        created_at: now,
        expires_at: input.expiresAt ?? null,
        revoked_at: null,
        last_used_at: null,
      };
      await this.c.tables.q(tx).insertInto("agent_key").values(row).execute();
      await this.c.m.facts.record(tx, ctx, {
        type: "agent_key.created",
        tenantId,
        targets: [
          { type: "agent_key", id: row.id },
          { type: "user", id: userId },
        ],
        data: {
          name: row.name,
          model: row.model,
          scopes,
          expiresAt: isoOrNull(row.expires_at),
          display: row.display,
          userId,
        },
      });
      return { ...toAgentKey(row), token };
    });
  }

  async listAgentKeys(ctx: ActionContext, tenantId: string, query: z.infer<typeof ListQuery>) {
    const access = await this.c.m.access.require(ctx, "agents:read", { tenantId });
    const own = this.#ownOnly(access);
    return pageById(
      this.c.tables
        .q()
        .selectFrom("agent_key")
        .selectAll()
        .where("environment_id", "=", access.environmentId)
        .where("tenant_id", "=", tenantId)
        .$if(own !== null, (qb) => qb.where("user_id", "=", own as string)),
      query,
      toAgentKey,
    );
  }

  async findAgentKeyById(ctx: ActionContext, tenantId: string, id: string): Promise<AgentKey> {
    const access = await this.c.m.access.require(ctx, "agents:read", { tenantId });
    return toAgentKey(await this.#row(access, id));
  }

  /** revokeAgentKey ends the delegation at once, in every process. Revoking twice is a no-op. */
  async revokeAgentKey(ctx: ActionContext, tenantId: string, id: string): Promise<AgentKey> {
    const access = await this.c.m.access.require(ctx, "agents:revoke", { tenantId });
    return this.c.m.db.write(ctx, async (tx) => {
      await this.grants.lockForWrite(tx, access, "agents:revoke", { agentKeyIds: [id] });
      const key = toAgentKey(await this.#row(access, id, tx));
      if (key.revokedAt !== null) return key;
      const now = this.c.m.clock.now();
      await this.c.tables
        .q(tx)
        .updateTable("agent_key")
        .set({ revoked_at: now })
        .where("id", "=", id)
        .where("revoked_at", "is", null)
        .execute();
      voidInvitationsIssuedBy(this.c, tx, ctx, access.environmentId, [id], now);
      await this.c.changed(tx, id);
      await this.c.m.facts.record(tx, ctx, {
        type: "agent_key.revoked",
        tenantId,
        targets: [
          { type: "agent_key", id },
          { type: "user", id: key.userId },
        ],
        data: { name: key.name },
      });
      return { ...key, revokedAt: iso(now) };
    });
  }

  /** #ownOnly: users and their agents see only the user's own agent keys. */
  #ownOnly(access: TenantAccess): string | null {
    const p = access.principal;
    if (p.actorType === "user") return p.actorId;
    if (p.actorType === "agent") return p.onBehalfOf?.actorId ?? p.actorId;
    return null;
  }

  async #row(access: TenantAccess, id: string, tx?: Tx) {
    const own = this.#ownOnly(access);
    const row = await this.c.tables
      .q(tx)
      .selectFrom("agent_key")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .where("tenant_id", "=", access.tenantId as string)
      .where("id", "=", id)
      .$if(own !== null, (qb) => qb.where("user_id", "=", own as string))
      .executeTakeFirst();
    if (!row) throw new AppError(AccessErrors.agent_key_not_found, `No agent key ${id} in this tenant.`);
    return row;
  }
}
