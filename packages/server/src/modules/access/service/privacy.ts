import type { Db, Tx } from "../../../platform/db/db.js";
import { fromJson } from "../../../platform/db/db.js";
import type { DataSubject, PersonalDataProvider } from "../../../platform/personal-data.js";
import { systemContext } from "../../../platform/principal.js";
import type { Core } from "../internal/core.js";
import { voidInvitationsIssuedBy } from "../internal/issued.js";

/**
 * AccessPrivacy: the access module's part of a data subject request. Export lists the user's
 * memberships, invitations sent to or accepted by them, agent keys acting for them and tenant keys
 * they created. Erasure deletes the memberships, revokes those keys (and the invitations the keys
 * issued), revokes pending invitations to the address and replaces the address on every
 * invitation with an anonymous one.
 */
export class AccessPrivacy implements PersonalDataProvider {
  constructor(private readonly c: Core) {}

  async export(_db: Db, s: DataSubject): Promise<Record<string, unknown>> {
    const q = this.c.tables.q();
    const memberships = await q
      .selectFrom("membership")
      .select(["id", "tenant_id", "roles", "created_at"])
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .execute();
    const invitations = await q
      .selectFrom("invitation")
      .select(["id", "tenant_id", "email", "roles", "created_at", "expires_at", "accepted_at", "revoked_at"])
      .where("environment_id", "=", s.environmentId)
      .where((eb) =>
        eb.or([eb("email_normalized", "=", s.email.trim().toLowerCase()), eb("accepted_by", "=", s.userId)]),
      )
      .execute();
    const agentKeys = await q
      .selectFrom("agent_key")
      .select(["id", "tenant_id", "name", "model", "display", "created_at", "expires_at", "revoked_at"])
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .execute();
    const tenantKeys = await q
      .selectFrom("tenant_key")
      .select(["id", "tenant_id", "name", "display", "created_at", "expires_at", "revoked_at"])
      .where("environment_id", "=", s.environmentId)
      .where("created_by", "=", s.userId)
      .execute();
    return {
      memberships: memberships.map((m) => ({
        id: m.id,
        tenantId: m.tenant_id,
        roles: fromJson<string[]>(m.roles),
        createdAt: m.created_at,
      })),
      invitations: invitations.map((i) => ({
        id: i.id,
        tenantId: i.tenant_id,
        email: i.email,
        roles: fromJson<string[]>(i.roles),
        createdAt: i.created_at,
        expiresAt: i.expires_at,
        acceptedAt: i.accepted_at,
        revokedAt: i.revoked_at,
      })),
      agentKeys: agentKeys.map((k) => ({
        id: k.id,
        tenantId: k.tenant_id,
        name: k.name,
        model: k.model,
        display: k.display,
        createdAt: k.created_at,
        expiresAt: k.expires_at,
        revokedAt: k.revoked_at,
      })),
      tenantKeysCreated: tenantKeys.map((k) => ({
        id: k.id,
        tenantId: k.tenant_id,
        name: k.name,
        display: k.display,
        createdAt: k.created_at,
        expiresAt: k.expires_at,
        revokedAt: k.revoked_at,
      })),
    };
  }

  async erase(tx: Tx, s: DataSubject): Promise<Record<string, number>> {
    const q = this.c.tables.q(tx);
    const now = this.c.m.clock.now();
    const memberships = await q
      .selectFrom("membership")
      .select("id")
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .orderBy("id")
      .$call((qb) => this.c.m.db.forUpdate(qb))
      .execute();
    const ids = memberships.map((m) => m.id);
    if (ids.length > 0) {
      await q.deleteFrom("membership_role").where("membership_id", "in", ids).execute();
      await q.deleteFrom("membership").where("id", "in", ids).execute();
    }
    const agentKeys = await q
      .updateTable("agent_key")
      .set({ revoked_at: now })
      .where("environment_id", "=", s.environmentId)
      .where("user_id", "=", s.userId)
      .where("revoked_at", "is", null)
      .returning("id")
      .execute();
    const tenantKeys = await q
      .updateTable("tenant_key")
      .set({ revoked_at: now })
      .where("environment_id", "=", s.environmentId)
      .where("created_by", "=", s.userId)
      .where("revoked_at", "is", null)
      .returning("id")
      .execute();
    const keys = [...agentKeys, ...tenantKeys].map((k) => k.id);
    voidInvitationsIssuedBy(this.c, tx, systemContext("erasure"), s.environmentId, keys, now);
    const pending = await q
      .updateTable("invitation")
      .set({ revoked_at: now })
      .where("environment_id", "=", s.environmentId)
      .where("email_normalized", "=", s.email.trim().toLowerCase())
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .returning("id")
      .execute();
    const addressed = await q
      .selectFrom("invitation")
      .select("id")
      .where("environment_id", "=", s.environmentId)
      .where((eb) =>
        eb.or([eb("email_normalized", "=", s.email.trim().toLowerCase()), eb("accepted_by", "=", s.userId)]),
      )
      .execute();
    for (const { id } of addressed) {
      const anonymous = `erased+${id}@erased.invalid`;
      await q
        .updateTable("invitation")
        .set({ email: anonymous, email_normalized: anonymous })
        .where("id", "=", id)
        .execute();
    }
    for (const id of [s.userId, ...keys]) await this.c.changed(tx, id);
    return {
      memberships: ids.length,
      agentKeysRevoked: agentKeys.length,
      tenantKeysRevoked: tenantKeys.length,
      invitationsRevoked: pending.length,
      invitationsAnonymised: addressed.length,
    };
  }
}
