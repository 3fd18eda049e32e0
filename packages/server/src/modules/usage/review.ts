import { type ReviewContributor, reviewTable } from "../../platform/review.js";
import type { UsageService } from "./service.js";
import type { UsageTables } from "./tables.js";

/** The usage module's part of the review report: what is measured, how, and the limits set on it. */
export function usageReview(service: UsageService): ReviewContributor[] {
  const db = service.context.db.tables<UsageTables>();
  return [
    {
      name: "usage.meters",
      topic: "usageBilling",
      async collect(scope) {
        const meters = await service.meters.liveMeters(scope.environmentId);
        const recorded: Array<{ events: number; tenants: number }> = [];
        for (const m of meters)
          recorded.push(await service.meters.recorded(scope.environmentId, m.id, undefined, scope.tenantId));
        const entitlements = await db
          .q()
          .selectFrom("usage_entitlement")
          .select(["kind"])
          .where("environment_id", "=", scope.environmentId)
          .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
          .execute();
        return {
          title: "Meters and limits",
          blocks: [
            {
              kind: "text",
              text:
                "Usage is reported as events (CloudEvents-shaped) by the product's keys and agents, each with an id: an event id is counted once per environment however often it is sent, " +
                "in the same transaction as the write it belongs to when reported through the plane. Meters aggregate events of one type (count, sum, max, latest, unique count) into per-minute rollups grouped by up to five dimensions; " +
                "events up to 35 days late are accepted and counted in the window of their own time. Limits (entitlements) are checked, and holds reserve an amount, inside the write that spends them.",
            },
            reviewTable(
              "Meters",
              [
                "Meter",
                "Event type",
                "Aggregation",
                "Value",
                "Dimensions",
                scope.tenantId ? "The tenant's events (all time)" : "Events recorded (all time)",
              ],
              meters.map((m, i) => [
                m.key,
                m.eventType,
                m.aggregation,
                m.valuePath,
                Object.keys(m.groupBy).join(", ") || null,
                recorded[i]?.events ?? 0,
              ]),
            ),
            {
              kind: "facts",
              items: [
                {
                  label: scope.tenantId ? "The tenant's entitlements" : "Entitlements set on tenants",
                  value: entitlements.length,
                },
                { label: "…metered (limits)", value: entitlements.filter((e) => e.kind === "metered").length },
              ],
            },
          ],
          figures: {
            "meters.count": meters.length,
            "meters.events": recorded.reduce((n, r) => n + r.events, 0),
            "entitlements.count": entitlements.length,
          },
        };
      },
    },
  ];
}
