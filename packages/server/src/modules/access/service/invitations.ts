import type { z } from "zod";
import { generateToken, parseToken, sha256Hex } from "../../../platform/crypto.js";
import { fromJson, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../../identity/index.js";
import { AccessErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { isActive, toInvitation } from "../internal/rows.js";
import { TOKEN_PREFIX } from "../internal/tokens.js";
import type { AcceptInvitationInput, CreateInvitationInput, Invitation, ListQuery, Membership } from "../schemas.js";
import type { GrantsService } from "./grants.js";
import type { MembershipsService } from "./memberships.js";

/**
 * InvitationsService: a tenant invites by email with a single-use token (shown once, stored
 * hashed, expiring). Accepting joins an existing user of the environment or creates one;
 * re-inviting an email replaces its pending invitation.
 */
export class InvitationsService {
  constructor(
    private readonly c: Core,
    private readonly grants: GrantsService,
    private readonly memberships: MembershipsService,
  ) {}

  async createInvitation(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof CreateInvitationInput>,
  ): Promise<Invitation & { token: string; emailed: boolean }> {
    const access = await this.c.m.access.require(ctx, "members:invite", { tenantId });
    const roles = [...new Set(input.roles)];
    await this.grants.requireRolesWithin(access, roles);
    const email = input.email.trim().toLowerCase();
    // Read before the write: what the accept-link mail needs (the surface and the tenant's name).
    const surfaceId = access.principal.surfaceId ?? null;
    const surface = surfaceId ? await this.c.tenancy.surfaces.findActiveSurface(surfaceId) : null;
    const tenant = surface ? await this.c.tenancy.tenants.findTenantAnywhere(tenantId) : null;
    return this.c.m.db.write(ctx, async (tx) => {
      const { limits } = await this.grants.lockForWrite(tx, access, "members:invite");
      await this.grants.requireRolesWithin(access, roles, tx, limits);
      const now = this.c.m.clock.now();
      const replaced = await this.c.tables
        .q(tx)
        .updateTable("invitation")
        .set({ revoked_at: now })
        .where("environment_id", "=", access.environmentId)
        .where("tenant_id", "=", tenantId)
        .where("email_normalized", "=", email)
        .where("accepted_at", "is", null)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      const token = generateToken(TOKEN_PREFIX.invitation);
      const row = {
        id: newId("invitation", now),
        environment_id: access.environmentId,
        tenant_id: tenantId,
        email: input.email.trim(),
        email_normalized: email,
        roles: toJson(roles),
        token_hash: sha256Hex(token),
        surface_id: access.principal.surfaceId ?? null,
        invited_by: access.principal.actorId,
        created_at: now,
        expires_at: now + input.expiresInSeconds * 1000,
        accepted_at: null,
        accepted_by: null,
        revoked_at: null,
      };
      await this.c.tables.q(tx).insertInto("invitation").values(row).execute();
      await this.c.m.facts.record(tx, ctx, {
        type: "invitation.created",
        tenantId,
        targets: [{ type: "invitation", id: row.id }, ...replaced.map((r) => ({ type: "invitation", id: r.id }))],
        data: { email: row.email, roles, expiresAt: iso(row.expires_at), replaced: replaced.map((r) => r.id) },
      });
      // The accept link goes out with the invitation (same transaction) when the surface can mail links.
      const emailed =
        surface !== null &&
        tenant !== null &&
        (await this.c.identity.mail.queueInvitation(tx, {
          surface,
          email: row.email,
          token,
          tenantName: tenant.name,
          expiresAt: row.expires_at,
        }));
      return { ...toInvitation(row, now), token, emailed };
    });
  }

  /** listInvitations lists a tenant's pending invitations (not accepted, revoked or expired). */
  async listInvitations(ctx: ActionContext, tenantId: string, query: z.infer<typeof ListQuery>) {
    const { environmentId } = await this.c.m.access.require(ctx, "members:read", { tenantId });
    const now = this.c.m.clock.now();
    return pageById(
      this.c.tables
        .q()
        .selectFrom("invitation")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .where("accepted_at", "is", null)
        .where("revoked_at", "is", null)
        .where("expires_at", ">", now),
      query,
      (r) => toInvitation(r, now),
    );
  }

  /** revokeInvitation voids a pending invitation; revoking twice is a no-op. */
  async revokeInvitation(ctx: ActionContext, tenantId: string, id: string): Promise<Invitation> {
    const access = await this.c.m.access.require(ctx, "members:invite", { tenantId });
    const { environmentId } = access;
    const read = (tx?: Tx) =>
      this.c.tables
        .q(tx)
        .selectFrom("invitation")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .executeTakeFirst();
    try {
      return await this.c.m.db.write(ctx, async (tx) => {
        await this.grants.lockForWrite(tx, access, "members:invite");
        const row = await read(tx);
        if (!row) throw new AppError(AccessErrors.invitation_not_found, `No invitation ${id} in this tenant.`);
        const now = this.c.m.clock.now();
        if (row.accepted_at !== null || row.revoked_at !== null) return toInvitation(row, now);
        // The fact first, then the row (the order acceptance takes them in: see internal/issued.ts).
        await this.c.m.facts.record(tx, ctx, {
          type: "invitation.revoked",
          tenantId,
          targets: [{ type: "invitation", id }],
          data: { email: row.email },
        });
        const revoked = await this.c.tables
          .q(tx)
          .updateTable("invitation")
          .set({ revoked_at: now })
          .where("id", "=", id)
          .where("accepted_at", "is", null)
          .where("revoked_at", "is", null)
          .executeTakeFirst();
        if (Number(revoked.numUpdatedRows) === 0) throw new SettledMeanwhile();
        return toInvitation({ ...row, revoked_at: now }, now);
      });
    } catch (err) {
      if (!(err instanceof SettledMeanwhile)) throw err;
      // Accepted or revoked by a concurrent request: that one stands, and this is a no-op.
      const row = await read();
      if (!row) throw new AppError(AccessErrors.invitation_not_found, `No invitation ${id} in this tenant.`);
      return toInvitation(row, this.c.m.clock.now());
    }
  }

  /**
   * acceptInvitation redeems a token once: the invited email's user joins the tenant with the
   * invited roles (created first when the environment has no user with that email). The act is
   * recorded as the user's own. Throws 410 `invitation_invalid` for an unknown, used, revoked or
   * expired token (the same answer for each), 409 `already_member`. An invitation a key issued
   * (an agent key or a tenant key) is honoured only while that key is live: ending the key voids
   * it (see `voidInvitationsIssuedBy`).
   */
  async acceptInvitation(
    ctx: ActionContext,
    input: z.infer<typeof AcceptInvitationInput>,
  ): Promise<{ membership: Membership; userCreated: boolean }> {
    const invalid = () =>
      new AppError(AccessErrors.invitation_invalid, "The invitation is not valid: unknown, used, revoked or expired.");
    if (!parseToken(input.token, [TOKEN_PREFIX.invitation])) throw invalid();
    const hash = sha256Hex(input.token);
    const row = await this.c.tables
      .q()
      .selectFrom("invitation")
      .selectAll()
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    const now = this.c.m.clock.now();
    if (!row || row.accepted_at !== null || row.revoked_at !== null || row.expires_at <= now) throw invalid();
    const scope = { environmentId: row.environment_id, tenantId: row.tenant_id };
    const roles = fromJson<string[]>(row.roles);
    const redeem = async (tx: Tx, userId: string): Promise<Membership> => {
      const actor: ActionContext = {
        ...ctx,
        principal: {
          actorType: "user",
          actorId: userId,
          credentialId: row.id,
          environmentId: row.environment_id,
          ...(row.surface_id ? { surfaceId: row.surface_id } : {}),
          permissions: [],
          displayName: row.email,
        },
      };
      // The fact first: its event append locks the environment's event sequence, which every
      // writer that touches an invitation takes before the invitation's row (see internal/issued.ts).
      // A refused claim rolls it back.
      await this.c.m.facts.record(tx, actor, {
        type: "invitation.accepted",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [
          { type: "invitation", id: row.id },
          { type: "user", id: userId },
        ],
        data: { email: row.email, roles },
      });
      // Single use under concurrency: only the transaction that flips `accepted_at` proceeds.
      const claimed = await this.c.tables
        .q(tx)
        .updateTable("invitation")
        .set({ accepted_at: now, accepted_by: userId })
        .where("id", "=", row.id)
        .where("accepted_at", "is", null)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      if (claimed.length === 0) throw invalid();
      // Ending a key voids its pending invitations in its transaction, and the claim above is
      // conditional: of an acceptance and a revocation racing, the one that commits first wins.
      // What is read here cannot race: expiry, and keys ended before that rule.
      if (!(await this.#issuerLive(tx, row.environment_id, row.tenant_id, row.invited_by))) throw invalid();
      return this.memberships.insertMembership(tx, actor, scope, userId, roles);
    };
    const existing = await this.c.identity.users.lookupUser(row.environment_id, { email: row.email_normalized });
    // NOTE: the user's state is read again in the accepting transaction (after the claim).
    if (existing) {
      if (existing.disabled) throw new AppError(IdentityErrors.user_disabled, "The invited user is disabled.");
      const membership = await this.c.m.db.write(ctx, async (tx) => {
        const user = await this.c.identity.users.lookupUser(row.environment_id, { id: existing.id }, tx);
        if (!user || user.disabled) throw new AppError(IdentityErrors.user_disabled, "The invited user is disabled.");
        return redeem(tx, existing.id);
      });
      return { membership, userCreated: false };
    }
    if (!row.surface_id) throw invalid();
    let membership: Membership | undefined;
    await this.c.identity.users.insertUser(
      { ...ctx, principal: null },
      row.environment_id,
      {
        email: row.email,
        ...(input.name ? { name: input.name } : {}),
        ...(input.password ? { password: input.password } : {}),
      },
      {
        factType: "user.signed_up",
        surfaceId: row.surface_id,
        afterInsert: async (tx, user) => {
          membership = await redeem(tx, user.id);
        },
      },
    );
    return { membership: membership as Membership, userCreated: true };
  }

  /**
   * #issuerLive tells whether the credential that issued an invitation still vouches for it: a
   * user or a secret key always (what they issue belongs to the tenant); an agent key or a tenant
   * key while it is neither revoked nor expired, and an agent key only while its user is a member
   * since before the key was issued.
   */
  async #issuerLive(tx: Tx, environmentId: string, tenantId: string, issuer: string): Promise<boolean> {
    const now = this.c.m.clock.now();
    const q = this.c.tables.q(tx);
    const tenantKey = await q
      .selectFrom("tenant_key")
      .select(["revoked_at", "expires_at"])
      .where("environment_id", "=", environmentId)
      .where("id", "=", issuer)
      .executeTakeFirst();
    if (tenantKey) return isActive(tenantKey, now);
    const agentKey = await q
      .selectFrom("agent_key")
      .select(["revoked_at", "expires_at", "created_at", "user_id"])
      .where("environment_id", "=", environmentId)
      .where("id", "=", issuer)
      .executeTakeFirst();
    if (!agentKey) return true;
    if (!isActive(agentKey, now)) return false;
    const membership = await this.grants.membershipOf(environmentId, tenantId, agentKey.user_id, tx);
    return membership !== null && membership.created_at <= agentKey.created_at;
  }
}

/** SettledMeanwhile rolls back a revocation whose invitation a concurrent request settled first. */
class SettledMeanwhile extends Error {}
