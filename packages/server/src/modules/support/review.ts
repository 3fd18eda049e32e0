import { type ReviewContributor, reviewDate, reviewTable } from "../../platform/review.js";
import type { SupportService } from "./service.js";

/** The support module's part of the review report: operators' access to tenants in the period. */
export function supportReview(service: SupportService): ReviewContributor[] {
  return [
    {
      name: "support.accesses",
      topic: "operations",
      async collect(scope) {
        const rows = await service.accessesSince(scope.environmentId, scope.tenantId, scope.since);
        const granted = rows.filter((r) => r.status !== "pending" && r.status !== "denied");
        return {
          title: "Support access in the period",
          blocks: [
            {
              kind: "text",
              text:
                "Operators of the plane cannot see or act inside a tenant without support access: asked for with a reason, for a limited time, " +
                "visible to the tenant and, under its policy, approved by its owners first. Every action under it is audited with both identities, and it ends by itself.",
            },
            {
              kind: "facts",
              items: [
                { label: "Requests", value: rows.length },
                { label: "…granted", value: granted.length },
                { label: "…with write access", value: granted.filter((r) => r.access === "write").length },
                { label: "…denied", value: rows.filter((r) => r.status === "denied").length },
              ],
            },
            reviewTable(
              "Requests",
              ["Tenant", "Operator", "Access", "Reason", "Status", "Requested", "Policy"],
              rows.map((r) => [
                r.tenant_id,
                r.operator_name ?? r.operator_id,
                r.access,
                r.reason,
                r.status,
                reviewDate(r.requested_at),
                r.policy,
              ]),
            ),
          ],
          figures: {
            "support.requests": rows.length,
            "support.granted": granted.length,
            "support.write": granted.filter((r) => r.access === "write").length,
          },
        };
      },
    },
  ];
}
