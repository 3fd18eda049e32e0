import { fromJson } from "../../platform/db/db.js";
import { permits } from "../../platform/permissions.js";
import {
  ageDays,
  type ReviewContributor,
  type ReviewPart,
  type ReviewScope,
  type ReviewValue,
  reviewDate,
  reviewTable,
} from "../../platform/review.js";
import type { AccessService } from "./service.js";

const ADMIN_ROLES = ["owner", "admin"];
const STALE_DAYS = 90;

/**
 * The access module's parts of the review report: the roles matrix (what each role may do, by
 * resource), who holds the admin roles, and the inventory of tenant and agent keys (age, last use,
 * never used, delegators).
 */
export function accessReview(service: AccessService): ReviewContributor[] {
  const core = service.core;
  const db = core.tables;
  return [
    {
      name: "access.roles",
      topic: "access",
      async collect(scope) {
        const statements = service.roles.statements();
        const roles = [
          ...service.roles.builtInRoles().map((r) => ({ key: r.key, permissions: r.permissions })),
          ...(await service.roles.customRoles(scope.environmentId)).map((r) => ({
            key: r.key,
            permissions: r.permissions,
          })),
        ];
        const rows: ReviewValue[][] = statements.map(({ resource, actions }) => [
          resource,
          ...roles.map((role) => {
            const granted = actions.filter((a) => permits(role.permissions, `${resource}:${a}`));
            return granted.length === 0 ? null : granted.length === actions.length ? "all" : granted.join(", ");
          }),
        ]);
        return {
          title: "Roles and what each may do",
          blocks: [
            {
              kind: "text",
              text:
                "Users act in a tenant through their memberships' roles; `owner`, `admin` and `member` are built in, the others are the product's own. " +
                "A cell lists the actions a role grants on a resource (`all`: every action; —: none). Custom roles take effect at once for every member who holds them.",
            },
            reviewTable("Roles matrix (resources × roles)", ["Resource", ...roles.map((r) => r.key)], rows),
          ],
          figures: { "roles.builtIn": 3, "roles.custom": roles.length - 3, "roles.resources": statements.length },
        };
      },
    },
    {
      name: "access.admins",
      topic: "access",
      async collect(scope) {
        const rows = await db
          .q()
          .selectFrom("membership_role")
          .innerJoin("membership", "membership.id", "membership_role.membership_id")
          .select(["membership.tenant_id", "membership.user_id", "membership_role.role_key", "membership.created_at"])
          .where("membership_role.environment_id", "=", scope.environmentId)
          .where("membership_role.role_key", "in", ADMIN_ROLES)
          .$if(scope.tenantId !== null, (qb) => qb.where("membership_role.tenant_id", "=", scope.tenantId as string))
          .orderBy("membership.tenant_id")
          .orderBy("membership_role.role_key", "desc")
          .execute();
        const emails = await core.identity.users.emailsOf(
          scope.environmentId,
          rows.map((r) => r.user_id),
        );
        const holders = new Set(rows.map((r) => r.user_id));
        const secured = await core.identity.users.withSecondFactor(scope.environmentId, [...holders]);
        return {
          title: "Who holds admin roles",
          blocks: [
            {
              kind: "facts",
              items: [
                { label: "Owner memberships", value: rows.filter((r) => r.role_key === "owner").length },
                { label: "Admin memberships", value: rows.filter((r) => r.role_key === "admin").length },
                { label: "People holding either", value: holders.size },
                { label: "…with a second factor (TOTP or passkey)", value: secured.size },
              ],
            },
            reviewTable(
              "Owners and admins",
              scope.tenantId
                ? ["User", "Role", "Two-factor", "Since"]
                : ["Tenant", "User", "Role", "Two-factor", "Since"],
              rows.map((r) => [
                ...(scope.tenantId ? [] : [r.tenant_id]),
                emails.get(r.user_id) ?? r.user_id,
                r.role_key,
                secured.has(r.user_id),
                reviewDate(r.created_at),
              ]),
            ),
          ],
          figures: {
            "admins.owners": rows.filter((r) => r.role_key === "owner").length,
            "admins.admins": rows.filter((r) => r.role_key === "admin").length,
            "admins.people": holders.size,
            "admins.withSecondFactor": secured.size,
          },
        };
      },
    },
    {
      name: "access.keys",
      topic: "access",
      collect: (scope) => keyInventory(service, scope),
    },
  ];
}

async function keyInventory(service: AccessService, scope: ReviewScope): Promise<ReviewPart> {
  const db = service.core.tables;
  const now = scope.now;
  const live = <T extends { revoked_at: number | null; expires_at: number | null }>(r: T) =>
    r.revoked_at === null && (r.expires_at === null || Number(r.expires_at) > now);
  const tenantKeys = (
    await db
      .q()
      .selectFrom("tenant_key")
      .select([
        "id",
        "tenant_id",
        "name",
        "permissions",
        "created_by",
        "created_by_type",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
      ])
      .where("environment_id", "=", scope.environmentId)
      .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
      .orderBy("created_at")
      .execute()
  ).filter(live);
  const agentKeys = (
    await db
      .q()
      .selectFrom("agent_key")
      .select([
        "id",
        "tenant_id",
        "user_id",
        "name",
        "model",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
      ])
      .where("environment_id", "=", scope.environmentId)
      .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
      .orderBy("created_at")
      .execute()
  ).filter(live);
  const emails = await service.core.identity.users.emailsOf(
    scope.environmentId,
    agentKeys.map((k) => k.user_id),
  );
  const neverUsed = (keys: Array<{ last_used_at: number | null }>) =>
    keys.filter((k) => k.last_used_at === null).length;
  const stale = (keys: Array<{ last_used_at: number | null; created_at: number }>) =>
    keys.filter((k) => ageDays(now, Number(k.last_used_at ?? k.created_at)) > STALE_DAYS).length;
  const noExpiry = (keys: Array<{ expires_at: number | null }>) => keys.filter((k) => k.expires_at === null).length;
  const used = (ms: number | null) => (ms === null ? "never" : reviewDate(ms));
  return {
    title: "Tenant keys and agent keys",
    blocks: [
      {
        kind: "text",
        text:
          "Tenant keys are bound to one tenant and limited to their permissions; agent keys act for the member who delegated them, never beyond that member's own permissions, and stop working when the membership ends. " +
          "Keys are stored as hashes and shown once. Live keys only (not revoked, not expired).",
      },
      {
        kind: "facts",
        items: [
          { label: "Live tenant keys", value: tenantKeys.length },
          { label: "…never used", value: neverUsed(tenantKeys) },
          { label: `…unused for more than ${STALE_DAYS} days`, value: stale(tenantKeys) },
          { label: "…without expiry", value: noExpiry(tenantKeys) },
          { label: "Live agent keys", value: agentKeys.length },
          { label: "…never used", value: neverUsed(agentKeys) },
          { label: "…without expiry", value: noExpiry(agentKeys) },
        ],
      },
      reviewTable(
        "Tenant keys",
        ["Tenant", "Name", "Permissions", "Created by", "Age (days)", "Last used", "Expires"],
        tenantKeys.map((k) => [
          k.tenant_id,
          k.name,
          fromJson<string[]>(k.permissions).join(" "),
          `${k.created_by_type} ${k.created_by}`,
          ageDays(now, k.created_at),
          used(k.last_used_at),
          reviewDate(k.expires_at),
        ]),
      ),
      reviewTable(
        "Agent keys and their delegators",
        ["Tenant", "Name", "Model", "Delegated by", "Scopes", "Age (days)", "Last used"],
        agentKeys.map((k) => [
          k.tenant_id,
          k.name,
          k.model,
          emails.get(k.user_id) ?? k.user_id,
          fromJson<string[]>(k.scopes).join(" "),
          ageDays(now, k.created_at),
          used(k.last_used_at),
        ]),
      ),
    ],
    figures: {
      "tenantKeys.live": tenantKeys.length,
      "tenantKeys.neverUsed": neverUsed(tenantKeys),
      "tenantKeys.stale": stale(tenantKeys),
      "agentKeys.live": agentKeys.length,
      "agentKeys.neverUsed": neverUsed(agentKeys),
    },
  };
}
