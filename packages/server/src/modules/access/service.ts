import type { Tx } from "../../platform/db/db.js";
import type { Fact } from "../../platform/facts/index.js";
import type { ModuleContext } from "../../platform/module.js";
import type { IdentityService } from "../identity/index.js";
import type { TenancyService } from "../tenancy/index.js";
import { ACCESS_TOPIC, type Core } from "./internal/core.js";
import { voidInvitationsIssuedBy } from "./internal/issued.js";
import { AgentKeysService } from "./service/agent-keys.js";
import { ChecksService } from "./service/checks.js";
import { GrantsService } from "./service/grants.js";
import { InvitationsService } from "./service/invitations.js";
import { MembershipsService } from "./service/memberships.js";
import { AccessPrivacy } from "./service/privacy.js";
import { KeyResolution } from "./service/resolve.js";
import { RolesService } from "./service/roles.js";
import { TenantKeysService } from "./service/tenant-keys.js";
import { CredentialVerification } from "./service/verify.js";
import type { AccessTables } from "./tables.js";

/**
 * AccessService: "what may this actor do, here?" — roles, memberships, invitations, tenant keys,
 * agent keys, the permission check API, and the membership lookup behind the platform's access
 * check (`ModuleContext.access`).
 */
export class AccessService {
  readonly core: Core;
  readonly roles: RolesService;
  readonly grants: GrantsService;
  readonly memberships: MembershipsService;
  readonly invitations: InvitationsService;
  readonly tenantKeys: TenantKeysService;
  readonly agentKeys: AgentKeysService;
  readonly checks: ChecksService;
  readonly resolution: KeyResolution;
  readonly privacy: AccessPrivacy;
  readonly verification: CredentialVerification;

  constructor(m: ModuleContext, tenancy: TenancyService, identity: IdentityService) {
    this.core = {
      m,
      tenancy,
      identity,
      tables: m.db.tables<AccessTables>(),
      changed: (tx, owner) => m.bus.publish(tx, ACCESS_TOPIC, owner),
    };
    this.roles = new RolesService(this.core);
    this.grants = new GrantsService(this.core, this.roles);
    this.memberships = new MembershipsService(this.core, this.grants);
    this.invitations = new InvitationsService(this.core, this.grants, this.memberships);
    this.tenantKeys = new TenantKeysService(this.core, this.grants);
    this.agentKeys = new AgentKeysService(this.core, this.grants);
    this.checks = new ChecksService(this.core, this.roles, this.grants);
    this.resolution = new KeyResolution(this.core, this.grants);
    this.privacy = new AccessPrivacy(this.core);
    this.verification = new CredentialVerification(this.core, this.grants, this.resolution);
  }

  /**
   * onFact keeps delegation honest across modules: a disabled user's agent keys are revoked in the
   * same transaction (they do not come back when the user is re-enabled), with the pending
   * invitations they issued. The user's memberships
   * are locked first, as an agent key's issuance locks the one it delegates from: an issuance that
   * committed first is revoked here, one that waits reads the user as disabled.
   */
  async onFact(tx: Tx, fact: Fact): Promise<void> {
    if (fact.type !== "user.disabled" || !fact.environmentId) return;
    for (const target of fact.targets.filter((t) => t.type === "user")) {
      await this.core.tables
        .q(tx)
        .selectFrom("membership")
        .select("id")
        .where("environment_id", "=", fact.environmentId)
        .where("user_id", "=", target.id)
        .orderBy("id")
        .$call((qb) => this.core.m.db.forUpdate(qb))
        .execute();
      const revoked = await this.core.tables
        .q(tx)
        .updateTable("agent_key")
        .set({ revoked_at: fact.occurredAt })
        .where("environment_id", "=", fact.environmentId)
        .where("user_id", "=", target.id)
        .where("revoked_at", "is", null)
        .returning("id")
        .execute();
      const ctx = { principal: fact.actor, request: fact.request };
      voidInvitationsIssuedBy(
        this.core,
        tx,
        ctx,
        fact.environmentId,
        revoked.map((r) => r.id),
        fact.occurredAt,
      );
      if (revoked.length > 0) await this.core.changed(tx, target.id);
    }
  }

  async start(): Promise<void> {
    this.resolution.lastUsed.start();
  }

  async stop(): Promise<void> {
    await this.resolution.lastUsed.stop();
  }
}
