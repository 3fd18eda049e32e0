import { sql } from "kysely";
import { fromJson } from "../../platform/db/db.js";
import { ageDays, type ReviewContributor, reviewDate, reviewTable } from "../../platform/review.js";
import type { IdentityService } from "./service.js";

const STALE_DAYS = 90;

/**
 * The identity module's part of the review report: the environment's secret keys (the product
 * backend's credentials), end users' and operators' two-factor coverage, and live sessions.
 * The tenant variant leaves out the environment's own credentials and the plane's operators.
 */
export function identityReview(service: IdentityService): ReviewContributor[] {
  const db = service.core.tables;
  return [
    {
      name: "identity.credentials",
      topic: "access",
      async collect(scope) {
        if (scope.tenantId !== null) return null;
        const now = scope.now;
        const keys = (
          await db
            .q()
            .selectFrom("secret_key")
            .select(["id", "name", "scopes", "created_by", "created_at", "expires_at", "revoked_at", "last_used_at"])
            .where("environment_id", "=", scope.environmentId)
            .where("revoked_at", "is", null)
            .orderBy("created_at")
            .execute()
        ).filter((k) => k.expires_at === null || Number(k.expires_at) > now);
        const users = await db
          .q()
          .selectFrom("user")
          .select((eb) => [eb.fn.countAll<number>().as("n")])
          .where("environment_id", "=", scope.environmentId)
          .where("disabled_at", "is", null)
          .executeTakeFirstOrThrow();
        const factors = await sql<{ n: number }>`
          select count(*) as n from (
            select user_id from mfa_factor where environment_id = ${scope.environmentId} and status = 'active'
            union
            select user_id from passkey where environment_id = ${scope.environmentId} and revoked_at is null
          ) as f
          join ${sql.table("user")} u on u.id = f.user_id and u.disabled_at is null`.execute(service.core.db.kysely);
        const sessions = await db
          .q()
          .selectFrom("session")
          .select((eb) => [eb.fn.countAll<number>().as("n")])
          .where("environment_id", "=", scope.environmentId)
          .where("revoked_at", "is", null)
          .where("expires_at", ">", now)
          .executeTakeFirstOrThrow();
        const operators = await db
          .q()
          .selectFrom("operator")
          .leftJoin("operator_mfa_factor", (j) =>
            j
              .onRef("operator_mfa_factor.operator_id", "=", "operator.id")
              .on("operator_mfa_factor.status", "=", "active"),
          )
          .select(["operator.email", "operator.role", "operator_mfa_factor.id as factor"])
          .where("operator.disabled_at", "is", null)
          .orderBy("operator.email")
          .execute();
        const total = Number(users.n);
        const covered = Number(factors.rows[0]?.n ?? 0);
        const neverUsed = keys.filter((k) => k.last_used_at === null).length;
        const stale = keys.filter((k) => ageDays(now, Number(k.last_used_at ?? k.created_at)) > STALE_DAYS).length;
        return {
          title: "Secret keys, sign-in and two-factor coverage",
          blocks: [
            {
              kind: "text",
              text:
                "Secret keys are the product backend's credentials for the whole environment, limited to their scopes; like every key they are stored as SHA-256 hashes and shown once. " +
                "Passwords are hashed with argon2id; sign-in is throttled per account and address. Operators are the plane's staff: admins, and support (read-only), acting inside a tenant only under support access.",
            },
            {
              kind: "facts",
              items: [
                { label: "Live secret keys", value: keys.length },
                { label: "…never used", value: neverUsed },
                { label: `…unused for more than ${STALE_DAYS} days`, value: stale },
                { label: "…without expiry", value: keys.filter((k) => k.expires_at === null).length },
                { label: "Active end users", value: total },
                { label: "…with a second factor (TOTP or passkey)", value: covered },
                {
                  label: "Two-factor coverage",
                  value: total === 0 ? null : `${Math.round((covered / total) * 1000) / 10}%`,
                },
                { label: "Live sessions", value: Number(sessions.n) },
                { label: "Operators", value: operators.length },
                { label: "…with two-factor sign-in", value: operators.filter((o) => o.factor !== null).length },
              ],
            },
            reviewTable(
              "Secret keys",
              ["Name", "Scopes", "Created by", "Age (days)", "Last used", "Expires"],
              keys.map((k) => [
                k.name,
                fromJson<string[]>(k.scopes).join(" "),
                k.created_by,
                ageDays(now, k.created_at),
                k.last_used_at === null ? "never" : reviewDate(k.last_used_at),
                reviewDate(k.expires_at),
              ]),
            ),
            reviewTable(
              "Operators",
              ["Operator", "Role", "Two-factor"],
              operators.map((o) => [o.email, o.role, o.factor !== null]),
            ),
          ],
          figures: {
            "secretKeys.live": keys.length,
            "secretKeys.neverUsed": neverUsed,
            "users.active": total,
            "users.withSecondFactor": covered,
            "sessions.live": Number(sessions.n),
            "operators.count": operators.length,
            "operators.withMfa": operators.filter((o) => o.factor !== null).length,
          },
        };
      },
    },
  ];
}
