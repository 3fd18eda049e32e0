import type { TypedDb } from "../../platform/db/db.js";
import { type ReviewContributor, reviewDate, reviewTable } from "../../platform/review.js";
import type { TenancyService } from "./service.js";
import type { TenancyTables } from "./tables.js";

/**
 * The tenancy module's parts of the review report: the surfaces through which credentials are
 * issued (and the ceiling each puts on them), and the tenants' lifecycle.
 */
export function tenancyReview(service: TenancyService): ReviewContributor[] {
  const db: TypedDb<TenancyTables> = service.context.db.tables<TenancyTables>();
  return [
    {
      name: "tenancy.surfaces",
      topic: "access",
      async collect(scope) {
        const surfaces = await service.surfaces.liveSurfaces(scope.environmentId);
        const unbounded = surfaces.filter((s) => s.scopeCeiling.includes("*"));
        return {
          title: "Surfaces and their scope ceilings",
          blocks: [
            {
              kind: "text",
              text:
                "Every credential is issued through a surface (a web app, an API, an agent channel). Whatever a role or key grants, " +
                "a credential can never do more than its surface's scope ceiling, and browsers may call the API only from a surface's allowed origins.",
            },
            reviewTable(
              "Surfaces",
              ["Surface", "Kind", "Scope ceiling", "Allowed origins", "Self sign-up"],
              surfaces.map((s) => [
                s.name,
                s.kind,
                s.scopeCeiling.join(" "),
                s.allowedOrigins.join(" ") || null,
                s.selfSignup,
              ]),
            ),
          ],
          figures: {
            "surfaces.count": surfaces.length,
            "surfaces.unboundedCeiling": unbounded.length,
            "surfaces.selfSignup": surfaces.filter((s) => s.selfSignup).length,
          },
        };
      },
    },
    {
      name: "tenancy.lifecycle",
      topic: "operations",
      async collect(scope) {
        const rows = await db
          .q()
          .selectFrom("tenant")
          .select(["id", "name", "state", "state_reason", "state_category", "state_changed_at"])
          .where("environment_id", "=", scope.environmentId)
          .$if(scope.tenantId !== null, (qb) => qb.where("id", "=", scope.tenantId as string))
          .orderBy("state_changed_at", "desc")
          .execute();
        const count = (state: string) => rows.filter((r) => r.state === state).length;
        const notActive = rows.filter((r) => r.state !== "active");
        return {
          title: scope.tenantId ? "Tenant lifecycle" : "Tenants and their lifecycle",
          blocks: [
            {
              kind: "facts",
              items: [
                { label: "Active tenants", value: count("active") },
                { label: "Suspended tenants", value: count("suspended") },
                { label: "Deactivated tenants", value: count("deactivated") },
              ],
            },
            {
              kind: "text",
              text:
                "A suspended or deactivated tenant's sessions, tenant keys, agent keys and webhook deliveries are refused (reading, export and billing recovery excepted); " +
                "every state change is audited with its reason.",
            },
            reviewTable(
              "Tenants not active",
              ["Tenant", "State", "Category", "Reason", "Since"],
              notActive.map((r) => [r.name, r.state, r.state_category, r.state_reason, reviewDate(r.state_changed_at)]),
            ),
          ],
          figures: {
            "tenants.active": count("active"),
            "tenants.suspended": count("suspended"),
            "tenants.deactivated": count("deactivated"),
          },
        };
      },
    },
  ];
}
